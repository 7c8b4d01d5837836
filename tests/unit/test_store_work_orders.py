"""Stored work orders: all-or-nothing batches, replacement by a newer copy, the expectation."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlite_utils import Database

from fieldkit.model import ServiceType, SiteExpectation, WorkOrder
from fieldkit.store import (
    StoreError,
    UpsertCounts,
    database,
    get,
    list_open,
    upsert_many,
)
from fieldkit.sync.schema import WorkOrderDocument

from .test_store_csv_import import work_orders

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
LATER = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)

HOUSE = WorkOrder(
    "WO-1",
    "M2S-1",
    ServiceType.ONE_PHASE_3W,
    240.0,
    kind="high_bill",
    service_address="14 Alder Lane",
    last_read_kwh=18251.4,
    last_read_at=datetime(2026, 11, 2, tzinfo=UTC),
    scheduled_for="2026-12-03",
)
SHOP = WorkOrder(
    "WO-2",
    "M16-2",
    ServiceType.WYE,
    120.0,
    kind="investigate",
    form="16S",
    ct_ratio=400.0,
    pt_ratio=1.0,
    rotation="ACB",
    high_leg="C",
    last_read_kwh=39068.2,
    last_read_at=datetime(2026, 10, 28, 8, tzinfo=UTC),
    last_visit_at=datetime(2025, 6, 20, 14, 30, tzinfo=UTC),
    net_metering=True,
    scheduled_for="2026-12-01",
)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with database(tmp_path / "fieldkit.db") as opened:
        yield opened


def all_rows(db: Database) -> list[tuple[object, ...]]:
    return db.execute("SELECT * FROM work_orders ORDER BY work_order_id").fetchall()


def test_saved_order_comes_back_with_its_source_and_time(db: Database) -> None:
    assert upsert_many(db, [HOUSE, SHOP], "csv", now=NOW) == UpsertCounts(new=2, updated=0)
    assert get(db, "WO-2") == replace(SHOP, source="csv", updated_at=NOW)
    assert get(db, "WO-404") is None


def test_a_newer_copy_replaces_the_whole_order(db: Database) -> None:
    upsert_many(db, [HOUSE, SHOP], "csv", now=NOW)
    newer = replace(SHOP, nominal_voltage=277.0, ct_ratio=None, notes="meter moved")
    third = replace(HOUSE, work_order_id="WO-3")
    counts = upsert_many(db, [newer, third], "sync", now=LATER)
    assert counts == UpsertCounts(new=1, updated=1)
    assert counts.total == 2
    stored = get(db, "WO-2")
    assert stored == replace(newer, source="sync", updated_at=LATER)
    assert stored is not None
    assert stored.ct_ratio is None  # what the newer copy leaves out is gone, not kept
    assert get(db, "WO-1") == replace(HOUSE, source="csv", updated_at=NOW)


def test_a_batch_the_database_refuses_saves_nothing(db: Database) -> None:
    upsert_many(db, [HOUSE], "csv", now=NOW)
    before = all_rows(db)
    broken = replace(SHOP, work_order_id="WO-9", nominal_voltage=-120.0)  # CHECK refuses it
    with pytest.raises(StoreError, match="nothing was saved") as caught:
        upsert_many(db, [replace(HOUSE, notes="changed"), SHOP, broken], "csv", now=LATER)
    assert "\n" not in str(caught.value)
    assert all_rows(db) == before
    assert not db.conn.in_transaction


def test_text_sqlite_cannot_hold_is_a_store_error_and_saves_nothing(db: Database) -> None:
    with pytest.raises(StoreError):
        upsert_many(db, [HOUSE, replace(SHOP, notes="bad \ud800 half")], "sync")
    assert all_rows(db) == []


def test_duplicate_ids_in_one_batch_are_refused_before_writing(db: Database) -> None:
    with pytest.raises(ValueError, match="WO-1"):
        upsert_many(db, [HOUSE, replace(HOUSE, notes="again")], "csv")
    assert all_rows(db) == []


def test_unknown_source_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="source"):
        upsert_many(db, [HOUSE], "email")
    assert all_rows(db) == []


def test_empty_batch_changes_nothing(db: Database) -> None:
    assert upsert_many(db, [], "sync") == UpsertCounts(new=0, updated=0)
    assert all_rows(db) == []


def test_a_writer_holding_the_lock_makes_the_batch_wait_then_fail_cleanly(
    tmp_path: Path,
) -> None:
    path = tmp_path / "fieldkit.db"
    with database(path) as db:
        other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            db.conn.execute("PRAGMA busy_timeout = 200")  # do not wait the full 5 s here
            with pytest.raises(StoreError, match=r"busy .* nothing was saved"):
                upsert_many(db, [HOUSE], "csv")
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert not db.conn.in_transaction
        assert upsert_many(db, [HOUSE], "csv").new == 1


def test_open_list_drops_closed_orders_and_puts_the_soonest_first(db: Database) -> None:
    orders = [
        HOUSE,  # 2026-12-03
        SHOP,  # 2026-12-01
        replace(HOUSE, work_order_id="WO-0", scheduled_for=None),
        replace(HOUSE, work_order_id="WO-5", status="completed"),
        replace(HOUSE, work_order_id="WO-6", status="Cancelled"),
        replace(HOUSE, work_order_id="WO-7", status="dispatched", scheduled_for="2026-12-02"),
    ]
    upsert_many(db, orders, "csv")
    assert [o.work_order_id for o in list_open(db)] == ["WO-2", "WO-7", "WO-1", "WO-0"]
    assert all(o.is_open for o in list_open(db))


def test_expectation_carries_the_work_order() -> None:
    assert SHOP.expectation() == SiteExpectation(
        meter_number="M16-2",
        form="16S",
        service_type=ServiceType.WYE,
        nominal_voltage=120.0,
        ct_ratio=400.0,
        pt_ratio=1.0,
        last_read_kwh=39068.2,
        last_read_at=datetime(2026, 10, 28, 8, tzinfo=UTC),
        net_metering=True,
        last_visit_at=datetime(2025, 6, 20, 14, 30, tzinfo=UTC),
        rotation="ACB",
        high_leg="C",
    )


def test_blanks_on_the_work_order_keep_the_checks_defaults() -> None:
    bare = WorkOrder("WO-8", "M-8", ServiceType.DELTA_4W, 240.0)
    expectation = bare.expectation()
    defaults = SiteExpectation()
    assert (expectation.ct_ratio, expectation.pt_ratio) == (defaults.ct_ratio, defaults.pt_ratio)
    assert (expectation.rotation, expectation.high_leg) == ("ABC", "B")
    assert expectation.net_metering is False
    assert expectation.service_type is ServiceType.DELTA_4W


def test_json_form_uses_the_column_names() -> None:
    data = WorkOrderDocument.build(SHOP).model_dump(mode="json")
    assert data["service_type"] == "3ph-4w-wye"
    assert data["last_read_at"] == "2026-10-28T08:00:00+00:00"  # as 0.1.0 wrote it
    assert data["schema_version"] == 1
    assert data["net_metering"] is True
    assert data["source"] is None


@given(st.lists(work_orders(), min_size=1, max_size=4, unique_by=lambda o: o.work_order_id))
def test_any_order_round_trips_through_the_store(orders: list[WorkOrder]) -> None:
    with tempfile.TemporaryDirectory() as folder, database(Path(folder) / "f.db") as db:
        assert upsert_many(db, orders, "sync", now=NOW).new == len(orders)
        for order in orders:
            assert get(db, order.work_order_id) == replace(order, source="sync", updated_at=NOW)
