"""Register maps as data: one TOML file per meter model, validated when it is loaded.

A map says how one model lays out its registers: the function code (3 holding, 4 input),
whether the addresses in the file are 0- or 1-based (stated, never guessed), the word and
byte order, the most registers the meter answers in one request and how many unused
registers a read may bridge, and one ``[[point]]`` per value with its type, scale, unit and
the snapshot quantity it feeds. ``docs/modbus.md`` describes the format.

Shipped maps live in ``fieldkit/drivers/modbus/maps/``; a utility's own maps in
:func:`fieldkit.paths.maps_dir` (``$FIELDKIT_HOME/maps``) are found first, so a local file
can replace a shipped one. Every problem in a file is a :class:`MapError` naming the file and
the entry (``eastron-sdm630.toml: point[3] 'current_a': unit 'kA' is not one of A, mA``).

:func:`plan_blocks` groups the points into as few contiguous requests as the map allows.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fieldkit.drivers.modbus.codec import MAX_READ_REGISTERS, ByteOrder, WordOrder, type_registers

__all__ = [
    "ELEMENT_QUANTITIES",
    "IDENTITY_QUANTITIES",
    "POINT_TYPES",
    "QUANTITY_UNITS",
    "SHIPPED_MAPS_DIR",
    "Block",
    "MapError",
    "MapSpec",
    "MeterMap",
    "Point",
    "SerialDefaults",
    "find_map",
    "list_maps",
    "load_map",
    "parse_map",
    "plan_blocks",
]

SHIPPED_MAPS_DIR = Path(__file__).resolve().parent / "maps"

# Every quantity a point may feed, with its units and the factor to the snapshot's unit
# (the first unit listed is the snapshot's).
QUANTITY_UNITS: dict[str, dict[str, float]] = {
    # per element
    "voltage": {"V": 1.0, "kV": 1000.0},
    "current": {"A": 1.0, "mA": 0.001},
    "voltage_angle": {"deg": 1.0},
    "current_angle": {"deg": 1.0},
    "power_factor": {"": 1.0},
    "active_power": {"W": 1.0, "kW": 1000.0},
    "reactive_power": {"var": 1.0, "kvar": 1000.0},
    # the whole meter
    "frequency": {"Hz": 1.0},
    "temperature": {"degC": 1.0},
    "total_active_power": {"W": 1.0, "kW": 1000.0},
    "total_reactive_power": {"var": 1.0, "kvar": 1000.0},
    # billing registers
    "kwh_delivered": {"kWh": 1.0, "Wh": 0.001, "MWh": 1000.0},
    "kwh_received": {"kWh": 1.0, "Wh": 0.001, "MWh": 1000.0},
    "kvarh_delivered": {"kvarh": 1.0, "varh": 0.001, "Mvarh": 1000.0},
    "kvarh_received": {"kvarh": 1.0, "varh": 0.001, "Mvarh": 1000.0},
    # identity
    "serial_number": {"": 1.0},
    "meter_id": {"": 1.0},
    "model_code": {"": 1.0},
    "firmware_version": {"": 1.0},
}
ELEMENT_QUANTITIES = frozenset(
    {
        "voltage",
        "current",
        "voltage_angle",
        "current_angle",
        "power_factor",
        "active_power",
        "reactive_power",
    }
)
IDENTITY_QUANTITIES = frozenset({"serial_number", "meter_id", "model_code", "firmware_version"})
REGISTER_QUANTITIES = ("kwh_delivered", "kwh_received", "kvarh_delivered", "kvarh_received")

Quantity = Literal[
    "voltage",
    "current",
    "voltage_angle",
    "current_angle",
    "power_factor",
    "active_power",
    "reactive_power",
    "frequency",
    "temperature",
    "total_active_power",
    "total_reactive_power",
    "kwh_delivered",
    "kwh_received",
    "kvarh_delivered",
    "kvarh_received",
    "serial_number",
    "meter_id",
    "model_code",
    "firmware_version",
]
Element = Literal["A", "B", "C"]
PointType = Literal["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "string"]
POINT_TYPES: tuple[str, ...] = get_args(PointType)


class MapError(ValueError):
    """A map file cannot be used; one line naming the file and the entry."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SerialDefaults(_Strict):
    """The line settings the model ships with ([serial]); the driver's settings override."""

    baud: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = 9600
    parity: Literal["N", "E", "O"] = "N"
    stop_bits: Literal[1, 2] = 1


class Point(_Strict):
    """One value in the meter's registers ([[point]])."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    quantity: Quantity
    element: Element | None = None
    address: Annotated[int, Field(ge=0, le=0x10000)]  # in the map's address base
    type: PointType
    unit: str  # required: a missing unit is an error, "" for a plain number
    scale: float = 1.0  # engineering value = raw × scale, then converted from ``unit``
    length: Annotated[int, Field(ge=1, le=MAX_READ_REGISTERS)] | None = None  # strings
    function: Literal[3, 4] | None = None  # overrides the map's function code
    # "pf_4q": Schneider's four-quadrant power factor (-2..2) folded to -1..1.
    transform: Literal["pf_4q"] | None = None
    doc: str = ""  # the number the manual prints (30001, 3000), for the reader

    @model_validator(mode="after")
    def _consistent(self) -> Point:
        units = QUANTITY_UNITS[self.quantity]
        if self.unit not in units:
            shown = ", ".join(repr(u) if u == "" else u for u in units)
            raise ValueError(f"unit {self.unit!r} is not one of {shown} for {self.quantity}")
        if self.quantity in ELEMENT_QUANTITIES and self.element is None:
            raise ValueError(f"{self.quantity} is per element: give element = 'A', 'B' or 'C'")
        if self.quantity not in ELEMENT_QUANTITIES and self.element is not None:
            raise ValueError(f"{self.quantity} is not per element: remove element")
        if self.type == "string":
            if self.length is None:
                raise ValueError("a string point needs length (registers)")
            if self.quantity not in IDENTITY_QUANTITIES:
                raise ValueError(f"{self.quantity} is a number, not a string")
        elif self.length is not None:
            raise ValueError(f"length is only for strings ({self.type} has a fixed size)")
        if self.transform == "pf_4q" and (
            self.quantity != "power_factor" or self.type != "float32"
        ):
            raise ValueError("transform 'pf_4q' is for float32 power_factor points")
        if self.scale == 0:
            raise ValueError("scale 0 makes every value 0")
        return self

    @property
    def registers(self) -> int:
        """How many registers the point takes."""
        return type_registers(self.type, self.length)

    @property
    def factor(self) -> float:
        """Raw value × factor = the snapshot's unit (scale and unit together)."""
        return self.scale * QUANTITY_UNITS[self.quantity][self.unit]


class MapSpec(_Strict):
    """The [meter] table: the model and how it lays out its registers."""

    manufacturer: Annotated[str, Field(min_length=1, max_length=64)]
    model: Annotated[str, Field(min_length=1, max_length=64)]
    description: str = ""
    source: Annotated[str, Field(min_length=1)]  # where the register list comes from
    function: Literal[3, 4]
    address_base: Literal[0, 1]  # no default: a map must say which
    word_order: Literal["big", "little"]
    byte_order: Literal["big", "little"]
    max_registers: Annotated[int, Field(ge=1, le=MAX_READ_REGISTERS)] = MAX_READ_REGISTERS
    # Unused registers one read may span between two points (0: never read a register the
    # map does not list). Only where the meter answers unlisted registers in a range.
    bridge_gap: Annotated[int, Field(ge=0, le=MAX_READ_REGISTERS)] = 0
    elements: tuple[Element, ...] = ("A", "B", "C")


class _MapFile(_Strict):
    meter: MapSpec
    serial: SerialDefaults = SerialDefaults()
    point: tuple[Point, ...] = ()


@dataclass(frozen=True, slots=True)
class Block:
    """One request: ``count`` registers from wire ``address`` and the points they carry."""

    function: int
    address: int
    count: int
    points: tuple[Point, ...]

    @property
    def end(self) -> int:
        """One past the last register."""
        return self.address + self.count

    @property
    def label(self) -> str:
        """``"input registers 0-79"``."""
        kind = "holding" if self.function == 3 else "input"
        return f"{kind} registers {self.address}-{self.end - 1}"


@dataclass(frozen=True, slots=True)
class MeterMap:
    """A validated map: the model, its line defaults and its points."""

    name: str
    path: Path | None
    spec: MapSpec
    serial: SerialDefaults
    points: tuple[Point, ...]

    @property
    def word_order(self) -> WordOrder:
        """Which register holds the most significant word."""
        return self.spec.word_order

    @property
    def byte_order(self) -> ByteOrder:
        """Byte order inside each register."""
        return self.spec.byte_order

    def function_of(self, point: Point) -> int:
        """The function code that reads ``point``."""
        return point.function or self.spec.function

    def wire_address(self, point: Point) -> int:
        """The 0-based address on the wire (the map's address less its base)."""
        return point.address - self.spec.address_base

    def point(self, quantity: str, element: str | None = None) -> Point | None:
        """The point feeding ``quantity`` (of ``element``), or None."""
        for p in self.points:
            if p.quantity == quantity and p.element == element:
                return p
        return None


def _where(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    if len(loc) >= 2 and loc[0] == "point" and isinstance(loc[1], int):
        index = loc[1]
        name = ""
        points = data.get("point")
        if isinstance(points, list) and index < len(points) and isinstance(points[index], dict):
            name = f" {points[index].get('name', '')!r}" if points[index].get("name") else ""
        rest = ".".join(str(p) for p in loc[2:])
        return f"point[{index}]{name}" + (f" {rest}" if rest else "")
    return ".".join(str(p) for p in loc) or "(top level)"


def _one_line(exc: ValidationError, data: dict[str, Any]) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(first.get("loc", ()))
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        message = "unknown key"
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "literal_error" and loc and loc[-1] == "type":
        message = f"unknown type (use one of {', '.join(POINT_TYPES)})"
    else:
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{_where(loc, data)}: {message}{more}"


def _check_layout(parsed: _MapFile) -> None:
    """Addresses inside the address space, no two points sharing a register, no duplicates."""
    spec = parsed.meter
    seen: dict[tuple[str, str | None], int] = {}
    spans: list[tuple[int, int, int, int]] = []  # function, start, end, index
    for index, p in enumerate(parsed.point):
        label = f"point[{index}] {p.name!r}"
        key = (p.quantity, p.element)
        if key in seen:
            other = parsed.point[seen[key]].name
            what = p.quantity + (f" of element {p.element}" if p.element else "")
            raise MapError(f"{label}: {what} is already read by {other!r}")
        seen[key] = index
        if p.element is not None and p.element not in spec.elements:
            raise MapError(
                f"{label}: element {p.element} is not one the meter measures "
                f"({', '.join(spec.elements)})"
            )
        start = p.address - spec.address_base
        if start < 0:
            raise MapError(
                f"{label}: address {p.address} is below the map's address_base "
                f"{spec.address_base} (is the map 0-based?)"
            )
        if start + p.registers > 0x10000:
            raise MapError(f"{label}: registers {start}+{p.registers} run past 65535")
        if p.registers > spec.max_registers:
            raise MapError(
                f"{label}: {p.registers} registers do not fit one request "
                f"(max_registers = {spec.max_registers})"
            )
        spans.append((p.function or spec.function, start, start + p.registers, index))
    spans.sort()
    reach: tuple[int, int, int] | None = None  # function, furthest end so far, its point
    for fb, sb, eb, ib in spans:
        if reach is not None and reach[0] == fb and sb < reach[1]:
            a, b = parsed.point[reach[2]], parsed.point[ib]
            raise MapError(
                f"point[{ib}] {b.name!r}: overlaps point[{reach[2]}] {a.name!r} "
                f"(both use register {sb + spec.address_base} in the map's numbering)"
            )
        if reach is None or reach[0] != fb or eb > reach[1]:
            reach = (fb, eb, ib)


def parse_map(text: str, *, name: str, source: str | None = None) -> MeterMap:
    """Parse and validate a map's TOML; a problem raises :class:`MapError` naming the entry."""
    where = source or f"{name}.toml"
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MapError(f"{where}: not valid TOML: {exc}") from None
    try:
        parsed = _MapFile.model_validate(data)
    except ValidationError as exc:
        raise MapError(f"{where}: {_one_line(exc, data)}") from None
    if not parsed.point:
        raise MapError(f"{where}: the map has no [[point]] entries")
    try:
        _check_layout(parsed)
    except MapError as exc:
        raise MapError(f"{where}: {exc}") from None
    return MeterMap(
        name=name, path=None, spec=parsed.meter, serial=parsed.serial, points=parsed.point
    )


def _map_dirs(user_dir: Path | None) -> list[Path]:
    if user_dir is None:
        from fieldkit.paths import maps_dir

        user_dir = maps_dir()
    return [user_dir, SHIPPED_MAPS_DIR]


def list_maps(user_dir: Path | None = None) -> list[tuple[str, Path]]:
    """Every map by name, a utility's own first (a local file hides a shipped one)."""
    found: dict[str, Path] = {}
    for folder in _map_dirs(user_dir):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                found.setdefault(path.stem, path)
    return sorted(found.items())


def find_map(name_or_path: str | Path, user_dir: Path | None = None) -> Path:
    """The file for a map NAME (the user's folder, then the shipped ones) or PATH."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or len(candidate.parts) > 1:
        if not candidate.is_file():
            raise MapError(f"map file {candidate} does not exist")
        return candidate
    for folder in _map_dirs(user_dir):
        path = folder / f"{name_or_path}.toml"
        if path.is_file():
            return path
    names = ", ".join(n for n, _ in list_maps(user_dir)) or "none"
    raise MapError(f"no map called {str(name_or_path)!r} (available: {names})")


def load_map(name_or_path: str | Path, user_dir: Path | None = None) -> MeterMap:
    """Load and validate a map by name or path; raises :class:`MapError`."""
    path = find_map(name_or_path, user_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MapError(f"{path.name}: cannot read: {exc}") from None
    parsed = parse_map(text, name=path.stem, source=path.name)
    return MeterMap(
        name=parsed.name, path=path, spec=parsed.spec, serial=parsed.serial, points=parsed.points
    )


def _spans(meter_map: MeterMap) -> Iterator[tuple[int, int, int, Point]]:
    for p in meter_map.points:
        start = meter_map.wire_address(p)
        yield meter_map.function_of(p), start, start + p.registers, p


def plan_blocks(meter_map: MeterMap, points: Iterable[Point] | None = None) -> list[Block]:
    """The fewest contiguous requests that read ``points`` (all of them by default).

    Points are taken in address order per function code; the next point joins the current
    request while the unused registers before it are no more than ``bridge_gap`` and the
    request stays within ``max_registers``. Requests come out in function, address order.
    """
    wanted = None if points is None else {id(p) for p in points}
    spans = sorted(
        (s for s in _spans(meter_map) if wanted is None or id(s[3]) in wanted),
        key=lambda s: (s[0], s[1]),
    )
    spec = meter_map.spec
    blocks: list[Block] = []
    current: list[Point] = []
    fn = start = end = -1
    for function, p_start, p_end, p in spans:
        joins = (
            current
            and function == fn
            and p_start - end <= spec.bridge_gap
            and p_end - start <= spec.max_registers
        )
        if joins:
            current.append(p)
            end = max(end, p_end)
            continue
        if current:
            blocks.append(Block(fn, start, end - start, tuple(current)))
        current, fn, start, end = [p], function, p_start, p_end
    if current:
        blocks.append(Block(fn, start, end - start, tuple(current)))
    return blocks
