"""Issue 10 end to end on loopback, with the real commands as subprocesses: the office
imports its CIS files and creates users, a laptop enrols, pulls its work orders, checks a
simulated meter against one and pushes the visit; the office reads it back tied to its
account and work order, and another technician cannot see it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import CliResult, laptop_env, run_cli
from tests.syncserver_process import EXAMPLES, ServerProcess, syncserver

pytestmark = pytest.mark.sim

ORDER = "WO-2026-10404"  # meter M2S-0012345 of account 104-8578-16: the healthy-2s scenario


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    db = str(tmp_path / "server.db")
    syncserver(db, "create-user", "demo-tech", "--role", "technician", stdin="tech-pass\n")
    syncserver(db, "import-accounts", str(EXAMPLES / "cis-accounts.csv"))
    syncserver(db, "import-work-orders", str(EXAMPLES / "cis-work-orders.csv"))
    running = ServerProcess(db, tmp_path / "server.log")
    running.start()
    yield running
    running.stop()


def ok(result: CliResult) -> str:
    assert result.code == 0, result.stderr
    assert result.stderr == "", result.stderr
    return result.stdout


# About 20 CLI and syncserver processes, one after the other, each with its own timeout: on
# two busy cores the whole walk took over the suite's 120 s default in a serial run.
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_visit_goes_from_the_meter_to_the_office(
    server: ServerProcess, tmp_path: Path, sim: Any
) -> None:
    db = server.db
    syncserver(db, "create-user", "olga", "--role", "office", stdin="office-pass\n")
    syncserver(db, "create-user", "bob", "--role", "technician", stdin="bob-pass\n")
    office = {"Authorization": "Bearer " + syncserver(db, "create-token", "olga").strip()}
    code = syncserver(db, "enroll-code", "--technician", "demo-tech").strip()
    env = laptop_env(tmp_path / "laptop", "demo-tech")

    # Not enrolled yet: sync says so in one line and exits 1.
    refused = run_cli("sync", env=env)
    assert refused.code == 1
    assert refused.stderr.count("\n") == 1
    assert "not enrolled" in refused.stderr

    out = ok(run_cli("enroll", "--server", server.url, "--code", code, "--name", "van 7", env=env))
    assert "demo-tech" in out
    assert "secrets.enc" in {p.name for p in (tmp_path / "laptop").iterdir()}
    # The code is spent.
    again = run_cli("enroll", "--server", server.url, "--code", code, env=env)
    assert again.code == 1
    assert again.stderr.startswith("fieldkit: cannot enrol:")
    assert "ask the office for a new code" in again.stderr, again.stderr

    first = json.loads(ok(run_cli("sync", "--json", env=env)))
    assert first["document"] == "sync_report"
    assert first["ok"] is True
    assert first["sent"] == 0
    assert first["work_orders"] >= 4
    assert first["clock_offset_seconds"] is not None
    listed = ok(run_cli("work-orders", "list", env=env))
    assert ORDER in listed
    assert "WO-2026-10401" in listed

    simulator = sim("healthy-2s")
    check = run_cli("check", "--port", simulator.url, "--work-order", ORDER, "--json", env=env)
    assert check.code == 0, check.stderr
    visit_id = json.loads(check.stdout)["visit_id"]

    pending = json.loads(ok(run_cli("sync", "status", "--json", env=env)))
    assert (pending["document"], pending["pending"], pending["enrolled"]) == (
        "sync_status",
        1,
        True,
    )
    pushed = ok(run_cli("sync", env=env))
    assert "sent 1 op(s): 1 acknowledged (0 already on the server), 0 rejected" in pushed
    assert "pending: 0 op(s)" in pushed
    status = json.loads(ok(run_cli("sync", "status", "--json", env=env)))
    assert (status["pending"], status["rejected"], status["last_error"]) == (0, [], None)
    assert status["trusted_time"] is not None
    # A second sync sends nothing again.
    assert json.loads(ok(run_cli("sync", "--json", env=env)))["sent"] == 0

    api = httpx.Client(base_url=server.url + "/api/v1", timeout=10.0)
    found = api.get("/visits", params={"work_order": ORDER}, headers=office)
    assert found.status_code == 200, found.text
    (summary,) = found.json()
    assert summary["visit_id"] == visit_id
    assert summary["work_order_id"] == ORDER
    assert summary["account_number"] == "104-8578-16"
    assert summary["meter_number"] == "M2S-0012345"
    assert summary["technician"] == "demo-tech"
    assert summary["flags"] == []
    whole = api.get(f"/visits/{visit_id}", headers=office).json()
    assert whole["document"]["document"] == "visit"
    assert whole["document"]["work_order"] == ORDER
    assert whole["document"]["checks"]
    by_account = api.get("/visits", params={"account": "104-8578-16"}, headers=office).json()
    assert [v["visit_id"] for v in by_account] == [visit_id]

    # Another technician's device token: the visit and the order do not exist for it.
    bob_code = syncserver(db, "enroll-code", "--technician", "bob").strip()
    enrolled = api.post(
        "/devices/enroll",
        json={"schema_version": 1, "document": "enroll_request", "code": bob_code,
              "device_name": "bob laptop"},
    )  # fmt: skip
    assert enrolled.status_code == 200, enrolled.text
    bob = {"Authorization": "Bearer " + enrolled.json()["token"]}
    assert api.get(f"/visits/{visit_id}", headers=bob).status_code == 404
    assert api.get("/visits", params={"work_order": ORDER}, headers=bob).json() == []
    assert api.get(f"/work-orders/{ORDER}", headers=bob).status_code == 404

    # The server gone: one line, exit 1, the laptop keeps everything.
    server.stop()
    gone = run_cli("sync", "--timeout", "1", env=env)
    assert gone.code == 1
    assert gone.stderr.startswith("fieldkit: sync failed: ")
    assert gone.stderr.count("\n") == 1
