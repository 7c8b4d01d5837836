"""Schema of the laptop database, as an ordered history of sqlite-utils migrations.

Each migration is history: once released it is never edited, and a change to the schema is
a new ``mNNN_...`` function. ``apply`` runs at every open and does nothing when the database
is current.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

from fieldkit.store.transaction import write_transaction

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


@MIGRATIONS()
def m003_visits(db: Database) -> None:
    """The visit log, its adjustments and notes, the outbox, and the last trusted time.

    A visit row is the evidence of one visit; ``status`` goes from 'open' to 'final' once,
    and triggers refuse any change to a final visit or to what hangs off it. Every save
    also appends an outbox row (the wire document of that revision, by client op id).
    """
    outcomes = "'resolved', 'follow_up', 'replace_meter', 'customer_side', 'no_access', 'no_comms'"
    db.execute(
        f"""
        CREATE TABLE visits (
            visit_id        TEXT PRIMARY KEY NOT NULL CHECK (length(visit_id) = 36),
            revision        INTEGER NOT NULL CHECK (revision >= 1),
            op_id           TEXT NOT NULL CHECK (length(op_id) = 36),
            status          TEXT NOT NULL CHECK (status IN ('open', 'final')),
            outcome         TEXT CHECK (outcome IS NULL OR outcome IN ({outcomes})),
            corrects        TEXT REFERENCES visits (visit_id),
            technician      TEXT NOT NULL,
            started_at      TEXT NOT NULL,
            ended_at        TEXT,
            saved_at        TEXT NOT NULL,
            work_order_id   TEXT,
            account_number  TEXT,
            premise_id      TEXT,
            meter_number    TEXT,
            meter_serial    TEXT,
            read_result     TEXT CHECK (read_result IS NULL OR read_result IN
                                ('complete', 'incomplete', 'failed', 'cancelled')),
            error           TEXT,
            error_kind      TEXT,
            verdict         TEXT CHECK (verdict IS NULL OR verdict IN
                                ('pass', 'warn', 'fail', 'skip')),
            expectation     TEXT,
            snapshot        TEXT,
            capture         TEXT,
            CHECK (status = 'open' OR (outcome IS NOT NULL AND ended_at IS NOT NULL))
        ) STRICT
        """
    )
    db.execute("CREATE INDEX visits_by_meter ON visits (meter_number, started_at)")
    db.execute("CREATE INDEX visits_by_serial ON visits (meter_serial, started_at)")
    db.execute("CREATE INDEX visits_by_start ON visits (started_at)")
    db.execute(
        """
        CREATE TABLE visit_checks (
            visit_id      TEXT NOT NULL REFERENCES visits (visit_id),
            position      INTEGER NOT NULL,
            check_id      TEXT NOT NULL,
            status        TEXT NOT NULL CHECK (status IN ('pass', 'warn', 'fail', 'skip')),
            message       TEXT NOT NULL,
            measured      TEXT,
            expected      TEXT,
            likely_causes TEXT NOT NULL,
            check_values  TEXT NOT NULL,
            PRIMARY KEY (visit_id, position)
        ) STRICT
        """
    )
    db.execute(
        """
        CREATE TABLE visit_notes (
            visit_id   TEXT NOT NULL REFERENCES visits (visit_id),
            position   INTEGER NOT NULL,
            at         TEXT NOT NULL,
            technician TEXT NOT NULL,
            text       TEXT NOT NULL CHECK (text <> ''),
            PRIMARY KEY (visit_id, position)
        ) STRICT
        """
    )
    db.execute(
        """
        CREATE TABLE adjustments (
            adjustment_id      TEXT PRIMARY KEY NOT NULL,
            visit_id           TEXT NOT NULL REFERENCES visits (visit_id),
            position           INTEGER NOT NULL,
            kind               TEXT NOT NULL CHECK (kind IN ('set_clock', 'demand_reset')),
            technician         TEXT NOT NULL,
            started_at         TEXT NOT NULL,
            finished_at        TEXT NOT NULL,
            result             TEXT NOT NULL CHECK (result IN ('done', 'failed', 'refused')),
            result_code        INTEGER,
            result_message     TEXT NOT NULL,
            response           TEXT NOT NULL,
            error              TEXT,
            before             TEXT,
            after              TEXT,
            reference_time     TEXT,
            clock_source       TEXT,
            trust_system_clock INTEGER NOT NULL CHECK (trust_system_clock IN (0, 1)),
            lockout_override   TEXT,
            capture            TEXT,
            meter_serial       TEXT,
            meter_number       TEXT,
            UNIQUE (visit_id, position)
        ) STRICT
        """
    )
    db.execute("CREATE INDEX adjustments_by_meter ON adjustments (kind, meter_serial, started_at)")
    db.execute(
        """
        CREATE TABLE outbox (
            seq            INTEGER PRIMARY KEY AUTOINCREMENT,
            op_id          TEXT NOT NULL UNIQUE CHECK (length(op_id) = 36),
            kind           TEXT NOT NULL,
            entity_id      TEXT NOT NULL,
            schema_version INTEGER NOT NULL,
            body           TEXT NOT NULL,
            created_at     TEXT NOT NULL,
            acked_at       TEXT
        ) STRICT
        """
    )
    db.execute(
        """
        CREATE TABLE trusted_time (
            id             INTEGER PRIMARY KEY CHECK (id = 1),
            source         TEXT NOT NULL,
            trusted_time   TEXT NOT NULL,
            laptop_time    TEXT NOT NULL,
            offset_seconds REAL NOT NULL
        ) STRICT
        """
    )
    final = "(SELECT status FROM visits WHERE visit_id = {row}.visit_id) = 'final'"
    abort = "BEGIN SELECT RAISE(ABORT, 'a final visit cannot change; record a correction'); END"
    db.execute(
        f"CREATE TRIGGER visits_final_stays BEFORE UPDATE ON visits "
        f"WHEN OLD.status = 'final' {abort}"
    )
    db.execute(
        f"CREATE TRIGGER visits_final_kept BEFORE DELETE ON visits "
        f"WHEN OLD.status = 'final' {abort}"
    )
    for table in ("visit_checks", "visit_notes", "adjustments"):
        db.execute(
            f"CREATE TRIGGER {table}_insert_final BEFORE INSERT ON {table} "
            f"WHEN {final.format(row='NEW')} {abort}"
        )
        db.execute(
            f"CREATE TRIGGER {table}_update_final BEFORE UPDATE ON {table} "
            f"WHEN {final.format(row='OLD')} {abort}"
        )
        db.execute(
            f"CREATE TRIGGER {table}_delete_final BEFORE DELETE ON {table} "
            f"WHEN {final.format(row='OLD')} {abort}"
        )
    db.execute(
        "CREATE TRIGGER outbox_body_kept BEFORE UPDATE OF op_id, kind, entity_id, "
        "schema_version, body, created_at ON outbox "
        "BEGIN SELECT RAISE(ABORT, 'an outbox operation never changes'); END"
    )


@MIGRATIONS()
def m004_sync(db: Database) -> None:
    """What the sync keeps on the laptop: each outbox op's rejection (an op the server will
    never take stays in the outbox, marked, with the server's reason) and one ``sync_state``
    row: the enrolled server and device (the token itself lives in the secrets), the feed
    cursor saved with each pulled page, and when the last sync ended and how."""
    db.execute("ALTER TABLE outbox ADD COLUMN rejected_at TEXT")
    db.execute("ALTER TABLE outbox ADD COLUMN reject_code TEXT")
    db.execute("ALTER TABLE outbox ADD COLUMN reject_reason TEXT")
    db.execute(
        "CREATE INDEX outbox_pending ON outbox (seq) WHERE acked_at IS NULL AND rejected_at IS NULL"
    )
    db.execute(
        """
        CREATE TABLE sync_state (
            id             INTEGER PRIMARY KEY CHECK (id = 1),
            server_url     TEXT,
            device_id      TEXT,
            technician     TEXT,
            enrolled_at    TEXT,
            cursor         INTEGER NOT NULL DEFAULT 0 CHECK (cursor >= 0),
            last_sync_at   TEXT,
            last_error     TEXT
        ) STRICT
        """
    )


def apply(db: Database) -> None:
    """Bring the database up to the newest schema; a no-op when it is already there.

    The whole set runs under ``BEGIN IMMEDIATE``: two fieldkit processes opening a fresh
    database at once would otherwise both see m001 pending and the second would fail on
    "table already exists". Inside it, each migration is a savepoint with its record.
    """
    if not MIGRATIONS.pending(db):
        return
    with write_transaction(db, "the upgrade of the database's schema"):
        MIGRATIONS.apply(db)  # re-reads what is pending, now under the write lock
