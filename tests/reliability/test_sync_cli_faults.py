"""``fieldkit sync`` as a technician runs it (a subprocess, FIELDKIT_HOME, the encrypted
secrets file) against a real ``syncserver serve`` process, through the fault proxy.

Each case ends with the server's database read directly: every visit the laptop saved is
there exactly once (one row, one ``visit.create`` in the audit log) and the outbox is empty.
SQLite only and a handful of visits; the randomised campaign over both engines is
:mod:`tests.reliability.test_sync_faults`.

The default run keeps the fast slice: the answer to a committed push is cut, and the next
``fieldkit sync`` (and the command's own retry) adds no duplicate. The server going down,
coming back and being killed between two syncs runs with the campaigns (``make
reliability`` sets ``FIELDKIT_SYNC_VISITS``): every step of it is three or four
subprocess starts, most of this file's time. The office's database is made in this process
through the same services the ``syncserver`` commands call (those commands are run for
real by the end-to-end test), so each case pays only for its own server and laptop.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fieldkit.model import MeterIdentity, MeterSnapshot, ServiceType, WorkOrder
from fieldkit.store import visits as log
from fieldkit.store.db import database
from fieldkit.sync.laptop import LaptopOutbox
from fieldkit.visit import judge, visit_document
from syncserver.db.engine import Database
from syncserver.db.migrate import upgrade
from syncserver.services import imports, users
from syncserver.services.journal import Actor, unit_of_work
from tests.helpers import CliResult, laptop_env, run_cli
from tests.reliability.sync_proxy import FaultProxy
from tests.reliability.test_sync_faults import server_rows
from tests.syncserver_process import EXAMPLES, ServerProcess

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

CAMPAIGN = "FIELDKIT_SYNC_VISITS" in os.environ
"""Set by ``make reliability``: run the whole file, not only the fast slice."""

ORDER = WorkOrder(
    "WO-2026-10404",
    "M2S-0012345",
    ServiceType.ONE_PHASE_3W,
    240.0,
    account_number="104-8578-16",
    premise_id="PRM-20148",
)


@dataclass
class Rig:
    """One enrolled laptop, the fault proxy, and the server behind it."""

    server: ServerProcess
    proxy: FaultProxy
    home: Path
    env: dict[str, str]
    saved: list[str] = field(default_factory=list)

    def save_visits(self, count: int) -> None:
        """``count`` visits saved on the laptop exactly as the check command saves them."""
        with database(self.home / "fieldkit.db") as db:
            for _ in range(count):
                snapshot = MeterSnapshot(
                    protocol="c1218",
                    identity=MeterIdentity(
                        "FKIT", "SIM-2S", "SN2S000000012345", meter_id=ORDER.meter_number
                    ),
                    read_at=datetime.now(UTC),
                )
                result = judge(snapshot, ORDER.expectation(), work_order_id=ORDER.work_order_id)
                doc = log.save(db, visit_document(result, technician="demo-tech", order=ORDER))
                self.saved.append(doc.visit_id)

    def sync(self, *args: str) -> CliResult:
        return run_cli("sync", "--timeout", "5", *args, env=self.env)

    def pending(self) -> int:
        """Ops still in the laptop's outbox (read from its database, not the command)."""
        with database(self.home / "fieldkit.db") as db:
            return LaptopOutbox(db).count_pending()

    def assert_on_server_exactly_once(self) -> None:
        visits, creates, _revisions = server_rows(self.server.db)
        assert sorted(visits) == sorted(self.saved), "lost or unknown visits on the server"
        assert {v: rows for v, (_rev, rows) in visits.items() if rows != 1} == {}
        assert {v: n for v, n in creates.items() if n != 1} == {}
        assert sorted(creates) == sorted(self.saved)


def one_line_failure(result: CliResult) -> str:
    """The sync failed as the CLI contract says: exit 1, one line on stderr."""
    assert result.code == 1, (result.code, result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("fieldkit: sync failed: "), result.stderr
    return result.stderr


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The office's database (migrated, CIS files imported, the technician and a one-time
    code made), once: each case enrols its laptop on its own copy."""
    db = tmp_path_factory.mktemp("office") / "server.db"
    office = Database(str(db))
    try:
        upgrade(office)
        with unit_of_work(office, Actor("cli", "test")) as work:
            users.create_user(work, "demo-tech", "technician", "tech-pass")
            imports.import_accounts(work, EXAMPLES / "cis-accounts.csv")
            imports.import_work_orders(work, EXAMPLES / "cis-work-orders.csv")
            code = users.create_enroll_code(work, "demo-tech", 15)
    finally:
        office.dispose()
    return db, code


@pytest.fixture
def rig(office: tuple[Path, str], tmp_path: Path) -> Iterator[Rig]:
    template, code = office
    db = str(tmp_path / "server.db")
    for suffix in ("", "-wal", "-shm"):
        if (source := Path(str(template) + suffix)).exists():
            shutil.copyfile(source, db + suffix)
    server = ServerProcess(db, tmp_path / "server.log")
    server.start()
    proxy = FaultProxy(server.port, seed=11).start()
    home = tmp_path / "laptop"
    env = laptop_env(home, "demo-tech")
    try:
        enrolled = run_cli("enroll", "--server", proxy.url, "--code", code, env=env)
        assert enrolled.code == 0, enrolled.stderr
        yield Rig(server, proxy, home, env)
    finally:
        proxy.stop()
        server.stop()


@pytest.mark.skipif(not CAMPAIGN, reason="with the campaigns: make reliability")
def test_server_down_then_back_then_killed_between_two_syncs(rig: Rig) -> None:
    rig.save_visits(3)
    rig.server.stop()

    gone = one_line_failure(rig.sync("--attempts", "2"))
    assert "cannot reach" in gone
    assert "gave up after 2 attempts; nothing is lost" in gone
    assert rig.proxy.counts["upstream_down"] == 2
    assert rig.pending() == 3
    status = json.loads(run_cli("sync", "status", "--json", env=rig.env).stdout)
    assert (status["pending"], status["rejected"]) == (3, [])
    assert "cannot reach" in status["last_error"]

    rig.server.start()
    back = rig.sync()
    assert back.code == 0, back.stderr
    assert "sent 3 op(s): 3 acknowledged (0 already on the server), 0 rejected" in back.stdout
    assert "pending: 0 op(s)" in back.stdout
    assert rig.pending() == 0
    rig.assert_on_server_exactly_once()
    cursor = json.loads(rig.sync("--json").stdout)["cursor"]
    assert cursor > 0

    # Killed (SIGKILL) and started again between two syncs: what it acknowledged survived,
    # the new visits go once, and the feed resumes at the laptop's cursor.
    rig.server.restart(kill=True)
    rig.save_visits(2)
    second = rig.sync("--json")
    assert second.code == 0, second.stderr
    report = json.loads(second.stdout)
    assert (report["sent"], report["acknowledged"], report["duplicates"]) == (2, 2, 0)
    assert (report["pending"], report["cursor"], report["work_orders"]) == (0, cursor, 0)
    assert rig.pending() == 0
    rig.assert_on_server_exactly_once()


def test_answer_cut_after_commit_then_a_second_sync_adds_no_duplicate(rig: Rig) -> None:
    rig.save_visits(4)
    # The push reaches the server, which commits and answers; the answer never arrives.
    rig.proxy.script(["cut_response"])

    cut = one_line_failure(rig.sync("--attempts", "1"))
    assert "cannot reach" in cut
    assert rig.proxy.counts["cut_response"] == 1
    assert rig.pending() == 4  # the laptop does not know the server has them
    rig.assert_on_server_exactly_once()  # ... but it has them, once

    again = rig.sync("--json")
    assert again.code == 0, again.stderr
    report = json.loads(again.stdout)
    assert (report["sent"], report["acknowledged"], report["duplicates"]) == (4, 4, 4)
    assert (report["rejected"], report["pending"]) == ([], 0)
    assert rig.pending() == 0
    rig.assert_on_server_exactly_once()

    # The same cut inside one sync: the command's own retry gets the duplicate answers.
    rig.save_visits(2)
    rig.proxy.script(["cut_response"])
    retried = json.loads(rig.sync("--json", "--attempts", "3").stdout)
    assert (retried["ok"], retried["acknowledged"], retried["duplicates"]) == (True, 2, 2)
    assert rig.pending() == 0
    rig.assert_on_server_exactly_once()
