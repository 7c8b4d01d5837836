"""The app's service adapters: the interim store (work orders + in-memory visits), prefs."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from fieldkit import store
from fieldkit.tui.prefs import Preferences
from fieldkit.tui.services import (
    FieldStore,
    ServiceError,
    StoreWithInMemoryVisits,
    VisitRecord,
)
from tests.tui.helpers import FIXED_NOW, ORDERS


def _visit(meter: str, minutes: int = 0, outcome: str = "resolved") -> VisitRecord:
    return VisitRecord(
        meter_number=meter,
        work_order_id="WO-1001",
        started_at=FIXED_NOW,
        closed_at=FIXED_NOW + timedelta(minutes=minutes),
        outcome=outcome,  # type: ignore[arg-type]
        notes=f"note {minutes}",
    )


def test_the_interim_store_is_a_field_store_and_says_it_is_not_durable() -> None:
    interim: FieldStore = StoreWithInMemoryVisits.with_orders(ORDERS)
    assert interim.durable is False
    assert [o.work_order_id for o in interim.open_work_orders()] == [
        "WO-1001",
        "WO-1002",
        "WO-1003",
    ]
    assert interim.work_order("WO-1002") == ORDERS[1]
    assert interim.work_order("nope") is None


def test_saved_visits_come_back_per_meter_newest_first_and_stay_pending() -> None:
    interim = StoreWithInMemoryVisits.with_orders(ORDERS)
    first = interim.save_visit(_visit("M16-0054321", 1))
    interim.save_visit(_visit("M2S-0012345", 2))
    third = interim.save_visit(_visit("m16-0054321 ", 3, "follow_up"))
    assert first != third
    previous = interim.previous_visits("M16-0054321")
    assert [v.visit_id for v in previous] == [third, first]
    assert previous[0].outcome == "follow_up"
    items = interim.sync_items()
    assert [i.state for i in items] == ["pending"] * 3
    assert "follow up" in items[2].summary


def test_visit_ids_are_unique_when_saved_from_many_threads() -> None:
    interim = StoreWithInMemoryVisits.with_orders(ORDERS)
    ids: list[str] = []
    lock = threading.Lock()

    def save() -> None:
        for _ in range(50):
            visit_id = interim.save_visit(_visit("M1"))
            with lock:
                ids.append(visit_id)

    threads = [threading.Thread(target=save) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 200


def test_work_orders_are_read_from_the_laptop_database(tmp_path: Path) -> None:
    path = tmp_path / "fieldkit.db"
    with store.database(path) as db:
        store.upsert_many(db, list(ORDERS), "csv", now=FIXED_NOW)
    interim = StoreWithInMemoryVisits.on_database(path)
    assert {o.work_order_id for o in interim.open_work_orders()} == {
        "WO-1001",
        "WO-1002",
        "WO-1003",
    }
    got = interim.work_order("WO-1001")
    assert got is not None
    assert got.service_address == "900 Mill Road, Unit B"


def test_an_unusable_database_is_a_service_error(tmp_path: Path) -> None:
    bad = tmp_path / "fieldkit.db"
    bad.write_bytes(b"this is not SQLite" * 100)
    interim = StoreWithInMemoryVisits.on_database(bad)
    with pytest.raises(ServiceError, match="fieldkit database"):
        interim.open_work_orders()


def test_preferences_remember_the_port_in_a_file_and_never_a_password(tmp_path: Path) -> None:
    path = tmp_path / "home" / "tui.json"
    prefs = Preferences.load(path)
    assert prefs.last_port is None
    prefs.remember("/dev/ttyUSB0", "c1218")
    again = Preferences.load(path)
    assert (again.last_port, again.last_protocol) == ("/dev/ttyUSB0", "c1218")
    assert "password" not in path.read_text()
    path.write_text("{not json")
    assert Preferences.load(path).last_port is None
