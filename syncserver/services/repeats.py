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
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    DateTime,
    Delete,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    select,
    text,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from syncserver.db.models import UtcDateTime, Visit, VisitRepeat

__all__ = ["fill", "refresh"]


COLUMNS = ["visit_pk", "technician_id", "visited_at", "previous_at"]


def _rows(which: ColumnElement[bool] | None) -> Select[Any]:
    """The rows the visits ``which`` selects (every visit: None) should have."""
    earlier = aliased(Visit)
    # One backward seek of ix_visits_meter_visited per visit, ties excluded. ORDER BY …
    # LIMIT 1 rather than MAX: without statistics (a new table, between two ANALYZEs)
    # PostgreSQL read a MAX through ix_visits_meter_id, every visit of the meter.
    previous = (
        select(earlier.visited_at)
        .where(earlier.meter_id == Visit.meter_id, earlier.visited_at < Visit.visited_at)
        .order_by(earlier.visited_at.desc())
        .limit(1)
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
    return select(rows).where(rows.c.previous_at.is_not(None))


def _table() -> Table:
    table = VisitRepeat.__table__
    assert isinstance(table, Table)
    return table


def _delete(which: ColumnElement[bool] | None) -> Delete:
    chosen = select(Visit.id)
    if which is not None:
        chosen = chosen.where(which)
    return delete(_table()).where(_table().c.visit_pk.in_(chosen))


def _insert(dialect: str, which: ColumnElement[bool] | None) -> Any:
    # DO NOTHING: two places can share their next visit, and a next visit can be one of
    # the written ones; every copy of a row is computed from the same visits.
    make_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return make_insert(_table()).from_select(COLUMNS, _rows(which)).on_conflict_do_nothing()


def _next_after_places(dialect: str) -> ColumnElement[bool]:
    """The meters' visits at their next time after each place: one seek per place, however
    many visits the meter has had since. SQLite runs it once per place (``:meter`` and
    ``:at``, executemany: one prepared statement); PostgreSQL once for them all
    (``:meters`` and ``:ats``, arrays), as it would plan the statement again for each
    execution."""
    following, later = aliased(Visit), aliased(Visit)
    if dialect != "postgresql":
        meter = bindparam("meter", type_=BigInteger())
        next_time = (
            select(func.min(later.visited_at))
            .where(later.meter_id == meter, later.visited_at > bindparam("at", type_=UtcDateTime()))
            .scalar_subquery()
        )
        return Visit.id.in_(
            select(following.id).where(
                following.meter_id == meter, following.visited_at == next_time
            )
        )
    place = (
        func.unnest(
            bindparam("meters", type_=ARRAY(BigInteger())),
            bindparam("ats", type_=ARRAY(DateTime(timezone=True))),
        )
        .table_valued("meter", "at")
        .render_derived(name="place")
    )
    # LATERAL: the next time is found per place first, then its visits by
    # ix_visits_meter_visited; as a condition on the visits instead, it was evaluated for
    # every (place, visit) pair of a hash join over the whole table.
    after = (
        select(later.visited_at.label("at"))
        .where(later.meter_id == place.c.meter, later.visited_at > place.c.at)
        .order_by(later.visited_at)
        .limit(1)
        .lateral("next_time")
    )
    return Visit.id.in_(
        select(following.id)
        .select_from(place)
        .join(after, true())
        .join(
            following,
            and_(following.meter_id == place.c.meter, following.visited_at == after.c.at),
        )
    )


@dataclass(frozen=True, slots=True)
class _Statements:
    """Built once per engine: building them costs more than running them for a push."""

    delete_all: Delete
    insert_all: Any
    delete_written: Delete
    """Bound with ``visits``, a list of visit primary keys."""
    insert_written: Any
    delete_next: Delete
    """Bound with the places (:func:`_next_after_places`)."""
    insert_next: Any
    newest_written: Select[int | None, datetime]
    """Bound with ``visits``: the (meter, time) of those that are their meter's latest."""


def _newest(written: ColumnElement[bool]) -> Select[int | None, datetime]:
    # The time compared in SQL, as the next-visit seek compares it (SQLite: as text).
    later = aliased(Visit)
    return select(Visit.meter_id, Visit.visited_at).where(
        written,
        Visit.meter_id.is_not(None),
        ~exists().where(later.meter_id == Visit.meter_id, later.visited_at > Visit.visited_at),
    )


@cache
def _statements(dialect: str) -> _Statements:
    written = Visit.id.in_(bindparam("visits", expanding=True))
    following = _next_after_places(dialect)
    return _Statements(
        _delete(None),
        _insert(dialect, None),
        _delete(written),
        _insert(dialect, written),
        _delete(following),
        _insert(dialect, following),
        _newest(written),
    )


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def fill(session: Session) -> None:
    """Every visit's row from scratch (the benchmark's seeder: what ingest would have kept)."""
    statements = _statements(_dialect(session))
    session.execute(statements.delete_all)
    session.execute(statements.insert_all)


def refresh(
    session: Session, visits: Collection[int], places: Collection[tuple[int, datetime]]
) -> None:
    """Bring the rows up to date after ``visits`` (primary keys) were written, where
    ``places`` are the (meter, time) each of them was at before the write, if it was
    stored, and is at now (visits without a meter have no place)."""
    if not visits:
        return
    dialect = _dialect(session)
    statements = _statements(dialect)
    ordered = sorted(places)
    if dialect == "postgresql":
        # psycopg prepares a statement run five times, and PostgreSQL then plans it once
        # for any arrays: that generic plan read the meter's visits whole for every place.
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    if ordered and dialect == "postgresql":
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
                bindparam("meters", sorted({m for m, _ in ordered}), type_=ARRAY(BigInteger()))
            )
        )
    written = {"visits": sorted(visits)}
    if ordered:
        # A place where one of the written visits now is, the latest of its meter, has no
        # next visit to refresh: the usual push (a laptop's visits in order, new meters
        # mostly) is then these few statements for the whole batch, not two per visit. The
        # meters are held first (PostgreSQL), so a later visit another push committed is
        # seen here as the seek below would see it.
        latest = {(m, at) for m, at in session.execute(statements.newest_written, written)}
        ordered = [p for p in ordered if p not in latest]
    at_places: dict[str, list[Any]] | list[dict[str, Any]]
    if dialect == "postgresql":
        at_places = {"meters": [m for m, _ in ordered], "ats": [at for _, at in ordered]}
    else:
        at_places = [{"meter": m, "at": at} for m, at in ordered]
    session.execute(statements.delete_written, written)
    if ordered:
        session.execute(statements.delete_next, at_places)
    session.execute(statements.insert_written, written)
    if ordered:
        session.execute(statements.insert_next, at_places)
