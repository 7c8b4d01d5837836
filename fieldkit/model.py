"""Domain types shared by every part of the kit.

Every driver returns a :class:`MeterSnapshot`, whatever protocol it speaks; the site checks
read only these types, and the store and the sync wire format serialise them with
:func:`snapshot_to_dict` / :func:`snapshot_from_dict`. Nothing here imports a driver, a port
or the UI.

Conventions (see ``design.md``):
- angles are degrees in [0, 360), phase A voltage = 0°, positive = lagging behind VA;
- ``drift_seconds = meter_time - reference_time`` (positive: the meter is fast);
- per-phase entries are the *elements* the meter measures (a 2S meter has one element, the
  240 V line-to-line; a 5S delta meter has A = VAB and C = VCB).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "STATUS_FLAG_NAMES",
    "CheckResult",
    "CheckStatus",
    "ClockReading",
    "FrameRecord",
    "MeterEvent",
    "MeterIdentity",
    "MeterSnapshot",
    "PhaseQuantities",
    "Register",
    "ServiceType",
    "SiteExpectation",
    "StatusFlags",
    "Unavailable",
    "active_flags",
    "as_utc",
    "normalize_angle",
    "ordered_flags",
    "snapshot_from_dict",
    "snapshot_to_dict",
]

# ST3 ED_STD_STATUS1, bit n is the n-th name (C12.19 order).
STATUS_FLAG_NAMES: tuple[str, ...] = (
    "unprogrammed",
    "configuration_error",
    "self_check_error",
    "ram_failure",
    "rom_failure",
    "nonvolatile_memory_failure",
    "clock_error",
    "measurement_error",
    "low_battery",
    "low_loss_potential",
    "demand_overload",
    "power_failure",
    "tamper_detect",
    "reverse_rotation",
)


def as_utc(moment: datetime) -> datetime:
    """A time the kit can compare: a naive datetime is taken as UTC, never as local time."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def ordered_flags(names: Iterable[str]) -> list[str]:
    """Status flag names in ST3 bit order; names the standard does not define go last."""
    return sorted(names, key=_flag_order)


def normalize_angle(degrees: float) -> float:
    """Fold an angle into [0, 360)."""
    folded = math.fmod(degrees, 360.0)
    if folded < 0:
        folded += 360.0
    # fmod(-1e-17, 360) + 360 rounds to 360.0 itself.
    return 0.0 if folded >= 360.0 else folded


class ServiceType(StrEnum):
    """Electrical service at the meter, as named on work orders."""

    ONE_PHASE_2W = "1ph-2w"
    ONE_PHASE_3W = "1ph-3w"
    NETWORK = "network"
    WYE = "3ph-4w-wye"
    DELTA_3W = "3ph-3w-delta"
    DELTA_4W = "3ph-4w-delta"


class CheckStatus(StrEnum):
    """Verdict of one site check."""

    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class MeterIdentity:
    """Who the meter says it is (C12.19 ST1/ST5, or a Modbus model's identity registers)."""

    manufacturer: str
    model: str
    serial_number: str
    meter_id: str | None = None
    hardware_version: str | None = None
    firmware_version: str | None = None


@dataclass(frozen=True, slots=True)
class ClockReading:
    """The meter's clock against the laptop's reference clock, both timezone-aware."""

    meter_time: datetime
    reference_time: datetime
    dst: bool | None = None
    utc: bool | None = None

    @property
    def drift_seconds(self) -> float:
        """Meter time minus reference time: positive means the meter is fast."""
        return (self.meter_time - self.reference_time).total_seconds()


@dataclass(frozen=True, slots=True)
class StatusFlags:
    """ST3-style status: the standard flags that are set, plus the raw bytes for audit."""

    active: frozenset[str] = frozenset()
    metering_mode: bool | None = None
    test_mode: bool | None = None
    meter_shop_mode: bool | None = None
    factory_mode: bool | None = None
    manufacturer_status: bytes = b""

    def __contains__(self, name: object) -> bool:
        return name in self.active


@dataclass(frozen=True, slots=True)
class Register:
    """One billing register value in engineering units."""

    id: str
    value: float
    unit: str
    description: str = ""
    tier: str | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class PhaseQuantities:
    """What the meter measures on one element (secondary values unless stated)."""

    phase: str
    voltage: float | None = None  # V RMS
    current: float | None = None  # A RMS
    voltage_angle: float | None = None  # degrees from VA, lagging positive
    current_angle: float | None = None  # degrees from VA, lagging positive
    power_factor: float | None = None
    active_power: float | None = None  # W
    reactive_power: float | None = None  # var

    @classmethod
    def from_values(cls, phase: str, values: Mapping[str, float]) -> PhaseQuantities:
        """An element from quantity names (the field names above) to values; others ignored."""
        return cls(
            phase=phase,
            voltage=values.get("voltage"),
            current=values.get("current"),
            voltage_angle=values.get("voltage_angle"),
            current_angle=values.get("current_angle"),
            power_factor=values.get("power_factor"),
            active_power=values.get("active_power"),
            reactive_power=values.get("reactive_power"),
        )


@dataclass(frozen=True, slots=True)
class MeterEvent:
    """One entry of the meter's history or event log."""

    code: int
    name: str
    timestamp: datetime | None = None
    manufacturer: bool = False
    sequence: int | None = None
    user_id: int | None = None
    argument: bytes = b""
    log: str = "event"


@dataclass(frozen=True, slots=True)
class Unavailable:
    """An item the driver could not read, and why, in words a technician can act on."""

    item: str
    reason: str


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """One frame of the exchange as it crossed the wire (passwords already redacted)."""

    direction: str  # "tx" or "rx"
    data: bytes
    at: float  # seconds since the start of the read


@dataclass(frozen=True, slots=True)
class MeterSnapshot:
    """Everything one read of a meter produced."""

    protocol: str
    identity: MeterIdentity
    read_at: datetime
    clock: ClockReading | None = None
    status: StatusFlags | None = None
    registers: tuple[Register, ...] = ()
    phases: tuple[PhaseQuantities, ...] = ()
    frequency: float | None = None  # Hz
    temperature_c: float | None = None  # the meter's internal temperature
    total_active_power: float | None = None  # W, positive = delivered to the customer
    total_reactive_power: float | None = None  # var
    events: tuple[MeterEvent, ...] = ()
    comm_module: Mapping[str, str] = field(default_factory=dict)
    unavailable: tuple[Unavailable, ...] = ()
    frames: tuple[FrameRecord, ...] = ()

    def register(self, register_id: str, tier: str | None = None) -> Register | None:
        """The register with this id (total unless a tier is named), or None."""
        for reg in self.registers:
            if reg.id == register_id and reg.tier == tier:
                return reg
        return None

    def phase(self, name: str) -> PhaseQuantities | None:
        """The element called ``name`` ("A", "B", "C"), or None."""
        for ph in self.phases:
            if ph.phase == name:
                return ph
        return None


@dataclass(frozen=True, slots=True)
class SiteExpectation:
    """What the work order says the site should be."""

    meter_number: str | None = None
    form: str | None = None
    service_type: ServiceType | None = None
    nominal_voltage: float | None = None
    ct_ratio: float = 1.0
    pt_ratio: float = 1.0
    last_read_kwh: float | None = None
    last_read_at: datetime | None = None
    net_metering: bool = False
    last_visit_at: datetime | None = None
    rotation: str = "ABC"
    high_leg: str = "B"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The verdict of one site check."""

    id: str
    status: CheckStatus
    message: str
    measured: str | None = None
    expected: str | None = None
    likely_causes: tuple[str, ...] = ()


# --- JSON-friendly serialisation -------------------------------------------------------------


def _dt(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_dt(value: Any) -> datetime | None:
    if value is None:
        return None
    return as_utc(datetime.fromisoformat(str(value)))


def snapshot_to_dict(snapshot: MeterSnapshot, *, include_frames: bool = False) -> dict[str, Any]:
    """A JSON-ready dict with the names used in the design (bytes as hex, times ISO 8601)."""
    clock = snapshot.clock
    status = snapshot.status
    out: dict[str, Any] = {
        "protocol": snapshot.protocol,
        "read_at": _dt(snapshot.read_at),
        "identity": {
            "manufacturer": snapshot.identity.manufacturer,
            "model": snapshot.identity.model,
            "serial_number": snapshot.identity.serial_number,
            "meter_id": snapshot.identity.meter_id,
            "hardware_version": snapshot.identity.hardware_version,
            "firmware_version": snapshot.identity.firmware_version,
        },
        "clock": None
        if clock is None
        else {
            "meter_time": _dt(clock.meter_time),
            "reference_time": _dt(clock.reference_time),
            "drift_seconds": round(clock.drift_seconds, 3),
            "dst": clock.dst,
            "utc": clock.utc,
        },
        "status": None
        if status is None
        else {
            "active": ordered_flags(status.active),
            "metering_mode": status.metering_mode,
            "test_mode": status.test_mode,
            "meter_shop_mode": status.meter_shop_mode,
            "factory_mode": status.factory_mode,
            "manufacturer_status": status.manufacturer_status.hex(),
        },
        "registers": [
            {
                "id": r.id,
                "value": r.value,
                "unit": r.unit,
                "description": r.description,
                "tier": r.tier,
                "timestamp": _dt(r.timestamp),
            }
            for r in snapshot.registers
        ],
        "phases": [
            {
                "phase": p.phase,
                "voltage": p.voltage,
                "current": p.current,
                "voltage_angle": p.voltage_angle,
                "current_angle": p.current_angle,
                "power_factor": p.power_factor,
                "active_power": p.active_power,
                "reactive_power": p.reactive_power,
            }
            for p in snapshot.phases
        ],
        "frequency": snapshot.frequency,
        "temperature_c": snapshot.temperature_c,
        "total_active_power": snapshot.total_active_power,
        "total_reactive_power": snapshot.total_reactive_power,
        "events": [
            {
                "code": e.code,
                "name": e.name,
                "timestamp": _dt(e.timestamp),
                "manufacturer": e.manufacturer,
                "sequence": e.sequence,
                "user_id": e.user_id,
                "argument": e.argument.hex(),
                "log": e.log,
            }
            for e in snapshot.events
        ],
        "comm_module": dict(snapshot.comm_module),
        "unavailable": [{"item": u.item, "reason": u.reason} for u in snapshot.unavailable],
    }
    if include_frames:
        out["frames"] = [
            {"direction": f.direction, "data": f.data.hex(), "at": round(f.at, 6)}
            for f in snapshot.frames
        ]
    return out


def _flag_order(name: str) -> tuple[int, str]:
    try:
        return STATUS_FLAG_NAMES.index(name), name
    except ValueError:
        return len(STATUS_FLAG_NAMES), name


_PHASE_VALUES = frozenset(f for f in PhaseQuantities.__dataclass_fields__ if f != "phase")


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def snapshot_from_dict(data: Mapping[str, Any]) -> MeterSnapshot:
    """Inverse of :func:`snapshot_to_dict`; raises KeyError/ValueError on a malformed dict."""
    ident = data["identity"]
    clock_d = data.get("clock")
    status_d = data.get("status")
    read_at = _parse_dt(data["read_at"])
    if read_at is None:
        raise ValueError("snapshot has no read_at")
    clock = None
    if clock_d is not None:
        meter_time = _parse_dt(clock_d["meter_time"])
        reference_time = _parse_dt(clock_d["reference_time"])
        if meter_time is None or reference_time is None:
            raise ValueError("clock needs meter_time and reference_time")
        clock = ClockReading(meter_time, reference_time, clock_d.get("dst"), clock_d.get("utc"))
    status = None
    if status_d is not None:
        status = StatusFlags(
            active=frozenset(status_d.get("active", ())),
            metering_mode=status_d.get("metering_mode"),
            test_mode=status_d.get("test_mode"),
            meter_shop_mode=status_d.get("meter_shop_mode"),
            factory_mode=status_d.get("factory_mode"),
            manufacturer_status=bytes.fromhex(status_d.get("manufacturer_status", "")),
        )
    return MeterSnapshot(
        protocol=str(data["protocol"]),
        read_at=read_at,
        identity=MeterIdentity(
            manufacturer=ident["manufacturer"],
            model=ident["model"],
            serial_number=ident["serial_number"],
            meter_id=ident.get("meter_id"),
            hardware_version=ident.get("hardware_version"),
            firmware_version=ident.get("firmware_version"),
        ),
        clock=clock,
        status=status,
        registers=tuple(
            Register(
                id=r["id"],
                value=float(r["value"]),
                unit=r["unit"],
                description=r.get("description", ""),
                tier=r.get("tier"),
                timestamp=_parse_dt(r.get("timestamp")),
            )
            for r in data.get("registers", ())
        ),
        phases=tuple(
            PhaseQuantities.from_values(
                p["phase"],
                {k: float(v) for k, v in p.items() if k in _PHASE_VALUES and v is not None},
            )
            for p in data.get("phases", ())
        ),
        frequency=_opt_float(data.get("frequency")),
        temperature_c=_opt_float(data.get("temperature_c")),
        total_active_power=_opt_float(data.get("total_active_power")),
        total_reactive_power=_opt_float(data.get("total_reactive_power")),
        events=tuple(
            MeterEvent(
                code=int(e["code"]),
                name=e["name"],
                timestamp=_parse_dt(e.get("timestamp")),
                manufacturer=bool(e.get("manufacturer", False)),
                sequence=e.get("sequence"),
                user_id=e.get("user_id"),
                argument=bytes.fromhex(e.get("argument", "")),
                log=e.get("log", "event"),
            )
            for e in data.get("events", ())
        ),
        comm_module=dict(data.get("comm_module", {})),
        unavailable=tuple(Unavailable(u["item"], u["reason"]) for u in data.get("unavailable", ())),
        frames=tuple(
            FrameRecord(f["direction"], bytes.fromhex(f["data"]), float(f["at"]))
            for f in data.get("frames", ())
        ),
    )


def active_flags(bits: int) -> frozenset[str]:
    """Names of the ST3 ED_STD_STATUS1 bits set in ``bits``."""
    return frozenset(name for n, name in enumerate(STATUS_FLAG_NAMES) if bits >> n & 1)
