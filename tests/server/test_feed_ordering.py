"""The feed cursor never skips a row that commits late (PostgreSQL, two concurrent writers).

On PostgreSQL a sequence value is taken when a row is written, not when it commits, so a
naive "rows after my cursor" feed can show row 6 before row 5 is committed; the reader moves
its cursor past 5 and never sees it. The server orders each technician's feed by a row lock
on the technician's feed head, taken just before COMMIT (``services/journal.py``).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from syncserver.db.engine import Database
from syncserver.db.migrate import upgrade
from syncserver.db.models import FeedRow, User, WorkOrder
from syncserver.services.journal import Actor, unit_of_work
from syncserver.services.sync import pull
from syncserver.services.users import Principal

from .conftest import EXAMPLES, PostgresServer, add_user, import_file


@pytest.fixture
def pg(postgres: PostgresServer) -> Iterator[Database]:
    name = f"feed_{time.monotonic_ns()}"
    postgres.admin(f"CREATE DATABASE {name} TEMPLATE fk_template")
    database = Database(postgres.url(name))
    upgrade(database)
    add_user(database, "demo-tech", "technician")
    import_file(database, EXAMPLES / "cis-accounts.csv", "accounts")
    yield database
    database.dispose()


def _setup(database: Database) -> tuple[int, list[int]]:
    with database.read() as session:
        technician = session.execute(select(User.id).where(User.name == "demo-tech")).scalar_one()
    import_file(database, EXAMPLES / "cis-work-orders.csv", "work_orders")
    with database.read() as session:
        orders = list(session.execute(select(WorkOrder.id).order_by(WorkOrder.id)).scalars())
    return technician, orders


def test_a_late_commit_is_not_skipped_by_the_pull_cursor(pg: Database) -> None:
    technician, orders = _setup(pg)
    device = Principal(technician, "demo-tech", "technician", device_pk=1, device_id="dev_x")
    cursor = pull(pg, device, 0, 500).cursor  # the imported orders
    held, release, b_done = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer_a() -> None:  # writes its feed row first, commits last
        try:
            with unit_of_work(pg, Actor("cli", "a")) as work:
                work.feed(technician, orders[0], "upsert")
                work.flush()
                held.set()
                release.wait(10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def writer_b() -> None:  # starts after A, would commit first
        try:
            with unit_of_work(pg, Actor("cli", "b")) as work:
                work.feed(technician, orders[1], "remove", "reassigned")
            b_done.set()
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    a = threading.Thread(target=writer_a)
    a.start()
    assert held.wait(10)
    b = threading.Thread(target=writer_b)
    b.start()
    time.sleep(0.5)
    seen: list[str] = []
    page = pull(pg, device, cursor, 500)  # while A is uncommitted (and B waits or is done)
    seen += [w.work_order_id for w in page.work_orders] + [r.id for r in page.removals]
    cursor = page.cursor
    release.set()
    a.join(10)
    b.join(10)
    assert not errors
    assert b_done.is_set()
    page = pull(pg, device, cursor, 500)
    seen += [w.work_order_id for w in page.work_orders] + [r.id for r in page.removals]
    with pg.read() as session:
        ids = dict(session.execute(select(WorkOrder.id, WorkOrder.work_order_id)).all())
    # Both changes reached the reader: the late commit was not skipped.
    assert sorted(seen) == sorted([ids[orders[0]], ids[orders[1]]])


def test_two_concurrent_writers_never_leave_a_hole_behind_the_cursor(pg: Database) -> None:
    technician, orders = _setup(pg)
    with pg.read() as session:
        start = len(session.execute(select(FeedRow.seq)).all())
    per_writer = 25
    stop = threading.Event()
    errors: list[BaseException] = []
    observed: list[int] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(per_writer):
                with unit_of_work(pg, Actor("cli", f"w{seed}")) as work:
                    work.feed(technician, rng.choice(orders), "upsert")
                    time.sleep(rng.uniform(0, 0.004))  # work before the flush
                # (the flush and COMMIT run as the block ends)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    def reader() -> None:
        cursor = start
        while True:
            finished = stop.is_set()
            with pg.read() as session:
                rows = (
                    session.execute(
                        select(FeedRow.seq)
                        .where(FeedRow.technician_id == technician, FeedRow.seq > cursor)
                        .order_by(FeedRow.seq)
                    )
                    .scalars()
                    .all()
                )
            observed.extend(rows)
            if rows:
                cursor = rows[-1]
            if finished:
                return

    threads = [threading.Thread(target=writer, args=(n,)) for n in (1, 2)]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    stop.set()
    watcher.join(60)
    assert not errors
    # Every row the writers committed was seen once, in order, none skipped.
    assert observed == list(range(start + 1, start + 2 * per_writer + 1))
