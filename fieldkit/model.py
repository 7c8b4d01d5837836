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

import cmath
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

__all__ = [
    "CLOSED_WORK_ORDER_STATUSES",
    "METER_CLASSES",
    "STATUS_FLAG_NAMES",
    "CheckResult",
    "CheckStatus",
    "ClockReading",
    "FrameDirection",
    "FrameRecord",
    "HighLeg",
    "MeterEvent",
    "MeterIdentity",
    "MeterProtocol",
    "MeterSnapshot",
    "PhaseQuantities",
    "Quantity",
    "Register",
    "Rotation",
    "ServiceType",
    "SiteExpectation",
    "StatusFlags",
    "Unavailable",
    "WorkOrder",
    "active_flags",
    "as_utc",
    "meter_class",
    "normalize_angle",
    "ordered_flags",
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


# The small vocabularies, each checked in one place.
Rotation = Literal["ABC", "ACB"]
HighLeg = Literal["A", "B", "C"]
FrameDirection = Literal["tx", "rx"]


class MeterProtocol(StrEnum):
    """How the kit talks to a meter; the driver factory builds one driver per value."""

    C1218 = "c1218"
    MODBUS = "modbus"


def as_utc(moment: datetime) -> datetime:
    """A time the kit can compare: a naive datetime is taken as UTC, never as local time."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def ordered_flags(names: Iterable[str]) -> list[str]:
    """Status flag names in ST3 bit order; names the standard does not define go last."""
    return sorted(names, key=_flag_order)


# ANSI C12.10 current classes (maximum amps): 2, 10 and 20 are transformer-rated meters behind
# CTs; 100 and up are self-contained (the service conductors run through the meter).
METER_CLASSES: tuple[int, ...] = (2, 10, 20, 100, 150, 200, 320, 480)


def meter_class(text: str) -> str:
    """A nameplate class as the kit writes it ('CL200') from 'CL200', 'cl 200', 'Class 20', '20'.

    Raises ValueError naming the classes there are.
    """
    digits = text.strip().upper().removeprefix("CLASS").removeprefix("CL").strip()
    if digits.isdigit() and int(digits) in METER_CLASSES:
        return f"CL{int(digits)}"
    known = ", ".join(f"CL{n}" for n in METER_CLASSES)
    raise ValueError(f"{text.strip()!r} is not a meter class ({known})")


def normalize_angle(degrees: float) -> float:
    """Fold an angle into [0, 360)."""
    folded = math.fmod(degrees, 360.0)
    if folded < 0:
        folded += 360.0
    # fmod(-1e-17, 360) + 360 rounds to 360.0 itself.
    return 0.0 if folded >= 360.0 else folded


def lagging(degrees: float) -> complex:
    """The unit phasor lagging the reference by ``degrees`` (lags grow clockwise: e^(-jθ))."""
    return cmath.rect(1.0, -math.radians(degrees))


def lag_of(z: complex) -> float:
    """How far phasor ``z`` lags the reference, in degrees folded into [0, 360).

    ``cmath.phase`` raises OverflowError when the angle underflows (a current of
    2 - 5e-324j, which a float64 register can carry): such an angle is zero, not an error.
    """
    try:
        phase = cmath.phase(z)
    except OverflowError:
        phase = 0.0
    return normalize_angle(-math.degrees(phase))


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
    # How far the true drift may be from drift_seconds (half the round trip of the clock
    # read, plus any retransmission around it); None when the driver could not tell.
    uncertainty_seconds: float | None = None

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
    # Quantities the driver computed rather than read (a Modbus meter's current angle from
    # its power factor and the sign of reactive power): the checks say what they relied on.
    derived: frozenset[str] = frozenset()

    @classmethod
    def from_values(
        cls, phase: str, values: Mapping[str, float], derived: Iterable[str] = ()
    ) -> PhaseQuantities:
        """An element from quantity names (the field names above) to values; others ignored."""
        return cls(
            derived=frozenset(derived),
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
    # Why the entry cannot be right (a code the meter does not define, a sequence number
    # out of range); None for an entry that looks sound.
    suspect: str | None = None


@dataclass(frozen=True, slots=True)
class Unavailable:
    """An item the driver could not read, and why, in words a technician can act on."""

    item: str
    reason: str


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """One frame of the exchange as it crossed the wire (passwords already redacted)."""

    direction: FrameDirection
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
    # Why the read ended before every item was read; None for a complete read.
    incomplete: str | None = None

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
    rotation: Rotation = "ABC"
    high_leg: HighLeg = "B"
    # ANSI current class on the nameplate ("CL200", "CL20"); None: follow from the form.
    meter_class: str | None = None


@dataclass(frozen=True, slots=True)
class Quantity:
    """One number a check judged, with what it was held against, for trending.

    ``measured`` and ``expected`` on :class:`CheckResult` say the same for a person; these
    let the office plot a meter's voltage or drift without parsing English.
    """

    name: str  # "voltage", "drift", "current_angle", "imbalance", ...
    value: float
    unit: str  # "V", "A", "s", "deg", "%", "Hz", "kWh", "degC", ...
    element: str | None = None  # "A", "B", "C" for a per-element value
    expected: float | None = None  # the target: a nominal, an expected angle
    low: float | None = None  # the pass band, where the check has one
    high: float | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The verdict of one site check."""

    id: str
    status: CheckStatus
    message: str
    measured: str | None = None
    expected: str | None = None
    likely_causes: tuple[str, ...] = ()
    values: tuple[Quantity, ...] = ()


# Statuses that take an order off the technician's list (CIS exports spell them variously).
CLOSED_WORK_ORDER_STATUSES: frozenset[str] = frozenset(
    {"completed", "complete", "closed", "cancelled", "canceled"}
)


@dataclass(frozen=True, slots=True)
class WorkOrder:
    """One work order as the office issued it: the visit's instructions and its expectation.

    Times are timezone-aware UTC. ``scheduled_for`` is the ISO 8601 date (or date-time) of
    the planned visit. ``source`` and ``updated_at`` describe the laptop's stored copy (which
    path wrote it, when) and are None on an order not read from the store.
    """

    work_order_id: str
    meter_number: str
    service_type: ServiceType
    nominal_voltage: float
    kind: str | None = None
    status: str = "open"
    account_number: str | None = None
    premise_id: str | None = None
    service_address: str | None = None
    meter_serial: str | None = None
    form: str | None = None
    meter_class: str | None = None
    ct_ratio: float | None = None
    pt_ratio: float | None = None
    rotation: Rotation | None = None
    high_leg: HighLeg | None = None
    last_read_kwh: float | None = None
    last_read_at: datetime | None = None
    last_visit_at: datetime | None = None
    net_metering: bool = False
    scheduled_for: str | None = None
    notes: str | None = None
    source: str | None = None
    updated_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        """True unless the office has completed or cancelled the order."""
        return self.status.lower() not in CLOSED_WORK_ORDER_STATUSES

    def expectation(self) -> SiteExpectation:
        """What the site checks should expect at this order's meter.

        Items the order leaves blank keep the checks' defaults (ratios 1, ABC rotation,
        high leg on B, no net metering).
        """
        return SiteExpectation(
            meter_number=self.meter_number,
            form=self.form,
            service_type=self.service_type,
            nominal_voltage=self.nominal_voltage,
            ct_ratio=1.0 if self.ct_ratio is None else self.ct_ratio,
            pt_ratio=1.0 if self.pt_ratio is None else self.pt_ratio,
            last_read_kwh=self.last_read_kwh,
            last_read_at=self.last_read_at,
            net_metering=self.net_metering,
            last_visit_at=self.last_visit_at,
            rotation=self.rotation or "ABC",
            high_leg=self.high_leg or "B",
            meter_class=self.meter_class,
        )


def _flag_order(name: str) -> tuple[int, str]:
    try:
        return STATUS_FLAG_NAMES.index(name), name
    except ValueError:
        return len(STATUS_FLAG_NAMES), name


def active_flags(bits: int) -> frozenset[str]:
    """Names of the ST3 ED_STD_STATUS1 bits set in ``bits``."""
    return frozenset(name for n, name in enumerate(STATUS_FLAG_NAMES) if bits >> n & 1)
