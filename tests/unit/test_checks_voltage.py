"""service_voltage and voltage_imbalance on worked examples and at their limits."""

from __future__ import annotations

import pytest

from fieldkit.model import CheckStatus, PhaseQuantities, ServiceType, SiteExpectation

from .test_checks_support import (
    DESIGN,
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


def _wye(a: float, b: float = 120.0, c: float = 120.0, amps: float = 10.0) -> list[PhaseQuantities]:
    return [
        phase("A", a, 0.0, amps, 0.0),
        phase("B", b, 120.0, amps, 120.0),
        phase("C", c, 240.0, amps, 240.0),
    ]


@pytest.mark.parametrize(
    ("volts", "status"),
    [
        (120.0, PASS),
        (126.0, PASS),  # exactly +5 %: inside Range A
        (114.0, PASS),  # exactly -5 %
        (126.012, WARN),  # +5.01 %
        (113.988, WARN),  # -5.01 %
        (110.0, WARN),  # exactly 110 V, the bottom of Range B (-8.33 %): inside it
        (109.99, FAIL),
        (126.972, WARN),  # +5.81 %: still inside Range B (127 V is +5.83 %)
        (127.0, WARN),  # exactly 127 V, the top of Range B
        (127.01, FAIL),
        (73.2, FAIL),  # exactly 61 %: out of range, not lost
    ],
)
def test_ansi_c84_1_ranges_at_their_edges(volts: float, status: CheckStatus) -> None:
    r = check("service_voltage", _wye(volts), WYE)
    assert r.status is status, r.message
    if status is not PASS:
        assert "phase A" in r.message
    assert "lost" not in r.message


def test_range_b_message_says_which_range() -> None:
    warn = check("service_voltage", _wye(112.0), WYE)
    assert "outside ANSI C84.1 Range A, within Range B" in warn.message
    fail = check("service_voltage", _wye(105.0), WYE)
    assert "outside ANSI C84.1 Range B" in fail.message
    assert fail.expected == "120 V ±5 %"
    assert fail.measured == "A 105.0 V, B 120.0 V, C 120.0 V"


def test_lost_phase_below_61_percent_is_named() -> None:
    r = check("service_voltage", _wye(120.0, 120.0, 0.0), WYE)
    assert r.status is FAIL
    assert r.message == "phase C lost: 0.0 V, below 61 % of 120 V"
    assert r.measured == "A 120.0 V, B 120.0 V, C 0.0 V"


def test_just_below_61_percent_is_lost() -> None:
    r = check("service_voltage", _wye(73.19), WYE)
    assert r.status is FAIL
    assert r.message.startswith("phase A lost: 73.2 V")


def test_missing_pt_input_when_the_load_still_draws_current() -> None:
    # Reference rule: one L-N voltage zero and kW about 2/3 -> missing PT input.
    r = check("service_voltage", _wye(120.0, 120.0, 0.0, amps=10.0), WYE)
    assert "missing pt input on phase c" in causes_text(r)
    assert "2/3" in causes_text(r)


def test_dead_phase_without_current_points_at_the_supply() -> None:
    phases = _wye(120.0, 120.0, 0.0)
    phases[2] = phase("C", 0.0, 0.0, 0.0, 0.0)
    r = check("service_voltage", phases, WYE)
    assert "supply side" in causes_text(r)


def test_sitescan_wrong_vt_ratio_example() -> None:
    # SiteScan Diag 2 example: a 277 V wye with 119 V on phase A.
    phases = [
        phase("A", 119.0, 0.0, 5, 0),
        phase("B", 277.0, 120.0, 5, 120),
        phase("C", 277.0, 240.0, 5, 240),
    ]
    r = check("service_voltage", phases, expect(ServiceType.WYE, nominal_voltage=277.0))
    assert r.status is FAIL
    assert "wrong ratio" in causes_text(r)


def test_voltages_compared_on_the_primary_side_with_the_pt_ratio() -> None:
    phases = _wye(120.0, 119.0, 121.0)
    work_order = expect(ServiceType.WYE, nominal_voltage=7200.0, pt_ratio=60.0)
    r = check("service_voltage", phases, work_order)
    assert r.status is PASS
    assert r.measured == "A 7200.0 V, B 7140.0 V, C 7260.0 V (secondary × PT 60)"
    assert r.expected == "7200 V ±5 %"


def test_four_wire_delta_elements_have_their_own_nominals() -> None:
    phases = healthy_phases(ServiceType.DELTA_4W)
    r = check("service_voltage", phases, expect(ServiceType.DELTA_4W))
    assert r.status is PASS
    assert r.expected == "A 120 V, B 207.8 V, C 120 V ±5 %"
    # The high leg at 120 V instead of 208 V is far out of range on that element.
    phases[1] = phase("B", 120.0, 90.0, 10.0, 90.0)
    low_b = check("service_voltage", phases, expect(ServiceType.DELTA_4W))
    assert low_b.status is FAIL
    assert "phase B" in low_b.message


@pytest.mark.parametrize(
    ("service", "scale"), [(s, 1.0) for s in DESIGN] + [(ServiceType.WYE, 277.0 / 120.0)]
)
def test_every_healthy_service_passes(service: ServiceType, scale: float) -> None:
    nominal = DESIGN[service][0] * scale
    r = check(
        "service_voltage",
        healthy_phases(service, scale=scale),
        expect(service, nominal_voltage=nominal),
    )
    assert r.status is PASS, r.message


def test_single_phase_240_from_the_command_line_example() -> None:
    # --service-type 1ph-3w --nominal-voltage 240
    r = check("service_voltage", [phase("A", 238.0, 0.0)], expect(ServiceType.ONE_PHASE_3W))
    assert r.status is PASS


def test_whole_service_consistently_off_suggests_the_work_order() -> None:
    # A 277 V wye entered as 120 V: every element reads 231 %.
    phases = healthy_phases(ServiceType.WYE, scale=277.0 / 120.0)
    r = check("service_voltage", phases, WYE)
    assert r.status is FAIL
    assert "277 v service" in causes_text(r)


def test_no_nominal_skips_unless_a_phase_is_clearly_lost() -> None:
    no_nominal = expect(ServiceType.WYE, nominal_voltage=None)
    assert check("service_voltage", _wye(120.0), no_nominal).status is SKIP
    lost = check("service_voltage", _wye(120.0, 120.0, 2.0), no_nominal)
    assert lost.status is FAIL
    assert "C" in lost.message


def test_unusable_pt_ratio_skips_with_the_reason() -> None:
    r = check("service_voltage", _wye(120.0), expect(ServiceType.WYE, pt_ratio=0.0))
    assert r.status is SKIP
    assert "PT ratio" in r.message


def test_no_service_type_uses_the_detected_one() -> None:
    r = check("service_voltage", _wye(120.0, 105.0), SiteExpectation(nominal_voltage=120.0))
    assert r.status is FAIL
    assert "phase B" in r.message


# --- voltage_imbalance -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spread_pct", "status"),
    [(0.0, PASS), (2.0, PASS), (2.01, WARN), (3.0, WARN), (3.01, FAIL)],
)
def test_imbalance_limits(spread_pct: float, status: CheckStatus) -> None:
    # A and C sit spread_pct below and above B, so the average is B and the max deviation
    # over the average is exactly spread_pct.
    d = spread_pct / 100.0
    r = check("voltage_imbalance", _wye(120.0 * (1 - d), 120.0, 120.0 * (1 + d)), WYE)
    assert r.status is status, r.message


def test_imbalance_skips_when_a_phase_is_lost() -> None:
    r = check("voltage_imbalance", _wye(120.0, 120.0, 0.0), WYE)
    assert r.status is SKIP
    assert "service_voltage" in r.message


def test_imbalance_skips_on_one_element() -> None:
    r = check("voltage_imbalance", [phase("A", 240.0, 0.0)], expect(ServiceType.ONE_PHASE_3W))
    assert r.status is SKIP
    assert "one element" in r.message


def test_imbalance_on_a_4w_delta_is_per_unit() -> None:
    r = check(
        "voltage_imbalance", healthy_phases(ServiceType.DELTA_4W), expect(ServiceType.DELTA_4W)
    )
    assert r.status is PASS
    assert "per unit" in (r.measured or "")


def test_imbalance_names_the_odd_phase() -> None:
    r = check("voltage_imbalance", _wye(120.0, 120.0, 112.0), WYE)
    assert r.status is FAIL
    assert "phase C low" in r.message


def test_a_sagging_service_is_not_blamed_on_the_work_order() -> None:
    r = check("service_voltage", [phase("A", 216.0, 0.0)], expect(ServiceType.ONE_PHASE_3W))
    assert r.status is FAIL
    assert "supply voltage low" in causes_text(r)
    assert "fit a" not in causes_text(r)


def test_line_to_line_nominal_on_a_wye_is_not_three_lost_phases() -> None:
    # A 120/208 V wye entered with 208 V: every element reads 58 % of "nominal".
    r = check("service_voltage", _wye(120.0), expect(ServiceType.WYE, nominal_voltage=208.0))
    assert r.status is FAIL
    assert "lost" not in r.message
    assert "√3" in causes_text(r)
    assert "fit a 120 v service" in causes_text(r)


def test_a_dead_single_element_is_lost() -> None:
    r = check("service_voltage", [phase("A", 0.0, 0.0)], expect(ServiceType.ONE_PHASE_3W))
    assert r.status is FAIL
    assert r.message == "phase A lost: 0.0 V, below 61 % of 240 V"
