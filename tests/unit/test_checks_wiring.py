"""The phasor checks on every service's healthy diagram and on the classic wiring faults.

Faults are built the way they happen on site (a CT's leads swapped, two potential leads
crossed, a PT fuse blown) from the design table, and the checks must name them.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from fieldkit.checks import run
from fieldkit.model import CheckResult, CheckStatus, PhaseQuantities, ServiceType, SiteExpectation

from .test_checks_support import (
    DESIGN,
    FAIL,
    PASS,
    PF_09_LAG,
    POLYPHASE,
    SKIP,
    WARN,
    causes_text,
    expect,
    healthy_phases,
    phase,
    snapshot,
)

WIRING = ("service_type", "cross_phase", "polarity", "phase_angle")


def _run(
    phases: list[PhaseQuantities],
    work_order: SiteExpectation,
    total_active_power: float | None = None,
) -> dict[str, CheckResult]:
    snap = snapshot(phases, total_active_power=total_active_power)
    return {r.id: r for r in run(snap, work_order)}


def _reverse_ct(phases: list[PhaseQuantities], name: str) -> list[PhaseQuantities]:
    out = []
    for p in phases:
        if p.phase == name and p.current_angle is not None:
            p = replace(p, current_angle=(p.current_angle + 180.0) % 360.0)
        out.append(p)
    return out


def _swap_cts(phases: list[PhaseQuantities], a: str, b: str) -> list[PhaseQuantities]:
    by = {p.phase: p for p in phases}
    swapped = {
        a: replace(by[a], current=by[b].current, current_angle=by[b].current_angle),
        b: replace(by[b], current=by[a].current, current_angle=by[a].current_angle),
    }
    return [swapped.get(p.phase, p) for p in phases]


# --- healthy sites ---------------------------------------------------------------------------


@pytest.mark.parametrize("service", list(DESIGN))
@pytest.mark.parametrize("pf", [0.0, PF_09_LAG], ids=["unity", "0.9-lag"])
def test_every_healthy_diagram_passes(service: ServiceType, pf: float) -> None:
    results = _run(healthy_phases(service, pf_deg=pf), expect(service))
    for check_id in WIRING:
        assert results[check_id].status is PASS, (check_id, results[check_id].message)
    # and nothing else objects either
    assert {r.status for r in results.values()} <= {PASS, SKIP}


@pytest.mark.parametrize("service", POLYPHASE)
def test_acb_site_passes_when_the_work_order_says_acb(service: ServiceType) -> None:
    results = _run(
        healthy_phases(service, pf_deg=PF_09_LAG, rotation="ACB"),
        expect(service, rotation="ACB"),
    )
    for check_id in WIRING:
        assert results[check_id].status is PASS, (check_id, results[check_id].message)


def test_phase_angle_reports_the_pf_angle_after_removing_the_delta_offset() -> None:
    results = _run(
        healthy_phases(ServiceType.DELTA_3W, pf_deg=PF_09_LAG), expect(ServiceType.DELTA_3W)
    )
    assert results["phase_angle"].measured == "A 25.8° lag, C 25.8° lag"


def test_leading_load_reads_as_lead() -> None:
    results = _run(healthy_phases(ServiceType.WYE, pf_deg=-20.0), expect(ServiceType.WYE))
    assert results["phase_angle"].status is PASS
    assert "20.0° lead" in (results["phase_angle"].measured or "")


# --- service_type ----------------------------------------------------------------------------


def test_4w_delta_on_a_wye_work_order_fails_service_type() -> None:
    results = _run(
        healthy_phases(ServiceType.DELTA_4W), expect(ServiceType.WYE, nominal_voltage=120.0)
    )
    r = results["service_type"]
    assert r.status is FAIL
    assert "3ph-4w-delta" in r.message
    assert "3ph-4w-wye" in r.message


def test_network_meter_at_a_wye_work_order_fails_service_type() -> None:
    results = _run(healthy_phases(ServiceType.NETWORK), expect(ServiceType.WYE))
    assert results["service_type"].status is FAIL
    assert "network" in results["service_type"].message


def test_single_element_meter_at_a_polyphase_work_order_fails() -> None:
    results = _run(
        healthy_phases(ServiceType.ONE_PHASE_3W), expect(ServiceType.WYE, nominal_voltage=240.0)
    )
    assert results["service_type"].status is FAIL
    assert "single-phase" in results["service_type"].message


def test_3w_delta_and_network_are_told_apart_by_angle() -> None:
    results = _run(
        healthy_phases(ServiceType.DELTA_3W), expect(ServiceType.NETWORK, nominal_voltage=240.0)
    )
    assert results["service_type"].status is FAIL
    assert "3ph-3w-delta" in results["service_type"].message


def test_no_service_type_on_the_work_order_skips_and_says_what_it_sees() -> None:
    results = _run(healthy_phases(ServiceType.WYE), SiteExpectation(nominal_voltage=120.0))
    r = results["service_type"]
    assert r.status is SKIP
    assert "3ph-4w-wye" in r.message
    # the other checks still judge against the detected diagram
    assert results["cross_phase"].status is PASS


def test_lost_phase_never_fails_service_type() -> None:
    # Wye with C lost: the rest can only be a wye.
    phases = healthy_phases(ServiceType.WYE)
    phases[2] = phase("C", 0.0, 0.0, 10.0, 240.0)
    assert _run(phases, expect(ServiceType.WYE))["service_type"].status is PASS
    # Wye with B lost, voltage and current: A and C 240° apart also fit a network, so it
    # cannot tell.
    phases = healthy_phases(ServiceType.WYE)
    phases[1] = phase("B", 0.0, 0.0, 0.0, 0.0)
    r = _run(phases, expect(ServiceType.WYE))["service_type"]
    assert r.status is SKIP
    assert "network" in r.message
    assert "lost" in r.message
    # B's voltage gone while its load still draws current (a PT fuse out): a network meter
    # never sees current on B, so only the wye is left.
    phases[1] = phase("B", 0.0, 0.0, 10.0, 120.0)
    r = _run(phases, expect(ServiceType.WYE))["service_type"]
    assert r.status is PASS
    assert "lost" in r.message


def test_three_element_meter_on_a_network_ignores_the_unused_element() -> None:
    phases = [*healthy_phases(ServiceType.NETWORK), phase("B", 0.0, 0.0, 0.0, 0.0)]
    results = _run(phases, expect(ServiceType.NETWORK))
    assert results["service_type"].status is PASS
    assert results["service_voltage"].status is PASS


# --- cross_phase -----------------------------------------------------------------------------


def test_sitescan_reversed_vt_example() -> None:
    # SiteScan worked example: 9S, 4W wye, ABC, reversed VT -> PhB voltage at 301.2°.
    phases = healthy_phases(ServiceType.WYE)
    phases[1] = phase("B", 120.0, 301.2, 10.0, 120.0)
    results = _run(phases, expect(ServiceType.WYE))
    r = results["cross_phase"]
    assert r.status is FAIL
    assert "B" in r.message
    assert "phase b pt reversed" in causes_text(r)
    for later in ("polarity", "phase_angle"):
        assert results[later].status is SKIP
        assert results[later].message == "voltage diagram wrong: fix cross-phase first"


@pytest.mark.parametrize(("err", "status"), [(10.0, PASS), (10.5, FAIL), (-10.0, PASS)])
def test_cross_phase_tolerance_edge(err: float, status: CheckStatus) -> None:
    phases = healthy_phases(ServiceType.WYE)
    phases[2] = phase("C", 120.0, 240.0 + err, 10.0, 240.0 + err)
    assert _run(phases, expect(ServiceType.WYE))["cross_phase"].status is status


def test_crossed_potential_leads_read_as_reversed_rotation() -> None:
    # B and C potential leads swapped at the meter: the diagram turns ACB.
    phases = healthy_phases(ServiceType.WYE)
    b, c = phases[1], phases[2]
    phases[1] = replace(b, voltage_angle=c.voltage_angle)
    phases[2] = replace(c, voltage_angle=b.voltage_angle)
    r = _run(phases, expect(ServiceType.WYE))["cross_phase"]
    assert r.status is FAIL
    assert "rotation reads acb" in causes_text(r)


@pytest.mark.parametrize("service", POLYPHASE)
def test_acb_site_on_an_abc_work_order_fails_cross_phase(service: ServiceType) -> None:
    results = _run(healthy_phases(service, rotation="ACB"), expect(service))
    assert results["cross_phase"].status is FAIL
    assert "acb" in causes_text(results["cross_phase"])
    assert results["service_type"].status is PASS  # the service itself is right


def test_high_leg_on_another_phase_is_named() -> None:
    # 240 V 4-wire delta with the high leg wired to C (A 0°, B 180°, C 270°).
    phases = [
        phase("A", 120.0, 0.0, 10.0, 30.0),
        phase("B", 120.0, 180.0, 10.0, 150.0),
        phase("C", 207.8, 270.0, 10.0, 270.0),
    ]
    results = _run(phases, expect(ServiceType.DELTA_4W))
    assert results["cross_phase"].status is FAIL
    assert "high leg is on phase c" in causes_text(results["cross_phase"])
    ok = _run(phases, expect(ServiceType.DELTA_4W, high_leg="C"))
    for check_id in WIRING:
        assert ok[check_id].status is PASS, (check_id, ok[check_id].message)


def test_cross_phase_ignores_a_lost_element_and_judges_the_rest() -> None:
    phases = healthy_phases(ServiceType.WYE)
    phases[1] = phase("B", 0.0, 17.0, 10.0, 120.0)  # a lost phase's angle is noise
    r = _run(phases, expect(ServiceType.WYE))["cross_phase"]
    assert r.status is PASS
    assert "B ignored" in r.message


def test_lost_reference_element_does_not_poison_the_others() -> None:
    # Element A lost: B and C still sit 120° apart; measured angles are relative.
    phases = healthy_phases(ServiceType.WYE)
    phases[0] = phase("A", 0.0, 0.0, 10.0, 0.0)
    results = _run(phases, expect(ServiceType.WYE))
    assert results["cross_phase"].status is PASS
    assert results["service_voltage"].status is FAIL


# --- missing PT: kW about 2/3 ----------------------------------------------------------------


def test_missing_pt_input_on_a_wye() -> None:
    phases = healthy_phases(ServiceType.WYE, pf_deg=PF_09_LAG)
    phases[1] = replace(phases[1], voltage=0.0, voltage_angle=0.0)
    results = _run(phases, expect(ServiceType.WYE))
    assert results["service_voltage"].status is FAIL
    assert results["service_voltage"].message.startswith("phase B lost")
    assert "missing pt input on phase b" in causes_text(results["service_voltage"])
    assert results["voltage_imbalance"].status is SKIP
    assert results["cross_phase"].status is PASS
    assert results["phase_angle"].status is PASS
    assert "B voltage lost" in results["phase_angle"].message
    assert results["service_type"].status is not FAIL


# --- reversed CT on each phase: kW about 1/3 -------------------------------------------------


@pytest.mark.parametrize("service", POLYPHASE)
def test_one_reversed_ct_fails_polarity_on_that_phase(service: ServiceType) -> None:
    for name, *_ in DESIGN[service][1]:
        phases = _reverse_ct(healthy_phases(service, pf_deg=PF_09_LAG), name)
        results = _run(phases, expect(service))
        r = results["polarity"]
        assert r.status is FAIL, (service, name, r.message)
        assert f"phase {name.lower()} ct reversed" in causes_text(r)
        assert f"{name} polarity failed" in results["phase_angle"].message
        # Total kW is still positive on 3 elements, so it is not reverse energy.
        if len(DESIGN[service][1]) == 3:
            assert results["reverse_energy"].status is PASS
        if service is ServiceType.WYE:
            assert "kw reads about 1/3 of the load" in causes_text(r)


def test_reversed_ct_on_a_2_element_service_says_kw_near_zero() -> None:
    phases = _reverse_ct(healthy_phases(ServiceType.NETWORK), "C")
    r = _run(phases, expect(ServiceType.NETWORK))["polarity"]
    assert "about 0" in causes_text(r)


def test_reversed_meter_current_on_a_2s() -> None:
    phases = _reverse_ct(healthy_phases(ServiceType.ONE_PHASE_3W), "A")
    results = _run(phases, expect(ServiceType.ONE_PHASE_3W))
    assert results["polarity"].status is FAIL
    assert results["reverse_energy"].status is FAIL


# --- all CTs reversed: negative kW with a normal lagging PF ----------------------------------


def test_all_cts_reversed() -> None:
    phases = healthy_phases(ServiceType.WYE, pf_deg=PF_09_LAG)
    for name in "ABC":
        phases = _reverse_ct(phases, name)
    results = _run(phases, expect(ServiceType.WYE), total_active_power=-3240.0)
    assert results["polarity"].status is FAIL
    assert "all cts reversed" in causes_text(results["polarity"])
    assert results["reverse_energy"].status is FAIL
    assert "normal lagging power factor" in causes_text(results["reverse_energy"])
    assert results["phase_angle"].status is SKIP


def test_export_on_a_net_metering_account_is_not_a_wiring_fault() -> None:
    phases = healthy_phases(ServiceType.WYE, pf_deg=10.0)
    for name in "ABC":
        phases = _reverse_ct(phases, name)
    results = _run(phases, expect(ServiceType.WYE, net_metering=True), total_active_power=-3000.0)
    assert results["polarity"].status is PASS
    assert "net-metering" in results["polarity"].message
    assert results["phase_angle"].status is PASS
    assert results["reverse_energy"].status is PASS


# --- crossed CTs -----------------------------------------------------------------------------


def test_ct_leads_swapped_a_c_on_a_3_wire_delta() -> None:
    # Reference rule: balanced V and I but kW near 0 on 3-wire -> CT leads swapped A<->C.
    phases = _swap_cts(healthy_phases(ServiceType.DELTA_3W), "A", "C")
    results = _run(phases, expect(ServiceType.DELTA_3W))
    r = results["polarity"]
    assert r.status is FAIL
    assert "a↔c" in causes_text(r)
    assert "kw near zero" in causes_text(r)
    assert results["reverse_energy"].status is PASS  # ~0 kW is not export
    assert results["cross_phase"].status is PASS


def test_cts_crossed_between_two_wye_phases() -> None:
    phases = _swap_cts(healthy_phases(ServiceType.WYE, pf_deg=PF_09_LAG), "A", "B")
    r = _run(phases, expect(ServiceType.WYE))["polarity"]
    assert r.status is FAIL
    assert "a↔b" in causes_text(r)


# --- phase_angle envelope --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pf_deg", "polarity", "phase_angle"),
    [
        (45.0, PASS, PASS),  # on the envelope
        (45.01, PASS, FAIL),
        (-45.01, PASS, FAIL),
        (90.0, PASS, FAIL),  # the last angle phase_angle judges
        (90.01, FAIL, SKIP),  # beyond 90°: a polarity failure, phase_angle stands aside
    ],
)
def test_envelope_edges(pf_deg: float, polarity: CheckStatus, phase_angle: CheckStatus) -> None:
    phases = healthy_phases(ServiceType.WYE)
    phases[0] = replace(phases[0], current_angle=pf_deg % 360.0)
    results = _run(phases, expect(ServiceType.WYE))
    assert results["polarity"].status is polarity
    assert results["phase_angle"].status is (PASS if phase_angle is SKIP else phase_angle)
    if phase_angle is SKIP:
        assert "A polarity failed" in results["phase_angle"].message


def test_envelope_edge_on_a_delta_element() -> None:
    # 3-wire delta element A: unity current at 30°, so 45° PF angle is IA at 75°.
    phases = healthy_phases(ServiceType.DELTA_3W)
    phases[0] = replace(phases[0], current_angle=75.0)
    assert _run(phases, expect(ServiceType.DELTA_3W))["phase_angle"].status is PASS
    phases[0] = replace(phases[0], current_angle=75.5)
    assert _run(phases, expect(ServiceType.DELTA_3W))["phase_angle"].status is FAIL


def test_light_load_below_the_floor_skips_the_angle_checks() -> None:
    phases = healthy_phases(ServiceType.WYE, amps=0.05)
    results = _run(phases, expect(ServiceType.WYE))
    assert results["polarity"].status is SKIP
    assert results["phase_angle"].status is SKIP
    # Every current below the floor: the whole site is too lightly loaded, not one element.
    assert "load too light" in results["polarity"].message
    assert "all below the 0.1 A floor" in results["polarity"].message
    assert "apply a known load and re-run" in results["phase_angle"].message


def test_one_element_below_the_floor_is_left_out() -> None:
    phases = healthy_phases(ServiceType.WYE)
    phases[2] = replace(phases[2], current=0.02, current_angle=170.0)  # angle of noise
    results = _run(phases, expect(ServiceType.WYE))
    assert results["polarity"].status is PASS
    assert "C below" in results["polarity"].message


def test_partial_export_on_a_net_metering_account_only_warns() -> None:
    phases = _reverse_ct(healthy_phases(ServiceType.WYE), "A")
    r = _run(phases, expect(ServiceType.WYE, net_metering=True))["polarity"]
    assert r.status is WARN
