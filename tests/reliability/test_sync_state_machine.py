"""A Hypothesis state machine over the real laptop client and the real server.

Two laptops (demo-tech's and bob's: each its own fieldkit database, the real store, outbox
and :func:`~fieldkit.sync.laptop.sync_database`) and the server's FastAPI app, in process:
the laptops talk HTTP to it through starlette's test transport (a subprocess per example
would cost seconds; the HTTP, the app and the database are the real ones), wrapped in a
transport that can cut the request before it reaches the app or lose the answer after the
app committed. Hypothesis interleaves: save a visit, note or close one, sync (clean, request
cut, answer lost), an op the server must reject, an office reassign or cancel of a work
order (feed removals), and a server restart (a new app on the same database).

Invariants after every step: nothing a laptop saved is lost on the laptop; the server holds
no visit, create or revision twice; every op a laptop marked acknowledged is on the server,
and a visit whose ops are all acknowledged is on the server at its latest revision; only
the planted bad ops are ever rejected. After every clean sync: nothing is pending (a
rejected op never blocks the queue), and the laptop's work orders are the server's feed for
that technician read from the start, with no order the office moved away or cancelled.

SQLite. ``FIELDKIT_SYNC_MACHINE_EXAMPLES`` sets the examples (3 by default, about 40 s) and
``FIELDKIT_SYNC_MACHINE_STEPS`` their steps (15): each app start runs the Alembic check,
so an example costs seconds; ``make reliability`` runs more.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlite_utils import Database

from fieldkit.model import MeterIdentity, MeterSnapshot
from fieldkit.store import visits as log
from fieldkit.store.db import close_database, open_database, write_transaction
from fieldkit.sync.client import Credentials
from fieldkit.sync.laptop import LaptopTokens, SyncError, sync_database
from fieldkit.sync.schema import NoteDoc
from fieldkit.visit import judge, visit_document
from syncserver.core.config import Settings
from syncserver.main import create_app
from tests.reliability.test_sync_faults import ORDER, MemoryVault, server_rows
from tests.server.conftest import Seed, _populate

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

EXAMPLES = int(os.environ.get("FIELDKIT_SYNC_MACHINE_EXAMPLES", "3"))
STEPS = int(os.environ.get("FIELDKIT_SYNC_MACHINE_STEPS", "15"))
BASE = "http://testserver"
ORDERS = ("WO-2026-10401", "WO-2026-10404", "WO-2026-10405", "WO-2026-10410")
TECHS = ("demo-tech", "bob")
FAULTS = ("pass", "cut_request", "cut_response")


class FaultyTransport(httpx.BaseTransport):
    """The app's transport, with the next request's fault set by the test."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.fault = "pass"

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        fault, self.fault = self.fault, "pass"
        if fault == "cut_request":
            raise httpx.WriteError("the request was cut", request=request)
        response = self.inner.handle_request(request)
        if fault == "cut_response":
            response.read()  # the app has committed and answered: the laptop never hears
            raise httpx.ReadError("the answer was lost", request=request)
        return response


@dataclass
class Laptop:
    technician: str
    db: Database
    tokens: LaptopTokens
    saved: dict[str, int] = field(default_factory=dict)  # visit id -> latest revision
    open: list[str] = field(default_factory=list)
    planted: set[str] = field(default_factory=set)  # op ids the server must reject


_seed: dict[str, Seed] = {}


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seed]:
    """The example world (users, CIS data, one device each for demo-tech and bob), once."""
    _seed["sqlite"] = _populate(str(tmp_path_factory.mktemp("machine") / "seed.db"))
    yield _seed["sqlite"]
    _seed.clear()


class SyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        seed = _seed["sqlite"]
        self.folder = Path(tempfile.mkdtemp(prefix="fk-machine-"))
        self.server_db = str(self.folder / "server.db")
        shutil.copyfile(seed.source, self.server_db)
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

    # --- the server ------------------------------------------------------------------

    def _start_server(self) -> None:
        self.client = TestClient(create_app(Settings(db=self.server_db)), base_url=BASE)
        self.client.__enter__()
        self.transport = FaultyTransport(self.client._transport)
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

    @rule()
    def restart_server(self) -> None:
        self._stop_server()
        self._start_server()

    # --- the laptops -----------------------------------------------------------------

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
        visit_id = data.draw(st.sampled_from(laptop.open))
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

    @rule(who=st.sampled_from(TECHS), fault=st.sampled_from(FAULTS))
    def sync(self, who: str, fault: str) -> None:
        laptop = self.laptops[who]
        assert self.transport is not None
        # The fault meets the first request: the push when there is one, else the pull.
        self.transport.fault = fault
        try:
            result = sync_database(laptop.db, laptop.tokens, http=self.http, max_attempts=1)
        except SyncError as exc:
            failure = str(exc)
        else:
            failure = None
        if failure is not None:
            assert fault != "pass", failure
            assert "cannot reach" in failure
            return
        assert fault == "pass", fault  # a cut first request cannot end in a finished sync
        self.clean_syncs += 1
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


@pytest.mark.timeout(1800)
def test_random_interleavings_keep_every_visit_once(seed: Seed) -> None:
    runner = SyncMachine.TestCase
    runner.settings = settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        database=None,
    )
    runner().runTest()
