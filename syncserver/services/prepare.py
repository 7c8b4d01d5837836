"""What a push comes to before the database is asked anything: parsed, validated, digested.

This is the CPU part of a push (about three quarters of the server's work on a batch of
visits) and it is pure: bytes in, a :class:`PreparedPush` out, or an :class:`ApiError`. It
imports neither SQLAlchemy nor the app, so it can run in a helper process beside the one
that writes (``syncserver.core.cpu_pool``): on SQLite, with its one writer, that is how
the server uses a second core. Everything it returns pickles, and stays small: a visit's
document goes back as the bytes stored, not as Python objects.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pydantic_core
from pydantic import Field, ValidationError, field_validator

from fieldkit.sync.schema import (
    MAX_PUSH_OPS,
    SCHEMA_VERSION,
    OpStatus,
    SyncOpDoc,
    SyncPushDocument,
    VisitDocument,
    describe,
)
from syncserver.core.errors import ApiError

__all__ = [
    "READING_COLUMNS",
    "OpHead",
    "Outcome",
    "PreparedPush",
    "VisitFields",
    "loaded",
    "prepare_push",
    "readings_of",
    "visit_fields",
]

_RANK = {"skip": 0, "pass": 1, "warn": 2, "fail": 3}
"""How bad a check status is: a check run on several elements counts as its worst."""

READING_COLUMNS = (
    "drift_seconds", "voltage_a", "voltage_b", "voltage_c", "kwh_delivered", "kwh_received",
)  # fmt: skip


@dataclass
class Outcome:
    """What one op came to."""

    status: OpStatus
    code: str | None = None
    reason: str | None = None
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class VisitFields:
    """What the server reads of a visit document (validated whole as a ``VisitDocument``;
    the body is kept as it came)."""

    visit_id: str
    revision: int
    status: str
    work_order_id: str | None
    meter_number: str | None
    started_at: datetime | None
    ended_at: datetime | None
    verdict: str | None
    outcome: str | None
    checks: dict[str, str]
    """Each check id's worst status in the visit (what the office filters on)."""
    readings: dict[str, float | None] = field(default_factory=dict)
    """What the meter history plots: the ``visits`` columns of :func:`readings_of`."""


@dataclass(frozen=True, slots=True)
class OpHead:
    """One op of the batch as the writer needs it."""

    op_id: str
    kind: str
    declared_version: int | None
    """The document's own ``schema_version`` when it is an integer (a newer one is retried)."""
    document: dict[str, Any] | None
    """The document itself for the kinds applied from it (commands); None for a visit,
    which is written from its :class:`VisitFields` and its stored body."""


@dataclass(frozen=True, slots=True)
class PreparedPush:
    """A push ready for the writer: the envelope, and per op its stored body and digest."""

    schema_version: int
    device_id: str
    ops: list[OpHead]
    bodies: list[bytes]
    """Each op's document as stored (compact JSON)."""
    digests: list[str]
    """sha256 of kind and body: the same op re-sent has the same digest."""
    visits: dict[int, VisitFields | Outcome]
    """Each visit op's fields, or its rejection when the document is not a valid visit."""


class _RawOp(SyncOpDoc):
    # Already parsed from JSON, every value is JSON: only the envelope is checked here, and
    # a visit's document is validated once, as a whole VisitDocument, in visit_fields().
    document: dict[str, Any]

    @field_validator("kind")
    @classmethod
    def _no_nul(cls, kind: str) -> str:
        # The kind is stored with the op's claim and PostgreSQL text cannot hold NUL: the
        # batch is refused here, as one with a bad op id is, the same on both engines.
        if "\x00" in kind:
            raise ValueError("the kind holds a NUL character")
        return kind


class _RawPush(SyncPushDocument):
    ops: list[_RawOp] = Field(default=[], max_length=MAX_PUSH_OPS)  # type: ignore[assignment]


def _parse(body: bytes) -> SyncPushDocument:
    """The envelope from JSON bytes: a clear 422 for a bad batch, 400 for a newer schema.

    The bytes are parsed once into Python values (pydantic-core's parser); the envelope is
    then validated from those, without walking the documents a second time.
    """
    try:
        data = pydantic_core.from_json(body)
    except ValueError:
        raise ApiError("invalid_request", "the body is not JSON", status=422) from None
    try:
        return _RawPush.model_validate(data)
    except ValidationError as exc:
        declared = data.get("schema_version") if isinstance(data, dict) else None
        if (
            isinstance(declared, int)
            and not isinstance(declared, bool)
            and declared > SCHEMA_VERSION
        ):
            raise ApiError(
                "schema_unsupported",
                f"the push is schema {declared}; this server reads up to {SCHEMA_VERSION}: "
                "upgrade the server (nothing was applied, keep the ops)",
            ) from None
        raise ApiError("invalid_request", describe(exc), status=422) from None


def _declared_version(document: dict[str, Any]) -> int | None:
    version = document.get("schema_version")
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def prepare_push(body: bytes) -> PreparedPush:
    """A push's body parsed, every visit validated, every op encoded and digested.

    Raises :class:`ApiError` for a body that is not a push at all; a single bad visit is
    not an error here but its op's rejection (``visits[i]`` is an :class:`Outcome`).
    """
    push = _parse(body)
    heads: list[OpHead] = []
    bodies: list[bytes] = []
    digests: list[str] = []
    visits: dict[int, VisitFields | Outcome] = {}
    for index, op in enumerate(push.ops):
        stored = pydantic_core.to_json(op.document)
        bodies.append(stored)
        digests.append(hashlib.sha256(op.kind.encode() + b"\n" + stored).hexdigest())
        if op.kind == "visit":
            visits[index] = visit_fields(op.document)
        heads.append(
            OpHead(
                op.op_id,
                op.kind,
                _declared_version(op.document),
                None if op.kind == "visit" else op.document,
            )
        )
    return PreparedPush(push.schema_version, push.device_id, heads, bodies, digests, visits)


def loaded() -> bool:
    """Run in a new helper process first: unpickling it imports this module and the
    schema, so the first push it is given does not wait for that."""
    return True


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def readings_of(doc: VisitDocument) -> dict[str, float | None]:
    """The snapshot's clock drift, per-phase voltages and energy registers, by the
    ``visits`` column they are stored in (None where the visit has no such value)."""
    found: dict[str, float | None] = dict.fromkeys(READING_COLUMNS)
    snapshot = doc.snapshot
    if snapshot is None:
        return found
    if snapshot.clock is not None:
        found["drift_seconds"] = _finite(snapshot.clock.drift_seconds)
    for phase in snapshot.phases:
        column = f"voltage_{phase.phase.lower()}"
        if column in found and found[column] is None:
            found[column] = _finite(phase.voltage)
    for register in snapshot.registers:
        if register.id in ("kwh_delivered", "kwh_received") and register.tier is None:
            found[register.id] = _finite(register.value)
    return found


def visit_fields(document: dict[str, Any]) -> VisitFields | Outcome:
    """A visit op's document checked whole as a visit; a bad one is rejected (kept on the
    laptop, shown there with this reason)."""
    declared = document.get("document")
    if declared not in (None, "visit"):
        # The sender's value, cut: the reason is stored in 400 characters at most.
        shown = repr(declared)
        shown = shown if len(shown) <= 60 else shown[:60] + "…"
        return Outcome("rejected", "invalid_document", f"a visit op carries a {shown} document")
    try:
        doc = VisitDocument.model_validate(document)
    except ValidationError as exc:
        return Outcome("rejected", "invalid_document", describe(exc))
    if len(doc.visit_id) > 100 or (doc.work_order is not None and len(doc.work_order) > 100):
        return Outcome("rejected", "invalid_document", "the visit or work order id is too long")
    if doc.meter_number is not None and len(doc.meter_number) > 64:
        return Outcome("rejected", "invalid_document", "the meter number is too long")
    # These become columns, and PostgreSQL text cannot hold NUL (the body is stored as JSON,
    # where a NUL is escaped): refused alike on both engines, this op alone.
    if any("\x00" in text for text in (doc.visit_id, doc.work_order or "", doc.meter_number or "")):
        return Outcome(
            "rejected", "invalid_document", "the visit id, work order or meter number holds a NUL"
        )
    checks: dict[str, str] = {}
    for check in doc.checks:
        if len(check.id) > 60:
            return Outcome(
                "rejected", "invalid_document", f"check id {check.id[:60]!r}… is too long"
            )
        if "\x00" in check.id:
            return Outcome("rejected", "invalid_document", f"check id {check.id!r} holds a NUL")
        if _RANK[check.status] >= _RANK[checks.get(check.id, "skip")]:
            checks[check.id] = check.status
    verdict: str | None = doc.verdict
    if verdict is None and checks:
        verdict = max(checks.values(), key=_RANK.__getitem__)
    return VisitFields(
        visit_id=doc.visit_id,
        revision=doc.revision,
        status=doc.status,
        work_order_id=doc.work_order,
        meter_number=doc.meter_number,
        started_at=doc.started_at,
        ended_at=doc.ended_at,
        verdict=verdict,
        outcome=doc.outcome,
        checks=checks,
        readings=readings_of(doc),
    )
