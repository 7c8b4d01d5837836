"""The server's phasor SVG: the expected diagram matches the kit's own service models, and
the drawing puts each measured phasor where its angle says."""

from __future__ import annotations

import math
import re

import pytest

from fieldkit.checks.phasors import all_models
from fieldkit.model import ServiceType
from fieldkit.sync.schema import PhaseDoc
from syncserver.web.phasor import expected_elements, phasor_svg


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.describe())
def test_expected_positions_are_the_kits(model: object) -> None:
    from fieldkit.checks.phasors import ServiceModel

    assert isinstance(model, ServiceModel)
    ours = expected_elements(model.service, model.rotation, model.high_leg or "B")
    assert [(e.name, e.voltage_angle, e.current_angle) for e in ours] == [
        (e.name, e.voltage_angle, e.current_angle) for e in model.elements
    ]
    assert [e.voltage_factor for e in ours] == pytest.approx(
        [e.voltage_factor for e in model.elements]
    )


def test_design_table_positions() -> None:
    delta = expected_elements(ServiceType.DELTA_3W)
    assert [(e.voltage_angle, e.current_angle) for e in delta] == [(0.0, 30.0), (300.0, 270.0)]
    four = expected_elements(ServiceType.DELTA_4W)
    assert [e.voltage_angle for e in four] == [0.0, 90.0, 180.0]


def _lines(svg: str, cls: str) -> list[tuple[float, float]]:
    found = []
    for match in re.finditer(r"<line ([^>]*)/>", svg):
        attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', match.group(1)))
        if cls in attrs.get("class", "").split():
            dx = float(attrs["x2"]) - float(attrs["x1"])
            dy = float(attrs["y2"]) - float(attrs["y1"])
            found.append((math.degrees(math.atan2(dy, dx)) % 360, math.hypot(dx, dy)))
    return found


def test_measured_phasors_sit_at_their_angles_lagging_clockwise() -> None:
    phases = [
        PhaseDoc(phase="A", voltage=120, current=10, voltage_angle=0, current_angle=20),
        PhaseDoc(phase="B", voltage=60, current=5, voltage_angle=120, current_angle=300),
    ]
    svg = str(phasor_svg(phases, ServiceType.WYE))
    volts = _lines(svg, "voltage")
    amps = _lines(svg, "current")
    assert [round(a) for a, _ in volts] == [0, 120]  # y grows downwards: lagging is clockwise
    assert [round(a) for a, _ in amps] == [20, 300]
    assert volts[1][1] == pytest.approx(volts[0][1] / 2, rel=0.01)  # scaled to the largest
    assert amps[0][1] < volts[0][1]  # currents are drawn shorter than voltages
    assert len(_lines(svg, "expected")) == 6
    assert ">VA<" in svg
    assert ">IB<" in svg


def test_missing_values_are_left_out_and_text_is_escaped() -> None:
    phases = [
        PhaseDoc(phase="<A>", voltage=120, voltage_angle=0),
        PhaseDoc(phase="B", voltage=float("nan"), voltage_angle=120),
        PhaseDoc(phase="C", current=3.0),
    ]
    svg = str(phasor_svg(phases, None))
    assert len(_lines(svg, "measured")) == 1
    assert "V&lt;A&gt;" in svg
    assert "<A>" not in svg
    assert not _lines(svg, "expected")
