"""From register values to a :class:`~fieldkit.model.MeterSnapshot`, pure.

:func:`decode_block` turns one request's registers into engineering values (the map's type,
word and byte order, scale and unit); :func:`build_snapshot` puts the values of a read into
the snapshot the checks read.

Most Modbus meters give per element only V, I, P, Q and PF, no phasor angles. The checks need
angles, so where the map has none they are derived, and named in
:attr:`~fieldkit.model.PhaseQuantities.derived`:

- the voltage angle is where the service diagram puts the element (VA 0°, VB 120°, VC 240° for
  ABC rotation; B and C swap for ACB) — the meter cannot tell a crossed voltage lead;
- the current angle is the voltage angle plus the power-factor angle, whose size comes from
  the power factor (or from P and Q when the map has no power factor) and whose quadrant
  comes from the signs of P (delivered or received) and Q (lagging positive, as design.md).
  Without reactive power there is no telling lagging from leading, and no angle is made up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

from fieldkit.drivers.errors import DecodeError
from fieldkit.drivers.modbus.codec import decode_value
from fieldkit.drivers.modbus.maps import (
    ELEMENT_QUANTITIES,
    IDENTITY_QUANTITIES,
    QUANTITY_UNITS,
    REGISTER_QUANTITIES,
    Block,
    MeterMap,
    Point,
)
from fieldkit.model import (
    FrameRecord,
    MeterIdentity,
    MeterProtocol,
    MeterSnapshot,
    PhaseQuantities,
    Register,
    Unavailable,
    normalize_angle,
)

__all__ = [
    "DIAGRAM_ANGLES",
    "Value",
    "Values",
    "build_snapshot",
    "decode_block",
    "derive_current_angle",
    "fold_pf_4q",
]

Value = float | str
Values = dict[tuple[str, str | None], Value]  # (quantity, element) -> value

DIAGRAM_ANGLES: dict[str, dict[str, float]] = {
    "ABC": {"A": 0.0, "B": 120.0, "C": 240.0},
    "ACB": {"A": 0.0, "B": 240.0, "C": 120.0},
}

_REGISTER_TEXT = {
    "kwh_delivered": "active energy delivered",
    "kwh_received": "active energy received",
    "kvarh_delivered": "reactive energy delivered",
    "kvarh_received": "reactive energy received",
}


def fold_pf_4q(raw: float) -> float:
    """Schneider's "4Q FP PF" (-2..2, the quadrant in the range) as a -1..1 power factor."""
    if raw > 1.0:
        return 2.0 - raw
    if raw < -1.0:
        return -2.0 - raw
    return raw


def _point_value(point: Point, raw: float | int | str) -> Value | None:
    if isinstance(raw, str):
        return raw or None
    if isinstance(raw, float) and not math.isfinite(raw):
        return None  # NaN: the meter's "not available"
    if point.quantity in IDENTITY_QUANTITIES:
        number = raw * point.scale
        return str(int(number)) if float(number).is_integer() else f"{number:g}"
    value = float(raw) * point.factor
    if point.transform == "pf_4q":
        value = fold_pf_4q(value)
    return value


def decode_block(meter_map: MeterMap, block: Block, registers: Sequence[int]) -> Values:
    """The values of ``block``'s points from the registers the meter returned for it."""
    if len(registers) != block.count:
        raise DecodeError(f"{block.label}: {len(registers)} registers, expected {block.count}")
    out: Values = {}
    for point in block.points:
        offset = meter_map.wire_address(point) - block.address
        words = registers[offset : offset + point.registers]
        raw = decode_value(
            words, point.type, word_order=meter_map.word_order, byte_order=meter_map.byte_order
        )
        value = _point_value(point, raw)
        if value is not None:
            out[(point.quantity, point.element)] = value
    return out


def derive_current_angle(
    voltage_angle: float,
    *,
    power_factor: float | None,
    active_power: float | None,
    reactive_power: float | None,
) -> float | None:
    """The current's angle from the element's PF, P and Q; None when they cannot say.

    Lagging positive: Q > 0 puts the current behind its voltage. P < 0 (energy received)
    puts it in the second or third quadrant.
    """
    if reactive_power is None:
        return None
    if power_factor is not None and abs(power_factor) <= 1.0 + 1e-6:
        size = math.degrees(math.acos(min(1.0, abs(power_factor))))
        delivered = active_power >= 0 if active_power is not None else power_factor >= 0
        if active_power is not None and reactive_power == 0 and active_power == 0:
            return None  # no power flowing: the angle is undefined
        base = size if delivered else 180.0 - size
        angle = base if reactive_power >= 0 else -base
    elif active_power is not None:
        if active_power == 0 and reactive_power == 0:
            return None
        angle = math.degrees(math.atan2(reactive_power, active_power))
    else:
        return None
    return normalize_angle(voltage_angle + angle)


def _element(
    name: str, values: Mapping[tuple[str, str | None], Value], rotation: str
) -> tuple[PhaseQuantities, list[Unavailable]]:
    numbers: dict[str, float] = {}
    for quantity in ELEMENT_QUANTITIES:
        v = values.get((quantity, name))
        if isinstance(v, float):
            numbers[quantity] = v
    derived: list[str] = []
    missing: list[Unavailable] = []
    volts, amps = numbers.get("voltage"), numbers.get("current")
    if "voltage_angle" not in numbers and volts is not None:
        numbers["voltage_angle"] = DIAGRAM_ANGLES[rotation][name]
        derived.append("voltage_angle")
    if "current_angle" not in numbers and amps is not None and "voltage_angle" in numbers:
        angle = derive_current_angle(
            numbers["voltage_angle"],
            power_factor=numbers.get("power_factor"),
            active_power=numbers.get("active_power"),
            reactive_power=numbers.get("reactive_power"),
        )
        if angle is not None:
            numbers["current_angle"] = angle
            derived.append("current_angle")
        elif "reactive_power" not in numbers and amps > 0:
            missing.append(
                Unavailable(
                    f"current_angle {name}",
                    "the map gives no reactive power to tell a lagging current from a "
                    "leading one: angle checks skip this element",
                )
            )
    return PhaseQuantities.from_values(name, numbers, derived), missing


def _text(values: Mapping[tuple[str, str | None], Value], quantity: str) -> str | None:
    v = values.get((quantity, None))
    return v if isinstance(v, str) else None


def _number(values: Mapping[tuple[str, str | None], Value], quantity: str) -> float | None:
    v = values.get((quantity, None))
    return v if isinstance(v, float) else None


def build_snapshot(
    meter_map: MeterMap,
    values: Mapping[tuple[str, str | None], Value],
    *,
    read_at: datetime,
    unavailable: Sequence[Unavailable] = (),
    frames: tuple[FrameRecord, ...] = (),
    incomplete: str | None = None,
    rotation: str = "ABC",
) -> MeterSnapshot:
    """The snapshot of one read: identity from the map and its identity registers."""
    missing = list(unavailable)
    spec = meter_map.spec
    serial = _text(values, "serial_number")
    if meter_map.point("serial_number") is None:
        missing.append(Unavailable("serial_number", f"the {spec.model} map has no serial register"))
    model_code = _text(values, "model_code")
    identity = MeterIdentity(
        manufacturer=spec.manufacturer,
        model=spec.model if model_code is None else f"{spec.model} (model code {model_code})",
        serial_number=serial or "",
        meter_id=_text(values, "meter_id"),
        firmware_version=_text(values, "firmware_version"),
    )
    phases = []
    for name in spec.elements:
        if not any(e == name for (_q, e) in values):
            continue
        element, gaps = _element(name, values, rotation)
        phases.append(element)
        missing.extend(gaps)
    total_p = _number(values, "total_active_power")
    if total_p is None and phases and all(p.active_power is not None for p in phases):
        total_p = sum(p.active_power or 0.0 for p in phases)
    total_q = _number(values, "total_reactive_power")
    if total_q is None and phases and all(p.reactive_power is not None for p in phases):
        total_q = sum(p.reactive_power or 0.0 for p in phases)
    registers = []
    for quantity in REGISTER_QUANTITIES:
        v = _number(values, quantity)
        if v is not None:
            unit = next(iter(QUANTITY_UNITS[quantity]))
            point = meter_map.point(quantity)
            doc = f" ({point.doc})" if point is not None and point.doc else ""
            registers.append(Register(quantity, v, unit, _REGISTER_TEXT[quantity] + doc))
    for item, why in (
        ("clock", "Modbus meters in this kit are not read for a clock"),
        ("status", "the map has no status registers"),
        ("events", "the map has no event log"),
    ):
        missing.append(Unavailable(item, why))
    return MeterSnapshot(
        protocol=str(MeterProtocol.MODBUS),
        identity=identity,
        read_at=read_at,
        registers=tuple(registers),
        phases=tuple(phases),
        frequency=_number(values, "frequency"),
        temperature_c=_number(values, "temperature"),
        total_active_power=total_p,
        total_reactive_power=total_q,
        unavailable=tuple(missing),
        frames=frames,
        incomplete=incomplete,
    )
