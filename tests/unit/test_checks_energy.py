"""reverse_energy, register_read and events."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fieldkit.checks import run
from fieldkit.checks.policy import parse_policy
from fieldkit.model import (
    CheckStatus,
    MeterEvent,
    Register,
    ServiceType,
    SiteExpectation,
    Unavailable,
)

from .test_checks_support import (
    FAIL,
    PASS,
    READ_AT,
    SKIP,
    WARN,
    causes_text,
    check,
    expect,
    healthy_phases,
    result,
    snapshot,
)

WYE = expect(ServiceType.WYE)


def _registers(delivered: float = 15000.0, received: float = 0.0) -> tuple[Register, ...]:
    return (Register("kwh_delivered", delivered, "kWh"), Register("kwh_received", received, "kWh"))


# --- reverse_energy --------------------------------------------------------------------------


def test_positive_power_no_received_energy_passes() -> None:
    r = check("reverse_energy", healthy_phases(ServiceType.WYE), WYE, total_active_power=3600.0)
    assert r.status is PASS
    assert "3.600 kW" in (r.measured or "")


def test_negative_power_without_net_metering_fails() -> None:
    r = check("reverse_energy", [], SiteExpectation(), total_active_power=-2500.0)
    assert r.status is FAIL
    assert "grid" in r.message
    assert "net-metering" in causes_text(r) or "net metering" in causes_text(r)


@pytest.mark.parametrize(("received", "status"), [(0.0, PASS), (1.0, PASS), (1.01, FAIL)])
def test_received_energy_tolerance(received: float, status: CheckStatus) -> None:
    r = check("reverse_energy", registers=_registers(received=received), total_active_power=500.0)
    assert r.status is status


def test_net_metering_allows_export() -> None:
    r = check(
        "reverse_energy",
        expectation=SiteExpectation(net_metering=True),
        registers=_registers(received=812.0),
        total_active_power=-4000.0,
    )
    assert r.status is PASS


def test_near_zero_negative_power_at_no_load_is_noise() -> None:
    phases = healthy_phases(ServiceType.WYE, amps=0.01)
    r = check("reverse_energy", phases, WYE, total_active_power=-0.4)
    assert r.status is PASS


def test_sign_taken_from_the_phasors_when_no_total_is_reported() -> None:
    phases = healthy_phases(ServiceType.ONE_PHASE_3W, pf_deg=180.0)
    r = check("reverse_energy", phases, expect(ServiceType.ONE_PHASE_3W), registers=())
    assert r.status is FAIL
    assert "V·I·cos" in (r.measured or "")


def test_nothing_to_judge_skips() -> None:
    assert check("reverse_energy", registers=()).status is SKIP


# --- register_read ---------------------------------------------------------------------------


def _read(present: float, last: float, days: float | None) -> CheckStatus:
    work_order = SiteExpectation(
        last_read_kwh=last,
        last_read_at=None if days is None else READ_AT - timedelta(days=days),
    )
    return check("register_read", expectation=work_order, registers=_registers(present)).status


def test_register_below_the_last_billed_read_fails() -> None:
    assert _read(14999.0, 15000.0, 30) is FAIL


def test_register_equal_to_the_last_read_passes() -> None:
    assert _read(15000.0, 15000.0, 30) is PASS


def test_consumption_rate_at_and_above_the_policy_limit() -> None:
    assert _read(15000.0 + 300.0 * 30, 15000.0, 30) is PASS  # exactly 300 kWh/day
    assert _read(15000.0 + 301.0 * 30, 15000.0, 30) is WARN


def test_a_few_hours_since_the_read_count_as_a_day() -> None:
    assert _read(15000.0 + 250.0, 15000.0, 0.1) is PASS


def test_no_read_date_checks_only_the_direction() -> None:
    assert _read(99999.0, 15000.0, None) is PASS


def test_register_read_skips_without_a_last_read_or_a_register() -> None:
    assert check("register_read").status is SKIP
    no_register = check(
        "register_read", expectation=SiteExpectation(last_read_kwh=1.0), registers=()
    )
    assert no_register.status is SKIP
    assert "kwh_delivered" in no_register.message


def test_rollover_is_offered_as_a_cause() -> None:
    r = check(
        "register_read",
        expectation=SiteExpectation(last_read_kwh=99990.0),
        registers=_registers(12.0),
    )
    assert "rolled over" in causes_text(r)


def test_an_absurd_last_read_is_below_the_register_not_a_rollover() -> None:
    # Found by the random-snapshot test: a last read of 1e300 made the dial-wrap arithmetic
    # overflow. No register display has that many dials: it fails as below the last read.
    r = check(
        "register_read",
        expectation=SiteExpectation(last_read_kwh=1e300, last_read_at=READ_AT - timedelta(30)),
        registers=_registers(12.0),
    )
    assert r.status is FAIL  # a plausible dial wrap would have been a warning


# --- events ----------------------------------------------------------------------------------


def _event(code: int, days_ago: float, name: str = "", manufacturer: bool = False) -> MeterEvent:
    return MeterEvent(
        code=code,
        name=name or f"event {code}",
        timestamp=READ_AT - timedelta(days=days_ago),
        manufacturer=manufacturer,
    )


LOG = (
    _event(1, 40),  # outage before the last visit
    _event(2, 40),
    _event(1, 5),  # outage since
    _event(2, 5),
    _event(3, 4),  # one time change, logged as old/new pair
    _event(4, 4),
    _event(7, 3),  # accessed for read: every optical read logs it, not tamper
    _event(47, 2),  # tamper attempt
    _event(20, 1),  # demand reset
    _event(41, 1, name="Tamper detect (cover)", manufacturer=True),
)
LAST_VISIT = SiteExpectation(last_visit_at=READ_AT - timedelta(days=30))


def test_events_summarise_since_the_last_visit() -> None:
    r = check("events", expectation=LAST_VISIT, events=LOG)
    assert r.status is PASS
    assert r.message == (
        "1 power outage, 2 tamper/security events, 1 demand reset, 1 time change "
        f"since the last visit ({(READ_AT - timedelta(days=30)).date().isoformat()})"
    )


def test_events_without_a_last_visit_count_the_whole_log() -> None:
    r = check("events", events=LOG)
    assert r.message.startswith("2 power outages")
    assert "in the log" in r.message


def test_policy_can_make_a_category_warn() -> None:
    policy = parse_policy({"events": {"warn_categories": ["tamper"]}})
    results = run(snapshot(events=LOG), LAST_VISIT, policy)
    assert result(results, "events").status is WARN
    quiet = run(snapshot(events=LOG[:2]), LAST_VISIT, policy)  # only the old outage
    assert result(quiet, "events").status is PASS


def test_no_event_log_skips_with_the_drivers_reason() -> None:
    r = check(
        "events",
        unavailable=(Unavailable("events", "meter has no event log (ST76 not supported)"),),
    )
    assert r.status is SKIP
    assert "ST76" in r.message
