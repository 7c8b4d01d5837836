"""Each visit's previous visit to its meter, kept in ``visit_repeats`` for the weekly report.

A visit is a repeat when its meter had another visit (by anyone) in the ``REPEAT_DAYS``
before it (``syncserver.services.reports``). Asked per visit, that is an index seek per
visit of the week, the bulk of the report's time at a million visits; the report instead
reads each visit's ``previous_at`` (the latest time of another visit to the meter strictly
before its own) from one range of ``ix_visit_repeats_report``, and applies the window
there, so the rows do not depend on ``REPEAT_DAYS``.

Ingest keeps the rows right with :func:`refresh`, in the push's transaction. A visit that
is written (new, or moved by a revision) changes its own row and, at each place it leaves
or takes — a meter and a time — the row of the meter's next visit after that time: an
out-of-order arrival becomes the previous visit of the visit after it; a revision that
moves a visit's time or meter hands the old neighbour's row to the visit before it and
takes the new neighbour's. Those next visits are found with one seek per place, and every
row concerned is recomputed with the statement a fill from scratch uses (:func:`fill`), so
what ingest keeps is what a fill gives.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Select,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from syncserver.db.models import UtcDateTime, Visit, VisitRepeat

__all__ = ["fill", "refresh"]


def _write(session: Session, which: ColumnElement[bool] | None) -> None:
    """Replace the rows of the visits ``which`` selects (every visit: None) with what the
    visits now say."""
    chosen = select(Visit.id)
    if which is not None:
        chosen = chosen.where(which)
    session.execute(delete(VisitRepeat).where(VisitRepeat.visit_pk.in_(chosen)))
    earlier = aliased(Visit)
    # MAX over ix_visits_meter_visited: one backward seek per visit, ties excluded.
    previous = (
        select(func.max(earlier.visited_at))
        .where(earlier.meter_id == Visit.meter_id, earlier.visited_at < Visit.visited_at)
        .scalar_subquery()
    )
    found = select(
        Visit.id.label("visit_pk"),
        Visit.technician_id,
        Visit.visited_at,
        previous.label("previous_at"),
    ).where(Visit.meter_id.is_not(None))
    if which is not None:
        found = found.where(which)
    rows = found.subquery()
    table = VisitRepeat.__table__
    assert isinstance(table, Table)
    session.execute(
        insert(table).from_select(
            ["visit_pk", "technician_id", "visited_at", "previous_at"],
            select(rows).where(rows.c.previous_at.is_not(None)),
        )
    )


def fill(session: Session) -> None:
    """Every visit's row from scratch (the benchmark's seeder: what ingest would have kept)."""
    _write(session, None)


def refresh(
    session: Session, visits: Collection[int], places: Collection[tuple[int, datetime]]
) -> None:
    """Bring the rows up to date after ``visits`` (primary keys) were written, where
    ``places`` are the (meter, time) each of them was at before the write, if it was
    stored, and is at now (visits without a meter have no place)."""
    if not visits:
        return
    changed = set(visits)
    if places:
        if session.get_bind().dialect.name == "postgresql":
            # Two pushes to one meter would each compute their rows without the other's
            # uncommitted visit; holding the meter until COMMIT makes the second one read
            # the first's (each statement sees what committed before it, READ COMMITTED).
            # Advisory locks, in meter order: no row lock another writer takes in its own
            # order (a CIS import updating meters) can deadlock with them.
            session.execute(
                text(
                    "SELECT pg_advisory_xact_lock(m) FROM "
                    "(SELECT unnest(:meters) AS m ORDER BY 1) AS ordered"
                ).bindparams(
                    bindparam("meters", sorted({m for m, _ in places}), type_=ARRAY(BigInteger()))
                )
            )
        changed.update(session.execute(_next_after(places)).scalars())
    _write(session, Visit.id.in_(sorted(changed)))


def _next_after(places: Collection[tuple[int, datetime]]) -> Select[int]:
    """The visits whose previous visit a write at ``places`` may change: at each place, the
    meter's visits at its next time after it (one seek each, however many visits the meter
    has had since)."""
    rows = [
        select(literal(meter, BigInteger()).label("meter"), literal(at, UtcDateTime()).label("at"))
        for meter, at in sorted(places)
    ]
    place = (rows[0] if len(rows) == 1 else union_all(*rows)).subquery("place")
    following, later = aliased(Visit), aliased(Visit)
    next_time = (
        select(func.min(later.visited_at))
        .where(later.meter_id == place.c.meter, later.visited_at > place.c.at)
        .scalar_subquery()
    )
    return (
        select(following.id)
        .join(place, following.meter_id == place.c.meter)
        .where(following.visited_at == next_time)
    )
