"""Bar charts as inline SVG, drawn on the server (no script, no build step).

:func:`weekly_bars_svg` draws one stacked bar per week, a segment per series (technician),
with a legend. Every text in the picture goes through ``escape``; everything else is a
number this module formatted, so a technician called ``<script>`` is only text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["PALETTE", "Series", "weekly_bars_svg"]

PALETTE = (
    "#1f5fa8", "#b3401a", "#1e7a3c", "#9a6700", "#6a3d9a",
    "#0f7c86", "#a4336a", "#55606e", "#7a8a00", "#c0621a",
)  # fmt: skip
"""Series colours, reused in turn past the tenth."""

_WIDTH = 720
_HEIGHT = 300
_LEFT = 44
_RIGHT = 12
_TOP = 14
_BOTTOM = 44


@dataclass(frozen=True, slots=True)
class Series:
    """One stacked segment per week: a name and a value per week (the weeks' order)."""

    name: str
    values: tuple[int, ...]


def _ticks(top: int) -> list[int]:
    """Round gridline values from 0 to at least ``top`` (about five of them)."""
    if top <= 0:
        return [0]
    raw = top / 5
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(int(step), 1)
    return list(range(0, top + step, step))[:12]


def weekly_bars_svg(weeks: list[str], series: list[Series], title: str) -> Markup:
    """Stacked bars of ``series`` over ``weeks`` (labels such as ``2026-W49``).

    Each bar's ``<rect>`` carries ``data-week``, ``data-series`` and ``data-value``, and a
    ``<title>`` tooltip, so a person with a screen reader (and a test) can read the numbers.
    """
    for s in series:
        if len(s.values) != len(weeks):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(weeks)} weeks")
    totals = [sum(s.values[i] for s in series) for i in range(len(weeks))]
    ticks = _ticks(max(totals, default=0))
    top = ticks[-1] or 1
    legend_rows = math.ceil(len(series) / 4) if series else 0
    height = _HEIGHT + 18 * legend_rows
    plot_h = _HEIGHT - _TOP - _BOTTOM
    plot_w = _WIDTH - _LEFT - _RIGHT
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {height}" '
        'class="chart" role="img" aria-labelledby="chart-title">',
        f'<title id="chart-title">{escape(title)}</title>',
    ]
    for tick in ticks:
        y = _TOP + plot_h - plot_h * tick / top
        parts.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_WIDTH - _RIGHT}" y2="{y:.1f}" '
            'stroke="#e6e9ed"/>'
            f'<text x="{_LEFT - 6}" y="{y:.1f}" font-size="11" fill="#5b6573" '
            f'text-anchor="end" dominant-baseline="middle">{tick}</text>'
        )
    if not weeks or not any(totals):
        parts.append(
            f'<text x="{_WIDTH / 2:.1f}" y="{_TOP + plot_h / 2:.1f}" font-size="14" '
            'fill="#5b6573" text-anchor="middle">No visits in these weeks</text>'
        )
    slot = plot_w / max(len(weeks), 1)
    bar = min(slot * 0.7, 60.0)
    # Each name and week label is escaped once, not once per bar (200 technicians' bars).
    names = [escape(s.name) for s in series]
    for i, week in enumerate(escape(w) for w in weeks):
        x = _LEFT + slot * i + (slot - bar) / 2
        base = float(_TOP + plot_h)
        for number, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_h * value / top
            base -= h
            colour = PALETTE[number % len(PALETTE)]
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}" data-week="{week}" data-series="{names[number]}" '
                f'data-value="{value}"><title>{names[number]}, {week}: {value}</title>'
                "</rect>"
            )
        every = max(1, math.ceil(len(weeks) / 13))  # at most 13 labels under the axis
        if i % every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{_TOP + plot_h + 16}" font-size="11" '
                f'fill="#1d232b" text-anchor="middle">{week}</text>'
            )
    for number, s in enumerate(series):
        col, row = number % 4, number // 4
        x = _LEFT + col * (plot_w / 4)
        y = _HEIGHT - 10 + row * 18
        colour = PALETTE[number % len(PALETTE)]
        parts.append(
            f'<rect x="{x:.1f}" y="{y - 9}" width="12" height="12" fill="{colour}"/>'
            f'<text class="legend" x="{x + 17:.1f}" y="{y + 1}" font-size="12" '
            f'fill="#1d232b">{escape(s.name[:40])}</text>'
        )
    parts.append("</svg>")
    # Every text went through escape(); the rest is numbers formatted above.
    return Markup("".join(parts))  # noqa: S704
