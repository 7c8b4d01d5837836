"""`fieldkit check --json` against every simulator scenario: the verdict table of issue 3.

Each scenario's [work_order] is what the utility's work order says; the simulated meter
serves only what a real meter would. A faulty site must fail exactly its check, and every
other check must pass or skip.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fieldkit.checks import CHECK_IDS
from tests.helpers import run_cli, scenario_data

pytestmark = pytest.mark.sim

MUST_FAIL: dict[str, set[str]] = {
    "healthy-2s": set(),
    "healthy-16s": set(),
    "secured-2s": set(),
    "reversed-ct-16s": {"polarity"},
    "missing-phase-16s": {"service_voltage"},
    "crossed-phase-16s": {"cross_phase"},
    "clock-drift-2s": {"clock_drift"},
    "low-voltage-2s": {"service_voltage"},
    "tamper-2s": {"status_flags"},
    "voltage-imbalance-16s": {"voltage_imbalance"},
    "hot-socket-2s": {"meter_temperature"},
    "wrong-meter-2s": {"meter_identity"},
}


def work_order_args(name: str) -> list[str]:
    """The command line a technician types from the scenario's work order."""
    data = scenario_data(name)
    wo = data["work_order"]
    now = datetime.now(UTC)
    args = [
        "--service-type", wo["service_type"],
        "--nominal-voltage", str(wo["nominal_voltage"]),
        "--meter-number", wo["meter_number"],
    ]  # fmt: skip
    if "form" in wo:
        args += ["--form", wo["form"]]
    if "last_read_kwh" in wo:
        args += ["--last-read-kwh", str(wo["last_read_kwh"])]
    if "last_read_days_ago" in wo:
        when = now - timedelta(days=wo["last_read_days_ago"])
        args += ["--last-read-date", when.strftime("%Y-%m-%dT%H:%M:%S")]
    if "last_visit_days_ago" in wo:
        when = now - timedelta(days=wo["last_visit_days_ago"])
        args += ["--last-visit", when.strftime("%Y-%m-%dT%H:%M:%S")]
    if wo.get("net_metering"):
        args.append("--net-metering")
    passwords = data.get("security", {}).get("passwords", [])
    if passwords:
        args += ["--password", passwords[0]["text"]]
    return args


@pytest.mark.parametrize("scenario", sorted(MUST_FAIL))
def test_scenario_verdicts(sim: Any, scenario: str) -> None:
    simulator = sim(scenario)
    result = run_cli("check", "--port", simulator.url, "--json", *work_order_args(scenario))
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    checks = {c["id"]: c for c in report["checks"]}
    assert list(checks) == list(CHECK_IDS)
    failed = {cid for cid, c in checks.items() if c["status"] == "fail"}
    assert failed == MUST_FAIL[scenario], {cid: checks[cid]["message"] for cid in failed}
    others = {cid: c["status"] for cid, c in checks.items() if cid not in failed}
    assert set(others.values()) <= {"pass", "skip"}, {
        cid: checks[cid]["message"] for cid, status in others.items() if status != "pass"
    }
    for cid in failed:
        assert checks[cid]["message"]
        assert checks[cid]["likely_causes"], f"{cid} failed without likely causes"
    assert report["verdict"] == ("fail" if failed else "pass")


def test_check_human_output_has_verdict_table(sim: Any) -> None:
    simulator = sim("reversed-ct-16s")
    result = run_cli("check", "--port", simulator.url, *work_order_args("reversed-ct-16s"))
    assert result.code == 0, result.stderr
    assert "polarity" in result.stdout
    assert "FAIL" in result.stdout
    assert "Overall verdict: FAIL" in result.stdout


def test_bad_policy_file_names_the_key(sim: Any, tmp_path: Any) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[clock_drift]\nwarn_seconds = 'sixty'\n")
    result = run_cli(
        "check", "--port", "socket://127.0.0.1:9", "--service-type", "1ph-3w",
        "--nominal-voltage", "240", "--policy", str(policy),
    )  # fmt: skip
    assert result.code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "clock_drift" in lines[0]
    assert "warn_seconds" in lines[0]


def test_policy_file_changes_a_verdict(sim: Any, tmp_path: Any) -> None:
    # The utility tolerates 10 minutes of drift: clock-drift-2s now passes that check.
    simulator = sim("clock-drift-2s")
    policy = tmp_path / "policy.toml"
    policy.write_text("[clock_drift]\nwarn_seconds = 300\nfail_seconds = 600\n")
    result = run_cli(
        "check", "--port", simulator.url, "--json", "--policy", str(policy),
        *work_order_args("clock-drift-2s"),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    checks = {c["id"]: c["status"] for c in json.loads(result.stdout)["checks"]}
    assert checks["clock_drift"] == "warn"
