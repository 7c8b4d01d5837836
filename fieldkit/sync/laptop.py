"""The one place that ties the sync client to this laptop: its database, its secrets.

- :class:`LaptopOutbox` serves the outbox's pending ops oldest first and records each
  batch's answers in one write transaction: acknowledged ops get ``acked_at``, rejected ones
  ``rejected_at`` with the server's code and reason (they stay in the outbox, visible, and
  are never re-sent; a ``retry`` stays pending).
- :class:`LaptopFeed` applies each pulled page — work orders upserted with source
  ``sync``, removals dropped, the cursor saved — in one write transaction.
- :class:`LaptopTokens` keeps the device token in :mod:`fieldkit.secrets` (the OS keyring,
  or the encrypted file) and the rest of the enrolment (server, device id, technician),
  which is not secret, in the database's ``sync_state`` row.

After every sync (and enrolment) the server's clock is recorded as the laptop's trusted
time, which ``fieldkit adjust``'s clock check reads.

The public functions are :func:`enroll_laptop`, :func:`sync_laptop` and
:func:`sync_status`; the ``*_database`` variants take an open database and a token store,
so tests can run many laptops in one process.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlite_utils import Database

from fieldkit.secrets import SecretsError, Vault, device_token, open_vault, set_device_token
from fieldkit.store import visits as visit_log
from fieldkit.store import work_orders
from fieldkit.store.db import database
from fieldkit.store.transaction import StoreError, write_transaction
from fieldkit.sync.client import (
    Credentials,
    PendingOp,
    Rejection,
    ServerUnreachable,
    SyncClient,
    SyncError,
    SyncRefused,
    SyncResult,
    enroll,
)
from fieldkit.sync.schema import SyncPullDocument

__all__ = [
    "LaptopFeed",
    "LaptopOutbox",
    "LaptopTokens",
    "NotEnrolled",
    "RejectedOp",
    "ServerUnreachable",
    "SyncError",
    "SyncFailed",
    "SyncRefused",
    "SyncResult",
    "SyncStatus",
    "enroll_database",
    "enroll_laptop",
    "status_of",
    "sync_database",
    "sync_laptop",
    "sync_status",
]

TRUSTED_SOURCE = "sync server"


class NotEnrolled(SyncError):
    """The laptop has no device token: ``fieldkit enroll`` first."""


class SyncFailed(SyncError):
    """The laptop's own side failed (its database or its secrets); nothing was lost."""


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _ensure_state(db: Database) -> None:
    db.execute("INSERT OR IGNORE INTO sync_state (id, cursor) VALUES (1, 0)")


# --- the adapters ----------------------------------------------------------------------


class LaptopOutbox:
    """The client's :class:`~fieldkit.sync.client.Outbox` over the laptop's outbox table."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self._clock = clock or (lambda: datetime.now(UTC))

    def pending(self, limit: int) -> Sequence[PendingOp]:
        rows = self.db.execute(
            "SELECT op_id, kind, body FROM outbox "
            "WHERE acked_at IS NULL AND rejected_at IS NULL ORDER BY seq LIMIT ?",
            [limit],
        ).fetchall()
        return [PendingOp(op_id, kind, json.loads(body)) for op_id, kind, body in rows]

    def mark(self, acknowledged: Sequence[str], rejected: Sequence[Rejection]) -> None:
        stamp = _iso(self._clock())
        with write_transaction(self.db, "the server's answers to the sync"):
            for op_id in acknowledged:
                self.db.execute(
                    "UPDATE outbox SET acked_at = ? WHERE op_id = ? AND acked_at IS NULL",
                    [stamp, op_id],
                )
            for item in rejected:
                self.db.execute(
                    "UPDATE outbox SET rejected_at = ?, reject_code = ?, reject_reason = ? "
                    "WHERE op_id = ? AND acked_at IS NULL",
                    [stamp, item.code, item.reason, item.op_id],
                )

    def count_pending(self) -> int:
        row = self.db.execute(
            "SELECT count(*) FROM outbox WHERE acked_at IS NULL AND rejected_at IS NULL"
        ).fetchone()
        return int(row[0])


class LaptopFeed:
    """The client's :class:`~fieldkit.sync.client.FeedStore` over the work orders table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def cursor(self) -> int:
        row = self.db.execute("SELECT cursor FROM sync_state WHERE id = 1").fetchone()
        return 0 if row is None else int(row[0])

    def apply(self, page: SyncPullDocument) -> None:
        orders = [doc.to_model() for doc in page.work_orders]
        with write_transaction(self.db, "the pulled work orders"):
            work_orders.upsert_within(self.db, orders, "sync")
            work_orders.delete_many(self.db, [r.id for r in page.removals])
            _ensure_state(self.db)
            self.db.execute("UPDATE sync_state SET cursor = ? WHERE id = 1", [page.cursor])

    def reset(self) -> None:
        with write_transaction(self.db, "the reset of the pulled work orders"):
            work_orders.delete_source(self.db, "sync")
            _ensure_state(self.db)
            self.db.execute("UPDATE sync_state SET cursor = 0 WHERE id = 1")


class LaptopTokens:
    """The client's :class:`~fieldkit.sync.client.TokenStore`: the token in the secrets,
    the server, device id and technician in the database."""

    def __init__(self, db: Database, vault: Vault | None = None) -> None:
        self.db = db
        self._vault = vault

    def _open(self) -> Vault:
        if self._vault is None:
            self._vault = open_vault()
        return self._vault

    def save(self, credentials: Credentials) -> None:
        set_device_token(credentials.token, self._open())
        with write_transaction(self.db, "the enrolment"):
            _ensure_state(self.db)
            self.db.execute(
                "UPDATE sync_state SET server_url = ?, device_id = ?, technician = ?, "
                "enrolled_at = ?, cursor = 0, last_error = NULL WHERE id = 1",
                [
                    credentials.server_url,
                    credentials.device_id,
                    credentials.technician,
                    _iso(datetime.now(UTC)),
                ],
            )
            # A new enrolment may be another technician: their feed starts from 0.
            work_orders.delete_source(self.db, "sync")

    def load(self) -> Credentials | None:
        row = self.db.execute(
            "SELECT server_url, device_id, technician FROM sync_state WHERE id = 1"
        ).fetchone()
        if row is None or row[0] is None:
            return None
        token = device_token(self._open())
        if token is None:
            return None
        return Credentials(row[0], row[1], token, row[2])


# --- status ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RejectedOp:
    """An outbox op the server refused for good, and why (it is kept, never re-sent)."""

    op_id: str
    kind: str
    entity_id: str
    code: str | None
    reason: str | None
    rejected_at: datetime


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """Where this laptop's sync stands."""

    enrolled: bool
    server_url: str | None
    device_id: str | None
    technician: str | None
    last_sync_at: datetime | None
    last_error: str | None
    pending: int
    cursor: int
    rejected: list[RejectedOp] = field(default_factory=list)
    trusted_time: visit_log.TrustedTime | None = None


def status_of(db: Database) -> SyncStatus:
    """The sync status kept in ``db`` (no secrets are read)."""
    row = db.execute(
        "SELECT server_url, device_id, technician, cursor, last_sync_at, last_error "
        "FROM sync_state WHERE id = 1"
    ).fetchone()
    server_url, device_id, technician, cursor, last_sync, last_error = row or (
        None,
        None,
        None,
        0,
        None,
        None,
    )
    rejected = [
        RejectedOp(r[0], r[1], r[2], r[3], r[4], datetime.fromisoformat(r[5]))
        for r in db.execute(
            "SELECT op_id, kind, entity_id, reject_code, reject_reason, rejected_at "
            "FROM outbox WHERE rejected_at IS NOT NULL ORDER BY seq"
        ).fetchall()
    ]
    return SyncStatus(
        enrolled=server_url is not None,
        server_url=server_url,
        device_id=device_id,
        technician=technician,
        last_sync_at=_time(last_sync),
        last_error=last_error,
        pending=LaptopOutbox(db).count_pending(),
        cursor=int(cursor),
        rejected=rejected,
        trusted_time=visit_log.last_trusted_time(db),
    )


# --- enrol and sync --------------------------------------------------------------------


def _record_time(db: Database, result: SyncResult) -> None:
    if result.trusted_time is not None:
        visit_log.record_trusted_time(
            db,
            source=TRUSTED_SOURCE,
            trusted_time=result.trusted_time.server_time,
            laptop_time=result.trusted_time.local_time,
        )


def _record_end(db: Database, error: str | None) -> None:
    with write_transaction(db, "the sync status"):
        _ensure_state(db)
        db.execute(
            "UPDATE sync_state SET last_sync_at = ?, last_error = ? WHERE id = 1",
            [_iso(datetime.now(UTC)), error],
        )


def enroll_database(
    db: Database,
    tokens: LaptopTokens,
    server_url: str,
    code: str,
    *,
    device_name: str | None = None,
    http: httpx.Client | None = None,
    timeout: float = 10.0,
) -> Credentials:
    """Enrol the laptop whose database is ``db``; the credentials it now keeps."""
    url = server_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise SyncRefused(f"the server address must start with http:// or https://, not {url!r}")
    credentials = enroll(
        url,
        code,
        device_name or socket.gethostname() or "laptop",
        tokens,
        http=http,
        timeout=timeout,
    )
    return credentials


def sync_database(
    db: Database,
    tokens: LaptopTokens,
    *,
    http: httpx.Client | None = None,
    timeout: float = 10.0,
    **client_options: Any,
) -> SyncResult:
    """Push the outbox of ``db``, then pull; raises a :class:`SyncError` subclass with one
    line when it cannot (what was done before is kept: it is in ``db``)."""
    credentials = tokens.load()
    if credentials is None:
        raise NotEnrolled(
            "this laptop is not enrolled: run `fieldkit enroll --server URL --code CODE`"
        )
    result = SyncResult()
    error: SyncError | None = None
    with SyncClient(credentials, http=http, timeout=timeout, **client_options) as client:
        try:
            client.push(LaptopOutbox(db), result)
            client.pull(LaptopFeed(db), result)
        except SyncError as exc:
            error = exc
    result.pending = LaptopOutbox(db).count_pending()
    _record_time(db, result)
    _record_end(db, None if error is None else str(error))
    if error is not None:
        result.error = str(error)
        error.result = result
        raise error
    return result


@contextmanager
def _laptop() -> Iterator[tuple[Database, LaptopTokens]]:
    try:
        with database() as db:
            yield db, LaptopTokens(db)
    except (StoreError, SecretsError) as exc:
        raise SyncFailed(str(exc)) from exc


def enroll_laptop(server_url: str, code: str, *, device_name: str | None = None) -> str:
    """Enrol this laptop with a one-time code; returns the technician's name.

    The device token goes to the secrets, the server address to the database.
    """
    with _laptop() as (db, tokens):
        credentials = enroll_database(db, tokens, server_url, code, device_name=device_name)
        return credentials.technician


def sync_laptop(*, timeout: float = 10.0, attempts: int = 5) -> SyncResult:
    """Push this laptop's outbox, then pull its work orders, trying each request up to
    ``attempts`` times with full-jitter back-off.

    Raises :class:`NotEnrolled`, :class:`ServerUnreachable`, :class:`SyncRefused` or
    :class:`SyncFailed` (all :class:`SyncError`) with one line; nothing pending is lost.
    """
    with _laptop() as (db, tokens):
        return sync_database(db, tokens, timeout=timeout, max_attempts=attempts)


def sync_status() -> SyncStatus:
    """Last sync time, pending count and rejected ops with the server's reasons."""
    with _laptop() as (db, _tokens):
        return status_of(db)
