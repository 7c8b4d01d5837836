"""The laptop database: where it lives, the durability pragmas, migrations at open."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from sqlite_utils import Database, Migrations

from fieldkit.model import ServiceType, WorkOrder
from fieldkit.store import (
    StoreError,
    close_database,
    database,
    database_path,
    get,
    open_database,
    upsert_many,
)
from fieldkit.store.migrations import m001_work_orders

ORDER = WorkOrder("WO-1", "M-1", ServiceType.ONE_PHASE_3W, 240.0)


def pragma(conn: sqlite3.Connection, name: str) -> object:
    return conn.execute(f"PRAGMA {name}").fetchone()[0]


def test_database_lives_in_fieldkit_home_and_its_folder_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "kit" / "home"
    monkeypatch.setenv("FIELDKIT_HOME", str(home))
    assert database_path() == home / "fieldkit.db"
    db = open_database()
    close_database(db)
    assert (home / "fieldkit.db").is_file()


@pytest.mark.parametrize("opening", ["first", "reopen"])
def test_every_connection_gets_the_laptop_pragmas(tmp_path: Path, opening: str) -> None:
    path = tmp_path / "fieldkit.db"
    if opening == "reopen":
        close_database(open_database(path))
    with database(path) as db:
        conn = db.conn
        assert pragma(conn, "journal_mode") == "wal"
        assert pragma(conn, "synchronous") == 2  # FULL
        assert pragma(conn, "foreign_keys") == 1
        assert pragma(conn, "busy_timeout") == 5000
        assert pragma(conn, "trusted_schema") == 0
        assert pragma(conn, "secure_delete") == 1
        assert pragma(conn, "journal_size_limit") == 16 * 1024 * 1024


def test_wal_is_kept_in_the_file_for_every_other_reader(tmp_path: Path) -> None:
    path = tmp_path / "fieldkit.db"
    close_database(open_database(path))
    other = sqlite3.connect(path)
    try:
        assert pragma(other, "journal_mode") == "wal"
    finally:
        other.close()


def test_migrations_apply_once_and_data_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "fieldkit.db"
    with database(path) as db:
        upsert_many(db, [ORDER], "csv")
    for _ in range(3):
        with database(path) as db:
            applied = db.execute(
                "SELECT migration_set, name FROM _sqlite_migrations ORDER BY id"
            ).fetchall()
            assert applied == [
                ("fieldkit", "m001_work_orders"),
                ("fieldkit", "m002_work_order_meter_class"),
                ("fieldkit", "m003_visits"),
                ("fieldkit", "m004_sync"),
            ]
            assert get(db, "WO-1") is not None


def test_a_first_release_database_migrates_and_keeps_its_orders(tmp_path: Path) -> None:
    """The 0.1.0 schema (m001 only) with an order in it, as a laptop in the field has it."""
    path = tmp_path / "fieldkit.db"
    old = Database(path)
    first_release = Migrations("fieldkit")
    first_release()(m001_work_orders)
    first_release.apply(old)
    old.execute(
        "INSERT INTO work_orders (work_order_id, meter_number, service_type, nominal_voltage, "
        "source, updated_at) VALUES ('WO-OLD', 'M-9', '1ph-3w', 240.0, 'csv', "
        "'2026-11-30T08:00:00+00:00')"
    )
    old.conn.commit()
    old.close()
    with database(path) as db:
        order = get(db, "WO-OLD")
        assert order is not None
        assert (order.meter_number, order.meter_class) == ("M-9", None)
        upsert_many(db, [replace(ORDER, meter_class="CL200")], "csv")
        stored = get(db, "WO-1")
        assert stored is not None
        assert stored.meter_class == "CL200"


def test_work_orders_table_is_strict(tmp_path: Path) -> None:
    with database(tmp_path / "fieldkit.db") as db:
        with pytest.raises(sqlite3.IntegrityError, match="REAL"):
            db.execute(
                "INSERT INTO work_orders (work_order_id, meter_number, service_type, "
                "nominal_voltage, source, updated_at) "
                "VALUES ('WO-9', 'M-9', '1ph-3w', 'two-forty', 'csv', 'now')"
            )
        assert get(db, "WO-9") is None


@pytest.mark.parametrize("attempt", range(5))
def test_processes_opening_a_fresh_database_together_all_succeed(
    tmp_path: Path, attempt: int
) -> None:
    # The TUI and the sync worker (or two terminals) can start at the same moment on a new
    # laptop: both must end up with one migrated database, neither with an error.
    path = tmp_path / "fieldkit.db"
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def opener() -> None:
        start.wait()
        try:
            close_database(open_database(path))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with database(path) as db:
        assert (
            db.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == 4
        )  # m001, m002, m003, m004


def test_clean_close_leaves_one_file_to_back_up(tmp_path: Path) -> None:
    path = tmp_path / "fieldkit.db"
    with database(path) as db:
        upsert_many(db, [ORDER], "csv")
    wal = tmp_path / "fieldkit.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    plain = sqlite3.connect(path)
    try:
        assert plain.execute("SELECT work_order_id FROM work_orders").fetchall() == [("WO-1",)]
    finally:
        plain.close()


def test_a_file_that_is_not_a_database_is_one_line_store_error(tmp_path: Path) -> None:
    path = tmp_path / "fieldkit.db"
    path.write_bytes(b"this is a spreadsheet, not a database\n" * 200)
    with pytest.raises(StoreError) as caught:
        open_database(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert "not a database" in message


def test_fieldkit_home_that_is_a_file_is_one_line_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "home"
    blocker.write_text("oops")
    with pytest.raises(StoreError, match="is not a writable folder: it is a file"):
        open_database(blocker / "fieldkit.db")
