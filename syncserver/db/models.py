"""The tables, one schema for SQLite and PostgreSQL (the Alembic migrations create them).

Ids the outside world knows (account number, meter number, work-order id, visit id, device
id, op id) are unique text columns; rows refer to each other by integer keys.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Account",
    "ApiToken",
    "AppliedOp",
    "AuditCheckpoint",
    "AuditHead",
    "AuditLog",
    "Base",
    "Device",
    "EnrollCode",
    "FeedHead",
    "FeedRow",
    "Meter",
    "Premise",
    "SearchTerm",
    "User",
    "Visit",
    "VisitCheck",
    "VisitComment",
    "VisitRepeat",
    "WebFlash",
    "WebSession",
    "WorkOrder",
    "WorkOrderAssignment",
]

# Constraint names are fixed so migrations name them the same on both engines.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# An integer primary key that is INTEGER (rowid) on SQLite and BIGINT on PostgreSQL.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC time on both engines (SQLite gives back naive times otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        from datetime import UTC

        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Every table."""

    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    """A person: technician (devices push and pull), office (review) or admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ApiToken(Base):
    """A personal API token of an office or admin user (only its SHA-256 is kept)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class EnrollCode(Base):
    """A one-time enrolment code for a technician's next device."""

    __tablename__ = "enroll_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Device(Base):
    """An enrolled laptop: its own token (SHA-256 kept), its technician, revocation."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    technician_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    enrolled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Account(Base):
    """A customer account from the CIS."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_number: Mapped[str] = mapped_column(String(64), unique=True)
    customer_name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    net_metering: Mapped[bool] = mapped_column(Boolean, default=False)


class Premise(Base):
    """A premise / service point of an account, at a service address."""

    __tablename__ = "premises"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    premise_id: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    service_address: Mapped[str] = mapped_column(String(300))


class Meter(Base):
    """A meter at a premise: what the site checks expect. The password is a reference only."""

    __tablename__ = "meters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    meter_number: Mapped[str] = mapped_column(String(64), unique=True)
    premise_pk: Mapped[int] = mapped_column(ForeignKey("premises.id"), index=True)
    meter_serial: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    form: Mapped[str | None] = mapped_column(String(16), nullable=True)
    meter_class: Mapped[str | None] = mapped_column(String(16), nullable=True)
    service_type: Mapped[str] = mapped_column(String(16))
    nominal_voltage: Mapped[float] = mapped_column(Float)
    ct_ratio: Mapped[float | None] = mapped_column(Float, nullable=True)
    pt_ratio: Mapped[float | None] = mapped_column(Float, nullable=True)
    rotation: Mapped[str | None] = mapped_column(String(3), nullable=True)
    high_leg: Mapped[str | None] = mapped_column(String(1), nullable=True)
    last_read_kwh: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_read_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    password_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)


class WorkOrder(Base):
    """An office work order; ``status`` changes only through the state machine."""

    __tablename__ = "work_orders"
    # The work-order list filtered by status, newest first, seeks here instead of walking
    # every order (at a million completed orders, the few open ones are at the far end).
    __table_args__ = (Index("ix_work_orders_status", "status", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    work_order_id: Mapped[str] = mapped_column(String(100), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    priority: Mapped[str] = mapped_column(String(20))
    technician_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), nullable=True, index=True
    )
    status: Mapped[str] = mapped_column(String(30))
    scheduled_for: Mapped[str | None] = mapped_column(String(40), nullable=True)
    contact_customer: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WorkOrderAssignment(Base):
    """Every technician a work order was ever given to (a visit for it is theirs to push)."""

    __tablename__ = "work_order_assignments"
    __table_args__ = (UniqueConstraint("work_order_pk", "technician_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    work_order_pk: Mapped[int] = mapped_column(ForeignKey("work_orders.id"))
    technician_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Visit(Base):
    """A visit as the laptop saved it (``body`` is the whole document of its latest
    ``revision``: each save on the laptop is a new revision, and a newer one replaces the
    body) and its review."""

    __tablename__ = "visits"
    __table_args__ = (
        Index("ix_visits_exceptions", "exception", "visited_at", "id"),
        Index("ix_visits_visited", "visited_at", "id"),
        Index("ix_visits_meter_visited", "meter_id", "visited_at"),
        Index("ix_visits_account_visited", "account_id", "visited_at", "id"),
        # Everything the weekly report reads of a visit, in visit-time order: a week is one
        # range of this index and never touches the table, whose rows carry the body.
        Index(
            "ix_visits_report",
            "visited_at",
            "technician_id",
            "verdict",
            "outcome",
            "ended_at",
            "meter_id",
            "checks_failed",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    visit_id: Mapped[str] = mapped_column(String(100), unique=True)
    device_pk: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    work_order_pk: Mapped[int | None] = mapped_column(
        ForeignKey("work_orders.id"), nullable=True, index=True
    )
    claimed_work_order: Mapped[str | None] = mapped_column(String(100), nullable=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id"), nullable=True, index=True
    )
    meter_id: Mapped[int | None] = mapped_column(ForeignKey("meters.id"), nullable=True, index=True)
    meter_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    flags: Mapped[str] = mapped_column(String(400), default="")
    review_status: Mapped[str] = mapped_column(String(20), default="new")
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    body_sha256: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    status: Mapped[str | None] = mapped_column(String(10), nullable=True)
    # Read out of the document when it is stored, for the office's lists and filters.
    visited_at: Mapped[datetime] = mapped_column(UtcDateTime)
    """When the visit started (the laptop's clock), or when it arrived if it does not say."""
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    verdict: Mapped[str | None] = mapped_column(String(10), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(30), nullable=True)
    exception: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """A check failed or warned: the visit is on the office's exceptions page."""
    checks_failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """How many of its checks failed (its ``visit_checks`` rows with status ``fail``)."""
    # The readings the meter history plots, read out of the snapshot at ingest.
    drift_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    voltage_a: Mapped[float | None] = mapped_column(Float, nullable=True)
    voltage_b: Mapped[float | None] = mapped_column(Float, nullable=True)
    voltage_c: Mapped[float | None] = mapped_column(Float, nullable=True)
    kwh_delivered: Mapped[float | None] = mapped_column(Float, nullable=True)
    kwh_received: Mapped[float | None] = mapped_column(Float, nullable=True)


class VisitCheck(Base):
    """One check's status in a visit (the worst, when a check ran on several elements)."""

    __tablename__ = "visit_checks"
    __table_args__ = (
        Index("ix_visit_checks_check", "check_id", "status", "visit_pk"),
        # The exceptions page filtered by one check seeks here, newest first, instead of
        # walking the queue and probing each visit for the check.
        Index(
            "ix_visit_checks_flagged",
            "check_id",
            "visited_at",
            "visit_pk",
            sqlite_where=text("status IN ('fail', 'warn')"),
            postgresql_where=text("status IN ('fail', 'warn')"),
        ),
    )

    visit_pk: Mapped[int] = mapped_column(ForeignKey("visits.id"), primary_key=True)
    check_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    status: Mapped[str] = mapped_column(String(10))
    visited_at: Mapped[datetime] = mapped_column(UtcDateTime)
    """The visit's ``visited_at`` (copied, so the filter above orders by it in the index)."""


class VisitRepeat(Base):
    """When a visit's meter was last visited before it, for the weekly report's repeat
    test (``syncserver.services.repeats`` keeps it at ingest).

    One row per visit that has an earlier visit to its meter (by anyone); a visit without
    a meter, or its meter's first, has none. The visit's time and technician are copied
    beside ``previous_at`` so that a week of the report is one range of the index below,
    where a test per visit would be an index seek per visit.
    """

    __tablename__ = "visit_repeats"
    __table_args__ = (
        Index("ix_visit_repeats_report", "visited_at", "technician_id", "previous_at"),
    )

    visit_pk: Mapped[int] = mapped_column(ForeignKey("visits.id"), primary_key=True)
    technician_id: Mapped[int] = mapped_column(BigInteger)
    """The visit's ``technician_id``."""
    visited_at: Mapped[datetime] = mapped_column(UtcDateTime)
    """The visit's ``visited_at``."""
    previous_at: Mapped[datetime] = mapped_column(UtcDateTime)
    """The latest ``visited_at`` of the meter's other visits strictly before this one's."""


class VisitComment(Base):
    """An office reviewer's comment on a visit."""

    __tablename__ = "visit_comments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    visit_pk: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    text: Mapped[str] = mapped_column(Text)


# Bytewise order on PostgreSQL, so a prefix is one range of the index whatever the locale.
SearchText = String(120).with_variant(String(120, collation="C"), "postgresql")


class SearchTerm(Base):
    """What the search box finds a customer by: for each word of the account's customer
    name and of its premises' service addresses, the normalized text from that word on
    (``syncserver.services.search`` writes them)."""

    __tablename__ = "search_terms"

    term: Mapped[str] = mapped_column(SearchText, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True, index=True)
    source: Mapped[str] = mapped_column(String(10), primary_key=True)
    """``name`` or ``address``."""


class WebSession(Base):
    """A signed-in office or admin user's browser (only the cookie's SHA-256 is kept)."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebFlash(Base):
    """A one-time notice for a session's next page (an enrolment code after its form's
    redirect), sealed with a key from the session's cookie, deleted when it is shown."""

    __tablename__ = "web_flashes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("web_sessions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    sealed: Mapped[str] = mapped_column(Text)
    """base64url(nonce + AES-GCM ciphertext): unreadable without the session's cookie."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AppliedOp(Base):
    """Every op a device ever pushed and the answer it got, kept for ever (dedupe)."""

    __tablename__ = "applied_ops"
    # A device's last push (the Admin page's "last seen") is one seek here, not a read of
    # every op the device ever pushed.
    __table_args__ = (Index("ix_applied_ops_device_applied", "device_pk", "applied_at"),)

    device_pk: Mapped[int] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    op_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    body_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    code: Mapped[str | None] = mapped_column(String(60), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(400), nullable=True)
    flags: Mapped[str] = mapped_column(String(400), default="")
    applied_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FeedHead(Base):
    """A technician's last feed sequence number; its row lock orders the feed's commits."""

    __tablename__ = "feed_heads"

    technician_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class FeedRow(Base):
    """One change in a technician's feed: a work order to upsert or to remove."""

    __tablename__ = "feed"

    technician_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    work_order_pk: Mapped[int] = mapped_column(ForeignKey("work_orders.id"))
    op: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AuditHead(Base):
    """The audit chain's head (one row); its row lock makes appends one at a time."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditLog(Base):
    """Append-only, hash-chained: ``row_hash = sha256(prev_hash + canonical row)``.

    Triggers refuse UPDATE and DELETE on both engines.
    """

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """How far the audit chain was found intact, and when: the Admin page checks only the
    entries after the newest checkpoint, and an admin can ask for the whole chain again."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    """The last entry found intact (0: none)."""
    row_hash: Mapped[str] = mapped_column(String(64))
    """That entry's hash, as it was found (the genesis hash for none)."""
    checked_from: Mapped[int] = mapped_column(BigInteger)
    """The first entry this check read (1: the whole chain from the genesis)."""
    verified_at: Mapped[datetime] = mapped_column(UtcDateTime)
    verified_by: Mapped[str] = mapped_column(String(100))
    seconds: Mapped[float] = mapped_column(Float)
    broken: Mapped[str | None] = mapped_column(String(400), nullable=True)
    """What the check found wrong (None: intact up to ``seq``; a broken check is never
    a starting point, and ``seq`` is where it started from)."""
