"""The same site, read over Modbus and over C12.18, gets the same verdicts.

Checks that need what a Modbus map does not carry (the clock, ST3 status, the event log, the
meter's temperature, and identity on a map without identity registers) skip over Modbus; every
other check must agree id by id. A crossed *voltage* lead is the one fault a meter without
voltage-angle registers cannot see as such: its per-element power factors show the currents
far from their places, so polarity fails where C12.18 fails cross_phase. The verdict is fail
either way, and a map with measured angles (tests/fixtures/modbus/with-angles.toml) agrees
check by check.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from fieldkit.checks import run, verdict
from fieldkit.drivers.base import create_driver, read_once
from fieldkit.model import CheckResult, CheckStatus, MeterSnapshot, ServiceType, SiteExpectation
from simulators.c1218.server import start as start_c1218
from simulators.modbus.server import ModbusSimOptions
from simulators.modbus.server import start as start_modbus
from tests.helpers import scenario_data

pytestmark = pytest.mark.sim

SCENARIOS = [
    "healthy-16s",
    "reversed-ct-16s",
    "missing-phase-16s",
    "crossed-phase-16s",
    "low-voltage-16s",
    "voltage-imbalance-16s",
]
ANGLES_MAP = Path(__file__).resolve().parents[1] / "fixtures" / "modbus" / "with-angles.toml"
NOT_ON_MODBUS = {"clock_drift", "status_flags", "events", "meter_temperature"}
# Without voltage-angle registers the kit places the voltages on the diagram itself: a
# cross_phase pass would claim what was never measured, so it skips and says why.
NO_ANGLE_REGISTERS = {"cross_phase"}
NO_IDENTITY_REGISTERS = {"eastron-sdm630"}


def expectation(name: str, read_at: datetime) -> SiteExpectation:
    wo = scenario_data(name)["work_order"]
    return SiteExpectation(
        meter_number=wo["meter_number"],
        form=wo.get("form"),
        service_type=ServiceType(wo["service_type"]),
        nominal_voltage=wo["nominal_voltage"],
        last_read_kwh=wo.get("last_read_kwh"),
        last_read_at=read_at - timedelta(days=wo["last_read_days_ago"]),
        last_visit_at=read_at - timedelta(days=wo["last_visit_days_ago"]),
    )


def verdicts(snapshot: MeterSnapshot | None, name: str) -> dict[str, CheckStatus]:
    assert snapshot is not None
    return {r.id: r.status for r in run(snapshot, expectation(name, snapshot.read_at))}


@pytest.fixture(scope="module")
def c1218_verdicts() -> dict[str, dict[str, CheckStatus]]:
    out = {}
    for name in SCENARIOS:
        with start_c1218(name) as sim:
            outcome = read_once(create_driver("c1218", sim.url))
        assert outcome.ok, outcome.error
        out[name] = verdicts(outcome.snapshot, name)
    return out


def modbus_verdicts(name: str, map_name: str) -> dict[str, CheckStatus]:
    with start_modbus(name, map_name=map_name, options=ModbusSimOptions()) as sim:
        outcome = read_once(create_driver("modbus", sim.url, {"map": str(map_name)}))
    assert outcome.ok, outcome.error
    return verdicts(outcome.snapshot, name)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("map_name", ["eastron-sdm630", "schneider-pm5100"])
def test_same_verdicts_as_c1218(
    c1218_verdicts: dict[str, dict[str, CheckStatus]], scenario: str, map_name: str
) -> None:
    ansi = c1218_verdicts[scenario]
    modbus = modbus_verdicts(scenario, map_name)
    skipped = NOT_ON_MODBUS | NO_ANGLE_REGISTERS
    skipped |= {"meter_identity"} if map_name in NO_IDENTITY_REGISTERS else set()
    for check_id in skipped:
        assert modbus[check_id] is CheckStatus.SKIP, check_id
    if scenario == "crossed-phase-16s":
        assert (ansi["cross_phase"], ansi["polarity"]) == (CheckStatus.FAIL, CheckStatus.SKIP)
        assert modbus["polarity"] is CheckStatus.FAIL
        skipped |= {"polarity", "phase_angle"}
    same = {k: v for k, v in ansi.items() if k not in skipped}
    assert {k: modbus[k] for k in same} == same
    assert verdict(_results(modbus)) == verdict(_results(ansi))


def _results(statuses: dict[str, CheckStatus]) -> list[CheckResult]:
    """The verdicts of the checks both protocols can run, as results for ``verdict``."""
    return [CheckResult(k, v, "") for k, v in statuses.items() if k not in NOT_ON_MODBUS]


def test_measured_angles_see_the_crossed_voltage_lead(
    c1218_verdicts: dict[str, dict[str, CheckStatus]],
) -> None:
    ansi = c1218_verdicts["crossed-phase-16s"]
    modbus = modbus_verdicts("crossed-phase-16s", str(ANGLES_MAP))
    compared = {k: v for k, v in ansi.items() if k not in NOT_ON_MODBUS | {"meter_identity"}}
    assert {k: modbus[k] for k in compared} == compared
    assert modbus["cross_phase"] is CheckStatus.FAIL
