"""FieldkitApp: the technician's app, given its hardware and services.

::

    app = FieldkitApp(
        driver_factory=create_driver,          # or a test's driver factory
        store=VisitLogStore(),                  # the visit log with its outbox
        sync_client=LaptopSync(),               # fieldkit.sync.laptop
        clock=lambda: datetime.now(UTC),
    )
    app.run()

Every meter, database and network call runs in a thread worker (groups ``meter-io``,
``db`` and ``sync``, so one never cancels another); the workers post messages back, or
hand their result to ``call_from_thread``, which drops it when the screen it was for has
gone (left, or the app quitting): ctrl+q mid-read or mid-sync never paints into removed
widgets.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from rich.text import Text
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.message_pump import MessagePump
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker

from fieldkit.drivers.base import PROTOCOLS, create_driver
from fieldkit.drivers.errors import DriverError
from fieldkit.drivers.ports import PortInfo, list_ports
from fieldkit.tui import heap
from fieldkit.tui.credentials import KeptPasswords
from fieldkit.tui.prefs import Preferences
from fieldkit.tui.services import FieldStore, SyncClient, SyncReport, VisitRecord
from fieldkit.tui.state import Clock, DriverFactory, MeterLink, VisitDraft

if TYPE_CHECKING:
    from fieldkit.checks import Thresholds

__all__ = ["FieldkitApp"]

T = TypeVar("T")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class FieldkitApp(App[None]):
    """The field kit's app: work orders → site → connect → checks → adjust → close."""

    TITLE = "fieldkit"
    CSS_PATH = Path(__file__).parent / "app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help", id="help"),
        Binding("f2", "sync", "Sync", id="sync"),
        Binding("f4", "toggle_dark", "Light/dark", id="toggle-dark"),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    ]

    # repaint=False: the indicator watches these and repaints its own line. A repainting
    # reactive on the app repaints the whole screen, and the probe state changes with
    # every progress redraw mid-read: that full repaint was most of the UI thread's work.
    probe_state: reactive[str] = reactive("no meter connected", repaint=False)
    sync_state: reactive[str] = reactive("…", repaint=False)
    # A sync runs on the app, not on the Sync screen: the technician may leave that screen
    # (close a visit meanwhile) and still learn how the sync ended, on every screen.
    syncing: reactive[bool] = reactive(False, repaint=False)
    sync_report: reactive[SyncReport | None] = reactive(None, always_update=True, repaint=False)

    def __init__(
        self,
        *,
        driver_factory: DriverFactory = create_driver,
        store: FieldStore,
        sync_client: SyncClient | None = None,
        clock: Clock = _utc_now,
        port_lister: Callable[[], list[PortInfo]] = list_ports,
        preferences: Preferences | None = None,
        thresholds: Thresholds | None = None,
        theme: str = "textual-dark",
        meter_links: Mapping[str, MeterLink] | None = None,
        handle_signals: bool = False,
    ) -> None:
        super().__init__()
        self.driver_factory = driver_factory
        self.store = store
        self.sync_client = sync_client
        self.clock = clock
        self.port_lister = port_lister
        self.preferences = preferences if preferences is not None else Preferences()
        self._thresholds = thresholds
        self.draft: VisitDraft | None = None
        self.theme = theme
        # Known meters (meter number, upper case → how to reach it): the demo's simulators.
        self.meter_links: Mapping[str, MeterLink] = dict(meter_links or {})
        self.kept_passwords = KeptPasswords()
        # SIGTERM/SIGHUP quit like ctrl+q (the terminal restored); the demo relies on it.
        self._handle_signals = handle_signals
        self._warmed_up = False
        self._last_report: SyncReport | None = None
        self._syncs_ended = 0  # lets a state read from before a sync's end be dropped

    @property
    def thresholds(self) -> Thresholds:
        """The check thresholds: the ones given, else the kit's defaults (loaded on first use)."""
        if self._thresholds is None:
            from fieldkit.checks import DEFAULT_POLICY

            self._thresholds = DEFAULT_POLICY
        return self._thresholds

    def on_mount(self) -> None:
        from fieldkit.tui.screens.work_orders import WorkOrdersScreen

        self.push_screen(WorkOrdersScreen())
        self.refresh_sync_state()
        if self._handle_signals:
            self._quit_on_signals()

    def _quit_on_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(signum) is signal.SIG_IGN:
                # Started under nohup (or a parent that ignores it): the user asked for
                # hang-ups to be ignored, and the loop would put SIG_DFL back on exit.
                continue
            # Not on Windows, not off the main thread: there the default action stays.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self.quit_on_signal, signum)

    def quit_on_signal(self, signum: int) -> None:
        """SIGTERM/SIGHUP: keep an unsaved read as an open visit, then exit at once.

        Never through the unsaved-visit question: a laptop shutting down or an SSH link
        dropped has nobody to answer it, and a dialog would hold the shutdown (and the
        demo's servers) until the system killed us. The save is one SQLite commit on this
        thread: milliseconds, well inside a shutdown's grace period.
        """
        kept = self._keep_open()
        # The words quote a store error: never read as markup.
        self.exit(None, 128 + signum, None if kept is None else Text(kept))

    def _keep_open(self) -> str | None:
        """Save the visit in progress open (no outcome) if it holds a read or an adjustment
        not yet saved; what the terminal is told after the exit, or None."""
        draft = self.draft
        if not self.unsaved_visit() or draft is None or draft.result is None:
            return None
        record = VisitRecord(
            meter_number=draft.meter_number,
            work_order_id=draft.work_order_id,
            started_at=draft.started_at,
            closed_at=self.clock(),
            outcome=None,
            notes=draft.notes.strip(),
            result=draft.result,
            adjustments=tuple(draft.adjustments),
        )
        try:
            draft.saved_id = self.store.save_visit(record)
        except Exception as exc:  # whatever it is, the exit must not wait on it
            return f"fieldkit: the visit in progress could not be kept: {exc}"
        short = draft.saved_id[:8]
        return (
            f"fieldkit: the visit in progress was kept open as {short}; "
            f"close it with: fieldkit visits close {short} --outcome …"
        )

    def first_screen_shown(self) -> None:
        """The work-order list has its orders on screen: load the rest of the kit now.

        Called by the list each time it fills; only the first call does anything, so the
        technician sees the list before anything else competes for the interpreter.
        """
        if self._warmed_up:
            return
        self._warmed_up = True
        self._load_protocols()

    @work(thread=True, group="warm-up", exit_on_error=False, description="load the meters' code")
    def _load_protocols(self) -> None:
        """Build a throwaway driver per protocol, and load the checks, while the list shows.

        Loading a protocol's code (pydantic models, tables) holds the interpreter for tens
        of milliseconds; done now, it never lands in the middle of a read. No port is
        opened: nothing touches the wire before a session is entered.
        """
        for protocol in PROTOCOLS:
            # The real read reports any problem, with the technician's settings.
            with contextlib.suppress(DriverError):
                self.driver_factory(protocol, "socket://127.0.0.1:9", {})
        import fieldkit.visit  # noqa: F401  (the checks and the wire schema: the read's end)

        _ = self.thresholds
        self.call_from_thread(heap.settle)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The app's own workers: a raise ends in words on screen, never a silent stop."""
        from fieldkit.tui.screens.base import worker_failure

        failure = worker_failure(event)
        if failure is None:
            return
        if event.worker.group == "sync-now":  # the worker turns any error into a report
            # Not describe_sync here: it blocks, and this is the UI thread.
            self._last_report = SyncReport(error=failure)
            self._sync_ended(self._last_report, f"failed: {failure}")
            self.refresh_sync_state()
        elif event.worker.group == "sync-state":
            self.show_sync_state(f"{failure} (F2 reads it again)")
        else:
            self.notify(failure, severity="error", timeout=10, markup=False)

    def call_from_thread(
        self, callback: Callable[..., T | Awaitable[T]], *args: Any, **kwargs: Any
    ) -> T:
        """Run ``callback`` on the UI thread, unless the app or its screen has gone.

        A worker's result arrives when it arrives: after ctrl+q, or after the technician left
        the screen, its widgets are removed and painting them raised NoMatches (or
        ScreenStackError with no screen left). The check runs on the UI thread, just before
        the callback, so nothing can be torn down in between. A dropped call returns None;
        the workers here never use what a paint returns.
        """
        owner = getattr(callback, "__self__", None)

        def guarded() -> T | Awaitable[T] | None:
            if not self.is_running:
                return None
            if isinstance(owner, MessagePump) and owner is not self and not owner.is_running:
                return None
            return callback(*args, **kwargs)

        if not self.is_running:  # quit already: no loop may be left to hand it to
            return cast("T", None)
        return cast("T", super().call_from_thread(guarded))

    # --- visits -----------------------------------------------------------------------

    def start_visit(self, draft: VisitDraft) -> None:
        """Begin a visit and show its site."""
        from fieldkit.tui.screens.site import SiteScreen

        self.draft = draft
        self.probe_state = "no meter connected"
        self.push_screen(SiteScreen())

    def end_visit(self) -> None:
        """Forget the visit and go back to the work-order list."""
        self.draft = None
        self.probe_state = "no meter connected"
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.refresh_sync_state()
        from fieldkit.tui.screens.work_orders import WorkOrdersScreen

        if isinstance(self.screen, WorkOrdersScreen):
            self.screen.reload()

    # --- sync -------------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="sync-state",
        exit_on_error=False,
        description="read the sync state",
    )
    def refresh_sync_state(self) -> None:
        """Ask the store and the sync client what is waiting (a thread: both may block)."""
        ended = self._syncs_ended
        self.call_from_thread(self.show_sync_state, self.describe_sync(), ended)

    def sync_now(self) -> bool:
        """Push the outbox and pull the feed in a worker; False when it cannot start now.

        The end is published as ``sync_report`` (the Sync screen shows it) and in the
        indicator; a failure also pops up on whatever screen is showing.
        """
        if self.sync_client is None or self.syncing:
            return False
        self.syncing = True
        self.sync_state = "syncing…"
        self._sync_worker(self.sync_client)
        return True

    @work(thread=True, exclusive=True, group="sync-now", exit_on_error=False, description="sync")
    def _sync_worker(self, client: SyncClient) -> None:
        try:
            report = client.sync_now()
        except Exception as exc:  # the client promises one line, never a raise: keep it so
            report = SyncReport(error=(str(exc).strip().splitlines() or [type(exc).__name__])[0])
        self._last_report = report
        state = self.describe_sync(report)
        self.call_from_thread(self._sync_ended, report, state)

    def _sync_ended(self, report: SyncReport, state: str) -> None:
        from fieldkit.tui.screens.sync import SyncScreen

        self.syncing = False
        self._syncs_ended += 1
        self.sync_state = state
        self.sync_report = report
        if report.error and not isinstance(self.screen, SyncScreen):
            # The error's words come from the network or the office: never read as markup.
            self.notify(
                report.error, title="Sync failed", severity="error", timeout=10, markup=False
            )

    def describe_sync(self, report: SyncReport | None = None) -> str:
        """The indicator's sync text; blocking (store and client calls).

        Without ``report``, the last sync's in this run: a failure stays said until the next
        sync ends.
        """
        if report is None:
            report = self._last_report
        try:
            items = self.store.sync_items()
        except Exception as exc:  # a broken store must not take the indicator down
            return f"store unreadable ({exc})"
        pending = sum(1 for i in items if i.state == "pending")
        rejected = sum(1 for i in items if i.state == "rejected")
        parts = [f"{pending} pending"]
        if rejected:
            parts.append(f"{rejected} rejected")
        if self.sync_client is None:
            parts.append("not set up")
        else:
            last = self.sync_client.last_sync()
            parts.append("never synced" if last is None else f"last {_hhmm(last, self.clock())}")
        if report is not None and report.error:
            parts.append(f"failed: {report.error}")
        return ", ".join(parts)

    def show_sync_state(self, text: str, syncs_ended: int | None = None) -> None:
        """Put ``text`` in the indicator (on the UI thread), unless a sync is running:
        "syncing…" stays until the sync itself ends.

        ``syncs_ended``: how many syncs had ended when ``text`` was read. A read begun
        before a sync ended and shown after it would put the old count back and drop the
        failure the end reported.
        """
        if self.syncing:
            return
        if syncs_ended is not None and syncs_ended != self._syncs_ended:
            return
        self.sync_state = text

    # --- actions on every screen ------------------------------------------------------

    def unsaved_visit(self) -> str:
        """What the visit in progress did that is not in the log yet ('' when nothing)."""
        from fieldkit.tui.screens.site import unsaved_work

        draft = self.draft
        if draft is None or draft.saved_id is not None:
            return ""
        return unsaved_work(draft)

    async def action_quit(self) -> None:
        """Ctrl+Q: quit at once, unless a read or an adjustment would be lost: then ask.

        A read at 9600 baud takes minutes and a demand reset cannot be done again: a
        glove on Ctrl+Q must not drop them. With nothing unsaved the exit stays immediate
        (status 0), as the demo and the scripts expect.
        """
        from fieldkit.tui.screens.dialogs import ConfirmDialog

        unsaved = self.unsaved_visit()
        if not unsaved:
            self.exit()
            return
        if isinstance(self.screen, ConfirmDialog) and self.screen.id == "quit-question":
            return  # a second Ctrl+Q is not an answer: Ctrl+Y is

        def answered(quit_anyway: bool | None) -> None:
            if quit_anyway:
                self.exit()

        self.push_screen(
            ConfirmDialog(
                "Quit without saving this visit?",
                f"{unsaved}, not saved",
                "the app closes; nothing of this visit is kept",
                "Esc goes back: Close visit (v) keeps it in the log.",
                "Quit anyway",
                id="quit-question",
            ),
            answered,
        )

    def action_help(self) -> None:
        """F1: the current screen's help and keys."""
        from fieldkit.tui.screens.help import HelpScreen

        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        title = getattr(screen, "TITLE_TEXT", "") or "fieldkit"
        text = getattr(screen, "HELP", "") or ""
        self.push_screen(HelpScreen(title, text, self.keys_of(screen)))

    def action_sync(self) -> None:
        """F2: pending and rejected items, last sync, sync now."""
        from fieldkit.tui.screens.sync import SyncScreen

        if not isinstance(self.screen, SyncScreen):
            self.push_screen(SyncScreen())

    def action_toggle_dark(self) -> None:
        """F4: switch between the light and the dark theme (sun on the screen)."""
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def screen_actions(self, screen: Screen[object]) -> list[tuple[DOMNode, Binding, str]]:
        """Every action the screen offers now: (where it runs, its binding, all its keys).

        The screen's own bindings and the app's (not behind a dialog), whatever has the
        focus: a search box that takes the letter "n" hides "n Ad-hoc visit" from the footer,
        yet the palette and the help must still find it. A focused widget's own keys (cursor
        moves, editing) are left out unless its footer shows them: they buried the screen's
        keys below the fold of F1 at 80x24. Disabled actions are left out too.
        """
        nodes: list[DOMNode] = [screen] if screen.is_modal else [screen, self]
        bindings = [(node, binding) for node in nodes for _, binding in node._bindings]
        shown = [(a.node, a.binding) for a in screen.active_bindings.values() if a.binding.show]
        # One entry per thing done: keys doing it under another name ("Back") stay apart.
        found: dict[tuple[int, str, str], tuple[DOMNode, Binding, list[str]]] = {}
        for node, binding in [*(b for b in shown if b[0] not in nodes), *bindings]:
            if not binding.description or binding.action == "command_palette":
                continue
            if not self._check_action_state(binding.action, node):
                continue
            key = self.get_key_display(binding)
            entry = found.setdefault(
                (id(node), binding.action, binding.description), (node, binding, [])
            )
            if key not in entry[2]:
                entry[2].append(key)
        # The kit's own actions first (they carry ids); Textual's tab and copy keys after.
        ordered = sorted(found.values(), key=lambda entry: entry[1].id is None)
        return [(node, binding, ", ".join(keys)) for node, binding, keys in ordered]

    def keys_of(self, screen: Screen[object]) -> list[tuple[str, str]]:
        """Every key the screen answers to, with what it does (help and palette)."""
        return [(keys, binding.description) for _, binding, keys in self.screen_actions(screen)]

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette finds every action of the current screen, then the app's own."""
        for node, binding, keys in self.screen_actions(screen):
            yield SystemCommand(
                binding.description,
                f"{binding.tooltip or binding.description} ({keys})",
                functools.partial(self._run_from_palette, binding.action, node),
            )
        for command in super().get_system_commands(screen):
            if command.title in ("Quit", "Keys"):
                continue  # the footer's ctrl+q and F1 already say these
            yield command

    async def _run_from_palette(self, action: str, node: DOMNode) -> None:
        await self.run_action(action, node)


def _hhmm(moment: datetime, now: datetime) -> str:
    """'21:48 UTC' for today (the indicator is one line at 80 columns), else with the date."""
    at = moment.astimezone(UTC)
    if at.date() == now.astimezone(UTC).date():
        return at.strftime("%H:%M UTC")
    return at.strftime("%Y-%m-%d %H:%M UTC")
