"""Schema of the laptop database, as an ordered history of sqlite-utils migrations.

Each migration is history: once released it is never edited, and a change to the schema is
a new ``mNNN_...`` function. ``apply`` runs at every open and does nothing when the database
is current.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

__all__ = ["MIGRATIONS", "apply"]

MIGRATIONS = Migrations("fieldkit")


@MIGRATIONS()
def m001_work_orders(db: Database) -> None:
    """Work orders: owned by the office, filled by a CSV import today and by sync later."""
    # Raw DDL because sqlite-utils' create() cannot write CHECK constraints, and these keep a
    # buggy import or sync from storing a row the checks would misread. The service types
    # are spelled out, not taken from the enum: a migration must not change after release.
    db.execute(
        """
        CREATE TABLE work_orders (
            work_order_id   TEXT PRIMARY KEY NOT NULL CHECK (work_order_id <> ''),
            kind            TEXT,
            status          TEXT NOT NULL DEFAULT 'open',
            account_number  TEXT,
            premise_id      TEXT,
            service_address TEXT,
            meter_number    TEXT NOT NULL CHECK (meter_number <> ''),
            meter_serial    TEXT,
            form            TEXT,
            service_type    TEXT NOT NULL CHECK (service_type IN (
                                '1ph-2w', '1ph-3w', 'network',
                                '3ph-4w-wye', '3ph-3w-delta', '3ph-4w-delta')),
            nominal_voltage REAL NOT NULL CHECK (nominal_voltage > 0),
            ct_ratio        REAL CHECK (ct_ratio > 0),
            pt_ratio        REAL CHECK (pt_ratio > 0),
            rotation        TEXT CHECK (rotation IN ('ABC', 'ACB')),
            high_leg        TEXT CHECK (high_leg IN ('A', 'B', 'C')),
            last_read_kwh   REAL CHECK (last_read_kwh >= 0),
            last_read_at    TEXT,
            last_visit_at   TEXT,
            net_metering    INTEGER NOT NULL DEFAULT 0 CHECK (net_metering IN (0, 1)),
            scheduled_for   TEXT,
            notes           TEXT,
            source          TEXT NOT NULL CHECK (source IN ('csv', 'sync')),
            updated_at      TEXT NOT NULL
        ) STRICT
        """
    )


@MIGRATIONS()
def m002_work_order_meter_class(db: Database) -> None:
    """The nameplate current class (CL2 ... CL480): the checks' low-current floor follows it."""
    db.execute(
        "ALTER TABLE work_orders ADD COLUMN meter_class TEXT "
        "CHECK (meter_class IS NULL OR meter_class GLOB 'CL[0-9]*')"
    )


def apply(db: Database) -> None:
    """Bring the database up to the newest schema; a no-op when it is already there.

    The whole set runs under ``BEGIN IMMEDIATE``: two fieldkit processes opening a fresh
    database at once would otherwise both see m001 pending and the second would fail on
    "table already exists". Inside it, each migration is a savepoint with its record.
    """
    if not MIGRATIONS.pending(db):
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        MIGRATIONS.apply(db)  # re-reads what is pending, now under the write lock
    except BaseException:
        db.rollback()
        raise
    db.commit()
