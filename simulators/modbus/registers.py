"""A scenario's values as a Modbus meter's registers, laid out by a map file. Pure.

Written apart from the driver on purpose: the map TOML is read here with ``tomllib`` and only
the keys the meter side needs (function, address base, word and byte order, bridge gap, each
point's address, type, scale and unit), and every value is packed with ``struct`` here. A
driver bug in addressing, scaling or word order therefore shows up as a wrong reading
instead of cancelling out.

Which registers answer: each point's registers, plus the unused registers in a gap no wider
than the map's ``bridge_gap`` (the meter answers them with 0). Anything else is an illegal
data address.
"""

from __future__ import annotations

import math
import re
import struct
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulators.c1218.physics import MeterClock, instruments, registers_at
from simulators.scenario import Scenario

__all__ = [
    "MapFileError",
    "RegisterImage",
    "SimMap",
    "SimPoint",
    "find_map_file",
    "load_sim_map",
    "scenario_values",
]

_PACK = {
    "int16": ">h",
    "uint16": ">H",
    "int32": ">i",
    "uint32": ">I",
    "int64": ">q",
    "uint64": ">Q",
    "float32": ">f",
}
_INT_LIMITS = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}
# One engineering unit (the simulator's physics: V, A, W, var, kWh, kvarh) in a map's unit.
_PER_UNIT = {"kV": 1e-3, "mA": 1e3, "kW": 1e-3, "kvar": 1e-3, "Wh": 1e3, "varh": 1e3}
_PER_UNIT |= {"MWh": 1e-3, "Mvarh": 1e-3}


class MapFileError(ValueError):
    """The simulator cannot serve this map file (one line)."""


@dataclass(frozen=True, slots=True)
class SimPoint:
    """One value the meter serves."""

    quantity: str
    element: str | None
    function: int
    address: int  # 0-based, on the wire
    type: str
    registers: int
    scale: float
    unit: str
    pf_4q: bool


@dataclass(frozen=True, slots=True)
class SimMap:
    """What the meter side needs from a map file."""

    name: str
    manufacturer: str
    model: str
    word_order: str
    byte_order: str
    max_registers: int
    bridge_gap: int
    baud: int
    points: tuple[SimPoint, ...]

    def ranges(self) -> dict[int, list[tuple[int, int]]]:
        """Per function code, the [start, end) runs of registers that answer."""
        spans: dict[int, list[tuple[int, int]]] = {}
        for p in sorted(self.points, key=lambda p: (p.function, p.address)):
            runs = spans.setdefault(p.function, [])
            end = p.address + p.registers
            if runs and p.address - runs[-1][1] <= self.bridge_gap:
                runs[-1] = (runs[-1][0], max(runs[-1][1], end))
            else:
                runs.append((p.address, end))
        return spans


def find_map_file(name_or_path: str | Path) -> Path:
    """A map NAME in ``$FIELDKIT_HOME/maps`` or the shipped maps, or a PATH."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or len(candidate.parts) > 1:
        if not candidate.is_file():
            raise MapFileError(f"map file {candidate} does not exist")
        return candidate
    import fieldkit
    from fieldkit.paths import maps_dir

    shipped = Path(fieldkit.__file__).resolve().parent / "drivers" / "modbus" / "maps"
    for folder in (maps_dir(), shipped):
        path = folder / f"{name_or_path}.toml"
        if path.is_file():
            return path
    names = sorted(p.stem for p in shipped.glob("*.toml"))
    raise MapFileError(f"no map called {str(name_or_path)!r} (shipped: {', '.join(names)})")


def load_sim_map(name_or_path: str | Path) -> SimMap:
    """Read a map file for serving; raises MapFileError."""
    path = find_map_file(name_or_path)
    try:
        doc: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        meter = doc["meter"]
        base = int(meter["address_base"])
        points = []
        for raw in doc["point"]:
            kind = raw["type"]
            size = int(raw["length"]) if kind == "string" else struct.calcsize(_PACK[kind]) // 2
            points.append(
                SimPoint(
                    quantity=raw["quantity"],
                    element=raw.get("element"),
                    function=int(raw.get("function", meter["function"])),
                    address=int(raw["address"]) - base,
                    type=kind,
                    registers=size,
                    scale=float(raw.get("scale", 1.0)),
                    unit=str(raw["unit"]),
                    pf_4q=raw.get("transform") == "pf_4q",
                )
            )
        return SimMap(
            name=path.stem,
            manufacturer=str(meter["manufacturer"]),
            model=str(meter["model"]),
            word_order=str(meter["word_order"]),
            byte_order=str(meter["byte_order"]),
            max_registers=int(meter.get("max_registers", 125)),
            bridge_gap=int(meter.get("bridge_gap", 0)),
            baud=int(doc.get("serial", {}).get("baud", 9600)),
            points=tuple(points),
        )
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise MapFileError(f"{path.name}: cannot serve this map: {exc!r}") from None


def _words(raw: bytes, *, word_order: str, byte_order: str, text: bool) -> list[int]:
    pairs = [raw[i : i + 2] for i in range(0, len(raw), 2)]
    if word_order == "little" and not text:
        pairs.reverse()
    if byte_order == "little":
        pairs = [pair[::-1] for pair in pairs]
    return [int.from_bytes(pair, "big") for pair in pairs]


def _pf_4q(pf: float, reactive: float) -> float:
    """Schneider's four-quadrant PF: Q1 0..1, Q2 -1..0, Q3 -2..-1, Q4 1..2."""
    if pf >= 0:
        return pf if reactive >= 0 else 2.0 - pf
    return pf if reactive >= 0 else -2.0 - pf


class RegisterImage:
    """The meter's registers at one moment: ``read(function, address, count)``."""

    def __init__(self, sim_map: SimMap, values: dict[tuple[str, str | None], float | str]) -> None:
        self.map = sim_map
        self._words: dict[tuple[int, int], int] = {}
        self._ranges = sim_map.ranges()
        for p in sim_map.points:
            value = values.get((p.quantity, p.element), 0.0)
            for i, word in enumerate(self._encode(p, value)):
                self._words[(p.function, p.address + i)] = word

    def _encode(self, p: SimPoint, value: float | str) -> list[int]:
        m = self.map
        if p.type == "string":
            raw = str(value).encode("utf-8")[: 2 * p.registers].ljust(2 * p.registers, b"\x00")
            return _words(raw, word_order=m.word_order, byte_order=m.byte_order, text=True)
        if isinstance(value, str):
            # A text serial in a numeric register: its last run of digits ("SN16S…054321").
            found = re.search(r"(\d+)\D*$", value)
            number = float(int(found.group(1))) if found else 0.0
        else:
            number = float(value)
        number = number * _PER_UNIT.get(p.unit, 1.0) / p.scale
        if p.type == "float32":
            raw = struct.pack(">f", number)
        else:
            low, high = _INT_LIMITS[p.type]
            whole = 0 if not math.isfinite(number) else round(number)
            raw = struct.pack(_PACK[p.type], min(high, max(low, whole)))
        return _words(raw, word_order=m.word_order, byte_order=m.byte_order, text=False)

    def answers(self, function: int, address: int, count: int) -> bool:
        """True when every register asked for is one the meter has."""
        end = address + count
        return any(s <= address and end <= e for s, e in self._ranges.get(function, []))

    def read(self, function: int, address: int, count: int) -> list[int]:
        """The registers (0 for unused ones inside a bridged gap)."""
        return [self._words.get((function, a), 0) for a in range(address, address + count)]


def scenario_values(
    scenario: Scenario, sim_map: SimMap, *, started_at: float, now: float
) -> dict[tuple[str, str | None], float | str]:
    """What the meter measures at ``now``: the scenario's phasors, moving a little if asked."""
    meter = instruments(scenario)
    wobble = scenario.modbus.wobble
    t = now - started_at
    v_factor = 1.0 + (0.002 * math.sin(2 * math.pi * t / 37.0) if wobble else 0.0)
    i_factor = 1.0 + (0.01 * math.sin(2 * math.pi * t / 23.0) if wobble else 0.0)
    values: dict[tuple[str, str | None], float | str] = {}
    for e in meter.elements:
        values[("voltage", e.name)] = e.voltage * v_factor
        values[("current", e.name)] = e.current * i_factor
        values[("voltage_angle", e.name)] = e.voltage_angle
        values[("current_angle", e.name)] = e.current_angle
        values[("active_power", e.name)] = e.active_power * v_factor * i_factor
        values[("reactive_power", e.name)] = e.reactive_power * v_factor * i_factor
        s = e.voltage * e.current
        values[("power_factor", e.name)] = e.active_power / s if s > 0 else 1.0
    for p in sim_map.points:  # Schneider's PF carries the quadrant
        if p.pf_4q and p.element is not None:
            key = ("power_factor", p.element)
            pf = float(values.get(key, 1.0))
            values[key] = _pf_4q(pf, float(values.get(("reactive_power", p.element), 0.0)))
    values[("total_active_power", None)] = meter.total_active_power * v_factor * i_factor
    values[("total_reactive_power", None)] = meter.total_reactive_power * v_factor * i_factor
    values[("frequency", None)] = scenario.site.frequency + (
        0.01 * math.sin(2 * math.pi * t / 41.0) if wobble else 0.0
    )
    values[("temperature", None)] = scenario.site.temperature_c
    regs = registers_at(scenario, meter, MeterClock(scenario.clock), started_at=started_at, now=now)
    values[("kwh_delivered", None)] = regs.wh_delivered / 1000.0
    values[("kwh_received", None)] = regs.wh_received / 1000.0
    values[("kvarh_delivered", None)] = regs.varh_delivered / 1000.0
    values[("kvarh_received", None)] = regs.varh_received / 1000.0
    values[("serial_number", None)] = scenario.meter.serial
    values[("meter_id", None)] = scenario.meter.meter_id
    values[("model_code", None)] = float(scenario.modbus.model_code)
    values[("firmware_version", None)] = f"{scenario.meter.fw_version}.{scenario.meter.fw_revision}"
    return values
