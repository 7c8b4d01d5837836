"""Turn the C12.19 tables a session read into a :class:`MeterSnapshot`. Pure: no I/O.

The driver collects raw table bytes (and the reasons for what it could not read) into a
:class:`TableSet`; :func:`build_snapshot` decodes them with the ST0 context and a meter
profile. A table that fails to decode marks its item unavailable with the reason; it never
stops the rest of the snapshot.

Per-phase values and register units come from the profile when one matches the meter.
Without one, the standard route (:mod:`~fieldkit.drivers.c1218.standard_route`: ST11, ST12,
ST16 and optionally ST15) names and scales them when the driver read those tables.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import TypeVar

from fieldkit.drivers.c1218 import tables as t
from fieldkit.drivers.c1218.events import STANDARD_EVENTS
from fieldkit.drivers.c1218.profile import ANGLE_QUANTITIES, RAW_SIZES, MeterProfile, QuantitySpec
from fieldkit.drivers.c1218.standard_route import (
    SourceCatalog,
    present_quantities,
    standard_registers,
)
from fieldkit.drivers.errors import DecodeError
from fieldkit.model import (
    ClockReading,
    FrameRecord,
    MeterEvent,
    MeterIdentity,
    MeterSnapshot,
    PhaseQuantities,
    Register,
    StatusFlags,
    Unavailable,
    normalize_angle,
)

__all__ = ["STANDARD_ROUTE_TABLES", "TableSet", "build_snapshot"]

LOG = logging.getLogger(__name__)
T = TypeVar("T")

# The standard route needs these three (ST15, the constants, is optional).
STANDARD_ROUTE_TABLES = (11, 12, 16)
STANDARD_EVENT_NUMBERS = frozenset(e.number for e in STANDARD_EVENTS)
_NO_PROFILE_REGISTERS = "no meter profile for this model: register units unknown"


@dataclass(slots=True)
class TableSet:
    """What one session read: raw table bytes by table id, and why items are missing."""

    tables: dict[int, bytes] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    clock_reference: datetime | None = None  # laptop UTC time when ST52/ST55 arrived
    clock_uncertainty: float | None = None  # seconds either side of clock_reference

    def missing(self, item: str, reason: str) -> None:
        """Record the first reason an item is unavailable."""
        self.unavailable.setdefault(item, reason)


def _decode(ts: TableSet, item: str, fn: Callable[..., T], *args: object, **kw: object) -> T | None:
    try:
        return fn(*args, **kw)
    except DecodeError as exc:
        ts.missing(item, str(exc))
        return None


def _aware(value: datetime, utc: bool, meter_tz: tzinfo | None) -> datetime:
    if utc:
        return value.replace(tzinfo=UTC)
    if meter_tz is not None:
        return value.replace(tzinfo=meter_tz)
    return value.astimezone()  # the laptop's own zone: meters keep local time


def build_snapshot(
    ts: TableSet,
    *,
    profile: MeterProfile | None,
    read_at: datetime,
    meter_tz: tzinfo | None = None,
    frames: tuple[FrameRecord, ...] = (),
    incomplete: str | None = None,
) -> MeterSnapshot:
    """Decode every table in ``ts`` into one snapshot. ST0 and ST1 must be present.

    ``incomplete`` is why the session ended before every table was read (a partial read).
    """
    cfg = t.decode_st0(ts.tables[0])
    st1 = t.decode_st1(ts.tables[1], cfg)
    identity = MeterIdentity(
        manufacturer=st1.manufacturer,
        model=st1.model,
        serial_number=st1.serial_number,
        meter_id=_meter_id(ts, cfg),
        hardware_version=f"{st1.hw_version}.{st1.hw_revision}",
        firmware_version=f"{st1.fw_version}.{st1.fw_revision}",
    )
    status = _status(ts, cfg)
    clock = _clock(ts, cfg, meter_tz)
    # Log and demand stamps are in the same time base as the meter's clock.
    utc = bool(clock is not None and clock.utc)
    catalog = None if profile is not None else _standard_catalog(ts, cfg)
    registers = _registers(ts, cfg, profile, catalog, utc, meter_tz)
    phases, site = _present_values(ts, cfg, profile, catalog)
    events = _events(ts, cfg, utc, meter_tz)
    return MeterSnapshot(
        protocol="c1218",
        identity=identity,
        read_at=read_at,
        clock=clock,
        status=status,
        registers=registers,
        phases=phases,
        frequency=site.get("frequency"),
        temperature_c=site.get("temperature_c"),
        total_active_power=site.get("total_active_power"),
        total_reactive_power=site.get("total_reactive_power"),
        events=events,
        unavailable=tuple(Unavailable(k, v) for k, v in ts.unavailable.items()),
        frames=frames,
        incomplete=incomplete,
    )


def _meter_id(ts: TableSet, cfg: t.GeneralConfig) -> str | None:
    raw = ts.tables.get(5)
    if raw is None:
        return None
    return _decode(ts, "meter_id", t.decode_st5, raw, cfg) or None


def _status(ts: TableSet, cfg: t.GeneralConfig) -> StatusFlags | None:
    raw = ts.tables.get(3)
    if raw is None:
        return None
    st3 = _decode(ts, "status", t.decode_st3, raw, cfg)
    if st3 is None:
        return None
    return StatusFlags(
        active=st3.flags,
        metering_mode=st3.metering,
        test_mode=st3.test_mode,
        meter_shop_mode=st3.meter_shop_mode,
        factory_mode=st3.factory,
        manufacturer_status=st3.mfg_status,
    )


def _clock(ts: TableSet, cfg: t.GeneralConfig, meter_tz: tzinfo | None) -> ClockReading | None:
    reference = ts.clock_reference
    if reference is None:
        return None
    clk: t.ClockTable | t.ClockState | None
    if 52 in ts.tables:
        clk = _decode(ts, "clock", t.decode_st52, ts.tables[52], cfg)
    elif 55 in ts.tables:
        clk = _decode(ts, "clock", t.decode_st55, ts.tables[55], cfg)
    else:
        return None
    if clk is None:
        return None
    if clk.time is None:
        ts.missing("clock", "the meter's clock holds no valid date (clock not set?)")
        return None
    return ClockReading(
        meter_time=_aware(clk.time, clk.gmt, meter_tz),
        reference_time=reference,
        dst=clk.dst,
        utc=clk.gmt,
        uncertainty_seconds=ts.clock_uncertainty,
    )


def _standard_catalog(ts: TableSet, cfg: t.GeneralConfig) -> SourceCatalog | None:
    """The meter's own description of its sources, when the driver read it."""
    if not all(n in ts.tables for n in STANDARD_ROUTE_TABLES):
        return None
    try:
        st11 = t.decode_st11(ts.tables[11], cfg)
        st12 = t.decode_st12(ts.tables[12], cfg, st11)
        st16 = t.decode_st16(ts.tables[16], cfg, st11)
    except DecodeError as exc:
        reason = f"no meter profile, and the standard unit tables cannot be used: {exc}"
        ts.missing("phases", reason)
        ts.missing("registers", reason)
        return None
    st15 = None
    st15_problem = ts.unavailable.get("ST15")
    if 15 in ts.tables:
        try:
            st15 = t.decode_st15(ts.tables[15], cfg, st11)
        except DecodeError as exc:
            LOG.info("standard route without constants: %s", exc)
            st15_problem = str(exc)
    catalog = SourceCatalog.build(st11, st12, st16, st15, st15_problem=st15_problem)
    for warning in catalog.warnings:
        LOG.info("standard route: %s", warning)
    return catalog


def _standard_register_list(
    ts: TableSet,
    cfg: t.GeneralConfig,
    catalog: SourceCatalog,
    st21: t.ActualRegisters,
    st23: t.CurrentRegisterData,
    utc: bool,
    meter_tz: tzinfo | None,
) -> tuple[tuple[Register, ...], str]:
    """Registers named by the standard route, or () and the reason there are none."""
    raw22 = ts.tables.get(22)
    if raw22 is None:
        return (), "no meter profile, and no ST22 to say which source each register holds"
    try:
        st22 = t.decode_st22(raw22, cfg, st21)
    except DecodeError as exc:
        return (), str(exc)

    def localize(stamp: datetime) -> datetime:
        return _aware(stamp, utc, meter_tz)

    notes: list[str] = []
    found = standard_registers(catalog, st22, st23, localize=localize, notes=notes)
    for note in notes:
        # Every register the meter lists but the route cannot place says why.
        item, _, reason = note.partition(": ")
        ts.missing(f"register {item}", reason)
    if found:
        return found, ""
    return (), (
        "no meter profile, and the meter's standard tables (ST12/ST16) name none of its "
        "registers as kWh, kvarh or kW demand: register units unknown"
    )


def _registers(
    ts: TableSet,
    cfg: t.GeneralConfig,
    profile: MeterProfile | None,
    catalog: SourceCatalog | None,
    utc: bool,
    meter_tz: tzinfo | None,
) -> tuple[Register, ...]:
    if 21 not in ts.tables or 23 not in ts.tables:
        return ()
    raw21, raw23 = ts.tables[21], ts.tables[23]
    st21 = _decode(ts, "registers", t.decode_st21, raw21, cfg)
    if st21 is None:
        return ()
    st23 = _decode(ts, "registers", t.decode_st23, raw23, cfg, st21)
    if st23 is None:
        return ()
    out: list[Register] = []
    if st23.nbr_demand_resets is not None:
        # ST23 NBR_DEMAND_RESETS: how a demand reset is verified (read before and after).
        out.append(
            Register("demand_resets", float(st23.nbr_demand_resets), "count", "Demand resets")
        )
    if profile is None:
        reason = _NO_PROFILE_REGISTERS
        if catalog is not None:
            found, reason = _standard_register_list(ts, cfg, catalog, st21, st23, utc, meter_tz)
            if found:
                return (*out, *found)
        ts.missing("registers", reason)
        for n, value in enumerate(st23.total.summations):
            out.append(Register(f"summation_{n}", float(value), "raw", "ST23 summation"))
        return tuple(out)
    for spec in profile.registers:
        block = st23.total if spec.tier is None else _tier(st23, spec.tier)
        if block is None:
            continue
        stamp = None
        if spec.source == "summation":
            if spec.index >= len(block.summations):
                continue
            raw_value = float(block.summations[spec.index])
        else:
            if spec.index >= len(block.demands) or not block.demands[spec.index].values:
                continue
            demand = block.demands[spec.index]
            raw_value = float(demand.values[0])
            if demand.event_times and demand.event_times[0] is not None:
                stamp = _aware(demand.event_times[0], utc, meter_tz)
        out.append(
            Register(
                id=spec.id,
                value=round(raw_value * spec.scale, 6),
                unit=spec.unit,
                description=spec.description,
                tier=None if spec.tier is None else chr(ord("A") + spec.tier),
                timestamp=stamp,
            )
        )
    return tuple(out)


def _tier(st23: t.CurrentRegisterData, tier: int) -> t.DataBlock | None:
    return st23.tiers[tier] if tier < len(st23.tiers) else None


def _standard_present_values(
    ts: TableSet, cfg: t.GeneralConfig, catalog: SourceCatalog
) -> tuple[tuple[PhaseQuantities, ...], dict[str, float]]:
    """Per-phase and site values named by the standard route (ST27 sources, ST28 values)."""
    if not all(n in ts.tables for n in (21, 27, 28)):
        ts.missing(
            "phases",
            "no meter profile, and the meter has no ST27/ST28 present values to name",
        )
        return (), {}
    st21 = _decode(ts, "phases", t.decode_st21, ts.tables[21], cfg)
    if st21 is None:
        return (), {}
    st27 = _decode(ts, "phases", t.decode_st27, ts.tables[27], cfg, st21)
    st28 = _decode(ts, "phases", t.decode_st28, ts.tables[28], cfg, st21)
    if st27 is None or st28 is None:
        return (), {}
    found = present_quantities(catalog, st27, st28)
    for note in found.notes:
        # Every present value the route drops is listed with the table at fault.
        item, _, reason = note.partition(": ")
        ts.missing(item, reason)
    phases = found.phases()
    if not phases:
        details = (*catalog.warnings, *found.notes)
        reason = (
            "no meter profile, and the meter's standard tables (ST12/ST16) name no "
            "per-phase quantity among its present values"
        )
        ts.missing("phases", f"{reason} ({details[0]})" if details else reason)
    return phases, found.site()


def _present_values(
    ts: TableSet,
    cfg: t.GeneralConfig,
    profile: MeterProfile | None,
    catalog: SourceCatalog | None,
) -> tuple[tuple[PhaseQuantities, ...], dict[str, float]]:
    if profile is None and catalog is not None:
        return _standard_present_values(ts, cfg, catalog)
    if profile is None:
        ts.missing(
            "phases",
            "no meter profile for this manufacturer and model, and the meter does not describe "
            "its sources in ST11/ST12/ST16: per-phase values need a profile "
            "(see docs/c1218.md, 'Meter profiles')",
        )
        return (), {}
    values: tuple[float, ...] = ()
    uses_st28 = any(q.present_value is not None for q in profile.quantities)
    if uses_st28 and 21 in ts.tables and 28 in ts.tables:
        st21 = _decode(ts, "phases", t.decode_st21, ts.tables[21], cfg)
        if st21 is not None:
            st28 = _decode(ts, "phases", t.decode_st28, ts.tables[28], cfg, st21)
            values = () if st28 is None else tuple(float(v) for v in st28.values)
    per_phase: dict[str, dict[str, float]] = {ph: {} for ph in profile.elements}
    site: dict[str, float] = {}
    for spec in profile.quantities:
        value = _quantity(ts, cfg, spec, values)
        if value is None:
            continue
        if spec.name in ANGLE_QUANTITIES:
            value = normalize_angle(value)
        if spec.phase is None:
            site[spec.name] = value
        else:
            per_phase[spec.phase][spec.name] = value
    phases = tuple(PhaseQuantities.from_values(ph, q) for ph, q in per_phase.items() if q)
    return phases, site


def _quantity(
    ts: TableSet, cfg: t.GeneralConfig, spec: QuantitySpec, values: tuple[float, ...]
) -> float | None:
    if spec.present_value is not None:
        if spec.present_value >= len(values):
            if values:
                ts.missing(
                    spec.name if spec.phase is None else f"{spec.name}_{spec.phase}",
                    f"profile expects present value {spec.present_value}, "
                    f"the meter has {len(values)}",
                )
            return None
        return round(values[spec.present_value] * spec.scale, 6)
    if spec.table is None or spec.offset is None or spec.type is None:
        return None  # the profile validator rules this out; keep mypy and readers sure
    raw = ts.tables.get(spec.table)
    if raw is None:
        return None
    size = RAW_SIZES[spec.type]
    chunk = raw[spec.offset : spec.offset + size]
    if len(chunk) != size:
        ts.missing(spec.name, f"table {spec.table} is too short for offset {spec.offset}")
        return None
    order = cfg.data_order if spec.byte_order == "meter" else spec.byte_order
    return round(_raw_number(chunk, spec.type, order) * spec.scale, 6)


def _raw_number(chunk: bytes, kind: str, order: str) -> float:
    if kind == "f32":
        return float(struct.unpack("<f" if order == "little" else ">f", chunk)[0])
    if kind == "f64":
        return float(struct.unpack("<d" if order == "little" else ">d", chunk)[0])
    if order == "little":
        return float(int.from_bytes(chunk, "little", signed=kind.startswith("i")))
    return float(int.from_bytes(chunk, "big", signed=kind.startswith("i")))


_SEQ_MODULUS = 1 << 16  # entry sequence numbers are UINT16; the header's is UINT32


def _suspect(entry: t.LogEntry, header: t.LogHeader, age: int) -> str | None:
    """Why a log entry cannot be right, or None: codes and numbers the log rules out.

    ``age`` is the entry's place counted back from the newest (0). The valid entries are
    the last NBR_VALID_ENTRIES the meter logged, so their sequence numbers lie within that
    many of LAST_ENTRY_SEQ_NBR.
    """
    reasons: list[str] = []
    if not entry.manufacturer and entry.code not in STANDARD_EVENT_NUMBERS:
        reasons.append(f"event code {entry.code} is not one C12.19 defines")
    if entry.seq_nbr is not None and header.nbr_valid_entries:
        newest = header.last_entry_seq_nbr % _SEQ_MODULUS
        behind = (newest - entry.seq_nbr) % _SEQ_MODULUS
        if behind >= header.nbr_valid_entries:
            reasons.append(
                f"sequence number {entry.seq_nbr} is out of range: the log's newest is "
                f"{header.last_entry_seq_nbr} with {header.nbr_valid_entries} valid entries"
            )
    return "; ".join(reasons) or None


def _events(
    ts: TableSet, cfg: t.GeneralConfig, utc: bool, meter_tz: tzinfo | None
) -> tuple[MeterEvent, ...]:
    if 71 not in ts.tables:
        return ()
    raw71 = ts.tables[71]
    st71 = _decode(ts, "events", t.decode_st71, raw71, cfg)
    if st71 is None:
        return ()
    out: list[MeterEvent] = []
    for table_id, log in ((74, "history"), (76, "event")):
        raw = ts.tables.get(table_id)
        if raw is None:
            continue
        header_raw, entries_raw = raw[: t.LOG_HEADER_SIZE], raw[t.LOG_HEADER_SIZE :]
        header = _decode(ts, "events", t.decode_log_header, header_raw, cfg, log=log)
        if header is None:
            continue
        entries = _decode(ts, "events", t.decode_log_entries, entries_raw, cfg, st71, log=log)
        if entries is None:
            continue
        slots = st71.nbr_history_entries if table_id == 74 else st71.nbr_event_entries
        ordered = _decode(
            ts, "events", t.valid_entries_in_order, header, entries, nbr_entries=slots
        )
        entries_in_order = ordered or ()
        newest = len(entries_in_order) - 1
        for age_from_oldest, entry in enumerate(entries_in_order):
            out.append(
                MeterEvent(
                    code=entry.code,
                    name=entry.name,
                    timestamp=None if entry.time is None else _aware(entry.time, utc, meter_tz),
                    manufacturer=entry.manufacturer,
                    sequence=entry.seq_nbr,
                    user_id=entry.user_id,
                    argument=entry.argument,
                    log=log,
                    suspect=_suspect(entry, header, newest - age_from_oldest),
                )
            )
    out.sort(key=lambda e: e.timestamp or datetime.min.replace(tzinfo=UTC))
    return tuple(out)
