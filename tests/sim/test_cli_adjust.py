"""`fieldkit adjust clock|demand-reset` against the simulated meter, as a technician runs it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fieldkit.store import database
from fieldkit.store import visits as log
from simulators.c1218.options import SimOptions
from tests.e2e.test_check_scenarios import work_order_args
from tests.helpers import CliResult, run_cli

pytestmark = pytest.mark.sim


def fk(home: Path, *args: str) -> CliResult:
    return run_cli(*args, env={"FIELDKIT_HOME": str(home), "FIELDKIT_TECHNICIAN": "ann"})


def one_line_error(result: CliResult) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def only_visit(home: Path) -> dict[str, Any]:
    listed = json.loads(fk(home, "visits", "list", "--json").stdout)["visits"]
    assert len(listed) == 1, listed
    shown = fk(home, "visits", "show", listed[0]["visit_id"], "--json")
    visit: dict[str, Any] = json.loads(shown.stdout)
    return visit


def server_clock(home: Path) -> None:
    (home / "config.toml").write_text('[clock]\nsource = "server"\n')


def test_set_clock_records_before_after_and_the_trusted_source(sim: Any, tmp_path: Path) -> None:
    simulator = sim("clock-drift-2s")
    result = fk(tmp_path, "adjust", "clock", "--port", simulator.url, "--yes", "-q",
                "--trust-system-clock")  # fmt: skip
    assert result.code == 0, result.stderr
    assert "clock set (result 0 completed): drift +5" in result.stdout
    visit = only_visit(tmp_path)
    assert visit["status"] == "open"
    [adj] = visit["adjustments"]
    assert (adj["kind"], adj["result"], adj["result_code"], adj["technician"]) == (
        "set_clock",
        "done",
        0,
        "ann",
    )
    assert adj["before"]["drift_seconds"] > 500
    assert abs(adj["after"]["drift_seconds"]) < 2
    assert adj["trust_system_clock"] is True
    assert "--trust-system-clock" in adj["clock_source"]
    assert adj["reference_time"]
    assert adj["capture"]["frames"]
    assert [e.code for e in simulator.meter_state.events] == [3, 4]
    # The meter's own log says so too, read back after the set.
    check = fk(tmp_path, "check", "--port", simulator.url, *work_order_args("clock-drift-2s"),
               "-q", "--json", "--no-save")  # fmt: skip
    codes = [e["code"] for e in json.loads(check.stdout)["events"]]
    assert codes[-2:] == [4, 3] or {3, 4} <= set(codes)
    clock_check = next(c for c in json.loads(check.stdout)["checks"] if c["id"] == "clock_drift")
    assert clock_check["status"] == "pass"


def test_an_untrusted_laptop_clock_is_refused_before_the_meter(sim: Any, tmp_path: Path) -> None:
    simulator = sim("clock-drift-2s")
    server_clock(tmp_path)
    result = fk(tmp_path, "adjust", "clock", "--port", simulator.url, "--yes", "-q")
    assert result.code == 1
    line = one_line_error(result)
    assert "not trustworthy" in line
    assert "never synced with the office server" in line
    assert "--trust-system-clock" in line
    assert simulator.stats.requests == 0
    assert json.loads(fk(tmp_path, "visits", "list", "--json").stdout)["visits"] == []


def test_a_recent_sync_with_the_server_makes_the_clock_a_reference(
    sim: Any, tmp_path: Path
) -> None:
    simulator = sim("clock-drift-2s")
    server_clock(tmp_path)
    now = datetime.now(UTC)
    with database(tmp_path / "fieldkit.db") as db:
        log.record_trusted_time(
            db,
            source="sync",
            trusted_time=now - timedelta(minutes=5),
            laptop_time=now - timedelta(minutes=5),
        )
    result = fk(tmp_path, "adjust", "clock", "--port", simulator.url, "--yes", "-q")
    assert result.code == 0, result.stderr
    [adj] = only_visit(tmp_path)["adjustments"]
    assert "office server's time" in adj["clock_source"]
    assert adj["trust_system_clock"] is False


def test_password_levels_refuse_cleanly_and_say_the_level(sim: Any, tmp_path: Path) -> None:
    simulator = sim("secured-2s")
    url = simulator.url
    refused = fk(tmp_path, "adjust", "demand-reset", "--port", url, "--yes", "-q",
                 "--password", "CLOCK00002")  # fmt: skip
    assert refused.code == 1
    line = one_line_error(refused)
    assert "access level is too low (isc)" in line
    assert "level-3 password" in line
    assert simulator.meter_state.demand_resets_done == 0
    [adj] = only_visit(tmp_path)["adjustments"]
    assert (adj["result"], adj["result_code"]) == ("refused", None)
    # The clock needs level 2: that password does it.
    done = fk(tmp_path, "adjust", "clock", "--port", url, "--yes", "-q", "--password",
              "CLOCK00002", "--trust-system-clock")  # fmt: skip
    assert done.code == 0, done.stderr
    reader = fk(tmp_path, "adjust", "clock", "--port", url, "--yes", "-q", "--password",
                "READER01", "--trust-system-clock")  # fmt: skip
    assert "level-2 password" in one_line_error(reader)
    master = fk(tmp_path, "adjust", "demand-reset", "--port", url, "--yes", "-q",
                "--password", "MASTER0001")  # fmt: skip
    assert master.code == 0, master.stderr
    assert "maximum demand 5.1 kW -> 0.0 kW, resets 14 -> 15" in master.stdout
    assert simulator.meter_state.demand_resets_done == 1
    visit = only_visit(tmp_path)
    assert [a["result"] for a in visit["adjustments"]] == ["refused", "done", "refused", "done"]


def test_a_procedure_the_meter_fails_is_recorded_with_its_result_code(
    sim: Any, tmp_path: Path
) -> None:
    simulator = sim("healthy-2s", SimOptions(procedure_result=3, procedure_pending=2))
    result = fk(tmp_path, "adjust", "demand-reset", "--port", simulator.url, "--yes", "-q")
    assert result.code == 1
    assert "result 3 (conflicts with the meter's setup)" in one_line_error(result)
    [adj] = only_visit(tmp_path)["adjustments"]
    assert (adj["result"], adj["result_code"]) == ("failed", 3)
    assert adj["after"]["demand_kw"] == adj["before"]["demand_kw"]


def test_demand_reset_lockout_and_its_override(sim: Any, tmp_path: Path) -> None:
    simulator = sim("healthy-2s")
    url = simulator.url
    first = fk(tmp_path, "adjust", "demand-reset", "--port", url, "--yes", "-q")
    assert first.code == 0, first.stderr
    again = fk(tmp_path, "adjust", "demand-reset", "--port", url, "--yes", "-q")
    assert again.code == 1
    assert "already reset this billing period" in one_line_error(again)
    assert simulator.meter_state.demand_resets_done == 1
    forced = fk(tmp_path, "adjust", "demand-reset", "--port", url, "--yes", "-q",
                "--override-lockout", "billing asked for a re-read")  # fmt: skip
    assert forced.code == 0, forced.stderr
    assert simulator.meter_state.demand_resets_done == 2
    adjustments = only_visit(tmp_path)["adjustments"]
    assert [a["lockout_override"] for a in adjustments] == [None, "billing asked for a re-read"]


def test_an_adjustment_joins_the_open_visit_of_the_check(sim: Any, tmp_path: Path) -> None:
    simulator = sim("clock-drift-2s")
    check = fk(tmp_path, "check", "--port", simulator.url, *work_order_args("clock-drift-2s"), "-q")
    assert check.code == 0, check.stderr
    done = fk(tmp_path, "adjust", "clock", "--port", simulator.url, "--yes", "-q",
              "--trust-system-clock")  # fmt: skip
    assert done.code == 0, done.stderr
    visit = only_visit(tmp_path)
    assert visit["checks"]
    assert len(visit["adjustments"]) == 1
    assert visit["revision"] == 2


def test_without_yes_and_no_terminal_nothing_is_changed(sim: Any, tmp_path: Path) -> None:
    simulator = sim("healthy-2s")
    result = fk(tmp_path, "adjust", "demand-reset", "--port", simulator.url, "-q")
    assert result.code == 2
    assert "--yes" in one_line_error(result)
    assert simulator.stats.requests == 0
