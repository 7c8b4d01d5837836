"""Connect: pick the probe, log on, and watch the meter's tables arrive; cancel at any time.

The read runs in a thread worker (group ``meter-io``); the driver's progress callback posts
:class:`~fieldkit.tui.messages.ReadProgressed` from the driver's thread, so the screen
stays live however slow the meter is. Esc sets the :class:`CancelToken`; the driver stops
at the next packet boundary (within half a second) and closes the port.
"""

from __future__ import annotations

import time
from typing import ClassVar

from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widget import AwaitMount
from textual.widgets import Input, Label, OptionList, ProgressBar, Select, Static
from textual.widgets.option_list import Option
from textual.worker import Worker

from fieldkit.drivers.base import PROTOCOLS, CancelToken, Progress, Stage
from fieldkit.drivers.errors import DriverError, SecurityDenied
from fieldkit.drivers.ports import PortInfo
from fieldkit.tui import heap
from fieldkit.tui.messages import DriverWarning, ReadFinished, ReadProgressed, ReadRefused
from fieldkit.tui.screens.base import FieldkitScreen
from fieldkit.tui.state import LinkChoice, MeterLink
from fieldkit.tui.text import verbatim
from fieldkit.visit import VisitResult, run_visit

__all__ = [
    "ConnectScreen",
    "describe_outcome",
    "port_label",
    "speed_line",
    "stage_line",
    "table_lines",
]

STEPS: tuple[Stage, ...] = (Stage.IDENTIFY, Stage.NEGOTIATE, Stage.LOGON, Stage.READ)

# The read's progress is redrawn at most this often (seconds); the latest state is always
# the one drawn, and the final one is drawn before the outcome. One redraw per packet
# (dozens a second at 9600 baud) kept the UI loop busy for no reader's benefit.
REDRAW_EVERY = 0.1


def port_label(port: PortInfo) -> str:
    """'/dev/ttyUSB0  0403:6001  FT232R USB UART  ← FTDI FT232R: usual in ANSI probes'."""
    vid_pid = (
        f"{port.vid:04X}:{port.pid:04X}" if port.vid is not None and port.pid is not None else "-"
    )
    mark = f"  ← {port.probe}" if port.probe else ""
    return f"{port.device}  {vid_pid}  {port.description}{mark}"


def stage_line(progress: Progress | None, failed_at: Stage | None = None) -> str:
    """Identify → Negotiate → Logon → Read, with ✓ for the stages passed and … for the current.

    ``failed_at``: the read ended there without success; that stage gets ✗ and the ones after
    it stay unmarked, so a rejected password never shows as a passed Logon.
    """
    if progress is None and failed_at is None:
        return " ".join(f"· {s.value.title()}" for s in STEPS)
    if failed_at is not None:
        # Opening the port comes before Identify: a port that never answered fails there.
        stopped = STEPS.index(failed_at) if failed_at in STEPS else 0
        marks = ["✓" if n < stopped else "✗" if n == stopped else "·" for n in range(len(STEPS))]
        return " ".join(f"{m} {s.value.title()}" for m, s in zip(marks, STEPS, strict=True))
    assert progress is not None
    current = STEPS.index(progress.stage) if progress.stage in STEPS else None
    if progress.stage is Stage.CLOSE:
        current = len(STEPS)
    parts = []
    for n, stage in enumerate(STEPS):
        if current is None or n > current:
            mark = "·"
        elif n < current:
            mark = "✓"
        else:
            mark = "…"
        parts.append(f"{mark} {stage.value.title()}")
    return " ".join(parts)


def speed_line(progress: Progress | None, protocol: str) -> str:
    """The line's speed as the technician needs it: what Negotiate got, or the map's."""
    if progress is None or progress.baud is None:
        return "Speed: -"
    if protocol != "c1218":
        return f"Speed: {progress.baud} baud (set by the register map)"
    if progress.stage in (Stage.CONNECT, Stage.IDENTIFY, Stage.NEGOTIATE):
        return f"Speed: {progress.baud} baud (before Negotiate)"
    return f"Speed: {progress.baud} baud (negotiated)"


def table_lines(items: tuple[str, ...], stage: Stage, rows: int) -> str:
    """The tables read so far, the newest last, in ``rows`` lines at most.

    ``✓`` for those read, ``…`` for the one being read; what does not fit is counted on the
    first line, so the list keeps one size and never scrolls.
    """
    lines = [f"✓ {item}" for item in items[:-1]]
    if items:
        lines.append(f"… {items[-1]}" if stage is Stage.READ else f"✓ {items[-1]}")
    if rows > 0 and len(lines) > rows:
        kept = lines[len(lines) - rows + 1 :] if rows > 1 else []
        lines = [f"✓ {len(lines) - len(kept)} tables read before these", *kept]
    return "\n".join(lines)


def describe_outcome(result: VisitResult) -> str:
    """What happened at the meter, in words, with what to do next."""
    outcome = result.outcome
    if outcome is None or outcome.ok:
        return "Read complete."
    error = str(outcome.error)
    got = "" if result.snapshot is None else _what_was_read(result)
    if outcome.result == "cancelled":
        return (
            f"Read cancelled. {got}F5 reads again"
            + ("; F6 goes on with what was read" if result.snapshot else "")
            + "; F8 closes the visit."
        )
    if outcome.result == "incomplete":
        return (
            f"The meter stopped answering mid-read: {error}. {got}"
            "F6 goes on with what was read (the checks judge what is there); F5 reads again."
        )
    if isinstance(outcome.error, SecurityDenied):
        # The meter answered: the probe and the port are fine, only the password is not.
        return (
            f"No read: {error}. Type the password for this meter; F5 tries again, "
            "F8 closes the visit."
        )
    return (
        f"No read: {error}. F5 tries again once the probe is seated and powered and the "
        "port is right; F8 closes the visit (no comms)."
    )


def _what_was_read(result: VisitResult) -> str:
    outcome = result.outcome
    frames = 0 if outcome is None else outcome.stats.round_trips
    snap = result.snapshot
    assert snap is not None
    return (
        f"What was read is kept ({snap.identity.manufacturer} {snap.identity.model}, "
        f"{len(snap.unavailable)} items missing, {frames} round trips). "
    )


class ConnectScreen(FieldkitScreen):
    """The probe, the protocol, the password, then the read as it happens."""

    TITLE_TEXT = "Connect"
    HELP = (
        "Choose the probe from the ports this laptop sees (VID:PID shown; known optical "
        "probe chips are marked) or type a port URL (`/dev/ttyUSB0`, `COM3`, "
        "`socket://host:port`). The last choice is remembered. Choose the protocol: "
        "C12.18 (the optical port) or Modbus, with the meter's register map "
        "(`fieldkit maps list`). A password kept on this laptop for the meter (`fieldkit "
        "secrets set-password`) is filled in; otherwise type it if the meter has one (it is "
        "kept for this visit only).\n\n"
        "**F5** reads the meter: Identify → Negotiate → Logon, then each table as it "
        "arrives. **Esc** cancels a read at any moment (the port is closed within half a "
        "second). If the meter stops answering, what was read is kept: **F6** goes on to "
        "the checks with it. **F8** closes the visit without a read."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        # Short words: at 80 columns the screen's keys and the app's Help and Quit must all
        # fit in the footer (Help and Quit were cut). The palette says them in full.
        Binding("f5,ctrl+r", "read", "Read", tooltip="Read the meter", id="connect-read"),
        Binding("escape", "cancel_read", "Cancel read", id="connect-cancel"),
        Binding("escape", "back", "Back", tooltip="Back to the site", id="connect-back"),
        Binding(
            "f6",
            "keep",
            "Checks",
            tooltip="Go on to the checks with what was read",
            id="connect-keep",
        ),
        Binding("f8", "close_visit", "Close visit", id="connect-close"),
        # The probe list's title says F3: the footer has no room left for it.
        Binding("f3", "rescan", "Rescan ports", show=False, id="connect-rescan"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._token: CancelToken | None = None
        self._worker: Worker[None] | None = None
        self._last_result: VisitResult | None = None
        self._ports: list[PortInfo] = []
        self._choice: LinkChoice | None = None
        self._maps_loaded = False
        self._pending: ReadProgressed | None = None  # the latest progress not yet drawn
        self._drawn_at = float("-inf")
        self._redraw: Timer | None = None
        self._checks_due = False  # the read ended while another screen was on top

    def heading(self) -> str:
        return f"Connect · {self.draft.title}"

    def _known_link(self) -> MeterLink | None:
        """How this meter is reached, when the laptop knows it (the demo's simulators)."""
        return self.fk.meter_links.get(self.draft.meter_number.strip().upper())

    def compose_body(self) -> ComposeResult:
        prefs = self.fk.preferences
        known = self._known_link()
        last_port = known.port if known is not None else prefs.last_port
        last_protocol = known.protocol if known is not None else prefs.last_protocol
        with Horizontal(id="connect-body"):
            with Vertical(id="connect-form"):
                yield Static("Probe (F3 rescans)", classes="section-title")
                # A port's description is the USB device's own string.
                yield OptionList(id="connect-ports", markup=False)
                yield Label("Port or URL")
                yield Input(
                    value=last_port or "",
                    placeholder="/dev/ttyUSB0, COM3, socket://host:port",
                    id="connect-port",
                )
                with Horizontal(classes="row"):
                    with Vertical():
                        yield Label("Protocol")
                        yield Select(
                            [(p, p) for p in PROTOCOLS],
                            value=last_protocol if last_protocol in PROTOCOLS else PROTOCOLS[0],
                            allow_blank=False,
                            id="connect-protocol",
                        )
                    with Vertical():
                        yield Label("Password")
                        yield Input(password=True, placeholder="none", id="connect-password")
                with Vertical(id="connect-map-row"):
                    yield Label("Modbus register map")
                    yield self._map_select()
                yield Static("", id="connect-password-source", markup=False)
            with Vertical(id="connect-progress"):
                yield Static("Read", classes="section-title")
                yield Static(stage_line(None), id="connect-stages", markup=False)
                yield ProgressBar(total=1, show_eta=False, id="connect-bar")
                yield Static(speed_line(None, ""), id="connect-speed", markup=False)
                yield Static("", id="connect-link", markup=False)
                yield Static("", id="connect-tables", markup=False)
                yield Static("Press F5 to read the meter.", id="connect-message", markup=False)

    def _known_map(self) -> str | None:
        known = self._known_link()
        value = None if known is None else dict(known.settings).get("map")
        return value if isinstance(value, str) else None

    def _map_select(self) -> Select[str]:
        """Before the catalog is read it offers the known link's map, so the form is right."""
        known = self._known_map()
        if known is None:
            return Select[str]([], prompt="choose the meter's map", id="connect-map")
        return Select[str](
            [(verbatim(known), known)],
            value=known,
            prompt="choose the meter's map",
            id="connect-map",
        )

    def on_mount(self) -> None:
        self.query_one("#connect-port", Input).focus()
        self._show_map_row()
        self.action_rescan()
        self._load_password()

    # --- protocol, map and password -----------------------------------------------------

    def _protocol(self) -> str:
        return str(self.query_one("#connect-protocol", Select).value)

    @on(Select.Changed, "#connect-protocol")
    def _show_map_row(self) -> None:
        modbus = self._protocol() == "modbus"
        self.query_one("#connect-map-row").display = modbus
        if modbus and not self._maps_loaded:
            self._maps_loaded = True  # read the catalog once, and only for a Modbus meter
            self._load_maps()

    @work(
        thread=True,
        exclusive=True,
        group="maps",
        exit_on_error=False,
        description="list the register maps",
    )
    def _load_maps(self) -> None:
        """The register maps ``fieldkit maps list`` shows (a thread: each file is parsed)."""
        from fieldkit.drivers.modbus.catalog import list_entries

        try:
            names = [e.name for e in list_entries() if e.error is None]
        except Exception as exc:  # an unreadable maps folder: say so, keep the form usable
            self.app.call_from_thread(
                self.notify, f"cannot list the register maps: {exc}", markup=False
            )
            return
        self.app.call_from_thread(self._show_maps, names)

    def _show_maps(self, names: list[str]) -> None:
        select = self.query_one("#connect-map", Select)
        chosen = select.value
        select.set_options([(verbatim(n), n) for n in names])  # the utility's own file names
        if isinstance(chosen, str) and chosen in names:
            select.value = chosen

    @work(
        thread=True,
        exclusive=True,
        group="secrets",
        exit_on_error=False,
        description="look up the kept password",
    )
    def _load_password(self) -> None:
        """The password kept on this laptop for this meter (the Site screen asked ahead)."""
        kept = self.fk.kept_passwords.lookup(self.draft.meter_number)
        self.app.call_from_thread(self._show_password, kept.password, kept.problem)

    def _show_password(self, kept: str | None, problem: str | None) -> None:
        source = self.query_one("#connect-password-source", Static)
        box = self.query_one("#connect-password", Input)
        if problem is not None:
            source.update(problem)
        elif kept is None:
            source.update("No password kept on this laptop for this meter: type it if needed.")
        elif box.value:
            source.update("A password is kept for this meter; the typed one is used.")
        else:
            box.value = kept
            source.update("Password: the one kept on this laptop for this meter.")

    # --- ports ------------------------------------------------------------------------

    def action_rescan(self) -> None:
        """F3: list the serial ports again (a thread: enumeration can be slow)."""
        self._scan()

    @work(
        thread=True,
        exclusive=True,
        group="ports",
        exit_on_error=False,
        description="list the serial ports",
    )
    def _scan(self) -> None:
        try:
            ports = self.fk.port_lister()
        except Exception as exc:  # pyserial's enumeration fails in odd ways on odd systems
            self.app.call_from_thread(self._show_ports, [], f"cannot list ports: {exc}")
            return
        self.app.call_from_thread(self._show_ports, ports, None)

    def _show_ports(self, ports: list[PortInfo], problem: str | None) -> None:
        self._ports = ports
        options = self.query_one("#connect-ports", OptionList)
        options.clear_options()
        if problem is not None:
            options.add_option(Option(problem, disabled=True))
        elif not ports:
            options.add_option(
                Option("no serial ports found: plug the probe in, F3 rescans", disabled=True)
            )
        for n, port in enumerate(ports):
            options.add_option(Option(port_label(port), id=f"port-{n}"))
        last = self.fk.preferences.last_port
        for n, port in enumerate(ports):
            if port.device == last:
                options.highlighted = n

    @on(OptionList.OptionSelected, "#connect-ports")
    def _port_picked(self, event: OptionList.OptionSelected) -> None:
        option_id = event.option.id or ""
        if option_id.startswith("port-"):
            port = self._ports[int(option_id.removeprefix("port-"))]
            self.query_one("#connect-port", Input).value = port.device

    # --- the read ---------------------------------------------------------------------

    @property
    def reading(self) -> bool:
        """True while a read is running."""
        return self._token is not None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "read":
            return not self.reading
        if action == "keep":
            return (
                not self.reading
                and self._last_result is not None
                and self._last_result.snapshot is not None
            )
        if action == "close_visit":
            return not self.reading
        # Esc cancels a read, else goes back: the footer names the one it does now.
        if action == "cancel_read":
            return self.reading
        if action == "back":
            return not self.reading
        return True

    def action_read(self) -> None:
        """F5: read the meter with the chosen port, protocol and password."""
        if self.reading:
            return
        port = self.query_one("#connect-port", Input).value.strip()
        if not port:
            self._say("Choose a port from the list or type its URL first.")
            self.query_one("#connect-port", Input).focus()
            return
        protocol = self._protocol()
        password = self.query_one("#connect-password", Input).value or None
        known = self._known_link()
        extra = dict(
            known.settings
            if known is not None and known.port == port and known.protocol == protocol
            else ()
        )
        extra.pop("map", None)
        if protocol == "modbus":
            chosen = self.query_one("#connect-map", Select).value
            if not isinstance(chosen, str):
                self._say("Choose the meter's register map first (fieldkit maps list).")
                self.query_one("#connect-map", Select).focus()
                return
            extra["map"] = chosen
        choice = LinkChoice(
            protocol=protocol, port=port, password=password, extra=tuple(sorted(extra.items()))
        )
        self._choice = choice
        self._token = CancelToken()
        self._last_result = None
        # Fixed-size lines: no relayout at the start of the read either.
        self.query_one("#connect-tables", Static).update("", layout=False)
        self.query_one("#connect-link", Static).update("", layout=False)
        self.query_one("#connect-speed", Static).update(speed_line(None, protocol), layout=False)
        self.query_one("#connect-stages", Static).update(stage_line(None), layout=False)
        bar = self.query_one("#connect-bar", ProgressBar)
        bar.update(total=1, progress=0)  # no indeterminate animation: frames cost
        self._say(f"Connecting to {port}… (Esc cancels)")
        self.fk.probe_state = f"connecting to {port}"
        self.refresh_bindings()
        self._pending = None
        self._drawn_at = float("-inf")
        heap.pause()  # no collection stalls the loop while the meter talks
        self._worker = self._read(choice, self._token)

    @work(
        thread=True,
        exclusive=True,
        group="meter-io",
        exit_on_error=False,
        description="read the meter",
    )
    def _read(self, choice: LinkChoice, token: CancelToken) -> None:
        draft = self.draft
        try:
            driver = self.fk.driver_factory(
                choice.protocol,
                choice.port,
                choice.settings(),
                on_warning=lambda text: self.post_message(DriverWarning(text)),
            )
        except DriverError as exc:
            self.post_message(ReadRefused(str(exc)))
            return
        items: list[str] = []
        reached: list[Stage] = []  # the last stage the session got to, Close aside

        def progress(step: Progress) -> None:
            if step.stage is Stage.READ and step.item and (not items or items[-1] != step.item):
                items.append(step.item)
            if step.stage is not Stage.CLOSE:
                reached[:] = [step.stage]
            self.post_message(ReadProgressed(step, tuple(items)))

        result = run_visit(
            driver,
            draft.expectation,
            self.fk.thresholds,
            work_order_id=draft.work_order_id,
            progress=progress,
            cancel=token,
        )
        self.post_message(ReadFinished(result, reached[0] if reached else Stage.CONNECT))

    @on(ReadProgressed)
    def _progressed(self, event: ReadProgressed) -> None:
        if not self.reading:
            return
        self._pending = event
        if self._redraw is not None:
            return  # a redraw is due: it draws this state, the latest
        wait = self._drawn_at + REDRAW_EVERY - time.monotonic()
        if wait <= 0:
            self._draw_progress()
        else:
            self._redraw = self.set_timer(wait, self._draw_progress)

    def _draw_progress(self) -> None:
        """Show the latest progress: stages, speed, bar, tables, bytes, the indicator."""
        self._redraw = None
        event, self._pending = self._pending, None
        if event is None:
            return
        self._drawn_at = time.monotonic()
        step = event.progress
        self.query_one("#connect-stages", Static).update(stage_line(step), layout=False)
        protocol = "" if self._choice is None else self._choice.protocol
        self.query_one("#connect-speed", Static).update(speed_line(step, protocol), layout=False)
        bar = self.query_one("#connect-bar", ProgressBar)
        if step.items_total:
            bar.update(total=step.items_total, progress=step.items_done)
        tables = self.query_one("#connect-tables", Static)
        # layout=False: every line here has a fixed size, so a redraw repaints these lines
        # only; a relayout of the screen per redraw was the read's largest loop stall.
        tables.update(table_lines(event.items, step.stage, tables.size.height), layout=False)
        self.query_one("#connect-link", Static).update(
            f"{step.bytes_tx} B out, {step.bytes_rx} B in, {step.round_trips} round trips",
            layout=False,
        )
        total = f"/{step.items_total}" if step.items_total else ""
        where = f"{step.stage.value}" + (
            f" {step.items_done}{total}" if step.stage is Stage.READ else ""
        )
        port = self.query_one("#connect-port", Input).value.strip()
        self.fk.probe_state = f"{port}: {where}"

    @on(DriverWarning)
    def _driver_warning(self, event: DriverWarning) -> None:
        self.notify(event.text, title="Meter", severity="warning", markup=False)

    def _read_ended(self) -> None:
        """The read is over: its last progress on screen, the collector free again."""
        if self._redraw is not None:
            self._redraw.stop()
        self._draw_progress()
        self._token = None

    @on(ReadRefused)
    def _refused(self, event: ReadRefused) -> None:
        self._read_ended()
        heap.resume()
        self.fk.probe_state = "no meter connected"
        self._say(f"Cannot read: {event.message}")
        self.refresh_bindings()

    @on(ReadFinished)
    async def _finished(self, event: ReadFinished) -> None:
        result = event.result
        self._read_ended()
        earlier = self.draft.result
        # A try that read nothing never replaces a read that got something: the meter's
        # values were lost and the visit closed as "no read" (try again after a meter
        # stopped mid-read, and it says nothing at all).
        keep_earlier = (
            result.snapshot is None and earlier is not None and earlier.snapshot is not None
        )
        if keep_earlier:
            self._last_result = earlier
        else:
            self._last_result = result
            self.draft.result = result
            self.draft.link = self._choice
        self.refresh_bindings()
        outcome = result.outcome
        port = "" if outcome is None else outcome.port
        if outcome is not None and outcome.ok:
            self.fk.preferences.remember(outcome.port, outcome.protocol)
            self.fk.probe_state = f"{port}: read complete"
            bar = self.query_one("#connect-bar", ProgressBar)
            bar.update(total=1, progress=1)
        elif outcome is not None:
            self.fk.probe_state = f"{port}: {outcome.result}"
        if outcome is not None and not outcome.ok:
            self.query_one("#connect-stages", Static).update(stage_line(None, event.stopped_at))
        if keep_earlier and outcome is not None:
            this_time = (
                "Read cancelled"
                if outcome.result == "cancelled"
                else f"No read this time: {outcome.error}"
            )
            self._say(f"{this_time}. The earlier read is kept: F6 goes on with it; F5 tries again.")
        else:
            self._say(describe_outcome(result))
        if outcome is not None and outcome.result in ("complete", "incomplete"):
            if self.is_active:  # on top (help over it is 'current' too)
                await self._show_checks()
            else:
                # Help or the Sync screen was opened mid-read: the checks pushed over it
                # hid what the technician was reading, and their "r" then led back into
                # it. They open when the technician comes back here.
                self._checks_due = True
        # The verdict is on screen: cycles made during the read may be collected now.
        self.app.call_after_refresh(heap.resume)

    def on_screen_resume(self) -> None:
        if self._checks_due:
            self._checks_due = False
            self._show_checks()

    def worker_failed(self, worker: Worker[object], failure: str) -> None:
        if worker is not self._worker:
            super().worker_failed(worker, failure)
            return
        self._read_ended()
        heap.resume()
        self.fk.probe_state = "no meter connected"
        self._say(f"{failure}; F5 tries again.")
        self.refresh_bindings()

    def _say(self, text: str) -> None:
        self.query_one("#connect-message", Static).update(text)

    def _show_checks(self) -> AwaitMount:
        from fieldkit.tui.screens.checks import ChecksScreen

        return self.app.push_screen(ChecksScreen())

    def action_cancel_read(self) -> None:
        """Esc during a read: cancel it now."""
        if self._token is None:
            raise SkipAction  # no read: Esc goes back (the next binding)
        self._token.cancel("cancelled by the technician")
        self._say("Cancelling… (the port closes at the next packet)")

    def action_back(self) -> None:
        """Esc with no read running: back to the site."""
        if self._token is not None:
            raise SkipAction
        self.app.pop_screen()

    def action_keep(self) -> None:
        """F6: go on to the checks with what was read."""
        if self._last_result is not None and self._last_result.snapshot is not None:
            self._show_checks()

    def action_close_visit(self) -> None:
        """F8: close the visit (no comms) without a read."""
        from fieldkit.tui.screens.close import CloseScreen

        self.app.push_screen(CloseScreen())

    def on_unmount(self) -> None:
        if self._token is not None:
            self._token.cancel("the app closed the connect screen")
        heap.resume()
