"""The app on the real visit log (VisitLogStore) and on the laptop's sync (LaptopSync)."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, TextArea

from fieldkit import paths, store
from fieldkit.model import WorkOrder
from fieldkit.sync.client import Rejection
from fieldkit.sync.laptop import LaptopOutbox
from fieldkit.tui.screens.close import CloseScreen
from fieldkit.tui.screens.site import SiteScreen
from fieldkit.tui.screens.sync import SyncScreen
from fieldkit.tui.screens.work_orders import WorkOrdersScreen
from fieldkit.tui.services import (
    Adjustment,
    FieldStore,
    ServiceError,
    SyncClient,
    SyncItem,
    VisitRecord,
)
from fieldkit.tui.sync_adapter import LaptopSync
from fieldkit.tui.visit_store import VisitLogStore
from fieldkit.visit import judge
from tests.helpers import run_cli
from tests.tui.helpers import (
    FIXED_NOW,
    ORDERS,
    fixture_snapshot,
    make_app,
    screen_text,
    text_of,
    until,
)
from tests.tui.test_visit import _choose_outcome, _read, _to_connect


def _db_with_orders(orders: tuple[WorkOrder, ...] = ORDERS) -> Path:
    path = paths.home() / "fieldkit.db"
    with store.database(path) as db:
        store.upsert_many(db, list(orders), "csv", now=FIXED_NOW)
    return path


def _record(meter: str = "M16-0054321", *, minutes: int = 5, read: bool = False) -> VisitRecord:
    order = ORDERS[0]
    result = (
        judge(fixture_snapshot(), order.expectation(), work_order_id="WO-1001") if read else None
    )
    return VisitRecord(
        meter_number=meter,
        work_order_id="WO-1001",
        started_at=FIXED_NOW + timedelta(minutes=minutes),
        closed_at=FIXED_NOW + timedelta(minutes=minutes + 20),
        outcome="resolved",
        notes="phase B CT reversed, fixed",
        result=result,
        adjustments=(
            Adjustment("set_clock", FIXED_NOW, "12:00", "12:01", True, "done, completed"),
            Adjustment("demand_reset", FIXED_NOW, "5 kW", "5 kW", False, "the meter refused"),
        ),
    )


def test_a_visit_is_committed_with_its_outbox_row_and_comes_back_for_the_meter() -> None:
    path = _db_with_orders()
    real: FieldStore = VisitLogStore(path)
    assert {o.work_order_id for o in real.open_work_orders()} == {"WO-1001", "WO-1002", "WO-1003"}
    visit_id = real.save_visit(_record(read=True))
    # Another connection (another process) sees it: the id came back after COMMIT.
    with sqlite3.connect(path) as other:
        row = other.execute(
            "SELECT status, outcome, technician, work_order_id, account_number, verdict "
            "FROM visits WHERE visit_id = ?",
            [visit_id],
        ).fetchone()
        adjustments = other.execute(
            "SELECT kind, result FROM adjustments WHERE visit_id = ? ORDER BY position",
            [visit_id],
        ).fetchall()
        outbox = other.execute("SELECT entity_id, acked_at FROM outbox").fetchall()
    assert row == ("final", "resolved", "test technician", "WO-1001", "200-0193-11", "pass")
    assert adjustments == [("set_clock", "done"), ("demand_reset", "failed")]
    assert outbox == [(visit_id, None)]
    [previous] = real.previous_visits("m16-0054321")
    assert (previous.visit_id, previous.outcome, previous.notes) == (
        visit_id,
        "resolved",
        "phase B CT reversed, fixed",
    )
    assert previous.verdict is not None
    assert previous.verdict.value == "pass"
    assert real.previous_visits("M2S-0012345") == []
    [item] = real.sync_items()
    assert (item.state, item.reason) == ("pending", None)
    assert item.summary == "visit WO-1001 at meter M16-0054321: resolved"


def test_a_visit_without_a_read_is_saved_too_and_newest_comes_first() -> None:
    path = _db_with_orders()
    real = VisitLogStore(path, technician="olga")
    first = real.save_visit(_record(minutes=1))
    second = real.save_visit(_record(minutes=9))
    assert [v.visit_id for v in real.previous_visits("M16-0054321")] == [second, first]
    listed = run_cli("visits", "list", "--json")
    assert listed.code == 0, listed.stderr
    ids = [v["visit_id"] for v in json.loads(listed.stdout)["visits"]]
    assert set(ids) == {first, second}


def test_rejected_ops_show_with_the_office_reason_pending_ones_first() -> None:
    path = _db_with_orders()
    real = VisitLogStore(path)
    real.save_visit(_record(minutes=1))
    real.save_visit(_record(minutes=2))
    ops = [i.item_id for i in real.sync_items()]
    # The sync records the office's answers in the outbox (its own code path, as after a push).
    with store.database(path) as db:
        LaptopOutbox(db).mark(
            [], [Rejection(ops[0], "work_order_cancelled", "the office cancelled WO-1001")]
        )
    items = real.sync_items()
    assert [(i.item_id, i.state) for i in items] == [(ops[1], "pending"), (ops[0], "rejected")]
    assert items[1].reason == "work_order_cancelled: the office cancelled WO-1001"


def test_a_store_that_cannot_save_says_why_and_saves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "fieldkit.db"
    bad.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(ServiceError, match="fieldkit database"):
        VisitLogStore(bad).save_visit(_record())
    with pytest.raises(ServiceError):
        VisitLogStore(bad).sync_items()


# --- the sync adapter -------------------------------------------------------------------


def test_a_laptop_not_enrolled_gets_one_line_from_sync_now_never_an_exception() -> None:
    adapter: SyncClient = LaptopSync(timeout=1.0)
    report = adapter.sync_now()
    assert report.error == (
        "this laptop is not enrolled: run `fieldkit enroll --server URL --code CODE`"
    )
    assert adapter.last_sync() is None  # nothing was tried: there is no server to try
    assert adapter.pending() == 0


# --- Pilot: the app on the real store ---------------------------------------------------


@pytest.mark.anyio
@pytest.mark.sim
async def test_a_whole_visit_is_saved_in_the_visit_log_and_listed_by_the_cli(sim: Any) -> None:
    simulator = sim("healthy-16s")
    path = _db_with_orders(ORDERS[:1])
    real = VisitLogStore(path)
    app = make_app(last_port=simulator.url, store=real)
    async with app.run_test(size=(100, 30)) as pilot:
        await _to_connect(app, pilot)
        await _read(app, pilot)
        assert text_of(app, "#checks-verdict").startswith("PASS")
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, CloseScreen))
        await _choose_outcome(app, pilot, "resolved")
        app.screen.query_one("#close-notes", TextArea).focus()
        await pilot.press("o", "k")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "SAVED as" in text_of(app, "#close-status"))
        status = text_of(app, "#close-status")
        assert "in the visit log" in status
        assert "memory" not in status
        await until(pilot, lambda: "1 pending" in text_of(app, "#indicator"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, WorkOrdersScreen))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SiteScreen))
        await until(pilot, lambda: "1 saved on this laptop" in text_of(app, "#site-visits-status"))
    listed = run_cli("visits", "list", "--json")
    assert listed.code == 0, listed.stderr
    [visit] = json.loads(listed.stdout)["visits"]
    assert visit["work_order"] == "WO-1001"
    assert (visit["status"], visit["outcome"], visit["verdict"]) == ("final", "resolved", "pass")
    assert visit["meter_serial"] == "SN16S00000054321"
    assert visit["visit_id"].startswith(status.split("SAVED as ")[1].split()[0])


@pytest.mark.anyio
async def test_the_sync_screen_shows_a_failed_sync_as_one_line_and_keeps_running() -> None:
    path = _db_with_orders()
    real = VisitLogStore(path)
    real.save_visit(_record())
    app = make_app(store=real)
    app.sync_client = LaptopSync(timeout=1.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: "1 pending" in text_of(app, "#indicator"), what="indicator")
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, SyncScreen))
        await until(pilot, lambda: "Last sync: never" in text_of(app, "#sync-summary"))
        assert "visit WO-1001 at meter M16-0054321: resolved" in screen_text(app)
        await pilot.press("s")
        await until(pilot, lambda: "Sync failed" in text_of(app, "#sync-message"), what="fail")
        assert text_of(app, "#sync-message") == (
            "Sync failed: this laptop is not enrolled: run `fieldkit enroll --server URL "
            "--code CODE`"
        )
        assert "failed: this laptop is not enrolled" in text_of(app, "#indicator")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, WorkOrdersScreen))


class _SlowFirstRead(VisitLogStore):
    """The laptop's real store, whose first outbox read once ``armed`` takes its rows, then
    stalls until ``release`` is set: a busy laptop where the read begun on opening the Sync
    screen ends after the one begun when the sync ended."""

    def __init__(self, path: Path) -> None:
        import threading

        super().__init__(path)
        self.release = threading.Event()
        self.armed = False
        self.reads = 0

    def sync_items(self) -> list[SyncItem]:
        if not self.armed:
            return super().sync_items()
        self.reads += 1
        items = super().sync_items()
        if self.reads == 1:
            self.release.wait(10)
        return items


@pytest.mark.anyio
async def test_a_slow_outbox_read_from_before_a_sync_never_paints_over_the_offices_answer() -> None:
    path = _db_with_orders()
    slow = _SlowFirstRead(path)
    slow.save_visit(_record())
    app = make_app(store=slow)
    app.sync_client = LaptopSync(timeout=1.0)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: "1 pending" in text_of(app, "#indicator"), what="indicator")
        slow.armed = True
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, SyncScreen))
        await until(pilot, lambda: slow.reads == 1, what="the first read")
        # Meanwhile the office's answer lands in the outbox, as a push records it.
        [op] = [i.item_id for i in VisitLogStore(path).sync_items()]
        with store.database(path) as db:
            LaptopOutbox(db).mark([], [Rejection(op, "invalid_document", "meter number")])
        await pilot.press("s")
        await until(pilot, lambda: "Sync failed" in text_of(app, "#sync-message"), what="end")
        await until(pilot, lambda: "invalid_document: meter number" in screen_text(app))
        slow.release.set()
        for _ in range(20):
            await pilot.pause(0.02)
        table = app.screen.query_one("#sync-items", DataTable)
        assert [[c.plain for c in table.get_row_at(n)[:2]] for n in range(table.row_count)] == [
            ["rejected", "invalid_document: meter number"]
        ]


@pytest.mark.anyio
async def test_a_state_read_from_before_a_sync_ended_never_hides_how_it_ended() -> None:
    path = _db_with_orders()
    slow = _SlowFirstRead(path)
    slow.save_visit(_record())
    app = make_app(store=slow)
    app.sync_client = LaptopSync(timeout=1.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: "1 pending" in text_of(app, "#indicator"), what="indicator")
        slow.armed = True
        app.refresh_sync_state()  # as saving a visit does: its read stalls
        await until(pilot, lambda: slow.reads == 1, what="the stalled read")
        assert app.sync_now()
        await until(pilot, lambda: "failed:" in text_of(app, "#indicator"), what="the end")
        slow.release.set()
        for _ in range(20):
            await pilot.pause(0.02)
        assert "failed: this laptop is not enrolled" in text_of(app, "#indicator")


class _HeldLink:
    """A server address that takes the connection and holds it, answering nothing, until
    ``release()`` drops every connection: a sync that hangs on a dead link, then fails."""

    def __init__(self) -> None:
        import socket
        import threading

        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.held: list[socket.socket] = []  # the connections taken
        self._released = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._released.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.held.append(conn)

    def release(self) -> None:
        self._released.set()
        for conn in self.held:
            conn.close()
        self._listener.close()


def _enrolled_on(link: _HeldLink, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A laptop database with the orders, enrolled on ``link``'s address."""
    from fieldkit import secrets
    from fieldkit.sync.client import Credentials
    from fieldkit.sync.laptop import LaptopTokens

    home = paths.home()
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text('[secrets]\nbackend = "file"\n', encoding="utf-8")
    monkeypatch.setenv(secrets.PASSPHRASE_ENV, "correct horse battery staple")
    path = _db_with_orders()
    with store.database(path) as db:
        LaptopTokens(db).save(Credentials(link.url, "dev-1", "token", "tech"))
    return path


@pytest.mark.anyio
async def test_a_visit_closed_while_a_sync_hangs_is_kept_and_the_failure_is_told_anywhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sync now on a dead link, leave the Sync screen, close a visit meanwhile: the visit is
    saved and pending, the indicator says syncing then how it ended, on the list."""
    link = _HeldLink()
    real = VisitLogStore(_enrolled_on(link, monkeypatch))
    app = make_app(store=real)
    app.sync_client = LaptopSync(timeout=30.0, attempts=1)
    try:
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await until(pilot, lambda: "open orders" in text_of(app, "#wo-status"))
            await pilot.press("f2")
            await until(pilot, lambda: isinstance(app.screen, SyncScreen))
            await pilot.press("s")
            await until(pilot, lambda: "Syncing" in text_of(app, "#sync-message"))
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, WorkOrdersScreen))
            assert "sync: syncing…" in text_of(app, "#indicator")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, SiteScreen))
            await pilot.press("v")
            await until(pilot, lambda: isinstance(app.screen, CloseScreen))
            await _choose_outcome(app, pilot, "no_access")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: "SAVED as" in text_of(app, "#close-status"))
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, WorkOrdersScreen))
            assert "sync: syncing…" in text_of(app, "#indicator")
            link.release()  # the link dies: the sync fails
            await until(pilot, lambda: "failed:" in text_of(app, "#indicator"), 20, "the end")
            assert "1 pending" in text_of(app, "#indicator")
            # Told on the list too, not only on the Sync screen.
            await until(pilot, lambda: "Sync failed" in screen_text(app), 5, "the toast")
            await pilot.press("f2")
            await until(pilot, lambda: isinstance(app.screen, SyncScreen))
            await until(pilot, lambda: app.screen.query_one("#sync-items").row_count == 1)
            assert "visit WO-1001 at meter M16-0054321: no access" in screen_text(app)
            assert app.screen.check_action("sync_now", ()) is True
    finally:
        link.release()
    [visit] = real.previous_visits("M16-0054321")
    assert visit.outcome == "no_access"


@pytest.mark.anyio
async def test_the_sync_screen_opened_again_mid_sync_says_syncing_and_starts_no_second_sync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Re-opening the Sync screen while a sync hangs put the idle state over 'syncing…'."""
    link = _HeldLink()
    real = VisitLogStore(_enrolled_on(link, monkeypatch))
    real.save_visit(_record())
    app = make_app(store=real)
    app.sync_client = LaptopSync(timeout=30.0, attempts=1)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: "1 pending" in text_of(app, "#indicator"), what="state")
            await pilot.press("f2")
            await until(pilot, lambda: "Last sync" in text_of(app, "#sync-summary"))
            await pilot.press("s")
            await until(pilot, lambda: len(link.held) == 1, what="the sync on the wire")
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, WorkOrdersScreen))
            await pilot.press("f2")
            await until(pilot, lambda: isinstance(app.screen, SyncScreen))
            # The screen's own read of the outbox and the state has been shown.
            await until(pilot, lambda: "Last sync" in text_of(app, "#sync-summary"))
            await until(pilot, lambda: app.screen.query_one("#sync-items").row_count == 1)
            assert "sync: syncing…" in text_of(app, "#indicator")
            assert text_of(app, "#sync-message") == "Syncing…"
            assert not app.screen.check_action("sync_now", ())
            await pilot.press("s")
            assert app.sync_now() is False
            for _ in range(10):
                await pilot.pause(0.02)
            assert len(link.held) == 1  # one sync on the wire, not two
            assert "sync: syncing…" in text_of(app, "#indicator")
            link.release()
            await until(pilot, lambda: "Sync failed" in text_of(app, "#sync-message"), 20)
            assert "1 pending" in text_of(app, "#indicator")
            assert "failed:" in text_of(app, "#indicator")
            # Left and opened again after the end: it still says how the sync ended.
            await pilot.press("escape", "f2")
            await until(pilot, lambda: isinstance(app.screen, SyncScreen))
            await until(pilot, lambda: "Sync failed" in text_of(app, "#sync-message"))
            assert app.screen.check_action("sync_now", ()) is True
    finally:
        link.release()
