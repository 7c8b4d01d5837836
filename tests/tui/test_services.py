"""The app's work orders from the laptop database, and its preferences."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldkit import store
from fieldkit.tui.prefs import Preferences
from fieldkit.tui.services import ServiceError
from fieldkit.tui.visit_store import VisitLogStore
from tests.tui.helpers import FIXED_NOW, ORDERS


def test_work_orders_are_read_from_the_laptop_database(tmp_path: Path) -> None:
    path = tmp_path / "fieldkit.db"
    with store.database(path) as db:
        store.upsert_many(db, list(ORDERS), "csv", now=FIXED_NOW)
    interim = VisitLogStore(path)
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
    interim = VisitLogStore(bad)
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
