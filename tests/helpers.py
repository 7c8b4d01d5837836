"""Helpers shared by the simulator-backed tests: scenario data and running the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from fieldkit.drivers.base import create_driver
from fieldkit.model import SiteExpectation
from fieldkit.sync.schema import Outcome
from fieldkit.visit import run_visit, visit_document
from simulators.c1218.server import start
from simulators.scenario import Scenario

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


def expectation_of(scenario: str | Mapping[str, Any]) -> SiteExpectation:
    """What the scenario's work order (a shipped scenario's name, or its data) tells the
    checks to expect."""
    data = scenario_data(scenario) if isinstance(scenario, str) else scenario
    wo = data["work_order"]
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


def _merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` laid over it, tables merged key by key."""
    merged = dict(base)
    for key, value in changes.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = _merged(old, value)
        else:
            merged[key] = value
    return merged


def _shifted(value: Any, delta: timedelta) -> Any:
    """``value`` with every datetime in it (however deep in the document) ``delta`` earlier."""
    if isinstance(value, datetime):
        return value - delta
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        return value.model_copy(update={n: _shifted(getattr(value, n), delta) for n in fields})
    if isinstance(value, tuple | list):
        return type(value)(_shifted(v, delta) for v in value)
    return value


def field_visit(
    scenario: str,
    work_order: str | None,
    outcome: Outcome,
    *,
    changes: Mapping[str, Any] | None = None,
    days_ago: float = 0.0,
) -> dict[str, Any]:
    """A visit document as the laptop pushes it (JSON-ready): the scenario's simulated meter
    read by the real driver on 127.0.0.1 and judged by the real checks against its work order
    (``None``: an ad-hoc visit).

    ``changes`` are laid over the scenario file's tables first (the same meter on another
    day: ``{"clock": {"drift_seconds": 20.0}}``). ``days_ago`` moves every time in the
    document that many days back, as if the visit had been made then: what was read and
    judged is unchanged, relative to the visit's own time. (The capture's frames keep the
    bytes of the day they were read.)
    """
    data = _merged(scenario_data(scenario), changes or {})
    simulator = start(Scenario.model_validate(data))
    try:
        driver = create_driver("c1218", simulator.url)
        result = run_visit(driver, expectation_of(data), work_order_id=work_order)
    finally:
        simulator.stop()
    document = visit_document(
        result,
        technician="demo-tech",
        outcome=outcome,
        notes=[f"Site visit for {work_order or 'meter ' + str(data['meter']['meter_id'])}."],
    )
    if days_ago:
        document = _shifted(document, timedelta(days=days_ago))
    pushed: dict[str, Any] = document.model_dump(mode="json")
    return pushed
