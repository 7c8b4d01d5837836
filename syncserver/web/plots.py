"""Time-series plots as inline SVG: values over dates, with labelled axes, readable without
JavaScript (each point carries its date and value as a tooltip, and the page lists the
numbers in a table too).

Pure: series in, markup out. Every text that reaches the SVG goes through ``escape``; the
rest is numbers this module formats. Points without a finite value are left out (a gap in
the line), so a visit that did not read a quantity never draws a false zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup, escape

__all__ = ["COLOURS", "Series", "nice_ticks", "time_plot", "time_ticks"]

COLOURS = ("#1f5fa8", "#b3401a", "#1e7a3c", "#7a3ea8")
"""Line colours in order (phase A, B, C, then a fourth)."""

_W, _H = 640, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 28, 40


@dataclass(frozen=True, slots=True)
class Series:
    """One line: a name for the legend and ``(when, value)`` points in any order."""

    name: str
    points: Sequence[tuple[datetime, float | None]]


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round axis values (steps of 1, 2 or 5 × 10ⁿ) covering ``low``..``high``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high < low:
        low, high = high, low
    if high == low:
        pad = abs(low) * 0.05 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks: list[float] = []
    value = first
    while value < high + step * 0.5 and len(ticks) < 50:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def time_ticks(start: datetime, end: datetime, count: int = 5) -> list[datetime]:
    """Evenly spaced moments from ``start`` to ``end`` (one when they are the same)."""
    if end <= start:
        return [start]
    step = (end - start) / (count - 1)
    return [start + step * i for i in range(count)]


def _date_label(moment: datetime, span: timedelta) -> str:
    return moment.strftime("%Y-%m-%d %H:%M" if span < timedelta(days=3) else "%Y-%m-%d")


def _number(value: float, step: float) -> str:
    digits = max(0, -math.floor(math.log10(step))) if step > 0 else 0
    return f"{value:,.{min(digits, 6)}f}"


def time_plot(
    series: Sequence[Series],
    *,
    title: str,
    unit: str,
    plot_id: str,
    zero_line: bool = False,
) -> Markup | None:
    """A line plot of ``series`` over time, the y axis in ``unit``; None when no series has
    a finite point (the page then says so instead of drawing empty axes)."""
    lines = [
        (s.name, sorted((at, v) for at, v in s.points if _finite(v)), COLOURS[i % len(COLOURS)])
        for i, s in enumerate(series)
    ]
    lines = [(name, pts, colour) for name, pts, colour in lines if pts]
    if not lines:
        return None
    values = [v for _, pts, _ in lines for _, v in pts if v is not None]
    if zero_line:
        values.append(0.0)
    ticks = nice_ticks(min(values), max(values))
    y_low, y_high = ticks[0], ticks[-1]
    start = min(pts[0][0] for _, pts, _ in lines)
    end = max(pts[-1][0] for _, pts, _ in lines)
    span = end - start
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(at: datetime) -> float:
        if span <= timedelta(0):
            return _LEFT + width / 2
        return _LEFT + width * ((at - start) / span)

    def y(value: float) -> float:
        return _TOP + height * (1 - (value - y_low) / ((y_high - y_low) or 1.0))

    safe_id = "".join(c for c in plot_id if c.isalnum() or c in "-_") or "plot"
    label = escape(f"{title} ({unit})")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" class="plot" '
        f'role="img" aria-labelledby="{safe_id}-title">',
        f'<title id="{safe_id}-title">{label}, {len(values) - zero_line} values from '
        f"{escape(_date_label(start, span))} to {escape(_date_label(end, span))}</title>",
        f'<text x="{_LEFT}" y="16" font-size="13" font-weight="600" fill="#1d232b">{label}</text>',
    ]
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    for tick in ticks:
        ty = y(tick)
        parts.append(
            f'<line x1="{_LEFT}" y1="{ty:.1f}" x2="{_W - _RIGHT}" y2="{ty:.1f}" '
            f'stroke="{"#9aa3ad" if zero_line and tick == 0 else "#e6e9ed"}"/>'
            f'<text x="{_LEFT - 6}" y="{ty:.1f}" font-size="11" fill="#5b6573" '
            f'text-anchor="end" dominant-baseline="middle">{escape(_number(tick, step))}</text>'
        )
    parts.append(
        f'<text x="14" y="{_TOP + height / 2:.1f}" font-size="11" fill="#5b6573" '
        f'text-anchor="middle" transform="rotate(-90 14 {_TOP + height / 2:.1f})">'
        f"{escape(unit)}</text>"
    )
    base = _TOP + height
    for i, moment in enumerate(time_ticks(start, end)):
        tx = x(moment)
        anchor = "start" if i == 0 and span > timedelta(0) else "middle"
        if i == 4:
            anchor = "end"
        parts.append(
            f'<line x1="{tx:.1f}" y1="{base}" x2="{tx:.1f}" y2="{base + 4}" stroke="#5b6573"/>'
            f'<text x="{tx:.1f}" y="{base + 17}" font-size="11" fill="#5b6573" '
            f'text-anchor="{anchor}" class="date">{escape(_date_label(moment, span))}</text>'
        )
    parts.append(
        f'<line x1="{_LEFT}" y1="{base}" x2="{_W - _RIGHT}" y2="{base}" stroke="#5b6573"/>'
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{base}" stroke="#5b6573"/>'
    )
    # Per point only numbers are formatted (the meter page draws ~1,200 points): the series'
    # name and the unit are escaped once, a date's text (shared by the series of one visit)
    # is formatted once, and each point's x and y once for its line and its circle.
    safe_unit = escape(unit)
    stamps: dict[datetime, str] = {}
    for index, (name, pts, colour) in enumerate(lines):
        xs = [f"{x(at):.1f}" for at, _ in pts]
        ys = [f"{y(v):.1f}" for _, v in pts if v is not None]
        coords = " ".join(map(",".join, zip(xs, ys, strict=True)))
        parts.append(
            f'<polyline class="series" points="{coords}" fill="none" stroke="{colour}" '
            'stroke-width="2" stroke-linejoin="round"/>'
        )
        safe_name = escape(name)
        for (at, v), cx, cy in zip(pts, xs, ys, strict=True):
            assert v is not None
            stamp = stamps.get(at)
            if stamp is None:
                stamp = stamps[at] = str(escape(at.strftime("%Y-%m-%d %H:%M")))
            parts.append(
                f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}">'
                f"<title>{safe_name} {stamp}: "
                f"{f'{v:,.3f}'.rstrip('0').rstrip('.')} {safe_unit}</title></circle>"
            )
        lx = _W - _RIGHT - 96 * (len(lines) - index)
        parts.append(
            f'<rect x="{lx}" y="7" width="12" height="4" fill="{colour}"/>'
            f'<text x="{lx + 16}" y="13" font-size="11" fill="#1d232b">{escape(name[:14])}</text>'
        )
    parts.append("</svg>")
    # Every text in it went through escape(); the rest is numbers this function formatted.
    return Markup("".join(parts))  # noqa: S704
