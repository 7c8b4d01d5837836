"""The visit log: every visit saved as domain rows plus an outbox row, in one transaction.

A visit is written as rows (``visits``, ``visit_checks``, ``visit_notes``,
``adjustments``) and, in the same :func:`~fieldkit.store.transaction.write_transaction`,
one ``outbox`` row holding the wire :class:`~fieldkit.sync.schema.VisitDocument` of that
revision under a new client op id (a UUID). A caller may say "saved" only once a function
here has returned: the COMMIT has happened by then.

A visit is saved open or final. An open visit takes adjustments and notes, each a new
revision; :func:`close` finalises it once, and from then on triggers in the database refuse
any change to it. :func:`correct` records a correction: a new, final visit that points at
the one it corrects and copies its evidence.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from fieldkit.model import as_utc
from fieldkit.store.transaction import StoreError, write_transaction
from fieldkit.sync.schema import (
    SCHEMA_VERSION,
    AdjustmentDoc,
    CaptureDocument,
    CheckResultDoc,
    ExpectationDoc,
    MeterStateDoc,
    NoteDoc,
    Outcome,
    SnapshotDoc,
    VisitDocument,
    VisitSummaryDoc,
)

__all__ = [
    "ID_PREFIX_MIN",
    "OutboxRow",
    "TrustedTime",
    "VisitNotFound",
    "add_adjustment",
    "add_note",
    "close",
    "correct",
    "get",
    "iter_visits",
    "last_adjustment",
    "last_trusted_time",
    "latest_open",
    "list_visits",
    "new_id",
    "outbox_rows",
    "record_trusted_time",
    "resolve_id",
    "save",
]

# The shortest id prefix ``visits show`` accepts (the first block of the UUID).
ID_PREFIX_MIN = 8


class VisitNotFound(StoreError):
    """No visit (or more than one) answers to the id given."""


def new_id() -> str:
    """A new visit, adjustment or op id: a random UUID, made on the laptop."""
    return str(uuid.uuid4())


def _iso(value: datetime) -> str:
    return as_utc(value).astimezone(UTC).isoformat()


def _iso_or_none(value: datetime | None) -> str | None:
    return None if value is None else _iso(value)


def _time(value: str | None) -> datetime | None:
    return None if value is None else as_utc(datetime.fromisoformat(value))


def _json(doc: Any) -> str | None:
    if doc is None:
        return None
    text: str = doc.model_dump_json()
    return text


# --- writing ---------------------------------------------------------------------------


def save(db: Database, visit: VisitDocument) -> VisitDocument:
    """Save a new visit (its first revision) with its outbox row; returns it as saved.

    The document's ``op_id`` and ``revision`` are set here (revision 1, a new op id).
    Raises :class:`StoreError` (nothing saved) when the database refuses it, and
    ValueError for a visit id already in the log.
    """
    saved = visit.model_copy(update={"revision": 1, "op_id": new_id()})
    with write_transaction(db, f"visit {visit.visit_id}"):
        if _exists(db, visit.visit_id):
            raise ValueError(f"visit {visit.visit_id} is already in the log")
        # Written open, then closed: the triggers refuse rows added under a final visit.
        _insert_visit(db, saved.model_copy(update={"status": "open"}))
        _insert_children(db, saved, checks=True, notes=0, adjustments=0)
        if saved.status == "final":
            db.execute("UPDATE visits SET status = 'final' WHERE visit_id = ?", [saved.visit_id])
        _append_outbox(db, saved)
    return saved


def add_adjustment(
    db: Database, visit_id: str, adjustment: AdjustmentDoc, *, now: datetime | None = None
) -> VisitDocument:
    """Record an adjustment against an open visit; returns the new revision."""
    return _revise(db, visit_id, now, adjustments=[adjustment], what="the adjustment")


def add_note(db: Database, visit_id: str, note: NoteDoc) -> VisitDocument:
    """Add a note to an open visit; returns the new revision."""
    return _revise(db, visit_id, note.at, notes=[note], what="the note")


def close(
    db: Database,
    visit_id: str,
    outcome: Outcome,
    *,
    notes: Sequence[NoteDoc] = (),
    now: datetime | None = None,
) -> VisitDocument:
    """Finalise an open visit with its outcome (and last notes); it never changes again."""
    return _revise(
        db,
        visit_id,
        now,
        notes=list(notes),
        finalise=outcome,
        what=f"the closing of visit {visit_id}",
    )


def correct(
    db: Database,
    visit_id: str,
    *,
    technician: str,
    outcome: Outcome | None = None,
    notes: Sequence[NoteDoc] = (),
    now: datetime | None = None,
) -> VisitDocument:
    """Record a correction of a final visit: a new final visit pointing at it.

    The correction copies the evidence (snapshot, checks, adjustments, capture) and the
    notes, and takes the corrected ``outcome`` and an added ``note``. The original is left
    exactly as it was.
    """
    original = get(db, visit_id)
    if original is None:
        raise VisitNotFound(f"no visit {visit_id} on this laptop (fieldkit visits list)")
    if original.status != "final":
        raise StoreError(
            f"visit {visit_id} is still open: add a note or close it "
            "(fieldkit visits note / close) instead of correcting it"
        )
    moment = now or datetime.now(UTC)
    all_notes = [*original.notes, *notes]
    # Adjustment ids are the evidence's own: the copies get new ids and keep everything else.
    adjustments = [a.model_copy(update={"adjustment_id": new_id()}) for a in original.adjustments]
    correction = original.model_copy(
        update={
            "visit_id": new_id(),
            "corrects": original.visit_id,
            "technician": technician,
            "outcome": outcome or original.outcome,
            "notes": all_notes,
            "adjustments": adjustments,
            "saved_at": moment,
        }
    )
    return save(db, correction)


def _revise(
    db: Database,
    visit_id: str,
    now: datetime | None,
    *,
    what: str,
    adjustments: list[AdjustmentDoc] | None = None,
    notes: list[NoteDoc] | None = None,
    finalise: Outcome | None = None,
) -> VisitDocument:
    moment = now or datetime.now(UTC)
    with write_transaction(db, what):
        current = get(db, visit_id)
        if current is None:
            raise VisitNotFound(f"no visit {visit_id} on this laptop (fieldkit visits list)")
        if current.status == "final":
            raise StoreError(
                f"visit {visit_id} is closed and cannot change: "
                f"record a correction (fieldkit visits correct {visit_id[:ID_PREFIX_MIN]} ...)"
            )
        update: dict[str, Any] = {
            "revision": current.revision + 1,
            "op_id": new_id(),
            "saved_at": moment,
            "adjustments": [*current.adjustments, *(adjustments or [])],
            "notes": [*current.notes, *(notes or [])],
        }
        if finalise is not None:
            update.update(status="final", outcome=finalise, ended_at=moment)
        revised = current.model_copy(update=update)
        _insert_children(
            db,
            revised,
            checks=False,
            notes=len(current.notes),
            adjustments=len(current.adjustments),
        )
        db.execute(
            "UPDATE visits SET revision = ?, op_id = ?, saved_at = ?, status = ?, "
            "outcome = ?, ended_at = ? WHERE visit_id = ?",
            [
                revised.revision,
                revised.op_id,
                _iso(moment),
                revised.status,
                revised.outcome,
                _iso_or_none(revised.ended_at),
                visit_id,
            ],
        )
        _append_outbox(db, revised)
    return revised


def _exists(db: Database, visit_id: str) -> bool:
    row = db.execute("SELECT 1 FROM visits WHERE visit_id = ?", [visit_id]).fetchone()
    return row is not None


def _insert_visit(db: Database, visit: VisitDocument) -> None:
    db.table("visits").insert(
        {
            "visit_id": visit.visit_id,
            "revision": visit.revision,
            "op_id": visit.op_id,
            "status": visit.status,
            "outcome": visit.outcome,
            "corrects": visit.corrects,
            "technician": visit.technician,
            "started_at": _iso(visit.started_at),
            "ended_at": _iso_or_none(visit.ended_at),
            "saved_at": _iso(visit.saved_at),
            "work_order_id": visit.work_order,
            "account_number": visit.account_number,
            "premise_id": visit.premise_id,
            "meter_number": visit.meter_number,
            "meter_serial": visit.meter_serial,
            "read_result": visit.read_result,
            "error": visit.error,
            "error_kind": visit.error_kind,
            "verdict": visit.verdict,
            "expectation": _json(visit.expectation),
            "snapshot": _json(visit.snapshot),
            "capture": _json(visit.capture),
        }
    )


def _insert_children(
    db: Database, visit: VisitDocument, *, checks: bool, notes: int, adjustments: int
) -> None:
    """Rows for the checks (a new visit only) and the notes/adjustments after the first N."""
    if checks and visit.checks:
        db.table("visit_checks").insert_all(
            {
                "visit_id": visit.visit_id,
                "position": n,
                "check_id": c.id,
                "status": c.status.value,
                "message": c.message,
                "measured": c.measured,
                "expected": c.expected,
                "likely_causes": json.dumps(c.likely_causes),
                "check_values": json.dumps([q.model_dump(mode="json") for q in c.values]),
            }
            for n, c in enumerate(visit.checks)
        )
    new_notes = visit.notes[notes:]
    if new_notes:
        db.table("visit_notes").insert_all(
            {
                "visit_id": visit.visit_id,
                "position": n,
                "at": _iso(note.at),
                "technician": note.technician,
                "text": note.text,
            }
            for n, note in enumerate(new_notes, start=notes)
        )
    new_adjustments = visit.adjustments[adjustments:]
    if new_adjustments:
        db.table("adjustments").insert_all(
            {
                "adjustment_id": a.adjustment_id,
                "visit_id": visit.visit_id,
                "position": n,
                "kind": a.kind,
                "technician": a.technician,
                "started_at": _iso(a.started_at),
                "finished_at": _iso(a.finished_at),
                "result": a.result,
                "result_code": a.result_code,
                "result_message": a.result_message,
                "response": a.response.hex(),
                "error": a.error,
                "before": _json(a.before),
                "after": _json(a.after),
                "reference_time": _iso_or_none(a.reference_time),
                "clock_source": a.clock_source,
                "trust_system_clock": int(a.trust_system_clock),
                "lockout_override": a.lockout_override,
                "capture": _json(a.capture),
                "meter_serial": visit.meter_serial,
                "meter_number": visit.meter_number,
            }
            for n, a in enumerate(new_adjustments, start=adjustments)
        )


def _append_outbox(db: Database, visit: VisitDocument) -> None:
    db.table("outbox").insert(
        {
            "op_id": visit.op_id,
            "kind": "visit",
            "entity_id": visit.visit_id,
            "schema_version": SCHEMA_VERSION,
            "body": visit.model_dump_json(),
            "created_at": _iso(visit.saved_at),
        }
    )


# --- reading ---------------------------------------------------------------------------


def resolve_id(db: Database, text: str) -> str:
    """The full id of the visit ``text`` names: a whole id, or its first 8+ characters."""
    wanted = text.strip().lower()
    if len(wanted) < ID_PREFIX_MIN:
        raise VisitNotFound(
            f"{text!r} is too short to name a visit: give at least {ID_PREFIX_MIN} characters "
            "of its id (fieldkit visits list)"
        )
    try:
        rows = db.execute(
            "SELECT visit_id FROM visits WHERE visit_id = ? OR visit_id LIKE ? ESCAPE '\\' LIMIT 2",
            [wanted, wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"],
        ).fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the visit log: {exc}") from exc
    if not rows:
        raise VisitNotFound(f"no visit {text} on this laptop (fieldkit visits list)")
    if len(rows) > 1 and rows[0][0] != wanted:
        raise VisitNotFound(f"more than one visit starts with {text}: give more of the id")
    return str(rows[0][0])


def get(db: Database, visit_id: str) -> VisitDocument | None:
    """The visit with this id as its latest revision, or None."""
    try:
        rows = list(db.execute("SELECT * FROM visits WHERE visit_id = ?", [visit_id]).fetchall())
        if not rows:
            return None
        columns = [d[0] for d in db.execute("SELECT * FROM visits LIMIT 0").description]
        row = dict(zip(columns, rows[0], strict=True))
        checks = db.execute(
            "SELECT check_id, status, message, measured, expected, likely_causes, check_values "
            "FROM visit_checks WHERE visit_id = ? ORDER BY position",
            [visit_id],
        ).fetchall()
        notes = db.execute(
            "SELECT at, technician, text FROM visit_notes WHERE visit_id = ? ORDER BY position",
            [visit_id],
        ).fetchall()
        adjustments = list(
            db.table("adjustments").rows_where("visit_id = ?", [visit_id], order_by="position")
        )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the visit log: {exc}") from exc
    return _document(row, checks, notes, adjustments)


def _document(
    row: Mapping[str, Any],
    checks: list[tuple[Any, ...]],
    notes: list[tuple[Any, ...]],
    adjustments: list[dict[str, Any]],
) -> VisitDocument:
    expectation = row["expectation"]
    snapshot = row["snapshot"]
    capture = row["capture"]
    return VisitDocument(
        visit_id=row["visit_id"],
        op_id=row["op_id"],
        revision=row["revision"],
        status=row["status"],
        outcome=row["outcome"],
        corrects=row["corrects"],
        technician=row["technician"],
        started_at=as_utc(datetime.fromisoformat(row["started_at"])),
        ended_at=_time(row["ended_at"]),
        saved_at=as_utc(datetime.fromisoformat(row["saved_at"])),
        work_order=row["work_order_id"],
        account_number=row["account_number"],
        premise_id=row["premise_id"],
        meter_number=row["meter_number"],
        meter_serial=row["meter_serial"],
        read_result=row["read_result"],
        error=row["error"],
        error_kind=row["error_kind"],
        verdict=row["verdict"],
        expectation=None
        if expectation is None
        else ExpectationDoc.model_validate_json(expectation),
        snapshot=None if snapshot is None else SnapshotDoc.model_validate_json(snapshot),
        capture=None if capture is None else CaptureDocument.model_validate_json(capture),
        checks=[
            CheckResultDoc(
                id=c[0],
                status=c[1],
                message=c[2],
                measured=c[3],
                expected=c[4],
                likely_causes=json.loads(c[5]),
                values=json.loads(c[6]),
            )
            for c in checks
        ],
        notes=[
            NoteDoc(at=as_utc(datetime.fromisoformat(n[0])), technician=n[1], text=n[2])
            for n in notes
        ],
        adjustments=[_adjustment(a) for a in adjustments],
    )


def _adjustment(row: Mapping[str, Any]) -> AdjustmentDoc:
    before, after = row["before"], row["after"]
    return AdjustmentDoc(
        adjustment_id=row["adjustment_id"],
        kind=row["kind"],
        technician=row["technician"],
        started_at=as_utc(datetime.fromisoformat(row["started_at"])),
        finished_at=as_utc(datetime.fromisoformat(row["finished_at"])),
        result=row["result"],
        result_code=row["result_code"],
        result_message=row["result_message"],
        response=bytes.fromhex(row["response"]),
        error=row["error"],
        before=None if before is None else MeterStateDoc.model_validate_json(before),
        after=None if after is None else MeterStateDoc.model_validate_json(after),
        reference_time=_time(row["reference_time"]),
        clock_source=row["clock_source"],
        trust_system_clock=bool(row["trust_system_clock"]),
        lockout_override=row["lockout_override"],
        capture=None
        if row["capture"] is None
        else CaptureDocument.model_validate_json(row["capture"]),
    )


_SUMMARY = (
    "SELECT v.visit_id, v.status, v.outcome, v.started_at, v.ended_at, v.technician, "
    "v.work_order_id, v.meter_number, v.meter_serial, v.verdict, v.read_result, v.corrects, "
    "(SELECT count(*) FROM adjustments a WHERE a.visit_id = v.visit_id) FROM visits v"
)


def list_visits(
    db: Database, *, meter: str | None = None, since: datetime | None = None
) -> list[VisitSummaryDoc]:
    """Visits newest first; ``meter`` matches the meter number or serial, ``since`` the start."""
    where: list[str] = []
    params: list[Any] = []
    if meter is not None:
        where.append("(v.meter_number = ? OR v.meter_serial = ?)")
        params += [meter, meter]
    if since is not None:
        where.append("v.started_at >= ?")
        params.append(_iso(since))
    sql = _SUMMARY + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY v.started_at DESC, v.visit_id"
    try:
        rows = db.execute(sql, params).fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the visit log: {exc}") from exc
    return [
        VisitSummaryDoc(
            visit_id=r[0],
            status=r[1],
            outcome=r[2],
            started_at=as_utc(datetime.fromisoformat(r[3])),
            ended_at=_time(r[4]),
            technician=r[5],
            work_order=r[6],
            meter_number=r[7],
            meter_serial=r[8],
            verdict=r[9],
            read_result=r[10],
            corrects=r[11],
            adjustments=r[12],
        )
        for r in rows
    ]


def iter_visits(db: Database) -> Iterator[VisitDocument]:
    """Every visit, whole, oldest first (for export)."""
    try:
        ids = [r[0] for r in db.execute("SELECT visit_id FROM visits ORDER BY started_at")]
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the visit log: {exc}") from exc
    for visit_id in ids:
        visit = get(db, visit_id)
        if visit is not None:
            yield visit


def latest_open(
    db: Database,
    *,
    meter_serial: str | None,
    meter_number: str | None,
    within: timedelta,
    now: datetime | None = None,
) -> VisitDocument | None:
    """The newest open visit to this meter started within ``within`` of ``now``, or None."""
    if meter_serial is None and meter_number is None:
        return None
    since = _iso((now or datetime.now(UTC)) - within)
    row = db.execute(
        "SELECT visit_id FROM visits WHERE status = 'open' AND started_at >= ? "
        "AND ((? IS NOT NULL AND meter_serial = ?) OR (? IS NOT NULL AND meter_number = ?)) "
        "ORDER BY started_at DESC LIMIT 1",
        [since, meter_serial, meter_serial, meter_number, meter_number],
    ).fetchone()
    return None if row is None else get(db, row[0])


def last_adjustment(
    db: Database, kind: str, *, meter_serial: str | None, meter_number: str | None
) -> tuple[datetime, str] | None:
    """When this meter last had a ``kind`` adjustment done by this laptop, and in which visit."""
    if meter_serial is None and meter_number is None:
        return None
    row = db.execute(
        "SELECT finished_at, visit_id FROM adjustments WHERE kind = ? AND result = 'done' "
        "AND ((? IS NOT NULL AND meter_serial = ?) OR (? IS NOT NULL AND meter_number = ?)) "
        "ORDER BY finished_at DESC LIMIT 1",
        [kind, meter_serial, meter_serial, meter_number, meter_number],
    ).fetchone()
    if row is None:
        return None
    return as_utc(datetime.fromisoformat(row[0])), str(row[1])


# --- outbox and trusted time -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One operation waiting for the sync push (or already acknowledged)."""

    seq: int
    op_id: str
    kind: str
    entity_id: str
    body: str
    acked_at: datetime | None


def outbox_rows(db: Database) -> list[OutboxRow]:
    """Every outbox operation in the order it was written."""
    rows = db.execute(
        "SELECT seq, op_id, kind, entity_id, body, acked_at FROM outbox ORDER BY seq"
    ).fetchall()
    return [OutboxRow(r[0], r[1], r[2], r[3], r[4], _time(r[5])) for r in rows]


@dataclass(frozen=True, slots=True)
class TrustedTime:
    """A time the laptop obtained from a trusted source (the sync server), and its own clock
    at that moment: ``offset_seconds`` = laptop − trusted."""

    source: str
    trusted_time: datetime
    laptop_time: datetime
    offset_seconds: float


def record_trusted_time(
    db: Database, *, source: str, trusted_time: datetime, laptop_time: datetime
) -> TrustedTime:
    """Keep the newest trusted time (the sync client calls this after each server reply)."""
    record = TrustedTime(
        source=source,
        trusted_time=as_utc(trusted_time),
        laptop_time=as_utc(laptop_time),
        offset_seconds=(as_utc(laptop_time) - as_utc(trusted_time)).total_seconds(),
    )
    with write_transaction(db, "the trusted time"):
        db.table("trusted_time").upsert(
            {
                "id": 1,
                "source": record.source,
                "trusted_time": _iso(record.trusted_time),
                "laptop_time": _iso(record.laptop_time),
                "offset_seconds": record.offset_seconds,
            },
            pk="id",
        )
    return record


def last_trusted_time(db: Database) -> TrustedTime | None:
    """The newest trusted time the sync client recorded, or None."""
    row = db.execute(
        "SELECT source, trusted_time, laptop_time, offset_seconds FROM trusted_time WHERE id = 1"
    ).fetchone()
    if row is None:
        return None
    return TrustedTime(
        source=row[0],
        trusted_time=as_utc(datetime.fromisoformat(row[1])),
        laptop_time=as_utc(datetime.fromisoformat(row[2])),
        offset_seconds=float(row[3]),
    )
