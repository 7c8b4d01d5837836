"""The phasor diagram's geometry: where each vector lands, and the expected picture."""

from __future__ import annotations

from fieldkit.checks.phasors import service_model
from fieldkit.model import PhaseQuantities
from fieldkit.tui.widgets.phasor import Cell, plot, vectors_for

WYE = (
    PhaseQuantities("A", 121.1, 12.6, 0.0, 17.0),
    PhaseQuantities("B", 120.4, 11.8, 120.0, 139.0),
    PhaseQuantities("C", 119.6, 13.1, 240.0, 258.0),
)


def _find(grid: list[list[Cell | None]], text: str) -> tuple[int, int]:
    for row, cells in enumerate(grid):
        line = "".join(c.char if c else " " for c in cells)
        if text in line:
            return line.index(text), row
    raise AssertionError(
        f"{text} not drawn:\n"
        + "\n".join("".join(c.char if c else " " for c in cells) for cells in grid)
    )


def test_voltages_turn_clockwise_as_they_lag() -> None:
    grid = plot(36, 13, vectors_for(WYE, service_model("3ph-4w-wye")))
    centre = (17, 6)
    va, vb, vc = (_find(grid, label) for label in ("VA", "VB", "VC"))
    assert va[0] > centre[0]
    assert abs(va[1] - centre[1]) <= 1
    assert vb[0] < centre[0]
    assert vb[1] > centre[1]
    assert vc[0] < centre[0]
    assert vc[1] < centre[1]
    assert grid[centre[1]][centre[0]] == Cell("┼", "centre")


def test_a_reversed_current_points_away_from_its_voltage() -> None:
    reversed_a = (PhaseQuantities("A", 121.1, 12.6, 0.0, 197.0), *WYE[1:])
    grid = plot(36, 13, vectors_for(reversed_a, service_model("3ph-4w-wye")))
    ia = _find(grid, "IA")
    assert ia[0] < 17  # left of the centre, where VA points right


def test_the_expected_picture_is_drawn_faintly_where_nothing_was_measured() -> None:
    # A delta's expected currents sit 30° off their voltages: marked ○ with no data at all.
    grid = plot(36, 13, vectors_for((), service_model("3ph-3w-delta")))
    kinds = {c.kind for row in grid for c in row if c is not None}
    assert kinds == {"expected_voltage", "expected_current", "centre"}
    assert sum(c.char == "○" for row in grid for c in row if c is not None) == 2


def test_no_expected_picture_without_a_service_type_and_tiny_areas_stay_blank() -> None:
    vectors = vectors_for(WYE, None)
    assert {v.kind for v in vectors} == {"voltage", "current"}
    assert all(c is None for row in plot(4, 2, vectors) for c in row)
    lengths = {v.element: v.length for v in vectors if v.kind == "current"}
    assert max(lengths.values()) == lengths["C"]  # the largest current reaches furthest
