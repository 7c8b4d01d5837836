"""ctrl+q quits with status 0 from every screen and dialog, even while a worker still runs.

A worker that finishes after the quit (a slow disk, a hung sync) must not paint into the
screen that is gone: that raised NoMatches (ScreenStackError for the app's sync).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from textual.command import CommandPalette

from fieldkit.tui.app import FieldkitApp
from fieldkit.tui.screens.dialogs import AdHocDialog, ConfirmDialog
from fieldkit.tui.screens.help import HelpScreen
from fieldkit.tui.screens.sync import SyncScreen
from fieldkit.tui.services import SyncReport
from tests.tui.helpers import (
    ORDERS,
    ReplayDriver,
    fixture_snapshot,
    make_app,
    replay_factory,
    seeded_store,
    text_of,
    until,
)

pytestmark = pytest.mark.anyio


class Gate:
    """Holds a worker in a store or sync call until the test opens it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    def wait(self) -> None:
        self.entered.set()
        self.opened.wait(10)


class GatedStore:
    """The real store, with ``slow`` methods held at the gate."""

    def __init__(self, real: Any, slow: str, gate: Gate) -> None:
        self._real, self._slow, self._gate = real, slow, gate

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._real, name)
        if name != self._slow:
            return method

        def held(*args: Any, **kwargs: Any) -> Any:
            self._gate.wait()
            return method(*args, **kwargs)

        return held


class GatedSync:
    """A sync client whose sync hangs at the gate."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate

    def last_sync(self) -> None:
        return None

    def pending(self) -> int:
        return 0

    def sync_now(self) -> SyncReport:
        self._gate.wait()
        return SyncReport(error="the office did not answer")


async def _orders(pilot: Any) -> None:
    await until(pilot, lambda: "open orders" in text_of(pilot.app, "#wo-status"))


async def _site(pilot: Any) -> None:
    await _orders(pilot)
    await pilot.press("enter")


async def _sync_screen(pilot: Any) -> None:
    await _orders(pilot)
    await pilot.press("f2")


async def _sync_now(pilot: Any) -> None:
    await _orders(pilot)
    await pilot.press("f2")
    await until(pilot, lambda: isinstance(pilot.app.screen, SyncScreen))
    await until(pilot, lambda: "Last sync" in text_of(pilot.app, "#sync-summary"))
    await pilot.press("s")


# Where the worker is held: (the store method or "sync_now", how to get there).
HELD: dict[str, tuple[str, Callable[[Any], Awaitable[None]]]] = {
    "work-orders": ("open_work_orders", lambda pilot: pilot.pause()),
    "site-visits": ("previous_visits", _site),
    "sync-outbox": ("sync_items", _sync_screen),
    "sync-now": ("sync_now", _sync_now),
}


@pytest.mark.parametrize("held", list(HELD))
async def test_quitting_while_a_worker_runs_exits_0_and_its_result_paints_nothing(
    held: str,
) -> None:
    slow, steps = HELD[held]
    gate = Gate()
    store = seeded_store()
    app = make_app(store=store if slow == "sync_now" else GatedStore(store, slow, gate))
    app.sync_client = GatedSync(gate)
    raised: list[BaseException] = []
    handed = threading.Event()
    real_call = app.call_from_thread

    def recording(callback: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return real_call(callback, *args, **kwargs)
        except BaseException as exc:
            raised.append(exc)
            raise
        finally:
            if gate.opened.is_set():
                handed.set()

    app.call_from_thread = recording  # type: ignore[method-assign]
    shutdown = app._shutdown

    async def open_gate_then_shut_down() -> None:
        # The worker ends as the screens are torn down: its result arrives mid-teardown.
        gate.opened.set()
        await anyio.sleep(0)
        await shutdown()

    app._shutdown = open_gate_then_shut_down  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        if slow != "open_work_orders":
            gate.opened.set()  # the list loads; the gate holds the next call only
            await _orders(pilot)
            gate.opened.clear()
        await steps(pilot)
        await until(pilot, gate.entered.is_set, what="the worker held at the gate")
        gate.entered.clear()
        await pilot.press("ctrl+q")
    assert app.return_code == 0
    deadline = time.monotonic() + 3
    while not handed.is_set() and time.monotonic() < deadline:
        await anyio.sleep(0.05)
    # A worker whose screen had already gone cannot even reach the app: that paints nothing.
    assert raised == []


async def _help(pilot: Any) -> None:
    await pilot.press("f1")
    await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))


async def _ad_hoc(pilot: Any) -> None:
    await pilot.press("n")
    await until(pilot, lambda: isinstance(pilot.app.screen, AdHocDialog))
    await pilot.press(*"M2S")  # typing in its input: ctrl+q still quits


async def _palette(pilot: Any) -> None:
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette))


async def _confirm(pilot: Any) -> None:
    await pilot.press("enter", "c")
    await until(pilot, lambda: pilot.app.screen.query("#connect-port"))
    await pilot.press("f5")
    await until(pilot, lambda: type(pilot.app.screen).__name__ == "ChecksScreen")
    await pilot.press("a", "c")
    await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog))


DIALOGS: dict[str, Callable[[Any], Awaitable[None]]] = {
    "help": _help,
    "ad-hoc": _ad_hoc,
    "palette": _palette,
}


@pytest.mark.parametrize("dialog", list(DIALOGS))
async def test_ctrl_q_quits_from_a_dialog_with_status_0(dialog: str) -> None:
    driver = ReplayDriver(fixture_snapshot())
    app = make_app(driver_factory=replay_factory(driver), last_port=driver.port, orders=ORDERS)
    async with app.run_test(size=(80, 24)) as pilot:
        await _orders(pilot)
        await DIALOGS[dialog](pilot)
        await pilot.press("ctrl+q")
    assert app.return_code == 0


async def _quit_question(pilot: Any) -> None:
    await until(
        pilot,
        lambda: (
            isinstance(pilot.app.screen, ConfirmDialog) and pilot.app.screen.id == "quit-question"
        ),
        what="the quit question",
    )


async def test_ctrl_q_with_an_unsaved_read_asks_and_cancel_keeps_the_visit() -> None:
    """Ctrl+Q quit at once, and the read (minutes at 9600 baud) was gone unsaved."""
    driver = ReplayDriver(fixture_snapshot())
    app = make_app(driver_factory=replay_factory(driver), last_port=driver.port, orders=ORDERS)
    async with app.run_test(size=(80, 24)) as pilot:
        await _orders(pilot)
        await _confirm(pilot)  # read, then the set-clock question over the adjust screen
        await pilot.press("ctrl+q")
        await _quit_question(pilot)
        assert "a read (verdict" in text_of(app, "#confirm-before")
        assert "not saved" in text_of(app, "#confirm-before")
        await pilot.press("ctrl+q")  # a second press is not an answer
        await pilot.pause()
        assert app.is_running
        await pilot.press("enter")  # Cancel has the focus
        await until(pilot, lambda: app.screen.id != "quit-question", what="the question gone")
        assert app.is_running
        assert isinstance(app.screen, ConfirmDialog)  # the set-clock question, as it was
        assert app.draft is not None
        assert app.draft.result is not None
        await pilot.press("ctrl+q")
        await _quit_question(pilot)
        await pilot.press("ctrl+y")
        await until(pilot, lambda: not app.is_running, what="the app quitting")
    assert app.return_code == 0


async def test_an_app_started_under_nohup_keeps_ignoring_hangups() -> None:
    """`nohup fieldkit` over SSH: the user asked for SIGHUP to be ignored, so the app neither
    quits on it nor puts the default action (terminate) back when it ends."""
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        plain = make_app()
        app = FieldkitApp(
            driver_factory=plain.driver_factory,
            store=plain.store,
            clock=plain.clock,
            port_lister=list,
            handle_signals=True,
        )
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            await pilot.press("ctrl+q")
        assert app.return_code == 0
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)
