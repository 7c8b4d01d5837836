"""The meter history's SVG plots (syncserver.web.plots): axes with units and dates, gaps
for missing values, everything escaped."""

from __future__ import annotations

import itertools
import math
import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest

from syncserver.web.plots import Series, nice_ticks, time_plot, time_ticks

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _days(*values: float | None) -> list[tuple[datetime, float | None]]:
    return [(START + timedelta(days=30 * i), v) for i, v in enumerate(values)]


def _parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)  # noqa: S314 (our own output)


def test_a_plot_has_its_title_unit_dates_and_one_point_per_value() -> None:
    svg = time_plot(
        [Series("drift", _days(0.5, 12.0, -3.0, 1.0))], title="Clock drift", unit="s", plot_id="d"
    )
    assert svg is not None
    root = _parse(str(svg))
    assert root.get("viewBox") == "0 0 640 240"
    texts = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "Clock drift (s)" in texts
    assert "s" in texts  # the y axis's unit
    assert "2026-01-05" in texts
    assert "2026-04-05" in texts
    circles = list(root.iter("{http://www.w3.org/2000/svg}circle"))
    assert len(circles) == 4
    tips = [c.find("{http://www.w3.org/2000/svg}title").text for c in circles]  # type: ignore[union-attr]
    assert tips[1] == "drift 2026-02-04 09:00: 12 s"
    # The highest value is drawn highest (SVG's y grows downwards).
    ys = [float(c.get("cy", "0")) for c in circles]
    assert min(ys) == ys[1]
    assert max(ys) == ys[2]


def test_missing_and_non_finite_values_leave_gaps_not_zeros() -> None:
    svg = time_plot(
        [
            Series("A", _days(240.0, None, 238.0, math.nan)),
            Series("B", _days(None, None, None, None)),
            Series("C", _days(math.inf, 239.0)),
        ],
        title="Voltage",
        unit="V",
        plot_id="v",
    )
    assert svg is not None
    assert str(svg).count('class="series"') == 2  # B has nothing to draw
    assert str(svg).count("<circle") == 3
    assert not re.search(r'="[^"]*(nan|inf)|>[^<]*(nan|inf)', str(svg).lower())
    assert time_plot([Series("A", _days(None))], title="t", unit="V", plot_id="x") is None
    assert time_plot([], title="t", unit="V", plot_id="x") is None


def test_one_value_and_equal_values_still_draw() -> None:
    svg = time_plot([Series("kWh", _days(5000.0))], title="Reads", unit="kWh", plot_id="r")
    assert svg is not None
    assert "2026-01-05 09:00" in str(svg)
    flat = time_plot([Series("x", _days(7.0, 7.0, 7.0))], title="t", unit="V", plot_id="f")
    assert flat is not None
    assert str(flat).count("<circle") == 3


def test_every_text_is_escaped() -> None:
    hostile = "<script>alert(1)</script>"
    svg = time_plot(
        [Series(hostile, _days(1.0, 2.0))],
        title=f'{hostile}"',
        unit="<b>V</b>",
        plot_id='"><script>',
    )
    assert svg is not None
    assert "<script" not in str(svg)
    assert "<b>" not in str(svg)
    assert "&lt;script&gt;" in str(svg)
    _parse(str(svg))  # still well-formed XML
    assert re.search(r'aria-labelledby="script-title"', str(svg))


@pytest.mark.parametrize(
    ("low", "high"), [(0.0, 1.0), (-3.0, 95.0), (17600.0, 17630.0), (239.2, 240.9), (5.0, 5.0)]
)
def test_ticks_are_round_and_cover_the_range(low: float, high: float) -> None:
    ticks = nice_ticks(low, high)
    assert ticks[0] <= low
    assert ticks[-1] >= high
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    step = steps.pop()
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1.0, 2.0, 5.0)
    assert 3 <= len(ticks) <= 8


def test_time_ticks_span_the_visits() -> None:
    end = START + timedelta(days=100)
    ticks = time_ticks(START, end)
    assert ticks[0] == START
    assert ticks[-1] == end
    assert len(ticks) == 5
    assert time_ticks(START, START) == [START]
