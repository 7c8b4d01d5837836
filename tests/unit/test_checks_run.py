"""run and verdict: order, completeness, and no crash on any plausible snapshot."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldkit.checks import CHECK_IDS, run, verdict
from fieldkit.model import (
    STATUS_FLAG_NAMES,
    CheckResult,
    CheckStatus,
    ClockReading,
    MeterEvent,
    MeterIdentity,
    MeterSnapshot,
    PhaseQuantities,
    Register,
    ServiceType,
    SiteExpectation,
    StatusFlags,
)

from .test_checks_support import FAIL, PASS, SKIP, WARN, expect, healthy_phases, snapshot

BRIEF_ORDER = (
    "meter_identity",
    "clock_drift",
    "status_flags",
    "service_voltage",
    "voltage_imbalance",
    "inactive_phase_current",
    "current_imbalance",
    "service_type",
    "cross_phase",
    "polarity",
    "phase_angle",
    "reverse_energy",
    "frequency",
    "register_read",
    "events",
    "meter_temperature",
)


def test_check_ids_are_the_briefs_list_in_its_order() -> None:
    assert CHECK_IDS == BRIEF_ORDER


def test_run_returns_one_result_per_check_in_order() -> None:
    results = run(snapshot(healthy_phases(ServiceType.WYE)), expect(ServiceType.WYE))
    assert [r.id for r in results] == list(CHECK_IDS)


def test_an_empty_snapshot_skips_what_it_cannot_judge_with_reasons() -> None:
    bare = MeterSnapshot(
        protocol="modbus",
        identity=MeterIdentity("X", "Y", ""),
        read_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    results = run(bare, SiteExpectation())
    assert {r.status for r in results} == {SKIP}
    assert all(r.message for r in results)
    assert verdict(results) is SKIP


def _r(status: CheckStatus) -> CheckResult:
    return CheckResult("x", status, "m")


def test_verdict_takes_the_worst() -> None:
    assert verdict([_r(PASS), _r(SKIP), _r(WARN)]) is WARN
    assert verdict([_r(WARN), _r(FAIL), _r(PASS)]) is FAIL
    assert verdict([_r(PASS), _r(SKIP)]) is PASS
    assert verdict([_r(SKIP), _r(SKIP)]) is SKIP
    assert verdict([]) is SKIP


def test_now_is_the_snapshots_read_time_not_the_laptops_clock() -> None:
    # A read taken in 2001 must judge the rate over the days before 2001, whatever today is.
    old = datetime(2001, 6, 1, tzinfo=UTC)
    snap = snapshot(read_at=old, registers=(Register("kwh_delivered", 1300.0, "kWh"),))
    work_order = SiteExpectation(last_read_kwh=1000.0, last_read_at=old - timedelta(days=30))
    first = run(snap, work_order)
    assert first == run(snap, work_order)
    rate = next(r for r in first if r.id == "register_read")
    assert "10.0 kWh/day" in rate.message


# --- fuzz ------------------------------------------------------------------------------------

volts = st.one_of(st.none(), st.floats(0.0, 700.0), st.sampled_from([0.0, 120.0, 207.8, 240.0]))
angles = st.one_of(st.none(), st.floats(-720.0, 720.0))
amps = st.one_of(st.none(), st.floats(-5.0, 400.0), st.just(0.0))
wild = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none())


@st.composite
def phases(draw: st.DrawFn) -> tuple[PhaseQuantities, ...]:
    names = draw(st.lists(st.sampled_from(["A", "B", "C", "a", "N"]), max_size=4))
    number = draw(st.sampled_from([volts, wild]))
    return tuple(
        PhaseQuantities(
            phase=name,
            voltage=draw(number),
            current=draw(amps),
            voltage_angle=draw(angles),
            current_angle=draw(angles),
            power_factor=draw(st.one_of(st.none(), st.floats(-1.0, 1.0))),
            active_power=draw(st.one_of(st.none(), st.floats(-1e5, 1e5))),
        )
        for name in names
    )


moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


@st.composite
def snapshots(draw: st.DrawFn) -> MeterSnapshot:
    read_at = draw(moments)
    clock = draw(
        st.one_of(
            st.none(),
            st.builds(
                ClockReading,
                meter_time=st.just(read_at)
                | st.builds(lambda s: read_at + timedelta(seconds=s), st.floats(-1e6, 1e6)),
                reference_time=st.just(read_at),
            ),
        )
    )
    return MeterSnapshot(
        protocol="c1218",
        identity=MeterIdentity(
            "FKIT", "SIM", draw(st.text(max_size=8)), draw(st.none() | st.text(max_size=20))
        ),
        read_at=read_at,
        clock=clock,
        status=draw(
            st.none()
            | st.builds(
                StatusFlags,
                active=st.frozensets(st.sampled_from([*STATUS_FLAG_NAMES, "vendor_flag"])),
                test_mode=st.none() | st.booleans(),
            )
        ),
        registers=tuple(
            draw(
                st.lists(
                    st.builds(
                        Register,
                        id=st.sampled_from(["kwh_delivered", "kwh_received", "kvarh_delivered"]),
                        value=st.floats(allow_nan=True, allow_infinity=True),
                        unit=st.just("kWh"),
                    ),
                    max_size=3,
                )
            )
        ),
        phases=draw(phases()),
        frequency=draw(st.none() | st.floats(0.0, 400.0) | wild),
        temperature_c=draw(st.none() | st.floats(-40.0, 150.0) | wild),
        total_active_power=draw(st.none() | st.floats(-1e6, 1e6) | wild),
        events=tuple(
            draw(
                st.lists(
                    st.builds(
                        MeterEvent,
                        code=st.integers(0, 2047),
                        name=st.text(max_size=20),
                        timestamp=st.none() | moments | st.datetimes(),
                        manufacturer=st.booleans(),
                    ),
                    max_size=6,
                )
            )
        ),
    )


expectations = st.builds(
    SiteExpectation,
    meter_number=st.none() | st.text(max_size=10),
    service_type=st.none() | st.sampled_from(list(ServiceType)),
    nominal_voltage=st.none() | st.sampled_from([120.0, 240.0, 277.0, 480.0, 7200.0]) | wild,
    pt_ratio=st.sampled_from([1.0, 20.0, 60.0, 0.0, -1.0, math.nan]),
    ct_ratio=st.sampled_from([1.0, 40.0, 0.0]),
    last_read_kwh=st.none() | st.floats(0.0, 1e6) | wild,
    last_read_at=st.none() | moments | st.datetimes(),
    net_metering=st.booleans(),
    last_visit_at=st.none() | moments | st.datetimes(),
    rotation=st.sampled_from(["ABC", "ACB", "acb", "XYZ"]),
    high_leg=st.sampled_from(["A", "B", "C", "N"]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots(), expectations)
def test_random_snapshots_never_raise_and_give_every_check_once(
    snap: MeterSnapshot, work_order: SiteExpectation
) -> None:
    results = run(snap, work_order)
    assert [r.id for r in results] == list(CHECK_IDS)
    for r in results:
        assert isinstance(r.status, CheckStatus)
        assert r.message
        assert "\n" not in r.message
        if r.status in (WARN, FAIL):
            assert r.measured is not None
    verdict(results)


def test_angle_checks_say_when_they_judged_derived_angles() -> None:
    """A Modbus meter's current angles come from PF and the sign of Q: the verdict says so."""
    from fieldkit.model import ServiceType, SiteExpectation

    read_at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    derived = frozenset({"current_angle"})
    reversed_b = (
        PhaseQuantities("A", 120.0, 20.0, 0.0, 10.0, 0.98, 2350.0, derived=derived),
        PhaseQuantities("B", 120.0, 20.0, 120.0, 310.0, -0.98, -2350.0, derived=derived),
        PhaseQuantities("C", 120.0, 20.0, 240.0, 250.0, 0.98, 2350.0, derived=derived),
    )
    snapshot = MeterSnapshot(
        protocol="modbus",
        identity=MeterIdentity("Eastron", "SDM630", ""),
        read_at=read_at,
        phases=reversed_b,
    )
    expectation = SiteExpectation(service_type=ServiceType.WYE, nominal_voltage=120.0)
    results = {r.id: r for r in run(snapshot, expectation)}
    polarity = results["polarity"]
    assert polarity.status is CheckStatus.FAIL
    assert "derived from power factor" in polarity.message
    assert any("crossed voltage lead" in c for c in polarity.likely_causes)
    read = replace(snapshot, phases=tuple(replace(p, derived=frozenset()) for p in reversed_b))
    assert "derived" not in {r.id: r for r in run(read, expectation)}["polarity"].message
