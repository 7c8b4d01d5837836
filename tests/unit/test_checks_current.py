"""inactive_phase_current and current_imbalance."""

from __future__ import annotations

import pytest

from fieldkit.model import CheckStatus, PhaseQuantities, ServiceType

from .test_checks_support import (
    FAIL,
    PASS,
    SKIP,
    WARN,
    causes_text,
    check,
    expect,
    healthy_phases,
    phase,
)

WYE = expect(ServiceType.WYE)


def _wye_amps(a: float, b: float, c: float) -> list[PhaseQuantities]:
    return [
        phase("A", 120.0, 0.0, a, 0.0),
        phase("B", 120.0, 120.0, b, 120.0),
        phase("C", 120.0, 240.0, c, 240.0),
    ]


def test_one_dead_ct_while_others_carry_load_fails() -> None:
    r = check("inactive_phase_current", _wye_amps(10.0, 0.0, 9.5), WYE)
    assert r.status is FAIL
    assert "phase B" in r.message
    assert "ct secondary open or shorted" in causes_text(r)
    assert r.measured == "A 10.00 A, B 0.00 A, C 9.50 A"


@pytest.mark.parametrize(
    ("amps", "status"),
    [(0.1, PASS), (0.0999, FAIL)],  # the floor itself counts as current
)
def test_the_low_current_floor_edge(amps: float, status: CheckStatus) -> None:
    assert check("inactive_phase_current", _wye_amps(10.0, amps, 10.0), WYE).status is status


def test_no_load_anywhere_is_not_an_inactive_phase() -> None:
    # SiteScan Diag 3 does not trigger when every phase is below the floor.
    r = check("inactive_phase_current", _wye_amps(0.0, 0.02, 0.0), WYE)
    assert r.status is PASS
    assert "no load" in r.message


def test_idle_high_leg_on_a_4w_delta_only_warns() -> None:
    phases = healthy_phases(ServiceType.DELTA_4W)
    phases[1] = phase("B", 207.8, 90.0, 0.0, 90.0)
    r = check("inactive_phase_current", phases, expect(ServiceType.DELTA_4W))
    assert r.status is WARN
    assert "three-phase load" in causes_text(r)


def test_idle_low_leg_on_a_4w_delta_fails() -> None:
    phases = healthy_phases(ServiceType.DELTA_4W)
    phases[0] = phase("A", 120.0, 0.0, 0.0, 0.0)
    assert check("inactive_phase_current", phases, expect(ServiceType.DELTA_4W)).status is FAIL


def test_single_element_skips() -> None:
    one = [phase("A", 240.0, 0.0, 0.0, 0.0)]
    for check_id in ("inactive_phase_current", "current_imbalance"):
        r = check(check_id, one, expect(ServiceType.ONE_PHASE_3W))
        assert r.status is SKIP
        assert "one element" in r.message


def test_currents_not_reported_skip() -> None:
    phases = [phase("A", 120.0, 0.0), phase("B", 120.0, 120.0), phase("C", 120.0, 240.0)]
    assert check("inactive_phase_current", phases, WYE).status is SKIP


@pytest.mark.parametrize(
    ("amps", "status"),
    [
        ((10.0, 10.0, 10.0), PASS),
        ((12.0, 9.0, 9.0), PASS),  # A 20 % above the 10 A average: at the limit
        ((12.1, 9.0, 9.0), WARN),  # A 20.3 % above
        ((10.0, 5.0, 10.0), WARN),
    ],
)
def test_current_imbalance_limit(amps: tuple[float, float, float], status: CheckStatus) -> None:
    r = check("current_imbalance", _wye_amps(*amps), WYE)
    assert r.status is status, r.message


def test_current_imbalance_ignores_elements_below_the_floor() -> None:
    # B carries nothing: inactive_phase_current reports it, imbalance looks at A and C only.
    r = check("current_imbalance", _wye_amps(10.0, 0.0, 10.0), WYE)
    assert r.status is PASS


def test_current_imbalance_needs_two_loaded_elements() -> None:
    r = check("current_imbalance", _wye_amps(10.0, 0.0, 0.0), WYE)
    assert r.status is SKIP


def test_imbalance_message_names_the_phase_and_direction() -> None:
    r = check("current_imbalance", _wye_amps(10.0, 5.0, 10.0), WYE)
    assert "B below" in r.message
