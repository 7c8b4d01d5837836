"""A Hypothesis state machine over the real laptop client and the real server.

Two laptops (demo-tech's and bob's: each its own fieldkit database, the real store, outbox
and :func:`~fieldkit.sync.laptop.sync_database`) and the server's FastAPI app, in process:
the laptops talk HTTP to it through starlette's test transport (a subprocess per example
would cost seconds; the HTTP, the app and the database are the real ones), wrapped in a
transport that can cut the request before it reaches the app or lose the answer after the
app committed. Hypothesis interleaves: save a visit, note or close one, sync (clean, request
cut, answer lost; whole batches or one op a batch; the outbox in its order or newest first),
an op the server must reject, an office reassign or cancel of a work order (feed removals),
and a server restart (a new app on the same database).

Newest first: the laptop's outbox is always served oldest first, so a real laptop never
sends an older revision of a visit after a newer one; the server still promises to answer
such a late revision ``applied`` with flag ``superseded`` and keep the newer one
(``docs/server.md``). The machine pushes through a newest-first view of the real outbox
(the real client, the real acknowledgements) to hold the server to that, within one batch
and across batches.

The model: every push that reached the app (its answer delivered or lost) is replayed on a
model of the server: a new op of a visit moves the visit to its revision unless the server
holds a newer one, in which case its answer must carry ``superseded``; a re-sent op gets its
first answer again. Invariants after every step: the server holds exactly the model's visits,
each at the model's revision and with the laptop's document of that revision (nothing lost,
nothing stale, nothing the laptops did not send); no visit, create or revision twice; nothing
a laptop saved is lost on the laptop; every op a laptop marked acknowledged is on the server,
and a visit whose ops are all acknowledged is on the server at its latest revision; only the
planted bad ops are ever rejected. After every clean sync: each answer's ``superseded`` flag
is the model's, nothing is pending (a rejected op never blocks the queue), and the laptop's
work orders are the server's feed for that technician read from the start, with no order the
office moved away or cancelled.

SQLite and PostgreSQL (a database per example, from a template). ``FIELDKIT_SYNC_MACHINE_EXAMPLES``
sets the examples per engine (3 by default) and ``FIELDKIT_SYNC_MACHINE_STEPS`` their steps
(15): each app start runs the Alembic check, so an example costs seconds; ``make
reliability`` runs more. The test prints how many pushes went newest first and how many
``superseded`` answers came back.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sqlite_utils import Database

from fieldkit.model import MeterIdentity, MeterSnapshot
from fieldkit.store import visits as log
from fieldkit.store.db import close_database, open_database, write_transaction
from fieldkit.sync.client import Credentials, PendingOp, Rejection, SyncClient, SyncResult
from fieldkit.sync.laptop import LaptopFeed, LaptopOutbox, LaptopTokens, SyncError, sync_database
from fieldkit.sync.schema import MAX_PUSH_OPS, NoteDoc
from fieldkit.visit import judge, visit_document
from syncserver.core.config import Settings
from syncserver.main import create_app
from tests.reliability.test_sync_faults import ORDER, MemoryVault, server_rows
from tests.server.conftest import (  # noqa: F401 - fixtures: the PostgreSQL world
    PostgresServer,
    Seed,
    _names,
    _populate,
    postgres,
    postgres_seed,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

EXAMPLES = int(os.environ.get("FIELDKIT_SYNC_MACHINE_EXAMPLES", "3"))
STEPS = int(os.environ.get("FIELDKIT_SYNC_MACHINE_STEPS", "15"))
BASE = "http://testserver"
ORDERS = ("WO-2026-10401", "WO-2026-10404", "WO-2026-10405", "WO-2026-10410")
TECHS = ("demo-tech", "bob")
FAULTS = ("pass", "cut_request", "cut_response")
ORDERINGS = ("outbox", "newest_first")
BATCHES = (MAX_PUSH_OPS, 1)


class FaultyTransport(httpx.BaseTransport):
    """The app's transport, with the next request's fault set by the test; it keeps the
    op ids of every push the app received (answered or not), in the order sent."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.fault = "pass"
        self.delivered: list[list[str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        fault, self.fault = self.fault, "pass"
        if fault == "cut_request":
            raise httpx.WriteError("the request was cut", request=request)
        if request.url.path.endswith("/sync/push"):
            self.delivered.append([op["op_id"] for op in json.loads(request.read())["ops"]])
        response = self.inner.handle_request(request)
        if fault == "cut_response":
            response.read()  # the app has committed and answered: the laptop never hears
            raise httpx.ReadError("the answer was lost", request=request)
        return response


class NewestFirst:
    """The laptop's real outbox served newest op first (a real laptop never does: this is
    how the machine sends an older revision after a newer one); answers are recorded by
    the real outbox."""

    def __init__(self, inner: LaptopOutbox) -> None:
        self.inner = inner

    def pending(self, limit: int) -> Sequence[PendingOp]:
        return list(reversed(self.inner.pending(1_000_000)))[:limit]

    def mark(self, acknowledged: Sequence[str], rejected: Sequence[Rejection]) -> None:
        self.inner.mark(acknowledged, rejected)

    def count_pending(self) -> int:
        return self.inner.count_pending()


@dataclass
class Laptop:
    technician: str
    db: Database
    tokens: LaptopTokens
    saved: dict[str, int] = field(default_factory=dict)  # visit id -> latest revision
    open: list[str] = field(default_factory=list)
    planted: set[str] = field(default_factory=set)  # op ids the server must reject


@dataclass(frozen=True)
class Engine:
    """Where each example's server database comes from, and how it goes."""

    seed: Seed
    new_db: Callable[[], str]
    drop: Callable[[str], None]


_engine: dict[str, Engine] = {}
SEEN: Counter[str] = Counter()  # what the machine explored, over the whole test


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The example world (users, CIS data, one device each for demo-tech and bob), once per
    engine; each example gets a copy (a file, or a database from the seed as template)."""
    if request.param == "sqlite":
        seed = _populate(str(tmp_path_factory.mktemp("machine") / "seed.db"))
        folder = tmp_path_factory.mktemp("machine-dbs")

        def new_sqlite() -> str:
            db = str(folder / f"server-{next(_names)}.db")
            shutil.copyfile(seed.source, db)
            return db

        _engine["now"] = Engine(seed, new_sqlite, lambda db: Path(db).unlink(missing_ok=True))
    else:
        seed = request.getfixturevalue("postgres_seed")
        server: PostgresServer = request.getfixturevalue("postgres")

        def new_postgres() -> str:
            name = f"machine_{os.getpid()}_{next(_names)}"
            server.admin(f"CREATE DATABASE {name} TEMPLATE {seed.source}")
            return server.url(name)

        def drop_postgres(db: str) -> None:
            server.admin(f"DROP DATABASE IF EXISTS {db.rsplit('/', 1)[1]} WITH (FORCE)")

        _engine["now"] = Engine(seed, new_postgres, drop_postgres)
    yield request.param
    _engine.clear()


def server_documents(db: str) -> dict[str, dict[str, Any]]:
    """Each visit's document as the server stores it."""
    if db.startswith("postgresql"):
        import psycopg

        conn: Any = psycopg.connect(db.replace("postgresql+psycopg", "postgresql"))
    else:
        conn = sqlite3.connect(db)
    try:
        return {
            v: json.loads(body) for v, body in conn.execute("SELECT visit_id, body FROM visits")
        }
    finally:
        conn.close()


class SyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = _engine["now"]
        seed = self.engine.seed
        self.folder = Path(tempfile.mkdtemp(prefix="fk-machine-"))
        self.server_db = self.engine.new_db()
        self.office = {"Authorization": f"Bearer {seed.office}"}
        self.client: TestClient | None = None
        self.transport: FaultyTransport | None = None
        self.http: httpx.Client | None = None
        self._start_server()
        self.laptops: dict[str, Laptop] = {}
        self.tokens: dict[str, str] = {}
        for technician in TECHS:
            device_id, token = seed.devices[technician]
            db = open_database(self.folder / technician / "fieldkit.db")
            tokens = LaptopTokens(db, MemoryVault())
            tokens.save(Credentials(BASE, device_id, token, technician))
            self.laptops[technician] = Laptop(technician, db, tokens)
            self.tokens[technician] = token
        self.moved_away: dict[str, set[str]] = {t: set() for t in TECHS}
        self.cancelled: set[str] = set()
        self.clean_syncs = 0
        # The model of the server: each visit's revision, and each op's first answer
        # (True when it was a late older revision, answered superseded).
        self.model: dict[str, int] = {}
        self.superseded: dict[str, bool] = {}
        self.replayed = 0  # pushes of self.transport.delivered already in the model

    # --- the server ------------------------------------------------------------------

    def _start_server(self) -> None:
        self.client = TestClient(
            create_app(Settings(db=self.server_db, push_helpers=0)), base_url=BASE
        )
        self.client.__enter__()
        delivered = [] if self.transport is None else self.transport.delivered
        self.transport = FaultyTransport(self.client._transport)
        self.transport.delivered = delivered
        self.http = httpx.Client(transport=self.transport, base_url=BASE)

    def _stop_server(self) -> None:
        assert self.client is not None
        assert self.http is not None
        self.http.close()
        self.client.__exit__(None, None, None)

    def teardown(self) -> None:
        self._stop_server()
        for laptop in self.laptops.values():
            close_database(laptop.db)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.engine.drop(self.server_db)

    @rule()
    def restart_server(self) -> None:
        self._stop_server()
        self._start_server()

    def _op(self, op_id: str) -> tuple[str, int] | None:
        """The visit and revision of a real op (None for a planted one)."""
        for laptop in self.laptops.values():
            if op_id in laptop.planted:
                return None
            row = laptop.db.execute(
                "SELECT entity_id, body FROM outbox WHERE op_id = ?", [op_id]
            ).fetchone()
            if row is not None:
                return row[0], int(json.loads(row[1])["revision"])
        raise AssertionError(f"the server was sent an op no laptop has: {op_id}")

    def _replay(self) -> None:
        """Bring the model up to every push the app received, in order."""
        assert self.transport is not None
        for ops in self.transport.delivered[self.replayed :]:
            for op_id in ops:
                found = self._op(op_id)
                if found is None or op_id in self.superseded:
                    continue  # planted (rejected), or a re-send (its first answer again)
                visit_id, revision = found
                late = self.model.get(visit_id, 0) > revision
                self.superseded[op_id] = late
                if late:
                    SEEN["superseded"] += 1
                else:
                    self.model[visit_id] = revision
        self.replayed = len(self.transport.delivered)

    # --- the laptops -----------------------------------------------------------------

    @initialize(notes=st.lists(st.integers(0, 2), min_size=len(TECHS), max_size=len(TECHS)))
    def a_day_offline(self, notes: list[int]) -> None:
        """Each laptop starts with a visit saved and noted offline, not yet synced: without
        it Hypothesis's short examples seldom revise a visit before its first push."""
        for who, count in zip(TECHS, notes, strict=True):
            self.save_visit(who)
            laptop = self.laptops[who]
            for _ in range(count):
                self._revise(laptop, laptop.open[-1], close=False)

    @rule(who=st.sampled_from(TECHS))
    def save_visit(self, who: str) -> None:
        laptop = self.laptops[who]
        snapshot = MeterSnapshot(
            protocol="c1218",
            identity=MeterIdentity(
                "FKIT", "SIM-2S", "SN2S000000012345", meter_id=ORDER.meter_number
            ),
            read_at=datetime.now(UTC),
        )
        result = judge(snapshot, ORDER.expectation(), work_order_id=ORDER.work_order_id)
        doc = log.save(laptop.db, visit_document(result, technician=who, order=ORDER))
        laptop.saved[doc.visit_id] = doc.revision
        laptop.open.append(doc.visit_id)

    @precondition(lambda self: any(laptop.open for laptop in self.laptops.values()))
    @rule(data=st.data(), close=st.booleans())
    def revise_visit(self, data: st.DataObject, close: bool) -> None:
        laptop = data.draw(st.sampled_from([lp for lp in self.laptops.values() if lp.open]))
        self._revise(laptop, data.draw(st.sampled_from(laptop.open)), close=close)

    def _revise(self, laptop: Laptop, visit_id: str, *, close: bool) -> None:
        if close:
            revised = log.close(laptop.db, visit_id, "resolved")
            laptop.open.remove(visit_id)
        else:
            note = NoteDoc(at=datetime.now(UTC), technician=laptop.technician, text="seal")
            revised = log.add_note(laptop.db, visit_id, note)
        laptop.saved[visit_id] = revised.revision

    @rule(who=st.sampled_from(TECHS))
    def plant_a_bad_op(self, who: str) -> None:
        """An op the server can only reject (a visit document missing its fields)."""
        laptop = self.laptops[who]
        op_id = str(uuid.uuid4())
        body = json.dumps({"schema_version": 1, "document": "visit", "visit_id": "broken"})
        with write_transaction(laptop.db, "a planted op"):
            laptop.db.execute(
                "INSERT INTO outbox (op_id, kind, entity_id, schema_version, body, created_at) "
                "VALUES (?, 'visit', 'broken', 1, ?, ?)",
                [op_id, body, datetime.now(UTC).isoformat()],
            )
        laptop.planted.add(op_id)

    def _sync(self, laptop: Laptop, ordering: str, batch: int) -> SyncResult:
        if ordering == "outbox":  # the laptop's own path, as `fieldkit sync` runs it
            return sync_database(
                laptop.db, laptop.tokens, http=self.http, max_attempts=1, max_ops=batch
            )
        credentials = laptop.tokens.load()
        assert credentials is not None
        result = SyncResult()
        with SyncClient(credentials, http=self.http, max_attempts=1, max_ops=batch) as client:
            client.push(NewestFirst(LaptopOutbox(laptop.db)), result)
            client.pull(LaptopFeed(laptop.db), result)
        return result

    @rule(
        who=st.sampled_from(TECHS),
        fault=st.sampled_from(FAULTS),
        ordering=st.sampled_from(ORDERINGS),
        batch=st.sampled_from(BATCHES),
    )
    def sync(self, who: str, fault: str, ordering: str, batch: int) -> None:
        laptop = self.laptops[who]
        assert self.transport is not None
        # The fault meets the first request: the push when there is one, else the pull.
        self.transport.fault = fault
        pushes = len(self.transport.delivered)
        SEEN[f"sync {ordering}"] += 1
        failure: str | None
        try:
            result = self._sync(laptop, ordering, batch)
        except SyncError as exc:
            failure = str(exc)
        else:
            failure = None
        self._replay()
        if failure is not None:
            assert fault != "pass", failure
            assert "cannot reach" in failure
            return
        assert fault == "pass", fault  # a cut first request cannot end in a finished sync
        self.clean_syncs += 1
        answered = [op_id for ops in self.transport.delivered[pushes:] for op_id in ops]
        flagged = {
            op_id: "superseded" in result.flagged.get(op_id, [])
            for op_id in answered
            if op_id in self.superseded
        }
        assert flagged == {op_id: self.superseded[op_id] for op_id in flagged}
        assert result.pending == 0  # a rejected op never blocks the queue
        assert {r.op_id for r in result.rejected} <= laptop.planted
        self._feed_matches(laptop)

    def _feed_matches(self, laptop: Laptop) -> None:
        assert self.client is not None
        headers = {"Authorization": f"Bearer {self.tokens[laptop.technician]}"}
        cursor, ids, more = 0, set[str](), True
        while more:
            page = self.client.get("/api/v1/sync/pull", params={"cursor": cursor}, headers=headers)
            assert page.status_code == 200, page.text
            body = page.json()
            ids |= {w["work_order_id"] for w in body["work_orders"]}
            ids -= {r["id"] for r in body["removals"]}
            cursor, more = body["cursor"], body["more"]
        mine = {
            r[0]
            for r in laptop.db.execute(
                "SELECT work_order_id FROM work_orders WHERE source = 'sync'"
            ).fetchall()
        }
        assert mine == ids, (sorted(mine), sorted(ids))
        assert not mine & self.moved_away[laptop.technician]
        assert not mine & self.cancelled

    # --- the office ------------------------------------------------------------------

    @rule(order=st.sampled_from(ORDERS), to=st.sampled_from(TECHS))
    def reassign(self, order: str, to: str) -> None:
        assert self.client is not None
        answer = self.client.post(
            f"/api/v1/work-orders/{order}/commands",
            json={"command": "assign", "technician": to},
            headers=self.office,
        )
        assert answer.status_code in (200, 409), answer.text
        if answer.status_code == 200:
            for technician in TECHS:
                if technician == to:
                    self.moved_away[technician].discard(order)
                else:
                    self.moved_away[technician].add(order)

    @rule(order=st.sampled_from(ORDERS))
    def cancel(self, order: str) -> None:
        assert self.client is not None
        answer = self.client.post(
            f"/api/v1/work-orders/{order}/commands",
            json={"command": "cancel"},
            headers=self.office,
        )
        assert answer.status_code in (200, 409), answer.text
        if answer.status_code == 200:
            self.cancelled.add(order)

    # --- what must always hold -------------------------------------------------------

    @invariant()
    def nothing_lost_nothing_twice(self) -> None:
        rows, creates, revisions = server_rows(self.server_db)
        assert [v for v, (_rev, n) in rows.items() if n != 1] == []
        assert [v for v, n in creates.items() if n != 1] == []
        assert [k for k, n in revisions.items() if n != 1] == []
        saved_anywhere = {v for lp in self.laptops.values() for v in lp.saved}
        assert set(rows) <= saved_anywhere  # nothing the laptops did not send
        # The server keeps what the model says, as the laptop wrote it: a late older
        # revision wrote nothing, and nothing it was sent is missing.
        self._replay()
        assert {v: rev for v, (rev, _n) in rows.items()} == self.model
        sent = {
            (visit_id, int(document["revision"])): document
            for laptop in self.laptops.values()
            for op_id, visit_id, body in laptop.db.execute(
                "SELECT op_id, entity_id, body FROM outbox"
            ).fetchall()
            if op_id not in laptop.planted
            for document in [json.loads(body)]
        }
        for visit_id, document in server_documents(self.server_db).items():
            assert document == sent[visit_id, self.model[visit_id]], visit_id
        for laptop in self.laptops.values():
            here = dict(
                laptop.db.execute(
                    "SELECT visit_id, max(revision) FROM visits GROUP BY visit_id"
                ).fetchall()
            )
            assert {v: here.get(v) for v in laptop.saved if here.get(v) != laptop.saved[v]} == {}
            unacked: set[str] = set()
            for op_id, visit_id, body, acked, rejected in laptop.db.execute(
                "SELECT op_id, entity_id, body, acked_at, rejected_at FROM outbox"
            ).fetchall():
                if rejected is not None:
                    assert op_id in laptop.planted, f"a real op was rejected: {op_id}"
                    continue
                if op_id in laptop.planted:
                    assert acked is None
                    continue
                revision = int(json.loads(body)["revision"])
                if acked is not None:  # the server has that revision, or a later one
                    assert visit_id in rows, visit_id
                    assert rows[visit_id][0] >= revision, (visit_id, rows[visit_id], revision)
                else:
                    unacked.add(visit_id)
            for visit_id, latest in laptop.saved.items():
                if visit_id not in unacked:  # every op of it acknowledged
                    assert rows[visit_id][0] == latest, (visit_id, rows[visit_id], latest)


@pytest.mark.timeout(max(1800, EXAMPLES * STEPS))  # 200 x 30 took about 5 min an engine
def test_random_interleavings_keep_every_visit_once(engine: str) -> None:
    SEEN.clear()
    runner = SyncMachine.TestCase
    runner.settings = settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        database=None,
    )
    runner().runTest()
    print(  # the figures docs/reliability.md reports
        f"\nsync state machine on {engine}: {EXAMPLES} examples x {STEPS} steps, "
        f"{SEEN['sync outbox']} syncs in outbox order, {SEEN['sync newest_first']} newest "
        f"first, {SEEN['superseded']} late older revisions answered superseded"
    )
