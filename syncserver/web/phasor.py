"""The phasor diagram of a visit as inline SVG, with the service's expected positions.

Angles follow ``design.md``: degrees lagging from element A's voltage, so a lagging phasor
turns clockwise on the page (SVG's y axis points down). The expected picture is computed the
way ``fieldkit.checks.phasors.service_model`` computes it — each element's terminals on an
ideal balanced source, turned so element A's voltage is at 0° — restated here because the
server may import only ``fieldkit.model`` and the wire schema; ``tests/server`` pins the two
to the same angles for every service, rotation and high leg.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from markupsafe import Markup, escape

from fieldkit.model import ServiceType, lag_of, lagging, normalize_angle
from fieldkit.sync.schema import PhaseDoc

__all__ = ["CURRENT_REACH", "ExpectedElement", "expected_elements", "phasor_svg"]

CURRENT_REACH = 0.66
"""Currents are drawn to two thirds of the rim, so they never hide the voltages."""


@dataclass(frozen=True, slots=True)
class ExpectedElement:
    """Where one element's voltage and unity-PF current sit on a healthy site."""

    name: str
    voltage_factor: float
    """The element's nominal over the service's stated nominal (120/240 on a 4-wire delta)."""
    voltage_angle: float
    current_angle: float


def _tidy(angle: float) -> float:
    rounded = round(angle, 9)
    return 0.0 if rounded >= 360.0 else rounded


def expected_elements(
    service: ServiceType | str, rotation: str = "ABC", high_leg: str = "B"
) -> tuple[ExpectedElement, ...]:
    """The healthy diagram of ``service`` (a bad rotation or high leg falls back to the
    defaults: the picture is a guide for the eye, the checks already judged the site)."""
    kind = ServiceType(service)
    rot = "ACB" if rotation.upper() == "ACB" else "ABC"
    leg = high_leg.upper() if high_leg.upper() in ("A", "B", "C") else "B"
    b, c = (120.0, 240.0) if rot == "ABC" else (240.0, 120.0)
    line = {"A": lagging(0.0), "B": lagging(b), "C": lagging(c)}
    raw: list[tuple[str, complex, complex]]
    if kind in (ServiceType.ONE_PHASE_2W, ServiceType.ONE_PHASE_3W):
        raw = [("A", line["A"], line["A"])]
    elif kind is ServiceType.NETWORK:
        raw = [(n, line[n], line[n]) for n in ("A", "C")]
    elif kind is ServiceType.WYE:
        raw = [(n, line[n], line[n]) for n in ("A", "B", "C")]
    elif kind is ServiceType.DELTA_3W:
        raw = [(n, line[n] - line["B"], line[n]) for n in ("A", "C")]
    else:
        low = [n for n in ("A", "B", "C") if n != leg]
        tap = (line[low[0]] + line[low[1]]) / 2
        raw = [(n, line[n] - tap, line[n]) for n in ("A", "B", "C")]
    base = math.sqrt(3.0) if kind in (ServiceType.DELTA_3W, ServiceType.DELTA_4W) else 1.0
    reference = lag_of(raw[0][1])
    return tuple(
        ExpectedElement(
            name,
            round(abs(volts) / base, 12),
            _tidy(normalize_angle(lag_of(volts) - reference)),
            _tidy(normalize_angle(lag_of(amps) - reference)),
        )
        for name, volts, amps in raw
    )


_SIZE = 340
_CENTRE = _SIZE / 2
_RADIUS = 130.0
_VOLT = "#1f5fa8"
_AMP = "#b3401a"


def _point(angle: float, reach: float) -> tuple[float, float]:
    radians = math.radians(angle)
    return _CENTRE + reach * _RADIUS * math.cos(radians), _CENTRE + reach * _RADIUS * math.sin(
        radians
    )


def _line(angle: float, reach: float, colour: str, width: float, extra: str) -> str:
    x, y = _point(angle, reach)
    return (
        f'<line x1="{_CENTRE:.1f}" y1="{_CENTRE:.1f}" x2="{x:.1f}" y2="{y:.1f}" '
        f'stroke="{colour}" stroke-width="{width}" stroke-linecap="round"{extra}/>'
    )


def _label(angle: float, reach: float, text: str, colour: str) -> str:
    x, y = _point(angle, reach)
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" fill="{colour}" font-size="12" font-weight="600" '
        f'text-anchor="middle" dominant-baseline="middle">{escape(text)}</text>'
    )


def _value(value: float | None) -> float | None:
    """A finite, non-negative-length quantity, or None (NaN and infinities are not drawn)."""
    return value if value is not None and math.isfinite(value) else None


def phasor_svg(
    phases: list[PhaseDoc],
    service: ServiceType | str | None,
    rotation: str | None = None,
    high_leg: str | None = None,
) -> Markup:
    """The diagram: measured voltages (blue, to the rim for the largest) and currents (red,
    shorter), over faint dashed lines where this service's voltages and unity-PF currents
    belong. Elements without an angle are left out; the page's table lists every value."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_SIZE} {_SIZE}" '
        'class="phasor" role="img" aria-labelledby="phasor-title">',
        '<title id="phasor-title">Phasor diagram: measured voltages and currents'
        + (f", over the expected {escape(str(service))} diagram" if service else "")
        + "</title>",
        f'<circle cx="{_CENTRE}" cy="{_CENTRE}" r="{_RADIUS}" fill="none" stroke="#c8ced6"/>',
    ]
    for angle in (0, 90, 180, 270):
        parts.append(_line(angle, 1.0, "#e6e9ed", 1, ""))
    if service is not None:
        elements = expected_elements(service, rotation or "ABC", high_leg or "B")
        biggest = max(e.voltage_factor for e in elements) or 1.0
        for e in elements:
            # A wide pale band, so a measured phasor lying on its place still shows it.
            faint = ' opacity="0.16" class="expected"'
            parts.append(
                _line(e.voltage_angle, e.voltage_factor / biggest, _VOLT, 9, faint)
                + _line(e.current_angle, CURRENT_REACH, _AMP, 9, faint)
            )
    measured = [
        (p.phase, _value(p.voltage), _value(p.voltage_angle), _value(p.current),
         _value(p.current_angle))
        for p in phases
    ]  # fmt: skip
    v_max = max((v for _, v, _, _, _ in measured if v is not None), default=0.0)
    i_max = max((i for _, _, _, i, _ in measured if i is not None), default=0.0)
    for name, volts, v_angle, amps, i_angle in measured:
        if volts is not None and v_angle is not None and v_max > 0:
            reach = max(volts / v_max, 0.08)
            parts.append(_line(v_angle, reach, _VOLT, 3, ' class="measured voltage"'))
            parts.append(_label(v_angle, reach + 0.12, f"V{name}", _VOLT))
        if amps is not None and i_angle is not None and i_max > 0:
            reach = max(CURRENT_REACH * amps / i_max, 0.08)
            parts.append(_line(i_angle, reach, _AMP, 3, ' class="measured current"'))
            parts.append(_label(i_angle, reach + 0.12, f"I{name}", _AMP))
    parts.append("</svg>")
    # Every text in it went through escape(); the rest is numbers this function formatted.
    return Markup("".join(parts))  # noqa: S704
