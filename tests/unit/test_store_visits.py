"""The visit log: rows and outbox in one transaction, final visits immutable, corrections."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database, Migrations

from fieldkit.model import (
    CheckResult,
    CheckStatus,
    MeterIdentity,
    MeterSnapshot,
    Quantity,
    ServiceType,
    SiteExpectation,
    WorkOrder,
)
from fieldkit.store import StoreError, database, upsert_many
from fieldkit.store import visits as log
from fieldkit.store.migrations import m001_work_orders, m002_work_order_meter_class
from fieldkit.store.transaction import DiskFull, write_transaction
from fieldkit.sync.schema import AdjustmentDoc, MeterStateDoc, NoteDoc, VisitDocument
from fieldkit.visit import VisitResult, judge, visit_document

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ORDER = WorkOrder(
    "WO-7", "M-7", ServiceType.ONE_PHASE_3W, 240.0, account_number="AC-1", premise_id="P-1"
)


def snapshot(serial: str = "SN-7", meter_id: str = "M-7") -> MeterSnapshot:
    return MeterSnapshot(
        protocol="c1218",
        identity=MeterIdentity("FKIT", "SIM-2S", serial, meter_id=meter_id),
        read_at=T0,
    )


def checked(serial: str = "SN-7") -> VisitResult:
    return judge(snapshot(serial), ORDER.expectation(), work_order_id=ORDER.work_order_id)


def new_visit(**kw: object) -> VisitDocument:
    return visit_document(checked(), technician="ann", order=ORDER, now=T0, **kw)  # type: ignore[arg-type]


def adjustment(kind: str = "set_clock") -> AdjustmentDoc:
    state = MeterStateDoc(read_at=T0, meter_time=T0, drift_seconds=12.0)
    return AdjustmentDoc(
        adjustment_id=log.new_id(),
        kind=kind,  # type: ignore[arg-type]
        technician="ann",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=3),
        result="done",
        result_code=0,
        result_message="completed",
        before=state,
        after=state.model_copy(update={"drift_seconds": 0.2}),
    )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with database(tmp_path / "fieldkit.db") as opened:
        yield opened


def outbox(db: Database) -> list[log.OutboxRow]:
    return log.outbox_rows(db)


def test_a_saved_visit_reads_back_whole_with_one_outbox_row(db: Database) -> None:
    visit = new_visit(notes=["gate code 1234"])
    saved = log.save(db, visit)
    assert saved.revision == 1
    assert re.fullmatch(r"[0-9a-f-]{36}", saved.op_id)
    back = log.get(db, saved.visit_id)
    assert back == saved
    assert (back.work_order, back.account_number, back.meter_serial) == ("WO-7", "AC-1", "SN-7")
    assert back.status == "open"
    assert len(back.checks) == len(visit.checks) > 0
    [row] = outbox(db)
    assert (row.op_id, row.kind, row.entity_id) == (saved.op_id, "visit", saved.visit_id)
    assert VisitDocument.model_validate_json(row.body) == saved


def test_check_values_travel_through_the_rows(db: Database) -> None:
    result = CheckResult(
        "service_voltage",
        CheckStatus.WARN,
        "low",
        values=(Quantity("voltage", 228.0, "V", element="A", low=228.0, high=252.0),),
    )
    base = checked()
    with_values = VisitResult(
        base.expectation, base.snapshot, (result,), CheckStatus.WARN, work_order_id="WO-7"
    )
    saved = log.save(db, visit_document(with_values, technician="ann", now=T0))
    back = log.get(db, saved.visit_id)
    assert back is not None
    assert back.checks[0].to_model() == result


def test_every_revision_is_an_outbox_op_with_its_own_id(db: Database) -> None:
    saved = log.save(db, new_visit())
    noted = log.add_note(db, saved.visit_id, NoteDoc(at=T0, technician="ann", text="meter hot"))
    adjusted = log.add_adjustment(db, saved.visit_id, adjustment(), now=T0)
    closed = log.close(db, saved.visit_id, "resolved", now=T0 + timedelta(minutes=5))
    assert [v.revision for v in (saved, noted, adjusted, closed)] == [1, 2, 3, 4]
    rows = outbox(db)
    assert [r.op_id for r in rows] == [v.op_id for v in (saved, noted, adjusted, closed)]
    assert len({r.op_id for r in rows}) == 4
    last = VisitDocument.model_validate_json(rows[-1].body)
    assert last == log.get(db, saved.visit_id) == closed
    assert (last.status, last.outcome, len(last.notes), len(last.adjustments)) == (
        "final",
        "resolved",
        1,
        1,
    )


def test_a_final_visit_never_changes(db: Database) -> None:
    saved = log.save(db, new_visit(outcome="resolved"))
    assert saved.status == "final"
    before = outbox(db)
    with pytest.raises(StoreError, match="closed and cannot change: record a correction"):
        log.add_note(db, saved.visit_id, NoteDoc(at=T0, technician="ann", text="late"))
    with pytest.raises(StoreError, match="closed"):
        log.close(db, saved.visit_id, "follow_up")
    # Not even behind the store's back: the database itself refuses.
    for sql in (
        "UPDATE visits SET outcome = 'follow_up'",
        "DELETE FROM visits",
        "UPDATE visit_checks SET status = 'pass'",
        "DELETE FROM visit_checks",
        "UPDATE outbox SET body = '{}'",
    ):
        with pytest.raises(sqlite3.IntegrityError, match=r"cannot change|never changes"):
            db.execute(sql)
    with pytest.raises(sqlite3.IntegrityError, match="cannot change"):
        db.execute(
            "INSERT INTO visit_notes VALUES (?, 9, '2026-12-01T00:00:00+00:00', 'x', 'y')",
            [saved.visit_id],
        )
    assert log.get(db, saved.visit_id) == saved
    assert outbox(db) == before


def test_a_correction_is_a_new_final_visit_pointing_at_the_original(db: Database) -> None:
    original = log.save(db, new_visit(outcome="resolved"))
    log_before = log.get(db, original.visit_id)
    correction = log.correct(
        db,
        original.visit_id,
        technician="bob",
        outcome="follow_up",
        notes=[NoteDoc(at=T0, technician="bob", text="CT looked loose")],
    )
    assert correction.visit_id != original.visit_id
    assert correction.corrects == original.visit_id
    assert (correction.status, correction.outcome, correction.technician) == (
        "final",
        "follow_up",
        "bob",
    )
    assert correction.checks == original.checks
    assert correction.snapshot == original.snapshot
    assert log.get(db, original.visit_id) == log_before
    assert [r.entity_id for r in outbox(db)] == [original.visit_id, correction.visit_id]


def test_an_open_visit_is_not_corrected_but_closed(db: Database) -> None:
    saved = log.save(db, new_visit())
    with pytest.raises(StoreError, match="still open"):
        log.correct(db, saved.visit_id, technician="ann", outcome="resolved")


def test_a_failed_read_is_a_closed_no_comms_visit(db: Database) -> None:
    from fieldkit.drivers.base import ReadOutcome
    from fieldkit.drivers.errors import NoResponse

    outcome = ReadOutcome("c1218", "socket://x", T0, None, NoResponse("the meter did not answer"))
    failed = VisitResult(SiteExpectation(meter_number="M-7"), None, (), None, outcome)
    saved = log.save(db, visit_document(failed, technician="ann", now=T0))
    assert (saved.status, saved.outcome, saved.read_result) == ("final", "no_comms", "failed")
    assert saved.error == "the meter did not answer"
    assert saved.error_kind == "NoResponse"
    assert saved.capture is not None
    assert saved.meter_number == "M-7"
    assert log.get(db, saved.visit_id) == saved


def test_a_save_the_database_refuses_leaves_no_row_and_no_op(db: Database) -> None:
    first = log.save(db, new_visit())
    with pytest.raises(ValueError, match="already in the log"):
        log.save(db, first)
    broken = new_visit().model_copy(update={"outcome": "lost"})  # the CHECK refuses it
    with pytest.raises(StoreError, match="nothing was saved"):
        log.save(db, broken)
    assert [v.visit_id for v in log.list_visits(db)] == [first.visit_id]
    assert len(outbox(db)) == 1
    assert not db.conn.in_transaction


def test_list_filters_by_meter_and_date_newest_first(db: Database) -> None:
    a = log.save(db, visit_document(checked("SN-A"), technician="ann", now=T0))
    b = log.save(db, visit_document(checked("SN-B"), technician="ann", now=T0 + timedelta(days=2)))
    assert [v.visit_id for v in log.list_visits(db)] == [b.visit_id, a.visit_id]
    assert [v.visit_id for v in log.list_visits(db, meter="SN-A")] == [a.visit_id]
    assert [v.visit_id for v in log.list_visits(db, meter="M-7")] == [b.visit_id, a.visit_id]
    assert [v.visit_id for v in log.list_visits(db, since=T0 + timedelta(days=1))] == [b.visit_id]


def test_ids_resolve_from_their_first_eight_characters(db: Database) -> None:
    saved = log.save(db, new_visit())
    assert log.resolve_id(db, saved.visit_id[:8].upper()) == saved.visit_id
    with pytest.raises(log.VisitNotFound, match="too short"):
        log.resolve_id(db, saved.visit_id[:5])
    with pytest.raises(log.VisitNotFound, match="no visit"):
        log.resolve_id(db, "ffffffff-no")
    with pytest.raises(log.VisitNotFound, match="no visit"):
        log.resolve_id(db, "%%%%%%%%")


def test_latest_open_visit_and_last_adjustment_by_meter(db: Database) -> None:
    saved = log.save(db, new_visit())
    found = log.latest_open(
        db, meter_serial="SN-7", meter_number=None, within=timedelta(hours=12), now=T0
    )
    assert found is not None
    assert found.visit_id == saved.visit_id
    assert (
        log.latest_open(
            db,
            meter_serial="SN-7",
            meter_number=None,
            within=timedelta(hours=12),
            now=T0 + timedelta(days=1),
        )
        is None
    )
    assert log.last_adjustment(db, "demand_reset", meter_serial="SN-7", meter_number=None) is None
    log.add_adjustment(db, saved.visit_id, adjustment("demand_reset"))
    last = log.last_adjustment(db, "demand_reset", meter_serial=None, meter_number="M-7")
    assert last == (T0 + timedelta(seconds=3), saved.visit_id)


def test_trusted_time_keeps_the_newest(db: Database) -> None:
    assert log.last_trusted_time(db) is None
    log.record_trusted_time(db, source="server", trusted_time=T0, laptop_time=T0)
    kept = log.record_trusted_time(
        db,
        source="server",
        trusted_time=T0 + timedelta(hours=1),
        laptop_time=T0 + timedelta(hours=1, seconds=2),
    )
    assert log.last_trusted_time(db) == kept
    assert kept.offset_seconds == pytest.approx(2.0)


def test_disk_full_is_one_line_and_keeps_what_was_saved(tmp_path: Path) -> None:
    path = tmp_path / "fieldkit.db"
    with database(path) as db:
        kept = [log.save(db, new_visit()) for _ in range(3)]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages + 1}")
        big = new_visit(notes=["x" * 3000])

        def fill() -> None:
            for _ in range(20):
                log.save(db, big.model_copy(update={"visit_id": log.new_id()}))

        with pytest.raises(DiskFull) as caught:
            fill()
        message = str(caught.value)
        assert "\n" not in message
        assert message.startswith("the disk is full: nothing was saved")
        assert not db.conn.in_transaction
    with database(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = {v.visit_id for v in log.list_visits(db)}
        assert {v.visit_id for v in kept} <= ids
        assert {r.entity_id for r in log.outbox_rows(db)} == ids


def _release_database(path: Path, *migrations: object) -> None:
    old = Database(path)
    release = Migrations("fieldkit")
    for migration in migrations:
        release()(migration)  # type: ignore[arg-type]
    release.apply(old)
    old.execute(
        "INSERT INTO work_orders (work_order_id, meter_number, service_type, nominal_voltage, "
        "source, updated_at) VALUES ('WO-7', 'M-7', '1ph-3w', 240.0, 'csv', "
        "'2026-11-30T08:00:00+00:00')"
    )
    old.conn.commit()
    old.close()


@pytest.mark.parametrize(
    "release",
    [
        pytest.param((m001_work_orders,), id="0.1.0"),
        pytest.param((m001_work_orders, m002_work_order_meter_class), id="issue-6"),
    ],
)
def test_a_database_of_an_earlier_release_gets_the_visit_log(
    tmp_path: Path, release: tuple[object, ...]
) -> None:
    path = tmp_path / "fieldkit.db"
    _release_database(path, *release)
    with database(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
        assert names[-1] == "m004_sync"
        assert set(db.table_names()) >= {"visits", "visit_checks", "adjustments", "outbox"}
        saved = log.save(db, new_visit(outcome="resolved"))
        upsert_many(db, [ORDER], "csv")
    with database(path) as db:
        assert log.get(db, saved.visit_id) == saved
        assert len(log.outbox_rows(db)) == 1


def test_only_write_transaction_begins_a_transaction() -> None:
    """One helper for every BEGIN IMMEDIATE: no other module opens a transaction itself."""
    offenders = []
    for path in (ROOT / "fieldkit").rglob("*.py"):
        if path.name == "transaction.py":
            continue
        for number, text in enumerate(path.read_text().splitlines(), start=1):
            code = text.split("#", 1)[0]
            if re.search(r"\.execute\(\s*[\"']BEGIN|\.begin\(\)", code):
                offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert offenders == []


def test_write_transaction_rolls_back_on_any_error(db: Database) -> None:
    def write_then_fail() -> None:
        with write_transaction(db, "a test"):
            row = {"id": 1, "source": "s", "trusted_time": "t", "laptop_time": "t"}
            db.table("trusted_time").insert({**row, "offset_seconds": 0.0})
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert db.table("trusted_time").count == 0
    assert not db.conn.in_transaction


def test_the_outbox_body_is_the_wire_document(db: Database) -> None:
    saved = log.save(db, new_visit())
    [row] = outbox(db)
    body = json.loads(row.body)
    assert (body["document"], body["schema_version"]) == ("visit", 1)
    assert body["op_id"] == saved.op_id
