"""One :class:`Database` for both engines: SQLite (WAL, synchronous=FULL, one writer) or
PostgreSQL (several server processes on one database).

Reads and writes go through :meth:`Database.read` and :meth:`Database.write`, each one
transaction. On SQLite a write starts with ``BEGIN IMMEDIATE`` under a process-wide lock, so
there is one writer and no "database is locked" half-way through a batch; readers never
wait for it (WAL). On PostgreSQL both are plain READ COMMITTED transactions; what must be
ordered (the feed, the audit chain) takes a row lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session, sessionmaker

from syncserver.core.config import database_url
from syncserver.core.errors import ApiError

__all__ = ["SQLITE_PRAGMAS", "Database"]

SQLITE_PRAGMAS: dict[str, str] = {
    "journal_mode": "wal",
    "synchronous": "2",  # FULL: an ack is a promise, so every commit reaches the disk.
    "busy_timeout": "10000",
    "foreign_keys": "1",
    "cache_size": "-65536",
    "temp_store": "2",  # MEMORY
    "trusted_schema": "0",
}


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: object) -> None:
        # The driver's own transaction handling is off; SQLAlchemy's begin event opens them.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for name, value in SQLITE_PRAGMAS.items():
            cursor.execute(f"PRAGMA {name}={value}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def _nul_refused() -> Iterator[None]:
    """PostgreSQL text cannot hold NUL: a value with one, from a form or a document, is the
    caller's mistake (422, the transaction rolled back), not the server's (500)."""
    try:
        yield
    except DataError as exc:
        if "NUL (0x00)" not in str(exc.orig):
            raise
        raise ApiError(
            "invalid_request", "a value sent holds a NUL character, which cannot be stored", 422
        ) from None


class Database:
    """The engine(s) of one database URL and the sessions the server works in."""

    def __init__(self, db: str) -> None:
        self.url = database_url(db)
        self.dialect = self.url.split(":", 1)[0].split("+", 1)[0]
        if self.dialect == "sqlite":
            self.write_engine = _sqlite_engine(self.url, immediate=True)
            self.read_engine = _sqlite_engine(self.url, immediate=False)
            self._write_lock: threading.Lock | None = threading.Lock()
        elif self.dialect == "postgresql":
            engine = create_engine(self.url, pool_size=10, max_overflow=20, pool_pre_ping=True)
            self.write_engine = self.read_engine = engine
            self._write_lock = None
        else:
            raise ValueError(
                f"unsupported database {self.dialect!r}: use a path or postgresql+psycopg://"
            )
        self._writer = sessionmaker(self.write_engine, expire_on_commit=False)
        self._reader = sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        """True for SQLite (one writer), False for PostgreSQL."""
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: committed when the block ends, rolled back on an error."""
        lock = self._write_lock or nullcontext()
        # Around the transaction, not inside it: what the block added unflushed reaches the
        # database only at COMMIT.
        with lock, _nul_refused(), self._writer() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """One read transaction (a consistent snapshot on SQLite's WAL)."""
        with _nul_refused(), self._reader() as session, session.begin():
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()
