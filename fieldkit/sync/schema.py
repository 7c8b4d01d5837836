"""The one wire format: every document that leaves a process, as pydantic v2 models.

``fieldkit read --json``, ``check --json``, ``--capture``, ``work-orders --json``, the
outbox and the sync API all write these documents, and read them back through
:func:`load_document`. Each top-level document carries ``schema_version`` (this module's
:data:`SCHEMA_VERSION`) and ``document`` (what it is). A reader takes every version up to
its own, including the unversioned files the first release wrote (version 0: a bare
snapshot, or a snapshot with ``checks`` and ``verdict`` beside it), and refuses a newer
one with a :class:`SchemaVersionError` that says so, without touching the file.

Field names are the model's (``fieldkit.model``); bytes travel as lower-case hex, times as
ISO 8601 with their offset (a time without one is taken as UTC, never as local time), angles
in degrees. The snapshot's fields sit at the top of ``read`` and ``check`` documents, as
the first release printed them, so scripts written against it keep working.

The JSON Schema of each document is generated into ``docs/schema/`` by
``python -m fieldkit.sync.schema docs/schema``; a test keeps those files current.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from fieldkit.model import (
    CheckResult,
    CheckStatus,
    ClockReading,
    FrameDirection,
    FrameRecord,
    HighLeg,
    MeterEvent,
    MeterIdentity,
    MeterSnapshot,
    PhaseQuantities,
    Quantity,
    Register,
    Rotation,
    ServiceType,
    SiteExpectation,
    StatusFlags,
    Unavailable,
    WorkOrder,
    as_utc,
    ordered_flags,
)

__all__ = [
    "DOCUMENTS",
    "MAX_PUSH_OPS",
    "OUTCOMES",
    "SCHEMA_VERSION",
    "AccountDoc",
    "AdjustmentDoc",
    "AdjustmentKind",
    "CaptureDocument",
    "CheckDocument",
    "CheckResultDoc",
    "EnrollRequestDocument",
    "EnrollmentDocument",
    "ExpectationDoc",
    "FrameDoc",
    "LinkStatsDoc",
    "MeterDoc",
    "MeterStateDoc",
    "NoteDoc",
    "OpStatus",
    "Outcome",
    "ReadDocument",
    "ReadResult",
    "RemovalDoc",
    "SchemaError",
    "SchemaVersionError",
    "SnapshotDoc",
    "SyncOpDoc",
    "SyncOpResultDoc",
    "SyncPullDocument",
    "SyncPushDocument",
    "SyncPushResultDocument",
    "SyncRejectionDoc",
    "SyncReportDocument",
    "SyncStatusDocument",
    "VisitDocument",
    "VisitExportDocument",
    "VisitListDocument",
    "VisitSummaryDoc",
    "WorkOrderCommandDocument",
    "WorkOrderDoc",
    "WorkOrderDocument",
    "WorkOrderListDocument",
    "dump_json",
    "load_document",
    "write_json_schemas",
]

SCHEMA_VERSION = 1


class SchemaError(ValueError):
    """A document that is not what it claims: the message names the field and the problem."""


class SchemaVersionError(SchemaError):
    """A document written by a newer fieldkit (or not a fieldkit document at all)."""


def _aware(value: datetime) -> datetime:
    return as_utc(value)


def _iso(value: datetime) -> str:
    return value.isoformat()


# A time always has its offset once read; one written without it was UTC. Written as
# datetime.isoformat() does, "+00:00" rather than "Z", as the first release wrote it.
Moment = Annotated[
    datetime,
    AfterValidator(_aware),
    PlainSerializer(_iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]


def _hex_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise ValueError("expected hex text")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValueError("not hex bytes") from None


HexBytes = Annotated[
    bytes,
    Field(json_schema_extra={"type": "string", "pattern": "^([0-9a-f]{2})*$"}),
    PlainSerializer(lambda b: b.hex(), return_type=str),
]


class _Doc(BaseModel):
    """Strict: a misspelt field is an error, not a value silently lost.

    A float a meter sent as NaN or infinity is written as the string "NaN" / "Infinity"
    (JSON has no such numbers) and read back as the float.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="strings")


# --- the snapshot ------------------------------------------------------------------------


class IdentityDoc(_Doc):
    """Who the meter says it is."""

    manufacturer: str
    model: str
    serial_number: str
    meter_id: str | None = None
    hardware_version: str | None = None
    firmware_version: str | None = None


class ClockDoc(_Doc):
    """The meter's clock against the laptop's reference; ``drift_seconds`` is derived."""

    meter_time: Moment
    reference_time: Moment
    drift_seconds: float | None = Field(
        default=None, description="meter_time - reference_time; ignored on input"
    )
    dst: bool | None = None
    utc: bool | None = None
    uncertainty_seconds: float | None = Field(default=None, ge=0)


class StatusDoc(_Doc):
    """ST3-style status flags."""

    active: list[str] = []
    metering_mode: bool | None = None
    test_mode: bool | None = None
    meter_shop_mode: bool | None = None
    factory_mode: bool | None = None
    manufacturer_status: HexBytes = b""

    _hex = field_validator("manufacturer_status", mode="before")(_hex_bytes)


class RegisterDoc(_Doc):
    """One billing register in engineering units."""

    id: str
    value: float
    unit: str
    description: str = ""
    tier: str | None = None
    timestamp: Moment | None = None


class PhaseDoc(_Doc):
    """One measuring element; ``derived`` names values computed rather than read."""

    phase: str
    voltage: float | None = None
    current: float | None = None
    voltage_angle: float | None = None
    current_angle: float | None = None
    power_factor: float | None = None
    active_power: float | None = None
    reactive_power: float | None = None
    derived: list[str] = []


class EventDoc(_Doc):
    """One history or event log entry."""

    code: int
    name: str
    timestamp: Moment | None = None
    manufacturer: bool = False
    sequence: int | None = None
    user_id: int | None = None
    argument: HexBytes = b""
    log: str = "event"
    suspect: str | None = None

    _hex = field_validator("argument", mode="before")(_hex_bytes)


class UnavailableDoc(_Doc):
    """An item the driver could not read, and why."""

    item: str
    reason: str


class FrameDoc(_Doc):
    """One frame as it crossed the wire (passwords redacted); ``at`` from the read's start."""

    direction: FrameDirection
    data: HexBytes
    at: float

    _hex = field_validator("data", mode="before")(_hex_bytes)

    @classmethod
    def from_model(cls, frame: FrameRecord) -> Self:
        """The wire form of one frame."""
        return cls(direction=frame.direction, data=frame.data, at=round(frame.at, 6))

    def to_model(self) -> FrameRecord:
        """The frame as the kit holds it."""
        return FrameRecord(self.direction, self.data, self.at)


class SnapshotDoc(_Doc):
    """Everything one read of a meter produced (frames only where a document keeps them)."""

    protocol: str
    read_at: Moment
    identity: IdentityDoc
    clock: ClockDoc | None = None
    status: StatusDoc | None = None
    registers: list[RegisterDoc] = []
    phases: list[PhaseDoc] = []
    frequency: float | None = None
    temperature_c: float | None = None
    total_active_power: float | None = None
    total_reactive_power: float | None = None
    events: list[EventDoc] = []
    comm_module: dict[str, str] = {}
    unavailable: list[UnavailableDoc] = []
    incomplete: str | None = Field(
        default=None, description="why the read ended early; null for a complete read"
    )
    frames: list[FrameDoc] | None = None

    @classmethod
    def snapshot_fields(cls, snapshot: MeterSnapshot, *, frames: bool = False) -> dict[str, Any]:
        """The snapshot as keyword arguments for any document built on this one."""
        clock = snapshot.clock
        status = snapshot.status
        ident = snapshot.identity
        return {
            "protocol": snapshot.protocol,
            "read_at": snapshot.read_at,
            "identity": IdentityDoc(
                manufacturer=ident.manufacturer,
                model=ident.model,
                serial_number=ident.serial_number,
                meter_id=ident.meter_id,
                hardware_version=ident.hardware_version,
                firmware_version=ident.firmware_version,
            ),
            "clock": None
            if clock is None
            else ClockDoc(
                meter_time=clock.meter_time,
                reference_time=clock.reference_time,
                drift_seconds=round(clock.drift_seconds, 3),
                dst=clock.dst,
                utc=clock.utc,
                uncertainty_seconds=clock.uncertainty_seconds,
            ),
            "status": None
            if status is None
            else StatusDoc(
                active=ordered_flags(status.active),
                metering_mode=status.metering_mode,
                test_mode=status.test_mode,
                meter_shop_mode=status.meter_shop_mode,
                factory_mode=status.factory_mode,
                manufacturer_status=status.manufacturer_status,
            ),
            "registers": [
                RegisterDoc(
                    id=r.id,
                    value=r.value,
                    unit=r.unit,
                    description=r.description,
                    tier=r.tier,
                    timestamp=r.timestamp,
                )
                for r in snapshot.registers
            ],
            "phases": [
                PhaseDoc(
                    phase=p.phase,
                    voltage=p.voltage,
                    current=p.current,
                    voltage_angle=p.voltage_angle,
                    current_angle=p.current_angle,
                    power_factor=p.power_factor,
                    active_power=p.active_power,
                    reactive_power=p.reactive_power,
                    derived=sorted(p.derived),
                )
                for p in snapshot.phases
            ],
            "frequency": snapshot.frequency,
            "temperature_c": snapshot.temperature_c,
            "total_active_power": snapshot.total_active_power,
            "total_reactive_power": snapshot.total_reactive_power,
            "events": [
                EventDoc(
                    code=e.code,
                    name=e.name,
                    timestamp=e.timestamp,
                    manufacturer=e.manufacturer,
                    sequence=e.sequence,
                    user_id=e.user_id,
                    argument=e.argument,
                    log=e.log,
                    suspect=e.suspect,
                )
                for e in snapshot.events
            ],
            "comm_module": dict(snapshot.comm_module),
            "unavailable": [
                UnavailableDoc(item=u.item, reason=u.reason) for u in snapshot.unavailable
            ],
            "incomplete": snapshot.incomplete,
            "frames": [FrameDoc.from_model(f) for f in snapshot.frames] if frames else None,
        }

    @classmethod
    def from_model(cls, snapshot: MeterSnapshot, *, frames: bool = False) -> Self:
        """The wire form of a snapshot; ``frames`` keeps the raw exchange."""
        return cls(**cls.snapshot_fields(snapshot, frames=frames))

    def to_snapshot(self) -> MeterSnapshot:
        """The snapshot as the checks and the store use it."""
        clock = self.clock
        status = self.status
        ident = self.identity
        return MeterSnapshot(
            protocol=self.protocol,
            read_at=self.read_at,
            identity=MeterIdentity(
                manufacturer=ident.manufacturer,
                model=ident.model,
                serial_number=ident.serial_number,
                meter_id=ident.meter_id,
                hardware_version=ident.hardware_version,
                firmware_version=ident.firmware_version,
            ),
            clock=None
            if clock is None
            else ClockReading(
                meter_time=clock.meter_time,
                reference_time=clock.reference_time,
                dst=clock.dst,
                utc=clock.utc,
                uncertainty_seconds=clock.uncertainty_seconds,
            ),
            status=None
            if status is None
            else StatusFlags(
                active=frozenset(status.active),
                metering_mode=status.metering_mode,
                test_mode=status.test_mode,
                meter_shop_mode=status.meter_shop_mode,
                factory_mode=status.factory_mode,
                manufacturer_status=status.manufacturer_status,
            ),
            registers=tuple(
                Register(
                    id=r.id,
                    value=r.value,
                    unit=r.unit,
                    description=r.description,
                    tier=r.tier,
                    timestamp=r.timestamp,
                )
                for r in self.registers
            ),
            phases=tuple(
                PhaseQuantities(
                    phase=p.phase,
                    voltage=p.voltage,
                    current=p.current,
                    voltage_angle=p.voltage_angle,
                    current_angle=p.current_angle,
                    power_factor=p.power_factor,
                    active_power=p.active_power,
                    reactive_power=p.reactive_power,
                    derived=frozenset(p.derived),
                )
                for p in self.phases
            ),
            frequency=self.frequency,
            temperature_c=self.temperature_c,
            total_active_power=self.total_active_power,
            total_reactive_power=self.total_reactive_power,
            events=tuple(
                MeterEvent(
                    code=e.code,
                    name=e.name,
                    timestamp=e.timestamp,
                    manufacturer=e.manufacturer,
                    sequence=e.sequence,
                    user_id=e.user_id,
                    argument=e.argument,
                    log=e.log,
                    suspect=e.suspect,
                )
                for e in self.events
            ),
            comm_module=dict(self.comm_module),
            unavailable=tuple(Unavailable(u.item, u.reason) for u in self.unavailable),
            frames=tuple(f.to_model() for f in self.frames or ()),
            incomplete=self.incomplete,
        )


# --- check results, expectations, work orders ---------------------------------------------


class QuantityDoc(_Doc):
    """One number a check judged, with its unit and what it was held against."""

    name: str
    value: float
    unit: str
    element: str | None = None
    expected: float | None = None
    low: float | None = None
    high: float | None = None


class CheckResultDoc(_Doc):
    """The verdict of one site check: words for a person, ``values`` for a trend."""

    id: str
    status: CheckStatus
    message: str
    measured: str | None = None
    expected: str | None = None
    likely_causes: list[str] = []
    values: list[QuantityDoc] = []

    @classmethod
    def from_model(cls, result: CheckResult) -> Self:
        """The wire form of a check result."""
        return cls(
            id=result.id,
            status=result.status,
            message=result.message,
            measured=result.measured,
            expected=result.expected,
            likely_causes=list(result.likely_causes),
            values=[
                QuantityDoc(
                    name=q.name,
                    value=q.value,
                    unit=q.unit,
                    element=q.element,
                    expected=q.expected,
                    low=q.low,
                    high=q.high,
                )
                for q in result.values
            ],
        )

    def to_model(self) -> CheckResult:
        """The result as the kit holds it."""
        return CheckResult(
            id=self.id,
            status=self.status,
            message=self.message,
            measured=self.measured,
            expected=self.expected,
            likely_causes=tuple(self.likely_causes),
            values=tuple(
                Quantity(
                    name=q.name,
                    value=q.value,
                    unit=q.unit,
                    element=q.element,
                    expected=q.expected,
                    low=q.low,
                    high=q.high,
                )
                for q in self.values
            ),
        )


class ExpectationDoc(_Doc):
    """What the work order says the site should be."""

    meter_number: str | None = None
    form: str | None = None
    meter_class: str | None = None
    service_type: ServiceType | None = None
    nominal_voltage: float | None = Field(default=None, gt=0)
    ct_ratio: float = Field(default=1.0, gt=0)
    pt_ratio: float = Field(default=1.0, gt=0)
    last_read_kwh: float | None = Field(default=None, ge=0)
    last_read_at: Moment | None = None
    net_metering: bool = False
    last_visit_at: Moment | None = None
    rotation: Rotation = "ABC"
    high_leg: HighLeg = "B"

    @classmethod
    def from_model(cls, expectation: SiteExpectation) -> Self:
        """The wire form of an expectation."""
        return cls(
            meter_number=expectation.meter_number,
            form=expectation.form,
            meter_class=expectation.meter_class,
            service_type=expectation.service_type,
            nominal_voltage=expectation.nominal_voltage,
            ct_ratio=expectation.ct_ratio,
            pt_ratio=expectation.pt_ratio,
            last_read_kwh=expectation.last_read_kwh,
            last_read_at=expectation.last_read_at,
            net_metering=expectation.net_metering,
            last_visit_at=expectation.last_visit_at,
            rotation=expectation.rotation,
            high_leg=expectation.high_leg,
        )

    def to_model(self) -> SiteExpectation:
        """The expectation as the checks read it."""
        return SiteExpectation(**self.model_dump())


class WorkOrderDoc(_Doc):
    """One work order as the office issued it (``source``/``updated_at``: the laptop's copy)."""

    work_order_id: str = Field(min_length=1)
    kind: str | None = None
    status: str = "open"
    account_number: str | None = None
    premise_id: str | None = None
    service_address: str | None = None
    meter_number: str = Field(min_length=1)
    meter_serial: str | None = None
    form: str | None = None
    meter_class: str | None = None
    service_type: ServiceType
    nominal_voltage: float = Field(gt=0)
    ct_ratio: float | None = Field(default=None, gt=0)
    pt_ratio: float | None = Field(default=None, gt=0)
    rotation: Rotation | None = None
    high_leg: HighLeg | None = None
    last_read_kwh: float | None = Field(default=None, ge=0)
    last_read_at: Moment | None = None
    last_visit_at: Moment | None = None
    net_metering: bool = False
    scheduled_for: str | None = None
    notes: str | None = None
    source: str | None = None
    updated_at: Moment | None = None

    @classmethod
    def from_model(cls, order: WorkOrder) -> Self:
        """The wire form of a work order."""
        return cls(**{name: getattr(order, name) for name in cls.model_fields})

    def to_model(self) -> WorkOrder:
        """The work order as the kit holds it."""
        return WorkOrder(**self.model_dump(include=set(WorkOrderDoc.model_fields)))


# --- visits ------------------------------------------------------------------------------

# How a visit ended, as the office codes it.
Outcome = Literal[
    "resolved", "follow_up", "replace_meter", "customer_side", "no_access", "no_comms"
]
OUTCOMES: tuple[str, ...] = (
    "resolved",
    "follow_up",
    "replace_meter",
    "customer_side",
    "no_access",
    "no_comms",
)
ReadResult = Literal["complete", "incomplete", "failed", "cancelled"]
AdjustmentKind = Literal["set_clock", "demand_reset"]


class NoteDoc(_Doc):
    """A technician's note on a visit."""

    at: Moment
    technician: str
    text: str = Field(min_length=1, max_length=4000)


class MeterStateDoc(_Doc):
    """What an adjustment changes, as read from the meter before or after it."""

    read_at: Moment
    meter_time: Moment | None = None
    reference_time: Moment | None = None
    drift_seconds: float | None = None
    demand_kw: float | None = None
    demand_resets: int | None = None


class AdjustmentDoc(_Doc):
    """One change made at the meter: who, when, before, after and what the meter answered.

    ``result`` is ``done`` when the meter completed the procedure (``result_code`` 0),
    ``failed`` when it answered another result code, ``refused`` when it refused to run it
    at all (``error`` says why: a password level, a procedure it does not have).
    """

    adjustment_id: str = Field(min_length=1)
    kind: AdjustmentKind
    technician: str
    started_at: Moment
    finished_at: Moment
    result: Literal["done", "failed", "refused"]
    result_code: int | None = None
    result_message: str = ""
    response: HexBytes = b""
    error: str | None = None
    before: MeterStateDoc | None = None
    after: MeterStateDoc | None = None
    reference_time: Moment | None = Field(
        default=None, description="the time set into the meter (set_clock)"
    )
    clock_source: str | None = Field(
        default=None, description="why the laptop's clock was trusted (set_clock)"
    )
    trust_system_clock: bool = False
    lockout_override: str | None = Field(
        default=None, description="the reason given to reset demand again this billing period"
    )
    capture: CaptureDocument | None = Field(
        default=None, description="the frames of the adjustment's session (passwords redacted)"
    )

    _hex = field_validator("response", mode="before")(_hex_bytes)


class VisitSummaryDoc(_Doc):
    """One line of ``visits list``: enough to find a visit and see how it ended."""

    visit_id: str
    status: Literal["open", "final"]
    outcome: Outcome | None = None
    started_at: Moment
    ended_at: Moment | None = None
    technician: str
    work_order: str | None = None
    meter_number: str | None = None
    meter_serial: str | None = None
    verdict: CheckStatus | None = None
    read_result: ReadResult | None = None
    adjustments: int = 0
    corrects: str | None = None


# --- documents ---------------------------------------------------------------------------


class _Versioned(_Doc):
    schema_version: int = Field(default=SCHEMA_VERSION, ge=0)
    document: str


class ReadDocument(SnapshotDoc, _Versioned):
    """``fieldkit read --json``: the snapshot, as read."""

    document: Literal["read"] = "read"

    @classmethod
    def build(cls, snapshot: MeterSnapshot, *, frames: bool = False) -> Self:
        """The read document of a snapshot."""
        return cls(**cls.snapshot_fields(snapshot, frames=frames))


class CheckDocument(SnapshotDoc, _Versioned):
    """``fieldkit check --json``: the snapshot, the expectation and every check's verdict."""

    document: Literal["check"] = "check"
    expectation: ExpectationDoc | None = None
    work_order: str | None = None
    checks: list[CheckResultDoc] = []
    verdict: CheckStatus | None = None
    visit_id: str | None = Field(
        default=None, description="the visit this check was saved as (null with --no-save)"
    )

    @classmethod
    def build(
        cls,
        snapshot: MeterSnapshot,
        results: Sequence[CheckResult],
        verdict: CheckStatus | None,
        *,
        expectation: SiteExpectation | None = None,
        work_order: str | None = None,
        frames: bool = False,
    ) -> Self:
        """The check document of a judged snapshot."""
        return cls(
            **cls.snapshot_fields(snapshot, frames=frames),
            expectation=None if expectation is None else ExpectationDoc.from_model(expectation),
            work_order=work_order,
            checks=[CheckResultDoc.from_model(r) for r in results],
            verdict=verdict,
        )

    def results(self) -> list[CheckResult]:
        """The check results as the kit holds them."""
        return [c.to_model() for c in self.checks]


class LinkStatsDoc(_Doc):
    """What the exchange cost on the wire."""

    bytes_tx: int = 0
    bytes_rx: int = 0
    round_trips: int = 0
    retransmissions: int = 0
    naks_sent: int = 0
    restarts: int = 0
    busy_retries: int = 0
    session_seconds: float | None = None


class CaptureDocument(_Versioned):
    """``--capture FILE``: the frames of one session, kept whether or not the read succeeded."""

    document: Literal["capture"] = "capture"
    protocol: str
    port: str
    started_at: Moment
    result: Literal["complete", "incomplete", "failed", "cancelled"]
    error: str | None = Field(default=None, description="the one line the technician saw")
    error_kind: str | None = Field(default=None, description="the error's type, e.g. NoResponse")
    stats: LinkStatsDoc = LinkStatsDoc()
    frames: list[FrameDoc] = []


class WorkOrderDocument(WorkOrderDoc, _Versioned):
    """``fieldkit work-orders show --json``: one work order."""

    document: Literal["work_order"] = "work_order"

    @classmethod
    def build(cls, order: WorkOrder) -> Self:
        """The document of one work order."""
        return cls(**WorkOrderDoc.from_model(order).model_dump())


class WorkOrderListDocument(_Versioned):
    """``fieldkit work-orders list --json``: the open work orders on this laptop."""

    document: Literal["work_orders"] = "work_orders"
    work_orders: list[WorkOrderDoc] = []


class VisitDocument(_Versioned):
    """One visit to a meter: the outbox payload, ``visits show --json`` and ``visits export``.

    A visit is saved at every step (read, adjustment, note, close): each save is a new
    ``revision`` with its own client ``op_id`` (a UUID the server deduplicates on). A visit
    whose ``status`` is ``final`` never changes again; a correction is a new visit whose
    ``corrects`` names the one it corrects. A read that failed is a visit too: ``read_result``
    ``failed``, the ``error`` and the ``capture`` say why nothing was read.
    """

    document: Literal["visit"] = "visit"
    visit_id: str = Field(min_length=1)
    op_id: str = Field(min_length=1, description="client op id of this revision (UUID)")
    revision: int = Field(ge=1)
    status: Literal["open", "final"]
    outcome: Outcome | None = None
    corrects: str | None = None
    technician: str
    started_at: Moment
    ended_at: Moment | None = None
    saved_at: Moment
    work_order: str | None = None
    account_number: str | None = None
    premise_id: str | None = None
    meter_number: str | None = None
    meter_serial: str | None = None
    read_result: ReadResult | None = Field(
        default=None, description="null when the snapshot came from a saved file"
    )
    error: str | None = None
    error_kind: str | None = None
    expectation: ExpectationDoc | None = None
    snapshot: SnapshotDoc | None = None
    checks: list[CheckResultDoc] = []
    verdict: CheckStatus | None = None
    adjustments: list[AdjustmentDoc] = []
    notes: list[NoteDoc] = []
    capture: CaptureDocument | None = None

    def summary(self) -> VisitSummaryDoc:
        """The visit as one line of ``visits list``."""
        return VisitSummaryDoc(
            visit_id=self.visit_id,
            status=self.status,
            outcome=self.outcome,
            started_at=self.started_at,
            ended_at=self.ended_at,
            technician=self.technician,
            work_order=self.work_order,
            meter_number=self.meter_number,
            meter_serial=self.meter_serial,
            verdict=self.verdict,
            read_result=self.read_result,
            adjustments=len(self.adjustments),
            corrects=self.corrects,
        )


class VisitListDocument(_Versioned):
    """``fieldkit visits list --json``: the visits on this laptop, newest first."""

    document: Literal["visits"] = "visits"
    visits: list[VisitSummaryDoc] = []


class VisitExportDocument(_Versioned):
    """``fieldkit visits export --format json``: every visit, whole, oldest first."""

    document: Literal["visit_export"] = "visit_export"
    exported_at: Moment
    visits: list[VisitDocument] = []


# An adjustment carries its session's capture, which is defined further down.
AdjustmentDoc.model_rebuild()
VisitDocument.model_rebuild()
VisitExportDocument.model_rebuild()


# --- sync: the laptop's push and pull -----------------------------------------------------

MAX_PUSH_OPS = 100
"""At most this many ops in one push (the server also caps a request body at 1 MiB)."""

OpStatus = Literal["applied", "duplicate", "rejected", "retry"]

_OP_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"


class SyncOpDoc(_Doc):
    """One outbox op: the laptop's id for it, what it is, and the document it carries.

    ``op_id`` is the laptop's (a UUID): the server keeps every (device, op id) it has seen, for
    ever, so a re-sent op is answered ``duplicate`` and applied once. ``kind`` says what
    ``document`` is: ``visit`` (for now any JSON object with a ``visit_id``; it becomes the
    visit document) or ``work_order_command`` (a :class:`WorkOrderCommandDocument`). A kind
    this server does not know is answered ``retry``, never lost.
    """

    op_id: str = Field(min_length=1, max_length=100, pattern=_OP_ID)
    kind: str = Field(min_length=1, max_length=64)
    document: dict[str, JsonValue]


class SyncPushDocument(_Versioned):
    """``POST /api/v1/sync/push``: a batch of outbox ops from one device, oldest first."""

    document: Literal["sync_push"] = "sync_push"
    device_id: str = Field(min_length=1, max_length=100)
    ops: list[SyncOpDoc] = Field(default=[], max_length=MAX_PUSH_OPS)

    @model_validator(mode="after")
    def _unique_op_ids(self) -> Self:
        seen: set[str] = set()
        for index, op in enumerate(self.ops):
            if op.op_id in seen:
                raise ValueError(f"ops.{index}.op_id {op.op_id!r} is twice in the batch")
            seen.add(op.op_id)
        return self


class SyncOpResultDoc(_Doc):
    """The server's answer for one op, sent only after the batch committed.

    ``applied`` and ``duplicate``: the op is on the server (mark it acknowledged).
    ``rejected``: it never will be (``code`` and ``reason`` say why; do not re-send it, show
    it). ``retry``: send it again later (this op and every later one of the batch).
    ``flags`` are what the office will see on a kept visit (e.g. ``work_order_cancelled``).
    """

    op_id: str
    status: OpStatus
    code: str | None = None
    reason: str | None = None
    flags: list[str] = []


class SyncPushResultDocument(_Versioned):
    """The answer to a push: one result per op, in the batch's order, and the server's clock."""

    document: Literal["sync_push_result"] = "sync_push_result"
    server_time: Moment
    results: list[SyncOpResultDoc] = []


class WorkOrderCommandDocument(_Versioned):
    """An op of kind ``work_order_command``: the technician says what happened to an order.

    The server applies it only if the order's state allows it (a cancelled order cannot be
    completed); otherwise the op is ``rejected`` with the reason, and the visit stays.
    """

    document: Literal["work_order_command"] = "work_order_command"
    work_order_id: str = Field(min_length=1, max_length=100)
    command: Literal["arrive", "complete", "no_access"]
    at: Moment
    note: str | None = Field(default=None, max_length=2000)


class AccountDoc(_Doc):
    """The customer account of a work order, as much as the technician needs of it."""

    account_number: str
    customer_name: str
    phone: str | None = Field(default=None, description="only when the job needs it")
    net_metering: bool = False


class MeterDoc(_Doc):
    """A meter as the office knows it: what the site checks expect (never its password)."""

    meter_number: str
    meter_serial: str | None = None
    form: str | None = None
    meter_class: str | None = None
    service_type: ServiceType
    nominal_voltage: float = Field(gt=0)
    ct_ratio: float | None = Field(default=None, gt=0)
    pt_ratio: float | None = Field(default=None, gt=0)
    rotation: Rotation | None = None
    high_leg: HighLeg | None = None
    last_read_kwh: float | None = Field(default=None, ge=0)
    last_read_at: Moment | None = None
    account_number: str | None = None
    premise_id: str | None = None
    service_address: str | None = None


class RemovalDoc(_Doc):
    """A work order that left this technician's list: drop the laptop's copy."""

    entity: Literal["work_order"] = "work_order"
    id: str
    reason: Literal["reassigned", "unassigned", "cancelled"]


class SyncPullDocument(_Versioned):
    """``GET /api/v1/sync/pull?cursor=N``: the technician's changes after ``N``.

    Store ``cursor`` with the changes, in one transaction, and ask again from it while
    ``more`` is true. A work order listed in ``removals`` is not in ``work_orders``.
    """

    document: Literal["sync_pull"] = "sync_pull"
    cursor: int = Field(ge=0)
    more: bool = False
    server_time: Moment
    work_orders: list[WorkOrderDoc] = []
    accounts: list[AccountDoc] = []
    meters: list[MeterDoc] = []
    removals: list[RemovalDoc] = []


class EnrollRequestDocument(_Versioned):
    """``POST /api/v1/devices/enroll``: a laptop asks for its token with a one-time code."""

    document: Literal["enroll_request"] = "enroll_request"
    code: str = Field(min_length=1, max_length=64)
    device_name: str = Field(min_length=1, max_length=100)


class EnrollmentDocument(_Versioned):
    """The answer to an enrolment: the device's own token, shown once; keep it secret."""

    document: Literal["enrollment"] = "enrollment"
    device_id: str
    token: str
    technician: str
    server_time: Moment


class SyncRejectionDoc(_Doc):
    """An op the server refused for good (kept on the laptop, never re-sent), or one it
    asked to have again later (``retry``)."""

    op_id: str
    kind: str | None = None
    entity_id: str | None = None
    code: str | None = None
    reason: str | None = None
    at: Moment | None = None


class SyncReportDocument(_Versioned):
    """``fieldkit sync --json``: what one sync did."""

    document: Literal["sync_report"] = "sync_report"
    ok: bool
    server_url: str | None = None
    technician: str | None = None
    sent: int = Field(ge=0, description="ops sent in this sync (re-sends included)")
    acknowledged: int = Field(ge=0, description="ops the server has now (applied or duplicate)")
    duplicates: int = Field(ge=0, description="of those, ops it already had")
    rejected: list[SyncRejectionDoc] = []
    retry: list[SyncRejectionDoc] = []
    flagged: dict[str, list[str]] = {}
    pending: int = Field(ge=0, description="ops still waiting in the outbox")
    work_orders: int = Field(ge=0, description="work orders pulled (new or changed)")
    removals: int = Field(ge=0, description="work orders that left this laptop's list")
    cursor: int = Field(ge=0)
    server_time: Moment | None = None
    clock_offset_seconds: float | None = Field(
        default=None, description="laptop − server: positive when the laptop is fast"
    )
    error: str | None = None


class SyncStatusDocument(_Versioned):
    """``fieldkit sync status --json``: where this laptop's sync stands."""

    document: Literal["sync_status"] = "sync_status"
    enrolled: bool
    server_url: str | None = None
    device_id: str | None = None
    technician: str | None = None
    last_sync_at: Moment | None = None
    last_error: str | None = None
    pending: int = Field(ge=0)
    cursor: int = Field(ge=0)
    rejected: list[SyncRejectionDoc] = []
    trusted_time: Moment | None = None
    clock_offset_seconds: float | None = None


# Every top-level document by its ``document`` name.
DOCUMENTS: dict[str, type[_Versioned]] = {
    "read": ReadDocument,
    "check": CheckDocument,
    "capture": CaptureDocument,
    "work_order": WorkOrderDocument,
    "work_orders": WorkOrderListDocument,
    "visit": VisitDocument,
    "visits": VisitListDocument,
    "visit_export": VisitExportDocument,
    "sync_push": SyncPushDocument,
    "sync_push_result": SyncPushResultDocument,
    "sync_pull": SyncPullDocument,
    "sync_report": SyncReportDocument,
    "sync_status": SyncStatusDocument,
    "work_order_command": WorkOrderCommandDocument,
    "enroll_request": EnrollRequestDocument,
    "enrollment": EnrollmentDocument,
}

_V0_CHECK_KEYS = frozenset({"checks", "verdict", "work_order"})


def load_document(data: Any, *, source: str = "the document") -> _Versioned:
    """Any fieldkit document from parsed JSON; version 0 files (the first release) too.

    Raises :class:`SchemaVersionError` for a newer version or an unknown kind, and
    :class:`SchemaError` naming the first bad field otherwise.
    """
    if not isinstance(data, Mapping):
        raise SchemaError(f"{source} is not a fieldkit document (expected a JSON object)")
    version = data.get("schema_version")
    if version is None:
        return _load_v0(data, source)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise SchemaError(f"{source}: schema_version must be a whole number, not {version!r}")
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{source} was written by a newer fieldkit (schema {version}; this one reads up "
            f"to {SCHEMA_VERSION}): upgrade fieldkit to read it"
        )
    kind = data.get("document")
    model = DOCUMENTS.get(kind) if isinstance(kind, str) else None
    if model is None:
        known = ", ".join(DOCUMENTS)
        raise SchemaVersionError(f"{source}: unknown document {kind!r} (fieldkit writes {known})")
    return _validate(model, data, source)


def _load_v0(data: Mapping[str, Any], source: str) -> _Versioned:
    """The first release's ``read --json`` (a bare snapshot) or ``check --json`` output."""
    if "checks" in data or "verdict" in data:
        fields = dict(data)
        return _validate(CheckDocument, {**fields, "schema_version": 0}, source)
    if "identity" not in data:
        raise SchemaError(f"{source} is not a fieldkit snapshot (no identity)")
    return _validate(ReadDocument, {**data, "schema_version": 0}, source)


def _validate(model: type[_Versioned], data: Mapping[str, Any], source: str) -> _Versioned:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SchemaError(f"{source}: {describe(exc)}") from None


def _field_name(part: str | int) -> str:
    """A place in the document as the message shows it. A key is the sender's text: one
    with a line break or a control character is quoted, escaped, so the message stays one
    line; a very long one is cut."""
    text = str(part)
    if not text.isprintable():
        text = repr(text)
    return text if len(text) <= 60 else text[:60] + "…"


def describe(exc: ValidationError) -> str:
    """The first problem of a validation error in one line: 'identity.serial_number: ...'."""
    first = exc.errors(include_url=False)[0]
    where = ".".join(_field_name(part) for part in first["loc"]) or "the document"
    extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "not a field of this document"
    elif isinstance(first.get("input"), str | int | float) and len(str(first["input"])) <= 40:
        message += f" (got {first['input']!r})"
    return f"{where}: {message}{extra}"


def dump_json(document: BaseModel) -> str:
    """A document as the kit writes it: indented JSON, times ISO 8601, a final newline.

    A snapshot document without frames leaves the key out (the frames belong in a capture).
    """
    omit = {"frames"} if getattr(document, "frames", ()) is None else None
    return document.model_dump_json(indent=2, exclude=omit) + "\n"


# What a float the meter sent as NaN or infinity is written as (``ser_json_inf_nan``).
_NON_FINITE = {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}


class _WireSchema(GenerateJsonSchema):
    """JSON Schema of what the documents really hold: a number may be "NaN" or "Infinity"."""

    def float_schema(self, schema: core_schema.FloatSchema) -> JsonSchemaValue:
        return {"anyOf": [super().float_schema(schema), dict(_NON_FINITE)]}


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every document, by file name."""
    return {
        f"{name}.schema.json": TypeAdapter(model).json_schema(
            mode="serialization", schema_generator=_WireSchema
        )
        for name, model in DOCUMENTS.items()
    }


def write_json_schemas(folder: Path) -> list[Path]:
    """Write every document's JSON Schema into ``folder``; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = folder / name
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_json_schemas(
        Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schema")
    ):
        sys.stdout.write(f"{written_path}\n")
