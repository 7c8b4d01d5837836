"""The laptop's SQLite database: where it lives and how every connection is set up.

The file is ``fieldkit.db`` in :func:`fieldkit.paths.home` (``FIELDKIT_HOME`` moves it).
Every connection gets the laptop pragmas of the durability notes and checks that they took:
WAL so readers never block the writer, ``synchronous=FULL`` so a COMMIT that returned
survives a power cut (the screen says "saved" only after it), foreign keys on, schema code
untrusted, deleted customer data zeroed. The schema migrations run at open.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from fieldkit import paths
from fieldkit.store import migrations
from fieldkit.store.transaction import DiskFull, ReadOnlyDatabase, StoreError, write_transaction

__all__ = [
    "DB_FILENAME",
    "LAPTOP_PRAGMAS",
    "DiskFull",
    "ReadOnlyDatabase",
    "StoreError",
    "close_database",
    "database",
    "database_path",
    "open_database",
    "write_transaction",
]

DB_FILENAME = "fieldkit.db"

BUSY_TIMEOUT_MS = 5000

# Set on every connection (none but journal_mode persists in the file), then read back.
LAPTOP_PRAGMAS: tuple[tuple[str, int], ...] = (
    ("synchronous", 2),  # FULL: WAL synced at each commit, not only at checkpoints
    ("busy_timeout", BUSY_TIMEOUT_MS),  # the TUI and the sync worker share one file
    ("foreign_keys", 1),
    ("trusted_schema", 0),  # a tampered file cannot run functions from its schema
    ("journal_size_limit", 16 * 1024 * 1024),
    ("secure_delete", 1),  # purged customer data is overwritten, not left in free pages
)


def database_path() -> Path:
    """Where the laptop database lives: ``$FIELDKIT_HOME/fieldkit.db`` or the user data dir."""
    return paths.home() / DB_FILENAME


def open_database(path: Path | None = None) -> Database:
    """Open (creating if needed) the laptop database, set it up and migrate it.

    ``path`` defaults to :func:`database_path`; its directory is created. Raises
    :class:`StoreError` when the file cannot be used as the kit's database.
    """
    target = database_path() if path is None else path
    problem = paths.home_problem(target.parent)
    if problem is not None:
        raise StoreError(problem)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the folder {target.parent}: {exc.strerror}") from exc
    try:
        # timeout= is Python's busy handler; the pragma below says the same to SQLite.
        conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the fieldkit database {target}: {exc}") from exc
    try:
        # Plugins would run arbitrary code on the connection holding customer data.
        db = Database(conn, execute_plugins=False)
        _set_pragmas(db, target)
        migrations.apply(db)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"cannot use the fieldkit database {target}: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return db


def close_database(db: Database) -> None:
    """Fold the WAL back into the main file and close, so a clean exit leaves one file."""
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error:
        pass  # another process is still reading: its own close or auto-checkpoint finishes
    finally:
        db.close()


@contextmanager
def database(path: Path | None = None) -> Iterator[Database]:
    """``with database() as db:`` — :func:`open_database`, then :func:`close_database`."""
    db = open_database(path)
    try:
        yield db
    finally:
        close_database(db)


def _set_pragmas(db: Database, target: Path) -> None:
    _enable_wal(db)
    mode = str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower()
    if mode != "wal":
        # SQLite keeps the old mode silently where WAL's shared memory is impossible.
        raise StoreError(
            f"the fieldkit database {target} cannot use WAL (journal mode stays '{mode}'): "
            "keep FIELDKIT_HOME on the laptop's own disk, not a network share or USB stick"
        )
    for name, value in LAPTOP_PRAGMAS:
        db.execute(f"PRAGMA {name} = {value}")
        got = db.execute(f"PRAGMA {name}").fetchone()[0]
        if got != value:
            raise StoreError(
                f"the fieldkit database {target} refused PRAGMA {name}={value} "
                f"(it reports {got}): this SQLite build is not supported"
            )


def _enable_wal(db: Database) -> None:
    # Turning a fresh file to WAL needs it alone for a moment, and SQLite answers "locked"
    # at once, without its busy handler, while another process opens the same new file.
    # Only the very first opens can race; afterwards the file is already WAL.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            db.enable_wal()
            return
        except sqlite3.OperationalError as exc:
            if not exc.sqlite_errorname.startswith("SQLITE_BUSY") or time.monotonic() > deadline:
                raise
        time.sleep(0.01)
