"""Two devices pushing visits to one meter at the same moment, on PostgreSQL (several
workers share one database there): each visit's previous visit is still the one before."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from syncserver.db.models import Visit, VisitRepeat
from tests.server.conftest import World, op, visit

ROUNDS = 30


# SQLite writes one transaction at a time: only PostgreSQL can interleave two pushes.
@pytest.mark.parametrize("world", ["postgresql"], indirect=True)
def test_concurrent_pushes_to_one_meter_keep_every_previous_visit(world: World) -> None:
    start = datetime(2026, 9, 1, 9, tzinfo=UTC)
    barrier = threading.Barrier(2)
    failures: list[str] = []

    def pushes(headers: dict[str, str], device: str, name: str, offset: int) -> None:
        barrier.wait()
        for i in range(ROUNDS):
            at = start + timedelta(days=2 * i + offset)
            document = visit(f"{name}{i}", None, op_id=f"{name}{i}", started_at=at.isoformat())
            answer = world.push(headers, device, [op(f"{name}{i}", document)])
            if answer.json()["results"][0]["status"] != "applied":
                failures.append(answer.text)

    threads = [
        threading.Thread(target=pushes, args=(world.tech, world.tech_device, "t", 0)),
        threading.Thread(target=pushes, args=(world.bob, world.bob_device, "b", 1)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with world.database.read() as session:
        rows = session.execute(
            select(Visit.visit_id, Visit.visited_at, VisitRepeat.previous_at)
            .outerjoin(VisitRepeat, VisitRepeat.visit_pk == Visit.id)
            .order_by(Visit.visited_at)
        ).all()
    assert len(rows) == 2 * ROUNDS
    expected = [None, *(r[1] for r in rows[:-1])]
    assert [(r[0], r[2]) for r in rows] == [(r[0], e) for r, e in zip(rows, expected, strict=True)]
