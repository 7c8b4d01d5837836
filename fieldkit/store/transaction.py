"""The one way the kit writes to its database: :func:`write_transaction`, and its errors.

Every write (an import, a visit, an adjustment, the migrations) runs in one
``BEGIN IMMEDIATE`` transaction opened here; nothing else in the kit issues BEGIN.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

__all__ = ["DiskFull", "ReadOnlyDatabase", "StoreError", "write_transaction"]


class StoreError(Exception):
    """The laptop database cannot be opened or written; the message is one line to act on."""


class DiskFull(StoreError):
    """The disk (or the database's size limit) is full: the transaction was rolled back."""


class ReadOnlyDatabase(StoreError):
    """The database file, its folder or its disk cannot be written: nothing was written."""


@contextmanager
def write_transaction(db: Database, what: str) -> Iterator[Database]:
    """``with write_transaction(db, "the visit"):`` — every write of the kit goes through here.

    ``BEGIN IMMEDIATE`` takes the write lock up front (a deferred BEGIN that reads first fails
    at once with SQLITE_BUSY instead of waiting while another fieldkit writes); the block runs
    inside ``db.atomic()`` so sqlite-utils' own methods join it instead of committing; the
    COMMIT happens when the block ends, and only then may a caller say "saved". Any error
    rolls everything back (SQLITE_FULL and SQLITE_IOERR may already have done so themselves)
    and a database error becomes one :class:`StoreError` line naming ``what`` and saying
    that nothing of it was saved.
    """
    try:
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            with db.atomic():
                yield db
        except BaseException:
            if db.conn.in_transaction:
                db.rollback()
            raise
        db.commit()
    except sqlite3.OperationalError as exc:
        raise _write_error(exc, what, db) from exc
    except (sqlite3.Error, UnicodeEncodeError) as exc:  # the latter: a lone surrogate in text
        raise StoreError(f"could not save {what}, nothing was saved: {exc}") from exc


def _write_error(exc: sqlite3.OperationalError, what: str, db: Database) -> StoreError:
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED"):
        return StoreError(
            f"the fieldkit database is busy (another fieldkit is writing to it): "
            f"nothing was saved of {what}, try again"
        )
    if name.startswith("SQLITE_FULL"):
        return DiskFull(
            f"the disk is full: nothing was saved of {what} (everything saved before is "
            "intact); free some space and try again"
        )
    if name.startswith("SQLITE_READONLY"):
        # Reads still work: the technician can see the log, so say how to get writes back.
        file = _file_of(db)
        return ReadOnlyDatabase(
            f"the fieldkit database {file or 'file'} is read-only: nothing was saved of "
            f"{what} (everything saved before is intact); {_what_to_make_writable(file)}, "
            "and try again"
        )
    return StoreError(f"could not save {what}, nothing was saved: {exc}")


def _file_of(db: Database) -> str | None:
    try:
        for _seq, name, file in db.conn.execute("PRAGMA database_list").fetchall():
            if name == "main" and file:
                return str(file)
    except sqlite3.Error:
        pass
    return None


def _what_to_make_writable(file: str | None) -> str:
    """Name the read-only parts: SQLite makes the WAL and shared-memory files with the
    database file's mode, so after opening a read-only file they are read-only too, and
    making only the database writable again would not be enough."""
    if file is None:
        return "make it writable or set FIELDKIT_HOME to a writable folder"
    path = Path(file)
    parts = [path, Path(f"{file}-wal"), Path(f"{file}-shm"), path.parent]
    stuck = [str(p) for p in parts if p.exists() and not os.access(p, os.W_OK)]
    if not stuck:  # the disk itself, or the connection, went read-only
        return (
            "make it, its -wal and -shm files, its folder and its disk writable "
            "(or set FIELDKIT_HOME to a writable folder)"
        )
    return f"make {', '.join(stuck)} writable (or set FIELDKIT_HOME to a writable folder)"
