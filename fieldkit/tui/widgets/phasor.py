"""The phasor diagram: each element's voltage and current, over the service's healthy picture.

Angles follow the kit's convention (degrees lagging from VA, so lagging turns clockwise on
the screen). Voltages are drawn with line characters to the rim, currents with dots to two
thirds of it, each scaled to the largest of its kind; the expected positions of the work
order's service type (from :func:`fieldkit.checks.phasors.service_model`, not re-derived
here) are faint dots with a ``○`` where a healthy current sits at unity power factor.
Terminal cells are about twice as tall as wide, so the x radius is twice the y radius.

:func:`plot` is the geometry, pure and testable; :class:`PhasorDiagram` paints it with the
theme's colours (``$text-error``, ``$text-warning``, ``$text-primary`` for elements A, B, C
and ``$text-muted`` for the expected picture), readable in the light and dark themes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from fieldkit.checks.phasors import ServiceModel
from fieldkit.model import PhaseQuantities

__all__ = ["Cell", "PhasorDiagram", "Vector", "plot", "vectors_for"]

Kind = Literal["voltage", "current", "expected_voltage", "expected_current"]
CURRENT_REACH = 0.66


@dataclass(frozen=True, slots=True)
class Vector:
    """One arrow of the diagram: ``length`` is a fraction of the rim (0..1)."""

    element: str  # "A", "B", "C"
    kind: Kind
    angle: float  # degrees lagging from VA
    length: float

    @property
    def label(self) -> str:
        """'VA', 'IA'; expected positions have none."""
        if self.kind == "voltage":
            return f"V{self.element}"
        if self.kind == "current":
            return f"I{self.element}"
        return ""


@dataclass(frozen=True, slots=True)
class Cell:
    """One character of the picture and what it belongs to (for its colour)."""

    char: str
    kind: Kind | Literal["centre", "label"]
    element: str | None = None


def vectors_for(phases: Sequence[PhaseQuantities], expected: ServiceModel | None) -> list[Vector]:
    """The arrows for the measured elements and, faintly, the expected diagram."""
    out: list[Vector] = []
    if expected is not None:
        biggest = max((e.voltage_factor for e in expected.elements), default=1.0) or 1.0
        for e in expected.elements:
            out.append(
                Vector(e.name, "expected_voltage", e.voltage_angle, e.voltage_factor / biggest)
            )
            out.append(Vector(e.name, "expected_current", e.current_angle, CURRENT_REACH))
    volts = [p.voltage for p in phases if p.voltage is not None and p.voltage > 0]
    amps = [p.current for p in phases if p.current is not None and p.current > 0]
    v_max = max(volts, default=0.0)
    i_max = max(amps, default=0.0)
    for p in phases:
        if p.voltage is not None and p.voltage_angle is not None and v_max > 0:
            out.append(Vector(p.phase, "voltage", p.voltage_angle, max(p.voltage / v_max, 0.08)))
        if p.current is not None and p.current_angle is not None and i_max > 0:
            out.append(
                Vector(
                    p.phase,
                    "current",
                    p.current_angle,
                    max(CURRENT_REACH * p.current / i_max, 0.08),
                )
            )
    return out


def _line_char(dx: float, dy: float) -> str:
    # dx right, dy down, in cells with rows counted double (squares).
    phi = math.degrees(math.atan2(-dy, dx)) % 180.0
    if phi < 22.5 or phi >= 157.5:
        return "─"
    if phi < 67.5:
        return "╱"
    if phi < 112.5:
        return "│"
    return "╲"


def plot(width: int, height: int, vectors: Sequence[Vector]) -> list[list[Cell | None]]:
    """The picture as ``height`` rows of ``width`` cells (None: blank)."""
    grid: list[list[Cell | None]] = [[None] * width for _ in range(height)]
    if width < 5 or height < 3:
        return grid
    cx, cy = float((width - 1) // 2), float((height - 1) // 2)
    # Leave room for the two-letter labels beyond the rim.
    rx = max(1.0, min(cx - 3, (cy - 1) * 2))
    ry = rx / 2

    def put(col: int, row: int, cell: Cell) -> None:
        if 0 <= row < height and 0 <= col < width:
            grid[row][col] = cell

    def point(angle: float, reach: float) -> tuple[float, float]:
        rad = math.radians(angle)
        return cx + rx * reach * math.cos(rad), cy + ry * reach * math.sin(rad)

    order: dict[Kind, int] = {
        "expected_voltage": 0,
        "expected_current": 1,
        "current": 2,
        "voltage": 3,
    }
    ranked = sorted(vectors, key=lambda v: order[v.kind])
    for vec in ranked:
        tip_x, tip_y = point(vec.angle, vec.length)
        dx, dy = tip_x - cx, (tip_y - cy) * 2
        steps = max(1, round(abs(tip_x - cx)), round(abs(tip_y - cy)))
        if vec.kind == "voltage":
            char = _line_char(dx, dy)
        elif vec.kind == "current":
            char = "•"
        else:
            char = "·"
        for n in range(1, steps + 1):
            t = n / steps
            col = round(cx + (tip_x - cx) * t)
            row = round(cy + (tip_y - cy) * t)
            if (col, row) == (round(cx), round(cy)):
                continue
            existing = grid[row][col] if 0 <= row < height and 0 <= col < width else None
            if vec.kind.startswith("expected") and existing is not None:
                continue
            put(col, row, Cell(char, vec.kind, vec.element))
    # Where a healthy current sits: on top of the lines, under the labels.
    for vec in ranked:
        if vec.kind == "expected_current":
            tip_x, tip_y = point(vec.angle, vec.length)
            put(round(tip_x), round(tip_y), Cell("○", vec.kind, vec.element))
    put(round(cx), round(cy), Cell("┼", "centre"))
    # Labels last, just beyond each tip, nudged off one another.
    taken: set[tuple[int, int]] = set()
    for vec in ranked:
        if not vec.label:
            continue
        lx, ly = point(vec.angle, vec.length + (0.18 if vec.kind == "current" else 0.12))
        col = round(lx) - (1 if math.cos(math.radians(vec.angle)) < -0.3 else 0)
        row = round(ly)
        col = min(max(col, 0), width - 2)
        row = min(max(row, 0), height - 1)
        for shift in (0, 1, -1, 2, -2):
            r = row + shift
            if 0 <= r < height and (col, r) not in taken and (col + 1, r) not in taken:
                row = r
                break
        taken.update({(col, row), (col + 1, row)})
        for k, ch in enumerate(vec.label):
            put(col + k, row, Cell(ch, "label", vec.element))
    return grid


class PhasorDiagram(Widget):
    """Voltage and current per element, over the expected diagram drawn faintly."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "phasor--a",
        "phasor--b",
        "phasor--c",
        "phasor--expected",
        "phasor--centre",
    }
    DEFAULT_CSS = """
    PhasorDiagram {
        width: 1fr;
        height: 1fr;
        min-height: 9;
    }
    PhasorDiagram > .phasor--a { color: $text-error; text-style: bold; }
    PhasorDiagram > .phasor--b { color: $text-warning; text-style: bold; }
    PhasorDiagram > .phasor--c { color: $text-primary; text-style: bold; }
    PhasorDiagram > .phasor--expected { color: $text-muted; }
    PhasorDiagram > .phasor--centre { color: $text-muted; }
    """

    vectors: reactive[tuple[Vector, ...]] = reactive(())

    def show(self, phases: Sequence[PhaseQuantities], expected: ServiceModel | None) -> None:
        """Draw these elements over ``expected`` (None: no expected picture)."""
        self.vectors = tuple(vectors_for(phases, expected))

    def render(self) -> Text:
        size = self.content_size
        grid = plot(size.width, size.height, self.vectors)
        styles = {
            name: self.get_component_rich_style(f"phasor--{name}")
            for name in ("a", "b", "c", "expected", "centre")
        }
        text = Text(no_wrap=True, overflow="crop")
        for n, row in enumerate(grid):
            if n:
                text.append("\n")
            for cell in row:
                if cell is None:
                    text.append(" ")
                    continue
                text.append(cell.char, _style_of(cell, styles))
        return text


def _style_of(cell: Cell, styles: dict[str, Style]) -> Style:
    if cell.kind in ("expected_voltage", "expected_current"):
        return styles["expected"]
    if cell.kind == "centre" or cell.element is None:
        return styles["centre"]
    return styles.get(cell.element.lower(), styles["centre"])
