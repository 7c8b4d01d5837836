"""Pilot tests: whole visits against the simulated meter, asserting on what the screen shows."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Input, Select, TextArea

from fieldkit.tui.screens.adjust import AdjustScreen
from fieldkit.tui.screens.checks import ChecksScreen
from fieldkit.tui.screens.close import CloseScreen
from fieldkit.tui.screens.connect import ConnectScreen
from fieldkit.tui.screens.dialogs import ConfirmDialog
from fieldkit.tui.screens.help import HelpScreen
from fieldkit.tui.screens.site import SiteScreen
from fieldkit.tui.screens.sync import SyncScreen
from fieldkit.tui.screens.work_orders import WorkOrdersScreen
from fieldkit.tui.services import ServiceError, VisitRecord
from fieldkit.tui.visit_store import VisitLogStore
from simulators.c1218.options import SimOptions
from tests.tui.helpers import (
    ReplayDriver,
    ReplaySession,
    fixture_snapshot,
    make_app,
    quick_timeout_factory,
    replay_factory,
    saved_visits,
    screen_text,
    seeded_store,
    text_of,
    until,
)

pytestmark = [pytest.mark.anyio, pytest.mark.sim]


async def _to_connect(app: Any, pilot: Any) -> None:
    await until(pilot, lambda: "open orders" in text_of(app, "#wo-status"), what="orders")
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, SiteScreen), what="site")
    await pilot.press("c")
    await until(pilot, lambda: isinstance(app.screen, ConnectScreen), what="connect")


async def _read(app: Any, pilot: Any, timeout: float = 20.0) -> None:
    await pilot.press("f5")
    await until(pilot, lambda: isinstance(app.screen, ChecksScreen), timeout, "checks")


async def _choose_outcome(app: Any, pilot: Any, outcome: str) -> None:
    select = app.screen.query_one("#close-outcome", Select)
    select.focus()
    await pilot.press("enter")
    await pilot.pause()
    order = ["resolved", "follow_up", "replace_meter", "customer_side", "no_access", "no_comms"]
    current = select.value if select.value in order else None
    steps = order.index(outcome) + 1 - (0 if current is None else order.index(current) + 1)
    for _ in range(steps):
        await pilot.press("down")
    await pilot.press("enter")
    await until(pilot, lambda: select.value == outcome, what=f"outcome {outcome}")


async def _read_to_close(app: Any, pilot: Any, outcome: str) -> None:
    """From the list: connect, read, open Close visit and choose ``outcome``."""
    await _to_connect(app, pilot)
    await _read(app, pilot)
    await pilot.press("v")
    await until(pilot, lambda: isinstance(app.screen, CloseScreen))
    await _choose_outcome(app, pilot, outcome)


async def test_a_whole_visit_pick_connect_check_close(sim: Any) -> None:
    simulator = sim("healthy-16s")
    store = seeded_store()
    app = make_app(last_port=simulator.url, store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: "open orders" in text_of(app, "#wo-status"))
        shown = screen_text(app)
        assert "900 Mill Road, Unit B" in shown
        assert "today" in shown
        assert "overdue" in shown
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SiteScreen))
        shown = screen_text(app)
        for fact in ("CL20", "3ph-4w-wye", "120 V", "51230.7 kWh on 2026-11-03", "1:1 / 1:1"):
            assert fact in shown
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConnectScreen))
        # The last port is remembered.
        assert app.screen.query_one("#connect-port", Input).value == simulator.url
        await _read(app, pilot)
        assert text_of(app, "#checks-verdict").startswith("PASS · 0 failed")
        shown = screen_text(app)
        assert "meter identity" in shown
        assert "WRONG METER" not in shown
        assert "read complete" in text_of(app, "#indicator")
        await pilot.press("2")
        await pilot.pause()
        shown = screen_text(app)
        for label in ("VA", "VB", "VC", "IA", "IB", "IC", "○", "expected 3ph-4w-wye"):
            assert label in shown
        await pilot.press("3")
        await pilot.pause()
        assert "SIM-16S" in screen_text(app)
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, CloseScreen))
        await _choose_outcome(app, pilot, "resolved")
        app.screen.query_one("#close-notes", TextArea).focus()
        await pilot.press("o", "k")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "SAVED as" in text_of(app, "#close-status"))
        assert "in the visit log" in text_of(app, "#close-status")
        [visit] = saved_visits(store)
        assert f"SAVED as {visit.visit_id[:8]} " in text_of(app, "#close-status")
        assert (visit.outcome, visit.work_order) == ("resolved", "WO-1001")
        assert [n.text for n in visit.notes] == ["ok"]
        assert visit.read_result == "complete"
        assert visit.verdict == "pass"
        await until(pilot, lambda: "1 pending" in text_of(app, "#indicator"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, WorkOrdersScreen))
        # The site now lists the visit just saved.
        await pilot.press("enter")
        await until(pilot, lambda: "1 saved on this laptop" in text_of(app, "#site-visits-status"))
        assert "resolved" in screen_text(app)


async def test_a_meter_that_stops_answering_mid_read_leaves_a_visit_to_close(sim: Any) -> None:
    simulator = sim("healthy-16s", SimOptions(stop_after=6))
    store = seeded_store()
    app = make_app(last_port=simulator.url, store=store, driver_factory=quick_timeout_factory())
    async with app.run_test(size=(100, 30)) as pilot:
        await _to_connect(app, pilot)
        await pilot.press("f5")
        await until(pilot, lambda: "ST21" in text_of(app, "#connect-tables"), what="tables")
        # The meter is silent now: the app still answers keys while the driver waits.
        connect = app.screen
        assert isinstance(connect, ConnectScreen)
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), 5.0, "help")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is connect, 5.0, "connect")
        assert connect.reading, "the read should still be waiting for the silent meter"
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen), 30, "checks")
        banner = text_of(app, "#checks-incomplete")
        assert banner.startswith("INCOMPLETE READ")
        assert "could not keep the session" in banner
        # What was read passed, but a read cut short is not a pass (the rest skipped).
        verdict = text_of(app, "#checks-verdict")
        assert verdict.startswith("INCOMPLETE · 0 failed"), verdict
        assert "incomplete" in text_of(app, "#indicator")
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, CloseScreen))
        assert "incomplete read, verdict INCOMPLETE" in text_of(app, "#close-summary")
        await _choose_outcome(app, pilot, "follow_up")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "SAVED" in text_of(app, "#close-status"))
        # The partial read is in the visit log, as read, with what was missing.
        [visit] = saved_visits(store)
        assert (visit.status, visit.outcome) == ("final", "follow_up")
        assert visit.read_result == "incomplete"
        assert visit.snapshot is not None
        assert visit.snapshot.incomplete
        assert visit.snapshot.unavailable


async def test_cancel_stops_a_read_within_a_second_and_the_app_stays(sim: Any) -> None:
    simulator = sim("healthy-16s", SimOptions(slow_ms=300))
    app = make_app(last_port=simulator.url)
    async with app.run_test(size=(100, 30)) as pilot:
        await _to_connect(app, pilot)
        await pilot.press("f5")
        await until(pilot, lambda: "ST1" in text_of(app, "#connect-tables"), what="reading")
        started = time.monotonic()
        await pilot.press("escape")
        await until(pilot, lambda: "Read cancelled" in text_of(app, "#connect-message"), 5.0)
        # The whole read takes over 5 s at 300 ms a request; a cancel ends it far sooner
        # (the driver's promise is half a second; CI machines are slower).
        assert time.monotonic() - started < 3.0
        assert isinstance(app.screen, ConnectScreen)
        assert "cancelled" in text_of(app, "#indicator")
        screen = app.screen
        assert screen.check_action("read", ()) is True
        # Esc again goes back: no read is running.
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, SiteScreen))


async def test_a_wrong_meter_is_the_first_thing_on_the_checks_screen(sim: Any) -> None:
    simulator = sim("reversed-ct-16s")  # another meter number than WO-1001's
    app = make_app(last_port=simulator.url)
    async with app.run_test(size=(100, 30)) as pilot:
        await _to_connect(app, pilot)
        await _read(app, pilot)
        shown = screen_text(app)
        assert "WRONG METER?" in shown
        assert shown.index("WRONG METER?") < shown.index("FAIL ·")
        assert "M16-0054321" in text_of(app, "#checks-wrong-meter")


async def test_no_answer_at_all_says_so_and_closes_as_no_comms(sim: Any) -> None:
    simulator = sim("healthy-16s")
    url = simulator.url
    simulator.stop()  # nothing listens on the port any more
    app = make_app(last_port=url)
    async with app.run_test(size=(100, 30)) as pilot:
        await _to_connect(app, pilot)
        await pilot.press("f5")
        await until(pilot, lambda: "No read:" in text_of(app, "#connect-message"))
        assert isinstance(app.screen, ConnectScreen)
        await pilot.press("f8")
        await until(pilot, lambda: isinstance(app.screen, CloseScreen))
        assert app.screen.query_one("#close-outcome", Select).value == "no_comms"


async def test_adjust_shows_before_and_after_and_runs_the_procedure(sim: Any) -> None:
    simulator = sim("healthy-16s")
    store = seeded_store()
    app = make_app(last_port=simulator.url, store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await _to_connect(app, pilot)
        await _read(app, pilot)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AdjustScreen))
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        shown = screen_text(app)
        assert "Set the meter's clock?" in shown
        assert "(meter fast) at the read" in text_of(app, "#confirm-before")
        assert "laptop's time" in text_of(app, "#confirm-after")
        # Enter on the focused Cancel button sends nothing.
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AdjustScreen))
        assert "cancelled, nothing was sent" in text_of(app, "#adjust-message")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "9.60 kW" in text_of(app, "#confirm-before")
        await pilot.press("ctrl+y")
        # The simulated meter has no passwords, so it runs SP9 for anyone.
        await until(pilot, lambda: "done" in text_of(app, "#adjust-message"))
        message = text_of(app, "#adjust-message")
        assert "the meter answered 'completed'" in message
        [adjustment] = app.draft.adjustments
        assert (adjustment.procedure, adjustment.ok) == ("demand_reset", True)
        await pilot.press("escape")
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, CloseScreen))
        assert "1 adjustment(s) tried, 1 done" in text_of(app, "#close-summary")
        await _choose_outcome(app, pilot, "follow_up")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "SAVED" in text_of(app, "#close-status"))
        [visit] = saved_visits(store)
        assert [(a.kind, a.result) for a in visit.adjustments] == [("demand_reset", "done")]


async def test_esc_during_a_demand_reset_waits_for_the_meters_answer(sim: Any) -> None:
    """Leaving Adjust mid-procedure must not lose a reset the meter did."""
    simulator = sim("healthy-16s", SimOptions(slow_ms=150))
    app = make_app(last_port=simulator.url)
    async with app.run_test(size=(100, 30)) as pilot:
        await _to_connect(app, pilot)
        await _read(app, pilot, timeout=60)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AdjustScreen))
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("ctrl+y")
        await until(pilot, lambda: "talking to the meter" in text_of(app, "#adjust-message"))
        await pilot.press("escape")
        assert isinstance(app.screen, AdjustScreen)
        assert "wait for its answer" in text_of(app, "#adjust-message")
        await until(pilot, lambda: "done" in text_of(app, "#adjust-message"), timeout=30)
        [adjustment] = app.draft.adjustments
        assert (adjustment.procedure, adjustment.ok) == ("demand_reset", True)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, AdjustScreen))


async def test_a_read_only_password_is_refused_in_words(sim: Any) -> None:
    """A reader's password may read the meter but not reset its demand: say so, record it."""
    simulator = sim("secured-2s")
    app = make_app(last_port=simulator.url)
    async with app.run_test(size=(100, 30)) as pilot:
        await _to_connect(app, pilot)
        app.screen.query_one("#connect-password", Input).value = "READER01"
        await _read(app, pilot)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AdjustScreen))
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("ctrl+y")
        await until(pilot, lambda: "refused" in text_of(app, "#adjust-message"))
        message = text_of(app, "#adjust-message")
        assert "allows reading only" in message
        [adjustment] = app.draft.adjustments
        assert (adjustment.procedure, adjustment.ok) == ("demand_reset", False)


class _SlowStore(VisitLogStore):
    """Commits only when the test says so, or refuses."""

    def __init__(self, refuse: bool = False) -> None:
        super().__init__(seeded_store()._path)
        self.release = threading.Event()
        self.refuse = refuse

    def save_visit(self, visit: VisitRecord) -> str:
        if not self.release.wait(10):
            raise ServiceError("timed out")
        if self.refuse:
            raise ServiceError("disk full")
        return super().save_visit(visit)


@pytest.mark.parametrize("refuse", [False, True])
async def test_saved_appears_only_after_the_store_returned(refuse: bool) -> None:
    store = _SlowStore(refuse=refuse)
    app = make_app(store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: "open orders" in text_of(app, "#wo-status"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SiteScreen))
        await pilot.press("v")  # no access: close without reading
        await until(pilot, lambda: isinstance(app.screen, CloseScreen))
        await _choose_outcome(app, pilot, "no_access")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "Saving" in text_of(app, "#close-status"))
        await pilot.pause(0.3)
        assert "SAVED" not in text_of(app, "#close-status")
        store.release.set()
        if refuse:
            await until(pilot, lambda: "NOT SAVED: disk full" in text_of(app, "#close-status"))
            assert saved_visits(store) == []
            assert app.screen.check_action("save", ()) is True
        else:
            await until(pilot, lambda: "SAVED as" in text_of(app, "#close-status"))
            assert [v.outcome for v in saved_visits(store)] == ["no_access"]
            assert app.screen.check_action("save", ()) is False


async def test_search_filters_and_an_ad_hoc_visit_needs_a_meter_number() -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: "open orders" in text_of(app, "#wo-status"))
        await pilot.press("slash", *"alder")
        await pilot.pause()
        assert text_of(app, "#wo-status").startswith("1 of 3 open orders")
        assert "Depot" not in screen_text(app)
        await pilot.press("enter", "escape")
        await pilot.pause()
        assert text_of(app, "#wo-status").startswith("3 of 3")
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "meter number" in text_of(app, "#adhoc-error")
        await pilot.press(*"X123")
        app.screen.query_one("#adhoc-voltage", Input).value = "240"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, SiteScreen))
        assert "ad-hoc visit · meter X123" in text_of(app, "#screen-title")


async def test_the_palette_and_help_find_every_action_on_every_screen(sim: Any) -> None:
    simulator = sim("healthy-16s")
    app = make_app(last_port=simulator.url)
    async with app.run_test(size=(100, 30)) as pilot:
        seen: list[str] = []

        def check_screen() -> None:
            screen = app.screen
            keys = app.keys_of(screen)
            titles = {c.title for c in app.get_system_commands(screen)}
            for _, what in keys:
                assert what in titles, f"{what} missing from the palette on {screen}"
            # Everything in the footer is in the help too.
            assert {"Help", "Sync", "Quit"} <= {w for _, w in keys}
            seen.append(type(screen).__name__)

        await until(pilot, lambda: "open orders" in text_of(app, "#wo-status"))
        check_screen()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SiteScreen))
        check_screen()
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConnectScreen))
        check_screen()
        await _read(app, pilot)
        check_screen()
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        shown = screen_text(app)
        assert "Adjust" in shown
        assert "Close visit" in shown
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen))
        # Really through the palette: open it, type, run.
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Adjust")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AdjustScreen), what="adjust")
        check_screen()
        assert seen == [
            "WorkOrdersScreen",
            "SiteScreen",
            "ConnectScreen",
            "ChecksScreen",
            "AdjustScreen",
        ]


async def test_a_wrong_password_shows_where_it_failed_and_the_next_step_at_80x24(
    sim: Any,
) -> None:
    """The meter answers but refuses the password: Logon is marked failed (never ✓), and the
    message's next step is on screen at the smallest size, not cut off under the footer."""
    simulator = sim("secured-2s")
    app = make_app(last_port=simulator.url)
    async with app.run_test(size=(80, 24)) as pilot:
        await _to_connect(app, pilot)
        app.screen.query_one("#connect-password", Input).value = "WRONG123"
        await pilot.press("f5")
        await until(pilot, lambda: "No read:" in text_of(app, "#connect-message"), 20)
        assert text_of(app, "#connect-stages") == "✓ Identify ✓ Negotiate ✗ Logon · Read"
        # What the message's own area of the terminal shows, row by row.
        area = app.screen.query_one("#connect-message").region
        rows = screen_text(app).splitlines()[area.y : area.bottom]
        shown = " ".join(" ".join(row[area.x : area.right] for row in rows).split())
        assert "rejected the password" in shown
        assert shown.endswith(
            "Type the password for this meter; F5 tries again, F8 closes the visit."
        )
        assert "failed" in text_of(app, "#indicator")


class _HeldReplay(ReplayDriver):
    """The replayed meter, whose read waits at ``gate`` until the test opens it."""

    def __init__(self) -> None:
        super().__init__(fixture_snapshot())
        self.reading = threading.Event()
        self.gate = threading.Event()

    def session(self, *, progress: Any = None, cancel: Any = None) -> ReplaySession:
        driver = self

        class Held(ReplaySession):
            def read_snapshot(self) -> Any:
                driver.reading.set()
                driver.gate.wait(10)
                return super().read_snapshot()

        return Held(self.snapshot, progress, cancel)


@pytest.mark.parametrize("key", ["f1", "f2"])
async def test_a_read_that_ends_under_help_or_sync_opens_the_checks_on_coming_back(
    key: str,
) -> None:
    """The read ended while F1 (or F2) was up: the checks opened on top of the help, and
    'r Read again' then led back into the help, not to Connect."""
    driver = _HeldReplay()
    app = make_app(driver_factory=replay_factory(driver), last_port=driver.port)
    async with app.run_test(size=(100, 30)) as pilot:
        await _to_connect(app, pilot)
        connect = app.screen
        await pilot.press("f5")
        await until(pilot, driver.reading.is_set, what="the read under way")
        await pilot.press(key)
        above = HelpScreen if key == "f1" else SyncScreen
        await until(pilot, lambda: isinstance(app.screen, above), what="the screen on top")
        driver.gate.set()
        await until(pilot, lambda: "read complete" in str(app.probe_state), what="the end")
        for _ in range(5):
            await pilot.pause(0.02)
        assert isinstance(app.screen, above)  # what the technician is reading stays
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen), what="the checks")
        await pilot.press("r")
        await until(pilot, lambda: app.screen is connect, what="back to connect")


async def test_a_second_read_that_gets_nothing_keeps_what_the_first_one_read() -> None:
    """The meter stopped mid-read; the technician tried again and it said nothing at all:
    that empty try replaced the partial read, and the visit was closed as 'no read'."""
    driver = ReplayDriver(fixture_snapshot(), fail_after=2)
    store = seeded_store()
    app = make_app(driver_factory=replay_factory(driver), last_port=driver.port, store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await _to_connect(app, pilot)
        connect = app.screen
        await _read(app, pilot)
        assert text_of(app, "#checks-incomplete").startswith("INCOMPLETE READ")
        await pilot.press("r")
        await until(pilot, lambda: app.screen is connect, what="back to connect")
        driver.fail_after = 0  # now it answers nothing
        await pilot.press("f5")
        await until(pilot, lambda: "No read" in text_of(app, "#connect-message"), what="fail")
        assert "The earlier read is kept" in text_of(app, "#connect-message")
        await pilot.press("f6")
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen), what="checks")
        assert text_of(app, "#checks-incomplete").startswith("INCOMPLETE READ")
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, CloseScreen))
        assert "incomplete read" in text_of(app, "#close-summary")
        await _choose_outcome(app, pilot, "follow_up")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "SAVED" in text_of(app, "#close-status"))
    [visit] = saved_visits(store)
    assert visit.read_result == "incomplete"
    assert visit.snapshot is not None


async def test_switching_the_theme_keeps_the_highlighted_check_and_recolours_the_verdicts() -> None:
    driver = ReplayDriver(fixture_snapshot("read-reversed-ct-16s.json"))
    app = make_app(driver_factory=replay_factory(driver), last_port=driver.port)
    async with app.run_test(size=(100, 30)) as pilot:
        await _to_connect(app, pilot)
        await _read(app, pilot)
        table = app.screen.query_one("#checks-table", DataTable)
        await pilot.press("down", "down", "down")
        await until(pilot, lambda: table.cursor_row == 3, what="the fourth check")
        reading = text_of(app, "#checks-causes")
        before = table.get_cell_at(Coordinate(3, 1)).style
        await pilot.press("f4")
        await until(pilot, lambda: app.theme == "textual-light", what="the light theme")
        await pilot.pause()
        assert table.cursor_row == 3
        assert text_of(app, "#checks-causes") == reading
        assert table.get_cell_at(Coordinate(3, 1)).style != before


async def test_esc_from_close_visit_keeps_the_outcome_and_notes_typed_so_far() -> None:
    """Esc (a glove on the wrong key) left the close screen and dropped the notes typed."""
    driver = ReplayDriver(fixture_snapshot())
    store = seeded_store()
    app = make_app(driver_factory=replay_factory(driver), last_port=driver.port, store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await _read_to_close(app, pilot, "follow_up")
        app.screen.query_one("#close-notes", TextArea).focus()
        await pilot.press(*"meter base cracked")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ChecksScreen), what="back to checks")
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, CloseScreen))
        assert app.screen.query_one("#close-notes", TextArea).text == "meter base cracked"
        assert app.screen.query_one("#close-outcome", Select).value == "follow_up"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "SAVED" in text_of(app, "#close-status"))
    [visit] = saved_visits(store)
    assert [n.text for n in visit.notes] == ["meter base cracked"]
    assert visit.outcome == "follow_up"


async def test_esc_back_to_the_list_asks_before_dropping_a_visit_with_a_demand_reset() -> None:
    """Esc, Esc, Esc from the checks went back to the list and dropped the visit: the
    read and a demand reset done on the meter, never saved."""
    driver = ReplayDriver(fixture_snapshot())
    store = seeded_store()
    app = make_app(driver_factory=replay_factory(driver), last_port=driver.port, store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await _to_connect(app, pilot)
        await _read(app, pilot)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AdjustScreen))
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("ctrl+y")
        await until(pilot, lambda: "done" in text_of(app, "#adjust-message"))
        for screen in (ChecksScreen, ConnectScreen, SiteScreen):
            await pilot.press("escape")
            await until(pilot, lambda s=screen: isinstance(app.screen, s), what=screen.__name__)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        assert "1 adjustment done on the meter" in text_of(app, "#confirm-before")
        await pilot.press("enter")  # on Cancel: the visit stays
        await until(pilot, lambda: isinstance(app.screen, SiteScreen), what="the site again")
        assert app.draft is not None
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, CloseScreen))
        await _choose_outcome(app, pilot, "follow_up")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "SAVED" in text_of(app, "#close-status"))
    [visit] = saved_visits(store)
    assert [(a.kind, a.result) for a in visit.adjustments] == [("demand_reset", "done")]


async def test_esc_from_a_site_with_nothing_done_goes_straight_back_and_confirming_drops() -> None:
    driver = ReplayDriver(fixture_snapshot())
    store = seeded_store()
    app = make_app(driver_factory=replay_factory(driver), last_port=driver.port, store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: "open orders" in text_of(app, "#wo-status"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SiteScreen))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, WorkOrdersScreen), what="the list")
        await _to_connect(app, pilot)
        await _read(app, pilot)
        await pilot.press("escape", "escape")
        await until(pilot, lambda: isinstance(app.screen, SiteScreen))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        assert "a read (verdict PASS)" in text_of(app, "#confirm-before")
        await pilot.press("ctrl+y")
        await until(pilot, lambda: isinstance(app.screen, WorkOrdersScreen), what="the list")
        assert app.draft is None
    assert saved_visits(store) == []


async def test_ctrl_q_once_the_visit_is_saved_quits_at_once() -> None:
    driver = ReplayDriver(fixture_snapshot())
    store = seeded_store()
    app = make_app(driver_factory=replay_factory(driver), last_port=driver.port, store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await _read_to_close(app, pilot, "resolved")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "SAVED" in text_of(app, "#close-status"))
        await pilot.press("ctrl+q")
        await until(pilot, lambda: not app.is_running, what="the app quitting")
    assert app.return_code == 0
    assert len(saved_visits(store)) == 1


async def test_a_shutdown_keeps_an_unsaved_read_as_an_open_visit_and_exits_at_once() -> None:
    """SIGTERM/SIGHUP (the laptop shutting down) never waits on the quit question; the
    read it would have dropped is saved open, for `fieldkit visits close`."""
    import signal

    driver = ReplayDriver(fixture_snapshot())
    store = seeded_store()
    app = make_app(driver_factory=replay_factory(driver), last_port=driver.port, store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await _to_connect(app, pilot)
        await _read(app, pilot)
        app.quit_on_signal(signal.SIGTERM)  # what the loop's handler calls
        await until(pilot, lambda: not app.is_running, what="the app quitting")
    assert app.return_code == 128 + signal.SIGTERM
    [visit] = saved_visits(store)
    assert (visit.status, visit.outcome, visit.meter_number) == ("open", None, "M16-0054321")
    assert visit.checks


async def test_a_shutdown_with_nothing_unsaved_saves_nothing() -> None:
    import signal

    store = seeded_store()
    app = make_app(store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: "open orders" in text_of(app, "#wo-status"), what="orders")
        app.quit_on_signal(signal.SIGHUP)
        await until(pilot, lambda: not app.is_running, what="the app quitting")
    assert app.return_code == 128 + signal.SIGHUP
    assert saved_visits(store) == []
