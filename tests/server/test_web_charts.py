"""The server-drawn bar chart: bar heights proportional to the values, stacked per week,
every text escaped, an empty range said in words."""

from __future__ import annotations

import itertools
import re

import pytest

from syncserver.web.charts import PALETTE, Series, weekly_bars_svg


def _bars(svg: str) -> list[dict[str, str]]:
    return [
        dict(re.findall(r'([\w-]+)="([^"]*)"', m.group(1)))
        for m in re.finditer(r'<rect class="bar" ([^>]*)>', svg)
    ]


def test_bars_stack_per_week_with_heights_in_proportion() -> None:
    svg = str(
        weekly_bars_svg(
            ["2026-W47", "2026-W48"],
            [Series("ann", (4, 0)), Series("bob", (2, 6))],
            "Visits",
        )
    )
    bars = _bars(svg)
    assert [(b["data-week"], b["data-series"], b["data-value"]) for b in bars] == [
        ("2026-W47", "ann", "4"),
        ("2026-W47", "bob", "2"),
        ("2026-W48", "bob", "6"),
    ]
    heights = [float(b["height"]) for b in bars]
    assert heights[0] / heights[1] == pytest.approx(2.0, rel=0.01)
    assert heights[2] == pytest.approx(heights[0] + heights[1], rel=0.01)
    # Stacked: bob's W47 segment sits right on top of ann's.
    assert float(bars[1]["y"]) + heights[1] == pytest.approx(float(bars[0]["y"]), abs=0.15)
    # Bars of one week share x; the second week's is to the right.
    assert bars[0]["x"] == bars[1]["x"]
    assert float(bars[2]["x"]) > float(bars[0]["x"])
    # Each series keeps its colour from week to week; the legend names them.
    assert bars[1]["fill"] == bars[2]["fill"] == PALETTE[1]
    assert re.findall(r'<text class="legend"[^>]*>([^<]*)</text>', svg) == ["ann", "bob"]
    assert "No visits" not in svg


def test_every_text_is_escaped() -> None:
    evil = '<script>alert("x")</script>'
    svg = str(weekly_bars_svg([evil], [Series(evil, (3,))], f"title {evil}"))
    assert "<script>" not in svg
    assert svg.count("&lt;script&gt;") >= 4  # title, tooltip, axis label, legend
    assert 'data-series="&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"' in svg


def test_no_visits_says_so_and_draws_no_bar() -> None:
    svg = str(weekly_bars_svg(["2026-W01"], [Series("ann", (0,))], "Visits"))
    assert _bars(svg) == []
    assert "No visits in these weeks" in svg
    assert "No visits in these weeks" in str(weekly_bars_svg([], [], "Visits"))


def test_a_series_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="has 1 values for 2 weeks"):
        weekly_bars_svg(["a", "b"], [Series("ann", (1,))], "Visits")


def test_axis_ticks_are_round_and_reach_the_tallest_bar() -> None:
    svg = str(weekly_bars_svg(["w"], [Series("ann", (37,))], "Visits"))
    ticks = [
        int(t) for t in re.findall(r'text-anchor="end" dominant-baseline="middle">(\d+)<', svg)
    ]
    assert ticks[0] == 0
    assert ticks[-1] >= 37
    steps = {b - a for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    assert steps.pop() in (1, 2, 5, 10, 20, 50)
