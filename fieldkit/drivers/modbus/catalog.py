"""What ``fieldkit maps list|show NAME`` prints: the maps there are, and one map in words.

The CLI calls :func:`list_entries` and :func:`describe` (or :func:`show_lines` for text) and
never touches a map's internals. A broken map under the utility's folder is listed with its
problem rather than hiding the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fieldkit.drivers.modbus.maps import (
    SHIPPED_MAPS_DIR,
    MapError,
    MeterMap,
    list_maps,
    load_map,
    plan_blocks,
)

__all__ = ["MapEntry", "MapPointView", "MapView", "describe", "list_entries", "show_lines"]


@dataclass(frozen=True, slots=True)
class MapEntry:
    """One line of ``fieldkit maps list``."""

    name: str
    path: Path
    shipped: bool  # False: the utility's own (under $FIELDKIT_HOME/maps)
    manufacturer: str | None
    model: str | None
    description: str | None
    error: str | None  # why the file cannot be used, for a broken map


@dataclass(frozen=True, slots=True)
class MapPointView:
    """One point as ``show`` prints it."""

    name: str
    quantity: str
    element: str | None
    function: int
    address: int  # as the map writes it
    wire_address: int  # 0-based, on the wire
    type: str
    unit: str
    scale: float
    doc: str


@dataclass(frozen=True, slots=True)
class MapView:
    """A whole map for ``show`` (and ``--json``)."""

    name: str
    path: Path | None
    manufacturer: str
    model: str
    description: str
    source: str
    function: int
    address_base: int
    word_order: str
    byte_order: str
    max_registers: int
    bridge_gap: int
    baud: int
    parity: str
    stop_bits: int
    requests: tuple[str, ...]  # the blocks a full read asks for, in order
    points: tuple[MapPointView, ...]


def list_entries(user_dir: Path | None = None) -> list[MapEntry]:
    """Every map by name (the utility's own first), broken ones with their error."""
    out = []
    for name, path in list_maps(user_dir):
        shipped = path.parent == SHIPPED_MAPS_DIR
        try:
            m = load_map(path)
        except MapError as exc:
            out.append(MapEntry(name, path, shipped, None, None, None, str(exc)))
            continue
        spec = m.spec
        out.append(
            MapEntry(name, path, shipped, spec.manufacturer, spec.model, spec.description, None)
        )
    return out


def _view(m: MeterMap) -> MapView:
    spec = m.spec
    points = tuple(
        MapPointView(
            name=p.name,
            quantity=p.quantity,
            element=p.element,
            function=m.function_of(p),
            address=p.address,
            wire_address=m.wire_address(p),
            type=p.type if p.length is None else f"{p.type}[{p.length}]",
            unit=p.unit,
            scale=p.scale,
            doc=p.doc,
        )
        for p in m.points
    )
    return MapView(
        name=m.name,
        path=m.path,
        manufacturer=spec.manufacturer,
        model=spec.model,
        description=spec.description,
        source=spec.source,
        function=spec.function,
        address_base=spec.address_base,
        word_order=spec.word_order,
        byte_order=spec.byte_order,
        max_registers=spec.max_registers,
        bridge_gap=spec.bridge_gap,
        baud=m.serial.baud,
        parity=m.serial.parity,
        stop_bits=m.serial.stop_bits,
        requests=tuple(b.label for b in plan_blocks(m)),
        points=points,
    )


def describe(name_or_path: str | Path, user_dir: Path | None = None) -> MapView:
    """One map for ``show``; raises MapError (one line) for an unknown or broken map."""
    return _view(load_map(name_or_path, user_dir))


def show_lines(name_or_path: str | Path, user_dir: Path | None = None) -> list[str]:
    """``fieldkit maps show NAME`` as text lines; raises MapError."""
    v = describe(name_or_path, user_dir)
    fn = {3: "3 (holding registers)", 4: "4 (input registers)"}[v.function]
    high = "first" if v.word_order == "big" else "last"
    lines = [
        f"{v.name}: {v.manufacturer} {v.model}",
        f"  {v.description}" if v.description else "",
        f"  source:        {v.source}",
        f"  file:          {v.path}",
        f"  function:      {fn}",
        f"  addresses:     {v.address_base}-based in the file",
        f"  word order:    {v.word_order} (high word {high})",
        f"  byte order:    {v.byte_order}",
        f"  per request:   at most {v.max_registers} registers, "
        f"bridging up to {v.bridge_gap} unused",
        f"  line default:  {v.baud} baud, 8{v.parity}{v.stop_bits}",
        f"  a full read:   {len(v.requests)} request(s): {', '.join(v.requests)}",
        "",
        f"  {'point':24} {'quantity':22} {'el':2} {'fn':2} {'address':>7} {'wire':>6} "
        f"{'type':12} {'unit':5} {'scale':>8}  doc",
    ]
    for p in v.points:
        lines.append(
            f"  {p.name:24} {p.quantity:22} {p.element or '':2} {p.function:2} {p.address:>7} "
            f"{p.wire_address:>6} {p.type:12} {p.unit:5} {p.scale:>8g}  {p.doc}"
        )
    return [ln for ln in lines if ln]
