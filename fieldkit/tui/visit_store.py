"""The app's :class:`~fieldkit.tui.services.FieldStore` on the laptop's real visit log.

:class:`VisitLogStore` reads work orders from the laptop database and saves each closed
visit with :func:`fieldkit.store.visits.save`: the visit's rows and its outbox row in one
transaction, so the id it returns is the id of a committed visit (the close screen says
"saved" only then). The previous visits of a meter and the sync items (outbox rows not yet
acknowledged by the office) come from the same database.

The sync keeps the ops the office refused in the outbox with its code and reason
(:mod:`fieldkit.sync.laptop`): they are listed as rejected, with that reason.

One connection per call (SQLite's one-thread-per-connection rule; the app calls from thread
workers). Nothing here imports Textual.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast, get_args

from fieldkit.model import CheckStatus, WorkOrder, as_utc
from fieldkit.tui.services import (
    Adjustment,
    DatabaseWorkOrders,
    ServiceError,
    SyncItem,
    VisitRecord,
    VisitSummary,
)

if TYPE_CHECKING:
    from fieldkit.sync.schema import AdjustmentDoc, AdjustmentKind, VisitDocument

__all__ = ["PREVIOUS_VISITS_SHOWN", "VisitLogStore", "visit_document_of"]

# The site screen lists this many of a meter's visits (newest first).
PREVIOUS_VISITS_SHOWN = 20


class VisitLogStore(DatabaseWorkOrders):
    """Work orders and the visit log with its outbox, in the laptop database at ``path``.

    ``path`` None: the database in ``FIELDKIT_HOME``. ``technician`` None: the settings'
    technician (``FIELDKIT_TECHNICIAN``, ``config.toml``, the login name), read at each save.
    """

    def __init__(self, path: Path | None = None, *, technician: str | None = None) -> None:
        super().__init__(path)
        self._technician = technician

    # --- visits -------------------------------------------------------------------------

    def _who(self) -> str:
        if self._technician is not None:
            return self._technician
        from fieldkit.config import ConfigError, load_settings, technician

        try:
            return technician(load_settings())
        except ConfigError as exc:
            raise ServiceError(str(exc)) from exc

    def save_visit(self, visit: VisitRecord) -> str:
        """Save the visit and its outbox row in one transaction; the id, after COMMIT."""
        from fieldkit import store
        from fieldkit.store import visits

        who = self._who()
        try:
            with store.database(self._path) as db:
                order = None if visit.work_order_id is None else store.get(db, visit.work_order_id)
                saved = visits.save(db, visit_document_of(visit, technician=who, order=order))
        except (store.StoreError, ValueError) as exc:
            raise ServiceError(str(exc)) from exc
        return saved.visit_id

    def previous_visits(self, meter_number: str) -> list[VisitSummary]:
        """Visits saved for this meter (number or serial), newest first."""
        from fieldkit import store
        from fieldkit.store import visits

        wanted = meter_number.strip()
        try:
            with store.database(self._path) as db:
                found = visits.list_visits(db, meter=wanted)[:PREVIOUS_VISITS_SHOWN]
                if not found and wanted.upper() != wanted:
                    found = visits.list_visits(db, meter=wanted.upper())[:PREVIOUS_VISITS_SHOWN]
                notes = {v.visit_id: _notes_of(db, v.visit_id) for v in found}
        except store.StoreError as exc:
            raise ServiceError(str(exc)) from exc
        return [
            VisitSummary(
                visit_id=v.visit_id,
                meter_number=v.meter_number or v.meter_serial or wanted,
                work_order_id=v.work_order,
                closed_at=v.ended_at or v.started_at,
                outcome=v.outcome,
                verdict=None if v.verdict is None else CheckStatus(v.verdict),
                notes=notes[v.visit_id],
            )
            for v in found
        ]

    def sync_items(self) -> list[SyncItem]:
        """Outbox ops the office has not taken: pending first, then rejected (with why)."""
        from fieldkit import store

        try:
            with store.database(self._path) as db:
                rows = db.execute(
                    "SELECT op_id, kind, entity_id, body, rejected_at, reject_code, reject_reason "
                    "FROM outbox WHERE acked_at IS NULL ORDER BY rejected_at IS NOT NULL, seq"
                ).fetchall()
        except Exception as exc:  # sqlite3.Error or the store's own
            raise ServiceError(f"cannot read the outbox: {exc}") from exc
        items: list[SyncItem] = []
        for op_id, kind, entity_id, body, rejected_at, code, reason in rows:
            summary = _op_summary(str(kind), str(entity_id), str(body))
            if rejected_at is None:
                items.append(SyncItem(str(op_id), summary, "pending"))
            else:
                why = ": ".join(str(part) for part in (code, reason) if part) or "refused"
                items.append(SyncItem(str(op_id), summary, "rejected", why))
        return items


def _notes_of(db: Any, visit_id: str) -> str:
    rows = db.execute(
        "SELECT text FROM visit_notes WHERE visit_id = ? ORDER BY position", [visit_id]
    ).fetchall()
    return " · ".join(str(r[0]) for r in rows)


def _op_summary(kind: str, entity_id: str, body: str) -> str:
    """One line naming an outbox op, as the Sync screen lists it."""
    try:
        doc: dict[str, Any] = json.loads(body)
    except ValueError:
        return f"{kind} {entity_id[:8]}"
    if kind != "visit":
        return f"{kind} {doc.get('work_order') or entity_id[:8]}"
    order = doc.get("work_order") or "ad-hoc"
    meter = doc.get("meter_number") or doc.get("meter_serial") or "?"
    status = str(doc.get("outcome") or doc.get("status") or "").replace("_", " ")
    revision = doc.get("revision", 1)
    again = f" (revision {revision})" if isinstance(revision, int) and revision > 1 else ""
    return f"visit {order} at meter {meter}: {status}{again}"


def _adjustment_doc(adjustment: Adjustment, technician: str) -> AdjustmentDoc:
    from fieldkit.store.visits import new_id
    from fieldkit.sync.schema import AdjustmentDoc, AdjustmentKind

    if adjustment.procedure not in get_args(AdjustmentKind):
        raise ServiceError(f"unknown adjustment {adjustment.procedure!r}: nothing was saved")
    return AdjustmentDoc(
        adjustment_id=new_id(),
        kind=cast("AdjustmentKind", adjustment.procedure),
        technician=technician,
        started_at=adjustment.at,
        finished_at=adjustment.at,
        result="done" if adjustment.ok else "failed",
        result_message=adjustment.message,
        error=None if adjustment.ok else adjustment.message,
    )


def visit_document_of(
    visit: VisitRecord, *, technician: str, order: WorkOrder | None
) -> VisitDocument:
    """The visit log's document for a visit the app closed (final, with its outcome)."""
    from fieldkit.store.visits import new_id
    from fieldkit.sync.schema import ExpectationDoc, NoteDoc, VisitDocument
    from fieldkit.visit import visit_document

    closed = as_utc(visit.closed_at)
    notes = [visit.notes] if visit.notes.strip() else []
    adjustments = [_adjustment_doc(a, technician) for a in visit.adjustments]
    if visit.result is not None:
        doc = visit_document(
            visit.result,
            technician=technician,
            order=order,
            outcome=visit.outcome,
            notes=notes,
            now=closed,
        )
        return doc.model_copy(
            update={
                "started_at": as_utc(visit.started_at),
                "work_order": visit.work_order_id,
                "meter_number": visit.meter_number,
                "adjustments": adjustments,
            }
        )
    expectation = None if order is None else ExpectationDoc.from_model(order.expectation())
    return VisitDocument(
        visit_id=new_id(),
        op_id=new_id(),
        revision=1,
        status="final" if visit.outcome is not None else "open",
        outcome=visit.outcome,
        technician=technician,
        started_at=as_utc(visit.started_at),
        ended_at=closed,
        saved_at=closed,
        work_order=visit.work_order_id,
        account_number=None if order is None else order.account_number,
        premise_id=None if order is None else order.premise_id,
        meter_number=visit.meter_number,
        meter_serial=None if order is None else order.meter_serial,
        expectation=expectation,
        notes=[NoteDoc(at=closed, technician=technician, text=t) for t in notes],
        adjustments=adjustments,
    )
