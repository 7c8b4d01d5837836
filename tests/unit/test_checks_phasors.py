"""The expected diagrams, angle arithmetic and service detection (fieldkit.checks.phasors)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldkit.checks.phasors import (
    DiagramError,
    angle_distance,
    detect_service,
    service_model,
    signed_difference,
)
from fieldkit.model import ServiceType, lag_of, lagging

from .test_checks_support import DESIGN


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (10.0, 350.0, 20.0),
        (350.0, 10.0, -20.0),
        (180.0, 0.0, 180.0),
        (0.0, 180.0, 180.0),  # the half-turn is reported as +180, never -180
        (301.2, 120.0, -178.8),
        (720.0 + 5.0, 0.0, 5.0),
    ],
)
def test_signed_difference_takes_the_short_way(a: float, b: float, expected: float) -> None:
    assert signed_difference(a, b) == pytest.approx(expected)


def test_angle_distance_is_symmetric_and_at_most_180() -> None:
    assert angle_distance(10.0, 200.0) == pytest.approx(170.0)
    assert angle_distance(200.0, 10.0) == pytest.approx(170.0)


@pytest.mark.parametrize("service", list(DESIGN))
def test_model_reproduces_the_design_table(service: ServiceType) -> None:
    nominal, rows = DESIGN[service]
    model = service_model(service)
    assert model.names == tuple(r[0] for r in rows)
    for (name, volts, v_angle, i_angle), element in zip(rows, model.elements, strict=True):
        assert element.name == name
        assert nominal * element.voltage_factor == pytest.approx(volts, abs=0.05)
        assert element.voltage_angle == pytest.approx(v_angle)
        assert element.current_angle == pytest.approx(i_angle)


def test_delta_elements_carry_the_30_degree_offset_and_wye_none() -> None:
    delta = service_model(ServiceType.DELTA_3W)
    assert [e.pf_offset for e in delta.elements] == pytest.approx([30.0, -30.0])
    wye = service_model(ServiceType.WYE)
    assert [e.pf_offset for e in wye.elements] == pytest.approx([0.0, 0.0, 0.0])


def test_acb_rotation_mirrors_the_diagram() -> None:
    wye = service_model(ServiceType.WYE, "ACB")
    assert [e.voltage_angle for e in wye.elements] == pytest.approx([0.0, 240.0, 120.0])
    delta = service_model(ServiceType.DELTA_3W, "acb")  # case does not matter
    assert [e.voltage_angle for e in delta.elements] == pytest.approx([0.0, 60.0])
    assert [e.current_angle for e in delta.elements] == pytest.approx([330.0, 90.0])
    c = service_model(ServiceType.NETWORK, "ACB").element("C")
    assert c is not None
    assert c.voltage_angle == pytest.approx(120.0)


def test_high_leg_moves_the_208_volt_element() -> None:
    on_c = service_model(ServiceType.DELTA_4W, "ABC", "C")
    factors = {e.name: round(e.voltage_factor, 3) for e in on_c.elements}
    assert factors == {"A": 0.5, "B": 0.5, "C": round(math.sqrt(3) / 2, 3)}
    # The two low legs are the two halves of one winding: 180° apart.
    a, b = on_c.element("A"), on_c.element("B")
    assert a is not None
    assert b is not None
    assert angle_distance(a.voltage_angle, b.voltage_angle) == pytest.approx(180.0)


def test_bad_rotation_or_high_leg_raise_a_typed_error() -> None:
    with pytest.raises(DiagramError, match="rotation"):
        service_model(ServiceType.WYE, "CBA")
    with pytest.raises(DiagramError, match="high leg"):
        service_model(ServiceType.DELTA_4W, "ABC", "N")


def _readings(
    service: ServiceType, scale: float = 1.0
) -> dict[str, tuple[float | None, float | None]]:
    _nominal, rows = DESIGN[service]
    return {name: (volts * scale, v) for name, volts, v, _i in rows}


@pytest.mark.parametrize("service", [s for s in DESIGN if s is not ServiceType.ONE_PHASE_3W])
def test_each_polyphase_service_is_detected_alone(service: ServiceType) -> None:
    detection = detect_service(_readings(service))
    assert detection.services(include_partial=False) == (service,)


def test_detection_ignores_pt_scaling_and_small_errors() -> None:
    readings = {"A": (69.0, 0.0), "B": (68.0, 127.0), "C": (70.5, 236.0)}  # 120 V PT-scaled
    assert detect_service(readings).services(include_partial=False) == (ServiceType.WYE,)


def test_single_element_is_single_phase_either_kind() -> None:
    detection = detect_service({"A": (240.0, 0.0)})
    assert set(detection.services(include_partial=False)) == {
        ServiceType.ONE_PHASE_2W,
        ServiceType.ONE_PHASE_3W,
    }


def test_acb_wye_is_still_a_wye() -> None:
    readings = {"A": (120.0, 0.0), "B": (120.0, 240.0), "C": (120.0, 120.0)}
    detection = detect_service(readings)
    assert detection.services(include_partial=False) == (ServiceType.WYE,)
    best = detection.best(ServiceType.WYE)
    assert best is not None
    assert best.rotation == "ACB"


def test_lost_phase_leaves_the_rest_to_speak_when_unambiguous() -> None:
    # Wye with C lost: A and B 120° apart can only be a wye.
    readings = {"A": (120.0, 0.0), "B": (120.0, 120.0), "C": (0.0, 0.0)}
    detection = detect_service(readings, dead={"C"})
    assert detection.exact == ()
    assert detection.services() == (ServiceType.WYE,)


def test_lost_b_on_a_wye_looks_like_network_too() -> None:
    readings = {"A": (120.0, 0.0), "B": (0.0, 0.0), "C": (120.0, 240.0)}
    detection = detect_service(readings, dead={"B"})
    assert set(detection.services()) == {ServiceType.NETWORK, ServiceType.WYE}


def test_without_angles_magnitudes_still_separate_wye_from_4w_delta() -> None:
    wye = {"A": (120.0, None), "B": (120.0, None), "C": (120.0, None)}
    delta = {"A": (120.0, None), "B": (207.8, None), "C": (120.0, None)}
    assert ServiceType.WYE in detect_service(wye).services(include_partial=False)
    assert ServiceType.DELTA_4W not in detect_service(wye).services(include_partial=False)
    assert detect_service(delta).services(include_partial=False) == (ServiceType.DELTA_4W,)


def test_reversed_pt_fits_no_diagram() -> None:
    readings = {"A": (120.0, 0.0), "B": (120.0, 301.2), "C": (120.0, 240.0)}
    assert detect_service(readings).services() == ()


def test_an_angle_too_small_for_a_float_is_zero_not_a_crash() -> None:
    # cmath.phase(2 - 5e-324j) raises OverflowError (the angle underflows); a float64 value
    # from a meter or a pushed document can carry it. Found by Hypothesis in the field cases.
    assert lag_of(complex(2.0, -5e-324)) == 0.0
    assert lag_of(complex(2.0, 5e-324)) == 0.0


@given(st.complex_numbers(allow_nan=False, allow_infinity=False))
def test_any_finite_phasor_has_a_lag_in_a_turn(z: complex) -> None:
    assert 0.0 <= lag_of(z) < 360.0


@given(st.floats(min_value=0.0, max_value=359.99))
def test_lag_of_undoes_lagging(degrees: float) -> None:
    assert abs(signed_difference(lag_of(lagging(degrees)), degrees)) < 1e-9
