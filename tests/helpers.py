"""Helpers shared by the simulator-backed tests: scenario data and running the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fieldkit.drivers.base import create_driver
from fieldkit.model import SiteExpectation
from fieldkit.sync.schema import Outcome
from fieldkit.visit import run_visit, visit_document
from simulators.c1218.server import start

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "simulators" / "scenarios"


def scenario_data(name: str) -> dict[str, Any]:
    """The scenario file as the utility's side would know it (the work order part)."""
    data: dict[str, Any] = tomllib.loads((SCENARIOS / f"{name}.toml").read_text())
    return data


@dataclass
class CliResult:
    """What a command printed and returned."""

    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, timeout: float = 90.0, env: dict[str, str] | None = None) -> CliResult:
    """Run ``python -m fieldkit ARGS`` as a user would."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "fieldkit", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def laptop_env(home: Path, technician: str) -> dict[str, str]:
    """Make ``home`` a laptop whose secrets are in the encrypted file (no keyring); its env."""
    home.mkdir()
    (home / "config.toml").write_text('[secrets]\nbackend = "file"\n', encoding="utf-8")
    return {
        "FIELDKIT_HOME": str(home),
        "FIELDKIT_TECHNICIAN": technician,
        "FIELDKIT_SECRETS_PASSPHRASE": "correct horse battery staple",
    }


def expectation_of(scenario: str) -> SiteExpectation:
    """What the scenario's work order tells the checks to expect."""
    wo = scenario_data(scenario)["work_order"]
    now = datetime.now(UTC)
    return SiteExpectation(
        meter_number=wo["meter_number"],
        form=wo.get("form"),
        service_type=wo["service_type"],
        nominal_voltage=float(wo["nominal_voltage"]),
        last_read_kwh=wo.get("last_read_kwh"),
        last_read_at=now - timedelta(days=wo["last_read_days_ago"])
        if "last_read_days_ago" in wo
        else None,
        last_visit_at=now - timedelta(days=wo["last_visit_days_ago"])
        if "last_visit_days_ago" in wo
        else None,
        net_metering=bool(wo.get("net_metering", False)),
    )


def field_visit(scenario: str, work_order: str, outcome: Outcome) -> dict[str, Any]:
    """A visit document as the laptop pushes it (JSON-ready): the scenario's simulated meter
    read by the real driver on 127.0.0.1 and judged by the real checks against its work order."""
    simulator = start(scenario)
    try:
        driver = create_driver("c1218", simulator.url)
        result = run_visit(driver, expectation_of(scenario), work_order_id=work_order)
    finally:
        simulator.stop()
    document = visit_document(
        result,
        technician="demo-tech",
        outcome=outcome,
        notes=[f"Site visit for {work_order}."],
    )
    data: dict[str, Any] = document.model_dump(mode="json")
    return data
