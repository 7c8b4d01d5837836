"""Numeric values on check results: the numbers each check judged, for the office to trend.

The expected figures are worked out here from the readings and the documented defaults
(Range A ±5 %, imbalance warn 2 % / 20 %, drift ±60 s, ±90° polarity window, ±45° envelope,
60 ±0.1 Hz, 300 kWh/day, 70 °C), not read back from the checks.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from fieldkit.checks import run
from fieldkit.checks.quantities import QUANTITIES
from fieldkit.model import (
    CheckResult,
    MeterIdentity,
    MeterSnapshot,
    Quantity,
    Register,
    ServiceType,
    SiteExpectation,
)

from .test_checks_support import (
    PF_09_LAG,
    READ_AT,
    check,
    expect,
    healthy_phases,
    phase,
    result,
    snapshot,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "checks.md"


def _one(r: CheckResult, name: str, element: str | None = None) -> Quantity:
    found = [q for q in r.values if q.name == name and q.element == element]
    assert len(found) == 1, (name, element, r.values)
    return found[0]


def _band(q: Quantity) -> tuple[float | None, float | None, float | None]:
    return q.expected, q.low, q.high


def test_service_voltage_gives_each_element_against_its_nominal_and_range_a() -> None:
    phases = [phase("A", 124.0, 0.0, 10, 0), phase("B", 118.0, 120, 10, 120)]
    phases.append(phase("C", 120.0, 240, 10, 240))
    r = check("service_voltage", phases, expect(ServiceType.WYE))
    for name, volts in (("A", 124.0), ("B", 118.0), ("C", 120.0)):
        q = _one(r, "voltage", name)
        assert (q.value, q.unit) == (volts, "V")
        assert _band(q) == (120.0, 114.0, 126.0)


def test_service_voltage_values_are_primary_and_per_element_nominal() -> None:
    # 240 V 4-wire delta behind 2:1 PTs: elements 120 / 207.8 / 120 V primary.
    phases = healthy_phases(ServiceType.DELTA_4W, scale=0.5)
    r = check("service_voltage", phases, expect(ServiceType.DELTA_4W, pt_ratio=2.0))
    b = _one(r, "voltage", "B")
    high_leg = 240.0 * math.sqrt(3) / 2
    assert b.value == pytest.approx(high_leg)
    assert b.expected == pytest.approx(high_leg)
    assert (b.low, b.high) == (pytest.approx(high_leg * 0.95), pytest.approx(high_leg * 1.05))
    assert _one(r, "voltage", "A").expected == pytest.approx(120.0)


def test_voltage_imbalance_is_one_percentage_against_the_warn_limit() -> None:
    # 123 / 120 / 117 V: average 120 V, A 3 V off = 2.5 %.
    phases = [phase("A", 123.0, 0, 10, 0), phase("B", 120.0, 120, 10, 120)]
    phases.append(phase("C", 117.0, 240, 10, 240))
    q = _one(check("voltage_imbalance", phases, expect(ServiceType.WYE)), "imbalance")
    assert (q.value, q.unit) == (pytest.approx(2.5), "%")
    assert _band(q) == (0.0, 0.0, 2.0)


@pytest.mark.parametrize("drift", [75.0, -3.0])
def test_clock_drift_is_signed_seconds_within_the_warn_limit(drift: float) -> None:
    q = _one(check("clock_drift", drift_s=drift), "drift")
    assert (q.value, q.unit) == (drift, "s")
    assert _band(q) == (0.0, -60.0, 60.0)


def _wye(a: float, b: float, c: float) -> list:  # type: ignore[type-arg]
    return [phase("A", 120, 0, a, 0), phase("B", 120, 120, b, 120), phase("C", 120, 240, c, 240)]


def test_current_imbalance_gives_the_currents_and_the_percentage() -> None:
    # 10 / 5 / 10 A: average 8.333 A, B 3.333 A below = 40 %.
    r = check("current_imbalance", _wye(10.0, 5.0, 10.0), expect(ServiceType.WYE))
    assert [(_one(r, "current", n).value) for n in "ABC"] == [10.0, 5.0, 10.0]
    assert _one(r, "current", "B").unit == "A"
    q = _one(r, "imbalance")
    assert q.value == pytest.approx(40.0)
    assert q.high == 20.0


def test_inactive_phase_current_gives_the_currents_against_the_floor() -> None:
    r = check("inactive_phase_current", _wye(10.0, 0.0, 9.5), expect(ServiceType.WYE))
    b = _one(r, "current", "B")
    assert (b.value, b.low) == (0.0, 0.1)  # class unknown: the CL20 floor
    cl200 = check(
        "inactive_phase_current", _wye(10.0, 0.0, 9.5), expect(ServiceType.WYE, form="16S")
    )
    assert _one(cl200, "current", "B").low == 1.0


def test_polarity_gives_current_angles_near_their_places() -> None:
    # Wye at 0.9 PF lagging (25.84°), A's CT reversed: IA reads 205.84°, i.e. 154.16° ahead
    # of its 0° place.
    phases = healthy_phases(ServiceType.WYE, pf_deg=PF_09_LAG)
    phases[0] = replace(phases[0], current_angle=180.0 + PF_09_LAG)
    r = check("polarity", phases, expect(ServiceType.WYE))
    a = _one(r, "current_angle", "A")
    assert (a.value, a.unit) == (pytest.approx(PF_09_LAG - 180.0), "deg")
    assert _band(a) == (0.0, -90.0, 90.0)
    b = _one(r, "current_angle", "B")
    assert b.value == pytest.approx(120.0 + PF_09_LAG)
    assert _band(b) == (120.0, 30.0, 210.0)


def test_polarity_window_spans_a_networks_load_arc() -> None:
    # Network: 208 V loads put IA 30° behind VA and IC 30° ahead of VC (docs/checks.md), so
    # the window runs from 90° ahead of one place to 90° behind the other.
    phases = healthy_phases(ServiceType.NETWORK, pf_deg=15.0)
    r = check("polarity", phases, expect(ServiceType.NETWORK))
    a = _one(r, "current_angle", "A")
    assert a.value == pytest.approx(15.0)
    assert _band(a) == (0.0, -90.0, 120.0)
    c = _one(r, "current_angle", "C")
    assert _band(c) == (240.0, 120.0, 330.0)


def test_phase_angle_gives_power_factor_angles_inside_the_envelope() -> None:
    # 3-wire delta: IA's unity place is 30° behind VAB; a current at 55.84° is 25.84° lag.
    phases = healthy_phases(ServiceType.DELTA_3W, pf_deg=PF_09_LAG)
    r = check("phase_angle", phases, expect(ServiceType.DELTA_3W))
    for name in ("A", "C"):
        q = _one(r, "pf_angle", name)
        assert (q.value, q.unit) == (pytest.approx(PF_09_LAG), "deg")
        assert _band(q) == (0.0, -45.0, 45.0)


def test_cross_phase_gives_voltage_angles_near_the_diagram() -> None:
    # The meter puts VA at 2°: the frame moves everything 2° back.
    phases = [phase("A", 120, 2.0, 10, 2), phase("B", 120, 123.5, 10, 122)]
    phases.append(phase("C", 120, 1.0, 10, 242))  # C's PT lead on A's phase: 1° - 2° = -1°
    r = check("cross_phase", phases, expect(ServiceType.WYE))
    b = _one(r, "voltage_angle", "B")
    assert (b.value, b.unit) == (pytest.approx(121.5), "deg")
    assert _band(b) == (120.0, 110.0, 130.0)
    c = _one(r, "voltage_angle", "C")
    # 359° against 240°: 119° ahead, given within ±180° of the expected angle.
    assert c.value == pytest.approx(359.0)
    assert c.expected == 240.0
    a = _one(r, "voltage_angle", "A")
    assert a.value == pytest.approx(0.0)


def test_frequency_against_the_pass_band() -> None:
    q = _one(check("frequency", frequency=60.03), "frequency")
    assert (q.value, q.unit) == (60.03, "Hz")
    assert _band(q) == (60.0, pytest.approx(59.9), pytest.approx(60.1))


def test_register_read_gives_the_read_and_the_rate() -> None:
    work_order = SiteExpectation(last_read_kwh=14_800.0, last_read_at=READ_AT - timedelta(days=20))
    r = check("register_read", (), work_order)  # the snapshot reads 15,000 kWh
    energy = _one(r, "energy")
    assert (energy.value, energy.unit) == (15_000.0, "kWh")
    assert (energy.expected, energy.low) == (14_800.0, 14_800.0)
    rate = _one(r, "energy_per_day")
    assert (rate.value, rate.unit, rate.high) == (10.0, "kWh/day", 300.0)


def test_register_read_without_a_date_gives_no_rate() -> None:
    r = check("register_read", (), SiteExpectation(last_read_kwh=14_800.0))
    assert [q.name for q in r.values] == ["energy"]


def test_meter_temperature_against_the_warn_limit() -> None:
    q = _one(check("meter_temperature", temperature_c=72.5), "temperature")
    assert (q.value, q.unit, q.high) == (72.5, "degC", 70.0)


def test_reverse_energy_gives_power_and_received_energy() -> None:
    registers = (Register("kwh_delivered", 15_000.0, "kWh"), Register("kwh_received", 12.5, "kWh"))
    r = check(
        "reverse_energy",
        healthy_phases(ServiceType.WYE),
        expect(ServiceType.WYE),
        total_active_power=-3250.0,
        registers=registers,
    )
    power = _one(r, "active_power")
    assert (power.value, power.unit, power.low) == (-3250.0, "W", 0.0)
    received = _one(r, "received_energy")
    assert (received.value, received.unit, received.high) == (12.5, "kWh", 1.0)
    net = check(
        "reverse_energy",
        healthy_phases(ServiceType.WYE),
        expect(ServiceType.WYE, net_metering=True),
        total_active_power=-3250.0,
        registers=registers,
    )
    assert _one(net, "active_power").low is None  # either direction is allowed


def test_a_skip_with_nothing_measured_has_no_values() -> None:
    bare = MeterSnapshot(protocol="c1218", identity=MeterIdentity("X", "Y", "1"), read_at=READ_AT)
    for r in run(bare, SiteExpectation()):
        if r.measured is None:
            assert r.values == (), r.id


def test_checks_without_numbers_give_none() -> None:
    results = run(snapshot(healthy_phases(ServiceType.WYE)), expect(ServiceType.WYE))
    for check_id in ("meter_identity", "status_flags", "events", "service_type"):
        assert result(results, check_id).values == ()


def test_every_value_uses_the_vocabulary_and_the_docs_list_it() -> None:
    phases = healthy_phases(ServiceType.WYE, pf_deg=PF_09_LAG)
    work_order = expect(
        ServiceType.WYE, last_read_kwh=14_000.0, last_read_at=READ_AT - timedelta(days=30)
    )
    results = run(snapshot(phases, total_active_power=3000.0), work_order)
    seen = {q.name for r in results for q in r.values}
    for r in results:
        for q in r.values:
            assert QUANTITIES[q.name] == q.unit, (r.id, q)
            assert math.isfinite(q.value)
    assert seen == set(QUANTITIES)
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", DOCS.read_text(encoding="utf-8"), re.M))
    assert set(QUANTITIES) <= documented
