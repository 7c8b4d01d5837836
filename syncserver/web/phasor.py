"""The phasor diagram of a visit as inline SVG, with the service's expected positions.

Expected positions follow the conventions of ``design.md`` (element A's voltage at 0°,
positive = lagging, drawn clockwise; ABC rotation; ACB is the mirror image). The server may
not import ``fieldkit.checks``, so the table is restated here from the design document; a
test pins it against the rows of that table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from markupsafe import Markup, escape

from fieldkit.model import ServiceType, normalize_angle
from fieldkit.sync.schema import PhaseDoc

__all__ = ["EXPECTED", "ExpectedElement", "expected_elements", "phasor_svg"]


@dataclass(frozen=True, slots=True)
class ExpectedElement:
    """Where one element's voltage and unity-PF current sit on a healthy ABC site."""

    name: str
    voltage_angle: float
    current_angle: float


EXPECTED: dict[ServiceType, tuple[ExpectedElement, ...]] = {
    ServiceType.ONE_PHASE_2W: (ExpectedElement("A", 0.0, 0.0),),
    ServiceType.ONE_PHASE_3W: (ExpectedElement("A", 0.0, 0.0),),
    ServiceType.NETWORK: (ExpectedElement("A", 0.0, 0.0), ExpectedElement("C", 240.0, 240.0)),
    ServiceType.WYE: (
        ExpectedElement("A", 0.0, 0.0),
        ExpectedElement("B", 120.0, 120.0),
        ExpectedElement("C", 240.0, 240.0),
    ),
    ServiceType.DELTA_3W: (ExpectedElement("A", 0.0, 30.0), ExpectedElement("C", 300.0, 270.0)),
    # High leg on B: VAN 0°, VBN 90°, VCN 180°; currents on the wye-equivalent positions.
    ServiceType.DELTA_4W: (
        ExpectedElement("A", 0.0, 0.0),
        ExpectedElement("B", 90.0, 120.0),
        ExpectedElement("C", 180.0, 240.0),
    ),
}


def expected_elements(service: ServiceType, rotation: str = "ABC") -> tuple[ExpectedElement, ...]:
    """The expected elements of ``service``; ACB is the ABC diagram mirrored about 0°."""
    elements = EXPECTED[service]
    if rotation.upper() != "ACB":
        return elements
    return tuple(
        ExpectedElement(
            e.name, normalize_angle(-e.voltage_angle), normalize_angle(-e.current_angle)
        )
        for e in elements
    )


_SIZE = 320
_CENTRE = _SIZE / 2
_RADIUS = 130.0
_VOLT = "#1f5fa8"
_AMP = "#b3401a"


def _point(angle: float, length: float) -> tuple[float, float]:
    # Lagging (positive) angles turn clockwise on the screen: SVG's y axis points down.
    radians = math.radians(angle)
    return _CENTRE + length * math.cos(radians), _CENTRE + length * math.sin(radians)


def _line(angle: float, length: float, colour: str, width: float, extra: str = "") -> str:
    x, y = _point(angle, length)
    return (
        f'<line x1="{_CENTRE:.1f}" y1="{_CENTRE:.1f}" x2="{x:.1f}" y2="{y:.1f}" '
        f'stroke="{colour}" stroke-width="{width}"{extra}/>'
    )


def _label(angle: float, length: float, text: str, colour: str) -> str:
    x, y = _point(angle, length)
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" fill="{colour}" font-size="12" '
        f'text-anchor="middle" dominant-baseline="middle">{escape(text)}</text>'
    )


def phasor_svg(
    phases: list[PhaseDoc], service: ServiceType | None, rotation: str | None = None
) -> Markup:
    """The diagram: measured voltages (blue) and currents (red, shorter), and faint dashed
    lines where this service's voltages and unity-PF currents should be."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_SIZE} {_SIZE}" '
        'class="phasor" role="img" aria-labelledby="phasor-title">',
        '<title id="phasor-title">Phasor diagram</title>',
        f'<circle cx="{_CENTRE}" cy="{_CENTRE}" r="{_RADIUS}" fill="none" stroke="#ccc"/>',
    ]
    for angle in (0, 90, 180, 270):
        parts.append(_line(angle, _RADIUS, "#e4e4e4", 1))
    if service is not None:
        for element in expected_elements(service, rotation or "ABC"):
            dash = ' stroke-dasharray="4 4" class="expected"'
            parts.append(_line(element.voltage_angle, _RADIUS, _VOLT, 1.5, dash + ' opacity="0.3"'))
            parts.append(
                _line(element.current_angle, _RADIUS * 0.7, _AMP, 1.5, dash + ' opacity="0.3"')
            )
    voltages = [p.voltage for p in phases if p.voltage is not None and math.isfinite(p.voltage)]
    currents = [p.current for p in phases if p.current is not None and math.isfinite(p.current)]
    vmax = max(voltages, default=0.0) or 1.0
    imax = max(currents, default=0.0) or 1.0
    for phase in phases:
        name = phase.phase
        if phase.voltage_angle is not None and math.isfinite(phase.voltage_angle):
            length = _RADIUS * max(0.15, min(1.0, (phase.voltage or vmax) / vmax))
            parts.append(_line(phase.voltage_angle, length, _VOLT, 3, ' class="measured"'))
            parts.append(_label(phase.voltage_angle, length + 12, f"V{name}", _VOLT))
        if phase.current_angle is not None and math.isfinite(phase.current_angle):
            length = _RADIUS * 0.7 * max(0.15, min(1.0, (phase.current or imax) / imax))
            parts.append(_line(phase.current_angle, length, _AMP, 3, ' class="measured"'))
            parts.append(_label(phase.current_angle, length + 12, f"I{name}", _AMP))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every piece of text in it is escaped)
