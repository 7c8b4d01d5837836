"""C12.19 table encoders for the simulated meter, written from the reference layouts.

The meter's side of every table is built here from the scenario (``c12-protocols.md`` §2,
``c1219-addendum.md`` §B and §D); the driver's decoders are a separate implementation, so a
mistake on one side shows up as a failing test instead of cancelling out. Multi-byte integers
follow ST0 DATA_ORDER; time stamps follow ST0 TM_FORMAT (1 = BCD, 2 = UINT8). What each
source means (ST11, ST12, ST16) is defined in :mod:`simulators.c1218.sources`.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Literal

from fieldkit.model import STATUS_FLAG_NAMES
from simulators.c1218.physics import (
    Instruments,
    LoggedEvent,
    MeterClock,
    event_log,
    instruments,
    registers_at,
)
from simulators.c1218.procedures import MeterState
from simulators.c1218.sources import (
    BLOCK_DEMAND_FLAG,
    CONSTANTS_SELECTOR_ELECTRIC,
    PRESENT_VALUE_SOURCE_BASE,
    SOURCE_DEF_FLAGS,
    SourceDefinition,
    meter_sources,
)
from simulators.scenario import Scenario

__all__ = [
    "EVENT_ENTRIES",
    "HISTORY_ENTRIES",
    "LOG_DATA_LENGTH",
    "NI_SIZES",
    "MeterTables",
    "TableCodec",
    "standard_table_ids",
]

NI_SIZES: dict[int, int] = {0: 8, 1: 4, 7: 3, 8: 4, 9: 5, 10: 6, 11: 8}
HISTORY_ENTRIES = 16
EVENT_ENTRIES = 32
LOG_DATA_LENGTH = 2  # HIST_DATA_LENGTH and EVENT_DATA_LENGTH
_BASE_TABLES = (0, 1, 2, 3, 5, 11, 12, 16, 21, 22, 23, 27, 28, 51, 52, 55, 71, 76)
_PROCEDURE_TABLES = (7, 8)  # ST7 PROC_INITIATE_TBL (write), ST8 PROC_RESPONSE_TBL (read)
MAX_PROC_PARM_LENGTH = 8  # SP10: SET_MASK, a 6-byte LTIME_DATE, TIME_DATE_QUAL
MAX_RESP_DATA_LEN = 12  # SP10: the time before and the time after

# ST21 REG_FUNC1 bits
_DATE_TIME_FIELD = 0x02
_DEMAND_RESET_CTR = 0x04
# ST71 LOG_FLAGS bits
_EVENT_NUMBER = 0x01
_HIST_DATE_TIME = 0x02
_HIST_SEQ_NBR = 0x04
# ST74/ST76 header flags
_FLAG_OVERFLOW = 0x02
_FLAG_CIRCULAR = 0x04
# TIME_DATE_QUAL bits
_QUAL_DST = 0x08
_QUAL_GMT = 0x10
_QUAL_TM_ZN_APPLIED = 0x20
_QUAL_DST_APPLIED = 0x40


def standard_table_ids(scenario: Scenario) -> tuple[int, ...]:
    """The standard tables the scenario's meter serves (and lists in ST0)."""
    ids = set(_BASE_TABLES)
    if scenario.has_history:
        ids.add(74)
    if scenario.meter.procedures:
        ids.update(_PROCEDURE_TABLES)
    return tuple(sorted(ids))


def _bcd(value: int) -> int:
    return (value // 10) << 4 | value % 10


def _id_set(ids: list[int]) -> bytes:
    """A C12.19 SET: element n is bit (n mod 8) of byte (n div 8)."""
    if not ids:
        return b""
    out = bytearray(max(ids) // 8 + 1)
    for n in ids:
        out[n // 8] |= 1 << (n % 8)
    return bytes(out)


class TableCodec:
    """Encodes table fields in the meter's data order, time format and NI formats."""

    def __init__(self, *, data_order: str, tm_format: int, ni_format1: int, ni_format2: int):
        self.order: Literal["big", "little"] = "big" if data_order == "big" else "little"
        self.tm_format = tm_format
        self.ni_format1 = ni_format1
        self.ni_format2 = ni_format2

    def uint(self, value: int, size: int) -> bytes:
        """An unsigned integer of ``size`` bytes in DATA_ORDER."""
        return value.to_bytes(size, self.order)

    def ni(self, value: float, fmt: int) -> bytes:
        """A non-integer value; integer formats round, and saturate at their range."""
        size = NI_SIZES[fmt]
        prefix = ">" if self.order == "big" else "<"
        if fmt == 0:
            return struct.pack(prefix + "d", value)
        if fmt == 1:
            return struct.pack(prefix + "f", value)
        limit = 1 << (size * 8 - 1)
        whole = max(-limit, min(limit - 1, round(value) if math.isfinite(value) else 0))
        return whole.to_bytes(size, self.order, signed=True)

    def ni1(self, value: float) -> bytes:
        """A value in NI_FORMAT1."""
        return self.ni(value, self.ni_format1)

    def ni2(self, value: float) -> bytes:
        """A value in NI_FORMAT2."""
        return self.ni(value, self.ni_format2)

    def ltime(self, moment: datetime) -> bytes:
        """LTIME_DATE: YY MM DD hh mm ss."""
        fields = (
            moment.year % 100,
            moment.month,
            moment.day,
            moment.hour,
            moment.minute,
            moment.second,
        )
        return bytes(_bcd(v) for v in fields) if self.tm_format == 1 else bytes(fields)

    def stime(self, moment: datetime) -> bytes:
        """STIME_DATE: YY MM DD hh mm (no seconds)."""
        return self.ltime(moment)[:5]

    @staticmethod
    def char(text: str, size: int) -> bytes:
        """A space-padded ISO 646 character field."""
        return text.encode("ascii")[:size].ljust(size, b" ")


def _scaled(value: float, scale: float, fmt: int) -> float:
    # Float NI formats carry the same scaled number as the integer formats, unrounded.
    scaled = value * scale
    return scaled if fmt in (0, 1) else float(round(scaled))


class MeterTables:
    """Every table the simulated meter serves, encoded on demand at a given time.

    ``extra_tables`` adds or replaces tables with fixed bytes (tests, experiments); standard
    ids among them are listed in ST0, manufacturer ids (2048 + n) in its MFG set.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        started_at: float,
        extra_tables: Mapping[int, bytes] | None = None,
        mfg_tables: int = 0,
        inconsistent: int | None = None,
        state: MeterState | None = None,
    ) -> None:
        self.scenario = scenario
        # The standard-route table made to disagree with the others (a fault), or None.
        self.inconsistent = inconsistent
        self.started_at = started_at
        meter = scenario.meter
        self.codec = TableCodec(
            data_order=meter.data_order,
            tm_format=meter.tm_format,
            ni_format1=meter.ni_format1,
            ni_format2=meter.ni_format2,
        )
        # What procedures change lives in the state, shared by every connection to the meter.
        self.state = state if state is not None else MeterState(MeterClock(scenario.clock))
        self.clock = self.state.clock
        # Times of what happened before the start keep the scenario's clock, set or not.
        self.history_clock = MeterClock(scenario.clock)
        self.st7_data = b""  # the last procedure request written
        self.st8_data = b""  # its response, once run
        self.instruments: Instruments = instruments(scenario)
        self.sources: tuple[SourceDefinition, ...] = meter_sources(meter.model, meter.elements)
        self.extra: dict[int, bytes] = dict(extra_tables or {})
        ids = set(standard_table_ids(scenario))
        ids.update(t for t in self.extra if t < 2048)
        if inconsistent == 15:
            ids.add(15)
        self.standard_ids = tuple(sorted(ids))
        mfg = {t - 2048 for t in self.extra if 2048 <= t < 4096}
        # Listed only, never served: a meter with many manufacturer tables has a long ST0.
        self.listed_mfg = tuple(n for n in range(mfg_tables) if n not in mfg)
        self.mfg_ids = tuple(sorted(mfg))
        self._builders: dict[int, Callable[[float], bytes]] = {
            0: lambda now: self.st0(),
            1: lambda now: self.st1(),
            2: lambda now: self.st2(),
            3: lambda now: self.st3(),
            5: lambda now: self.st5(),
            11: lambda now: self.st11(),
            12: lambda now: self.st12(),
            15: lambda now: self.st15(),
            16: lambda now: self.st16(),
            21: lambda now: self.st21(),
            22: lambda now: self.st22(),
            23: self.st23,
            27: lambda now: self.st27(),
            28: lambda now: self.st28(),
            51: lambda now: self.st51(),
            52: self.st52,
            55: self.st55,
            7: lambda now: self.st7_data,
            8: lambda now: self.st8_data,
            71: lambda now: self.st71(),
            74: lambda now: self.st74(),
            76: lambda now: self.st76(),
        }

    @property
    def served(self) -> tuple[int, ...]:
        """Every table id this meter answers reads for."""
        return (*self.standard_ids, *(2048 + n for n in self.mfg_ids))

    def is_served(self, table_id: int) -> bool:
        """True when ``table_id`` is listed in ST0 (or added as an extra table)."""
        return table_id in self.extra or table_id in self.standard_ids

    def read(self, table_id: int, now: float) -> bytes | None:
        """The table's bytes at POSIX time ``now``, or None if the meter has no such table."""
        if table_id in self.extra:
            return self.extra[table_id]
        if table_id not in self.standard_ids:
            return None
        return self._builders[table_id](now)

    # --- identity and configuration ---------------------------------------------------------

    def st0(self) -> bytes:
        """GEN_CONFIG_TBL: formats, device class and the sets of tables served."""
        meter = self.scenario.meter
        std = _id_set(list(self.standard_ids))
        mfg = _id_set(sorted({*self.mfg_ids, *self.listed_mfg}))
        format1 = (1 if meter.data_order == "big" else 0) | 1 << 1  # CHAR_FORMAT 1: ISO 646
        format2 = meter.tm_format  # DATA_ACCESS_METHOD 0, ID_FORM 0 (string), INT_FORMAT 0
        format3 = meter.ni_format1 | meter.ni_format2 << 4
        head = bytes((format1, format2, format3)) + b"FKIT"
        procs = _id_set(list(meter.procedures))
        writable = bytearray(len(std))
        if meter.procedures:
            writable[7 // 8] |= 1 << (7 % 8)  # ST7 is how procedures are started
        parm, resp = (MAX_PROC_PARM_LENGTH, MAX_RESP_DATA_LEN) if procs else (0, 0)
        head += bytes((2, 0, parm, resp, 1, 0))  # electric, no default set, STD_VERSION 1.0
        # DIM_* (1 mfg status byte), 0 pending
        head += bytes((len(std), len(mfg), len(procs), 0, 1, 0))
        # STD_TBLS_USED, MFG_TBLS_USED, STD_PROC_USED, (no MFG procs), the write sets.
        return head + std + mfg + procs + bytes(writable) + bytes(len(mfg))

    def st1(self) -> bytes:
        """GENERAL_MFG_ID_TBL: manufacturer, model, versions, serial number."""
        meter = self.scenario.meter
        c = self.codec
        return (
            c.char(meter.manufacturer, 4)
            + c.char(meter.model, 8)
            + bytes((meter.hw_version, meter.hw_revision, meter.fw_version, meter.fw_revision))
            + c.char(meter.serial, 16)
        )

    def st2(self) -> bytes:
        """DEVICE_NAMEPLATE_TBL (electric, 33 bytes).

        The bit-field enumerations are not established in the reference; the simulator
        writes E_FREQ 1 (60 Hz), E_NO_OF_ELEMENTS, E_BASE_TYPE 1 (S-base) and leaves the
        accuracy class and volts codes 0. Decoders should only trust the text fields.
        """
        meter = self.scenario.meter
        c = self.codec
        n = len(self.scenario.phase)
        elements = 1 | n << 3 | 1 << 6
        return (
            c.char(meter.kh, 6)
            + c.char(meter.kt, 6)
            + bytes((0,))  # E_INPUT_SCALAR
            + c.char(meter.form, 5)
            + c.uint(elements, 2)
            + bytes((0,))  # E_VOLTS
            + c.char(meter.class_amps, 6)
            + c.char(meter.test_amps, 6)
        )

    def st3(self) -> bytes:
        """ED_MODE_STATUS_TBL: metering mode, the standard status flags, one MFG byte."""
        bits = 0
        for name in self.scenario.status.flags:
            bits |= 1 << STATUS_FLAG_NAMES.index(name)
        return bytes((0x01,)) + self.codec.uint(bits, 2) + bytes((0, 0))

    def st5(self) -> bytes:
        """DEVICE_IDENT_TBL: the utility's meter id, char[20]."""
        return self.codec.char(self.scenario.meter.meter_id, 20)

    # --- sources ----------------------------------------------------------------------------

    def st11(self) -> bytes:
        """ACT_SOURCES_LIM_TBL: block demand, one ST12 entry per source, no ST13–ST15."""
        n = len(self.sources)
        uom_entries = n
        if self.inconsistent == 11:
            uom_entries = n + 1  # more entries than ST12 carries
        elif self.inconsistent == 12:
            uom_entries = n - 1  # agrees with the short ST12, not with the ST16 flags
        return bytes(
            (
                BLOCK_DEMAND_FLAG,  # SOURCE_FLAGS
                uom_entries,  # NBR_UOM_ENTRIES
                0,  # NBR_DEMAND_CTRL_ENTRIES
                0,  # DATA_CTRL_LENGTH
                0,  # NBR_DATA_CTRL_ENTRIES
                1 if self.inconsistent == 15 else 0,  # NBR_CONSTANTS_ENTRIES
                CONSTANTS_SELECTOR_ELECTRIC,
                n,  # NBR_SOURCES
            )
        )

    def st12(self) -> bytes:
        """UOM_ENTRY_TBL: one UOM_ENTRY_BFLD (UINT32, DATA_ORDER) per source."""
        entries = [self.codec.uint(s.uom_entry(), 4) for s in self.sources]
        if self.inconsistent == 12:
            entries = entries[:-1]  # the last source's unit is missing
        return b"".join(entries)

    def st15(self) -> bytes:
        """CONSTANTS_TBL, served only for the ``inconsistent = 15`` fault: 3 bytes, which
        fit neither record layout (with or without OFFSET)."""
        return bytes((0, 0, 1))

    def st16(self) -> bytes:
        """SOURCE_DEF_TBL: every source has a unit entry and is in engineering units.

        Faults: ``inconsistent = 16`` clears UOM_ENTRY_FLAG on source 0 (a source without a
        unit, and a bit walk that no longer matches ST12); ``inconsistent = 15`` makes
        source 0 ask for its ST15 constants to be applied.
        """
        flags = [SOURCE_DEF_FLAGS for _ in self.sources]
        if self.inconsistent == 16:
            flags[0] &= ~0x01  # UOM_ENTRY_FLAG
        elif self.inconsistent == 15:
            flags[0] |= 0x08 | 0x20  # CONSTANTS_FLAG, CONSTANT_TO_BE_APPLIED
        return bytes(flags)

    # --- registers and present values -------------------------------------------------------

    @property
    def nbr_present_values(self) -> int:
        """7 quantities per element plus frequency, temperature and the two totals."""
        return 7 * len(self.instruments.elements) + 4

    def st21(self) -> bytes:
        """ACT_REGS_TBL: 4 summations, 1 max demand with its time, the present values."""
        return bytes(
            (
                _DATE_TIME_FIELD | _DEMAND_RESET_CTR,  # REG_FUNC1
                0,  # REG_FUNC2
                0,  # NBR_SELF_READS
                4,  # NBR_SUMMATIONS
                1,  # NBR_DEMANDS
                0,  # NBR_COIN_VALUES
                1,  # NBR_OCCUR
                0,  # NBR_TIERS
                1,  # NBR_PRESENT_DEMANDS
                self.nbr_present_values,
            )
        )

    def st22(self) -> bytes:
        """DATA_SEL_TBL: summation sources 0–3, demand source 4, which is a maximum."""
        return bytes((0, 1, 2, 3, 4, 0x01))

    def st23(self, now: float) -> bytes:
        """CURRENT_REG_DATA_TBL: demand resets, Wh/varh delivered/received, max demand."""
        c = self.codec
        regs = registers_at(
            self.scenario,
            self.instruments,
            self.history_clock,
            started_at=self.started_at,
            now=now,
        )
        # Registers show whole Wh: floor, so a value never runs ahead of the energy (the
        # epsilon keeps 18452.6 kWh = 18452600 Wh from flooring to ...599).
        sums = (regs.wh_delivered, regs.wh_received, regs.varh_delivered, regs.varh_received)
        fmt1 = c.ni_format1
        body = b"".join(c.ni1(v if fmt1 in (0, 1) else float(math.floor(v + 1e-6))) for v in sums)
        demand_time, demand_w = regs.demand_time, regs.demand_w
        if self.state.demand_reset_at is not None:
            # A new billing period: no maximum yet since the reset.
            demand_time, demand_w = self.state.demand_reset_at, 0.0
        resets = (regs.demand_resets + self.state.demand_resets_done) % 256
        demand = c.stime(demand_time) + c.ni2(demand_w)
        return bytes((resets,)) + body + demand

    def st27(self) -> bytes:
        """PRESENT_REG_SELECT_TBL: demand source 4; present value j is source 5 + j."""
        first = PRESENT_VALUE_SOURCE_BASE
        return bytes((4,)) + bytes(range(first, first + self.nbr_present_values))

    def present_values(self) -> list[float]:
        """ST28 PRESENT_VALUES in order (index k·n + i, then the four site values)."""
        meter = self.instruments
        fmt = self.codec.ni_format1
        els = meter.elements
        values: list[float] = []
        values += [_scaled(e.voltage, 100, fmt) for e in els]
        values += [_scaled(e.current, 1000, fmt) for e in els]
        values += [_angle(e.voltage_angle, fmt) for e in els]
        values += [_angle(e.current_angle, fmt) for e in els]
        values += [_scaled(e.power_factor, 10000, fmt) for e in els]
        values += [_scaled(e.active_power, 1, fmt) for e in els]
        values += [_scaled(e.reactive_power, 1, fmt) for e in els]
        values += [
            _scaled(meter.frequency, 100, fmt),
            _scaled(meter.temperature_c, 10, fmt),
            _scaled(meter.total_active_power, 1, fmt),
            _scaled(meter.total_reactive_power, 1, fmt),
        ]
        return values

    def st28(self) -> bytes:
        """PRESENT_REG_DATA_TBL: present demand (W, no time remaining), present values."""
        c = self.codec
        demand = c.ni2(self.instruments.total_active_power)
        return demand + b"".join(c.ni1(v) for v in self.present_values())

    # --- clock ------------------------------------------------------------------------------

    def st51(self) -> bytes:
        """ACT_TIME_TOU_TBL: no TOU, no calendar (9 zero bytes)."""
        return bytes(9)

    def time_qualifier(self, moment: datetime) -> int:
        """TIME_DATE_QUAL: day of week (0 = Sunday) and the GMT / zone / DST flags."""
        qual = (moment.weekday() + 1) % 7  # Python counts from Monday = 0
        if self.clock.utc:
            return qual | _QUAL_GMT
        qual |= _QUAL_TM_ZN_APPLIED | _QUAL_DST_APPLIED
        if self.clock.in_dst(moment):
            qual |= _QUAL_DST
        return qual

    def st52(self, now: float) -> bytes:
        """CLOCK_TBL: meter time and its qualifier."""
        moment = self.clock.at(now)
        return self.codec.ltime(moment) + bytes((self.time_qualifier(moment),))

    def st55(self, now: float) -> bytes:
        """CLOCK_STATE_TBL: meter time, qualifier and STATUS 0 (tier 0, no season)."""
        return self.st52(now) + self.codec.uint(0, 2)

    # --- logs -------------------------------------------------------------------------------

    def st71(self) -> bytes:
        """ACT_LOG_TBL: event numbers, history time stamps and sequence numbers are kept."""
        c = self.codec
        return (
            bytes((_EVENT_NUMBER | _HIST_DATE_TIME | _HIST_SEQ_NBR, 10, 0))
            + bytes((LOG_DATA_LENGTH, LOG_DATA_LENGTH))
            + c.uint(HISTORY_ENTRIES, 2)
            + c.uint(EVENT_ENTRIES, 2)
        )

    def _log_table(self, entries: list[LoggedEvent], slots: int) -> bytes:
        c = self.codec
        entry_size = len(c.ltime(self.history_clock.at(self.started_at))) + 8 + LOG_DATA_LENGTH
        body = bytearray(entry_size * slots)
        for n, ev in enumerate(entries):
            slot = n % slots  # circular: fill slots in order and wrap around
            code = ev.code | (0x0800 if ev.manufacturer else 0)
            arg = ev.argument[:LOG_DATA_LENGTH].ljust(LOG_DATA_LENGTH, b"\x00")
            entry = (
                c.ltime(ev.time)
                + c.uint(ev.sequence & 0xFFFF, 2)  # EVENT_NUMBER
                + c.uint(ev.sequence & 0xFFFF, 2)  # SEQ_NBR
                + c.uint(ev.user_id, 2)
                + c.uint(code, 2)
                + arg
            )
            body[slot * entry_size : (slot + 1) * entry_size] = entry
        valid = min(len(entries), slots)
        flags = _FLAG_CIRCULAR | (_FLAG_OVERFLOW if len(entries) > slots else 0)
        last_slot = (len(entries) - 1) % slots if entries else 0
        last_seq = entries[-1].sequence if entries else 0
        header = (
            bytes((flags,))
            + c.uint(valid, 2)
            + c.uint(last_slot, 2)
            + c.uint(last_seq, 4)
            + c.uint(valid, 2)  # nobody has read them yet
        )
        return header + bytes(body)

    def st74(self) -> bytes:
        """HISTORY_LOG_DATA_TBL: 11-byte header and 16 circular slots."""
        entries = event_log(
            self.scenario.event, self.history_clock, log="history", started_at=self.started_at
        )
        return self._log_table(entries, HISTORY_ENTRIES)

    def st76(self) -> bytes:
        """EVENT_LOG_DATA_TBL: 11-byte header and 32 circular slots."""
        entries = event_log(
            self.scenario.event, self.history_clock, log="event", started_at=self.started_at
        )
        # Events the meter logged since it started (procedures), numbered after the others.
        first = len(entries) + 1
        entries += [
            LoggedEvent(e.time, e.code, e.manufacturer, e.user_id, e.argument, first + n)
            for n, e in enumerate(self.state.events)
        ]
        return self._log_table(entries, EVENT_ENTRIES)


def _angle(degrees: float, fmt: int) -> float:
    # Hundredths of a degree in 0..35999: 359.999° rounds to 36000, which is 0°.
    if fmt in (0, 1):
        return degrees * 100
    return float(round(degrees * 100) % 36000)
