"""The laptop's sync client against a real uvicorn server on 127.0.0.1 (SQLite)."""

from __future__ import annotations

import random
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from fieldkit.sync.client import (
    Credentials,
    PendingOp,
    Rejection,
    SyncClient,
    SyncError,
    enroll,
)
from fieldkit.sync.schema import SyncPullDocument
from syncserver.core.config import Settings
from syncserver.main import create_app

from .conftest import Seed, enroll_code, visit


@dataclass
class MemoryTokens:
    saved: Credentials | None = None

    def save(self, credentials: Credentials) -> None:
        self.saved = credentials

    def load(self) -> Credentials | None:
        return self.saved


@dataclass
class MemoryOutbox:
    ops: list[PendingOp]
    acked: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    marks: int = 0

    def _done(self) -> set[str]:
        return set(self.acked) | {r.op_id for r in self.rejected}

    def pending(self, limit: int) -> list[PendingOp]:
        done = self._done()
        return [op for op in self.ops if op.op_id not in done][:limit]

    def mark(self, acknowledged: Any, rejected: Any) -> None:
        self.marks += 1
        self.acked.extend(acknowledged)
        self.rejected.extend(rejected)

    def count_pending(self) -> int:
        return len(self.pending(10**9))


@dataclass
class MemoryFeed:
    orders: dict[str, Any] = field(default_factory=dict)
    saved_cursor: int = 0
    resets: int = 0

    def cursor(self) -> int:
        return self.saved_cursor

    def apply(self, page: SyncPullDocument) -> None:
        for order in page.work_orders:
            self.orders[order.work_order_id] = order
        for removal in page.removals:
            self.orders.pop(removal.id, None)
        self.saved_cursor = page.cursor

    def reset(self) -> None:
        self.resets += 1
        self.orders.clear()
        self.saved_cursor = 0


@dataclass
class Served:
    url: str
    app: Any
    seed: Seed

    def count_visits(self) -> int:
        from sqlalchemy import text

        with self.app.state.database.read() as session:
            return int(session.execute(text("SELECT count(*) FROM visits")).scalar_one())


@pytest.fixture
def served(sqlite_seed: Seed, tmp_path: Path) -> Iterator[Served]:
    db = tmp_path / "served.db"
    shutil.copyfile(sqlite_seed.source, db)
    app = create_app(Settings(db=str(db), push_helpers=0))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline
        assert thread.is_alive()
        time.sleep(0.02)
    yield Served(f"http://127.0.0.1:{port}", app, sqlite_seed)
    server.should_exit = True
    thread.join(20)


class Faults(httpx.BaseTransport):
    """A real HTTP transport that fails on cue: before sending, or after the server answered."""

    def __init__(self, plan: list[str | None]) -> None:
        self.inner = httpx.HTTPTransport()
        self.plan = plan
        self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        fault = self.plan.pop(0) if self.plan else None
        if fault == "refuse":
            raise httpx.ConnectError("refused", request=request)
        response = self.inner.handle_request(request)
        self.sent += 1
        if fault == "lose_answer":
            response.read()
            response.close()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        if fault == "503":
            response.close()
            return httpx.Response(503, headers={"Retry-After": "0.25"}, request=request)
        return response


def credentials(served: Served, technician: str = "demo-tech") -> Credentials:
    device, token = served.seed.devices[technician]
    return Credentials(served.url, device, token, technician)


def outbox(n: int, prefix: str = "op") -> MemoryOutbox:
    return MemoryOutbox(
        [PendingOp(f"{prefix}-{i}", "visit", visit(f"{prefix}-visit-{i}")) for i in range(n)]
    )


def test_enrol_then_sync_pushes_everything_and_pulls_the_orders(served: Served) -> None:
    from syncserver.db.engine import Database

    database = Database(served.app.state.settings.db)
    code = enroll_code(database, "demo-tech")
    database.dispose()
    tokens = MemoryTokens()
    got = enroll(served.url, code, "field laptop 7", tokens)
    assert tokens.saved == got
    assert got.technician == "demo-tech"
    assert got.token not in repr(got)
    with pytest.raises(SyncError, match="unknown, used or expired"):
        enroll(served.url, code, "again", MemoryTokens())
    box, feed = outbox(230), MemoryFeed()
    sleeps: list[float] = []
    with SyncClient(got, max_body_bytes=15_000, sleep=sleeps.append) as client:
        result = client.sync(box, feed)
    assert result.ok, result.error
    assert (result.acknowledged, result.pending, result.rejected) == (230, 0, [])
    assert result.batches > 3  # split by size as well as by count
    assert served.count_visits() == 230
    assert len(feed.orders) == 14
    assert feed.saved_cursor == result.cursor
    assert feed.orders["WO-2026-10404"].meter_number == "M2S-0012345"
    assert result.trusted_time is not None
    assert abs(result.trusted_time.offset_seconds) < 5
    assert sleeps == []
    with SyncClient(got) as client:
        again = client.sync(box, feed)
    assert (again.acknowledged, again.batches, again.work_orders) == (0, 0, 0)


def test_lost_answers_and_refusals_are_retried_and_nothing_is_doubled(served: Served) -> None:
    faults = Faults(["refuse", "lose_answer", None, "503", "lose_answer"])
    sleeps: list[float] = []
    box = outbox(120)
    client = SyncClient(
        credentials(served),
        http=httpx.Client(transport=faults),
        max_ops=50,
        sleep=sleeps.append,
        rng=random.Random(7),
        backoff_base=1.0,
    )
    result = client.sync(box, MemoryFeed())
    assert result.ok, result.error
    assert result.acknowledged == 120
    assert result.pending == 0
    assert result.duplicates >= 50  # the batch whose answer was lost came back as duplicates
    assert served.count_visits() == 120
    assert sorted(box.acked) == sorted(op.op_id for op in box.ops)
    # Full jitter within the bound, and the server's Retry-After honoured.
    assert len(sleeps) == 4
    assert 0.25 in sleeps
    assert all(0 <= s <= 2**n for n, s in enumerate(sleeps))


def test_back_off_is_bounded_and_the_queue_kept_when_the_server_is_away(served: Served) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    sleeps: list[float] = []
    away = Credentials(closed, "dev_x", "fk_dev_x", "demo-tech")
    box = outbox(3)
    result = SyncClient(
        away, max_attempts=4, backoff_base=0.5, backoff_cap=1.0, sleep=sleeps.append
    ).sync(box, MemoryFeed())
    assert result.error is not None
    assert "gave up after 4 attempts" in result.error
    assert result.pending == 3
    assert box.acked == []
    assert len(sleeps) == 3
    assert all(0 <= s <= 1.0 for s in sleeps)


def test_an_interrupted_sync_resumes_where_it_stopped(served: Served) -> None:
    box = outbox(90)
    broken = Faults([None, "refuse"])
    first = SyncClient(
        credentials(served), http=httpx.Client(transport=broken), max_ops=30, max_attempts=1
    ).sync(box, MemoryFeed())
    assert first.error is not None
    assert first.acknowledged == 30
    assert first.pending == 60
    second = SyncClient(credentials(served), max_ops=30).sync(box, MemoryFeed())
    assert second.ok
    assert second.acknowledged == 60
    assert second.duplicates == 0
    assert served.count_visits() == 90


def test_rejections_are_reported_and_do_not_block(served: Served) -> None:
    box = MemoryOutbox(
        [
            PendingOp("a", "visit", visit("va")),
            PendingOp("b", "visit", {"document": "visit"}),  # no visit id: never valid
            PendingOp("c", "visit", visit("vc", "WO-2026-10401")),
        ]
    )
    result = SyncClient(credentials(served)).sync(box, MemoryFeed())
    assert result.ok
    assert result.acknowledged == 2
    assert [(r.op_id, r.code) for r in result.rejected] == [("b", "invalid_document")]
    assert box.rejected[0].reason is not None
    assert "visit_id" in box.rejected[0].reason
    assert result.pending == 0


def test_a_revoked_device_stops_with_a_clear_line_and_keeps_its_queue(served: Served) -> None:
    from syncserver.services.journal import Actor, unit_of_work
    from syncserver.services.users import revoke_device

    creds = credentials(served, "bob")
    with unit_of_work(served.app.state.database, Actor("cli", "test")) as work:
        revoke_device(work, creds.device_id)
    box = outbox(2)
    result = SyncClient(creds).sync(box, MemoryFeed())
    assert result.error is not None
    assert "enrol again" in result.error
    assert result.pending == 2
    assert result.attempts == 1


def test_the_servers_clock_is_kept_and_a_restored_feed_restarts(served: Served) -> None:
    fast = lambda: datetime.now(UTC) + timedelta(minutes=10)  # noqa: E731
    feed = MemoryFeed(saved_cursor=10_000)  # the server was restored behind this laptop
    result = SyncClient(credentials(served), clock=fast).sync(outbox(0), feed)
    assert result.ok, result.error
    assert feed.resets == 1
    assert len(feed.orders) == 14
    assert result.trusted_time is not None
    assert 595 < result.trusted_time.offset_seconds < 605
