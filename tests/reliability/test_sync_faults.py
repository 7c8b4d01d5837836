"""Sync under faults, checked from outside (a Jepsen-style set workload).

N laptops (each its own fieldkit database, the real store, outbox and sync adapters of
:mod:`fieldkit.sync.laptop`) save M visits each — some revised with a note, some closed —
and sync through :class:`~tests.reliability.sync_proxy.FaultProxy` to a real
``syncserver serve`` process, which is restarted (SIGTERM, then SIGKILL) during the
campaign. Then the faults stop and every laptop syncs until its outbox drains.

The checker reads the server's database: every visit a laptop saved is there exactly once
(lost = 0, duplicated = 0: one ``visit.create`` in the audit log per visit, no revision
applied twice) at the latest revision the laptop saved, and every outbox is drained.

Fast slice: 3 devices × 20 visits on SQLite with one server worker, and on PostgreSQL
(when its binaries are here) with two. ``make reliability`` sets FIELDKIT_SYNC_DEVICES /
FIELDKIT_SYNC_VISITS.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlite_utils import Database

from fieldkit.model import MeterIdentity, MeterSnapshot, ServiceType, WorkOrder
from fieldkit.store import visits as log
from fieldkit.store.db import close_database, open_database
from fieldkit.sync.laptop import (
    LaptopOutbox,
    LaptopTokens,
    SyncError,
    enroll_database,
    sync_database,
)
from fieldkit.sync.schema import NoteDoc
from fieldkit.visit import judge, visit_document
from tests.reliability.sync_proxy import FaultProxy
from tests.syncserver_process import EXAMPLES, ServerProcess, syncserver

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

DEVICES = int(os.environ.get("FIELDKIT_SYNC_DEVICES", "3"))
VISITS = int(os.environ.get("FIELDKIT_SYNC_VISITS", "20"))
FAULT_RATE = 0.5
ORDER = WorkOrder(
    "WO-2026-10404",
    "M2S-0012345",
    ServiceType.ONE_PHASE_3W,
    240.0,
    account_number="104-8578-16",
    premise_id="PRM-20148",
)


class MemoryVault:
    """The secrets of one simulated laptop (the token only; no keyring in CI)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def load(self) -> dict[str, Any]:
        return dict(self.data)

    def save(self, data: dict[str, Any]) -> None:
        self.data = dict(data)


@dataclass
class Laptop:
    name: str
    db: Database
    tokens: LaptopTokens
    saved: dict[str, int] = field(default_factory=dict)  # visit id -> latest revision
    open: list[str] = field(default_factory=list)

    def save_visit(self, rng: random.Random) -> None:
        snapshot = MeterSnapshot(
            protocol="c1218",
            identity=MeterIdentity(
                "FKIT", "SIM-2S", "SN2S000000012345", meter_id=ORDER.meter_number
            ),
            read_at=datetime.now(UTC),
        )
        result = judge(snapshot, ORDER.expectation(), work_order_id=ORDER.work_order_id)
        doc = log.save(self.db, visit_document(result, technician="demo-tech", order=ORDER))
        self.saved[doc.visit_id] = doc.revision
        self.open.append(doc.visit_id)
        # Revise some earlier open visit: a note (a new revision) or its closing (final).
        if self.open and rng.random() < 0.6:
            visit_id = rng.choice(self.open)
            if rng.random() < 0.5:
                note = NoteDoc(at=datetime.now(UTC), technician="demo-tech", text="seal replaced")
                revised = log.add_note(self.db, visit_id, note)
            else:
                revised = log.close(self.db, visit_id, "resolved")
                self.open.remove(visit_id)
            self.saved[visit_id] = revised.revision

    def sync(self, *, timeout: float = 2.0) -> str | int:
        """The duplicates the server answered, or the name of the error that stopped it."""
        try:
            result = sync_database(
                self.db,
                self.tokens,
                http=httpx.Client(
                    timeout=timeout, limits=httpx.Limits(max_keepalive_connections=0)
                ),
                max_attempts=3,
                backoff_base=0.01,
                backoff_cap=0.05,
            )
        except SyncError as exc:
            return type(exc).__name__
        return result.duplicates

    def pending(self) -> int:
        return LaptopOutbox(self.db).count_pending()


@pytest.fixture(params=["sqlite", "postgresql"])
def server_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "server.db")
        return
    from tests.server.conftest import start_postgres

    try:
        server, stop = start_postgres()
    except FileNotFoundError as exc:
        if os.environ.get("FIELDKIT_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(str(exc))
    server.admin("CREATE DATABASE fk_faults")
    try:
        yield server.url("fk_faults")
    finally:
        stop()


def server_rows(db: str) -> tuple[dict[str, tuple[int, int]], Counter[str], Counter[str]]:
    """Visits on the server (id -> (revision, rows)), and the audit's creates and revisions."""
    if db.startswith("postgresql"):
        import psycopg

        conn: Any = psycopg.connect(db.replace("postgresql+psycopg", "postgresql"))
    else:
        conn = sqlite3.connect(db)
    try:
        visits: dict[str, tuple[int, int]] = {}
        for visit_id, revision, rows in conn.execute(
            "SELECT visit_id, max(revision), count(*) FROM visits GROUP BY visit_id"
        ).fetchall():
            visits[visit_id] = (revision, rows)
        creates: Counter[str] = Counter()
        revisions: Counter[str] = Counter()
        for action, entity_id, detail in conn.execute(
            "SELECT action, entity_id, detail FROM audit_log WHERE entity = 'visit'"
        ).fetchall():
            if action == "visit.create":
                creates[entity_id] += 1
            elif action == "visit.revise":
                revisions[f"{entity_id}#{json.loads(detail)['revision']}"] += 1
        return visits, creates, revisions
    finally:
        conn.close()


# About 2 min an engine for 3 x 20 on a loaded 2-core machine; the limit grows with the
# visits (a fixed 900 s could never hold make reliability's 10 x 300).
@pytest.mark.timeout(max(900, DEVICES * VISITS * 4))
def test_nothing_lost_nothing_duplicated_queues_drain(
    server_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(10)
    syncserver(
        server_db, "create-user", "demo-tech", "--role", "technician", stdin="pw-technician\n"
    )
    syncserver(server_db, "import-accounts", str(EXAMPLES / "cis-accounts.csv"))
    syncserver(server_db, "import-work-orders", str(EXAMPLES / "cis-work-orders.csv"))
    # PostgreSQL takes several writers: two workers, as a utility would run it.
    workers = 2 if server_db.startswith("postgresql") else 1
    server = ServerProcess(server_db, tmp_path / "server.log", workers=workers)
    server.start()
    proxy = FaultProxy(server.port, seed=10).start()
    laptops: list[Laptop] = []
    try:
        for n in range(DEVICES):
            db = open_database(tmp_path / f"laptop-{n}" / "fieldkit.db")
            tokens = LaptopTokens(db, MemoryVault())
            code = syncserver(server_db, "enroll-code", "--technician", "demo-tech").strip()
            enroll_database(db, tokens, proxy.url, code, device_name=f"laptop {n}")
            laptops.append(Laptop(f"laptop-{n}", db, tokens))

        proxy.rate = FAULT_RATE
        failures: Counter[str] = Counter()
        syncs = duplicates = 0
        restarts = {VISITS // 3: False, (2 * VISITS) // 3: True}  # round -> SIGKILL?
        for step in range(VISITS):
            if step in restarts:
                server.restart(kill=restarts[step])
            for laptop in laptops:
                laptop.save_visit(rng)
                if rng.random() < 0.7:
                    syncs += 1
                    outcome = laptop.sync()
                    if isinstance(outcome, str):
                        failures[outcome] += 1
                    else:
                        duplicates += outcome
        for laptop in laptops:  # saved while the link is still bad: left for the drain
            laptop.save_visit(rng)
        left = sum(laptop.pending() for laptop in laptops)
        assert left >= DEVICES

        # Faults stop: every outbox drains.
        proxy.rate = 0.0
        rounds = 0
        while any(laptop.pending() for laptop in laptops) and rounds < 10:
            rounds += 1
            for laptop in laptops:
                outcome = laptop.sync(timeout=10.0)
                assert isinstance(outcome, int), outcome
                duplicates += outcome
        pending = {laptop.name: laptop.pending() for laptop in laptops}
        rejected = sum(
            laptop.db.execute(
                "SELECT count(*) FROM outbox WHERE rejected_at IS NOT NULL"
            ).fetchone()[0]
            for laptop in laptops
        )
        ops = sum(len(log.outbox_rows(laptop.db)) for laptop in laptops)
    finally:
        proxy.stop()
        server.stop()
        for laptop in laptops:
            close_database(laptop.db)

    visits, creates, revisions = server_rows(server_db)
    saved = {visit_id: rev for laptop in laptops for visit_id, rev in laptop.saved.items()}
    lost = sorted(set(saved) - set(visits))
    stale = sorted(v for v, rev in saved.items() if v in visits and visits[v][0] != rev)
    duplicated = (
        sum(rows - 1 for _, rows in visits.values())
        + sum(n - 1 for n in creates.values())
        + sum(n - 1 for n in revisions.values())
    )
    unknown = sorted(set(visits) - set(saved))
    faults = {k: v for k, v in proxy.counts.items() if k != "pass"}
    engine = "postgresql" if server_db.startswith("postgresql") else "sqlite"
    with capsys.disabled():
        print(
            f"\nsync faults [{engine}, {workers} worker(s)]: {DEVICES} devices x {VISITS} visits, "
            f"{len(saved)} visits saved in {ops} ops, {syncs} syncs under faults "
            f"({dict(failures)} gave up), {duplicates} re-sent ops answered duplicate, "
            f"{sum(faults.values())} faults injected {faults}, {proxy.counts['pass']} clean "
            f"connections, {server.starts - 1} server restarts, {left} ops drained in "
            f"{rounds} round(s): "
            f"lost={len(lost)} duplicated={duplicated} stale={len(stale)} "
            f"rejected={rejected} pending={sum(pending.values())}"
        )
    assert lost == []
    assert duplicated == 0
    assert stale == []
    assert unknown == []
    assert rejected == 0
    assert pending == {laptop.name: 0 for laptop in laptops}
    # The campaign did inject each kind of fault (else it proves nothing).
    assert {"refuse", "delay", "cut_request", "cut_response"} <= set(faults)
    assert server.starts == 3
