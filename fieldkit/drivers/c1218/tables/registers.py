"""Billing and present registers: ST21 dimensions, ST22/ST27 selections, ST23/ST28 values.

ST23 and ST28 have no fixed layout: their size follows from ST0 (NI and time formats) and
ST21 (counts and optional fields), so both are checked against :func:`st23_size` /
:func:`st28_size` before a single value is read. Values are raw meter numbers; scaling
(ST12/ST15/ST16) is the caller's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ._common import check_length, table_context
from ._reader import TableReader
from .config import GeneralConfig
from .formats import ni_size, stime_date_size, time_size

__all__ = [
    "ST21_SIZE",
    "ActualRegisters",
    "CurrentRegisterData",
    "DataBlock",
    "DataSelection",
    "Demand",
    "PresentDemand",
    "PresentRegisterData",
    "PresentRegisterSelect",
    "decode_st21",
    "decode_st22",
    "decode_st23",
    "decode_st27",
    "decode_st28",
    "st23_size",
    "st28_size",
]

ST21_SIZE = 10


@dataclass(frozen=True, slots=True)
class ActualRegisters:
    """ST21 ACT_REGS_TBL: which optional register fields exist, and how many of each."""

    season_info_field: bool
    date_time_field: bool
    demand_reset_ctr: bool
    demand_reset_lock: bool
    cum_demand: bool
    cont_cum_demand: bool
    time_remaining: bool
    self_read_inhibit_overflow: bool
    self_read_seq_nbr: bool
    daily_self_read: bool
    weekly_self_read: bool
    self_read_demand_reset: int
    nbr_self_reads: int
    nbr_summations: int
    nbr_demands: int
    nbr_coin_values: int
    nbr_occur: int
    nbr_tiers: int
    nbr_present_demands: int
    nbr_present_values: int


@dataclass(frozen=True, slots=True)
class DataSelection:
    """ST22 DATA_SEL_TBL: source indexes behind each register (255 conventionally unused)."""

    summation_select: tuple[int, ...]
    demand_select: tuple[int, ...]
    min_or_max_flags: tuple[bool, ...]
    coincident_select: tuple[int, ...]
    coin_demand_assoc: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Demand:
    """One demand register: NBR_OCCUR values (and their times), cumulative demands if kept."""

    event_times: tuple[datetime | None, ...]
    cum_demand: float | None
    cont_cum_demand: float | None
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class DataBlock:
    """One DATA_BLK of ST23: the total or one tier."""

    summations: tuple[float, ...]
    demands: tuple[Demand, ...]
    coincidents: tuple[tuple[float, ...], ...]


@dataclass(frozen=True, slots=True)
class CurrentRegisterData:
    """ST23 CURRENT_REG_DATA_TBL."""

    nbr_demand_resets: int | None
    total: DataBlock
    tiers: tuple[DataBlock, ...]


@dataclass(frozen=True, slots=True)
class PresentRegisterSelect:
    """ST27 PRESENT_REG_SEL_TBL: source indexes of the present demands and values."""

    demand_select: tuple[int, ...]
    value_select: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PresentDemand:
    """One present demand, with the seconds left in its interval when the meter keeps it."""

    time_remaining: int | None
    value: float


@dataclass(frozen=True, slots=True)
class PresentRegisterData:
    """ST28 PRESENT_REG_DATA_TBL."""

    demands: tuple[PresentDemand, ...]
    values: tuple[float, ...]


def decode_st21(data: bytes, cfg: GeneralConfig) -> ActualRegisters:
    """Decode ST21 (10 bytes)."""
    with table_context(21):
        check_length(data, ST21_SIZE, 21, "fixed size")
        func1, func2 = data[0], data[1]
        return ActualRegisters(
            season_info_field=bool(func1 & 0x01),
            date_time_field=bool(func1 & 0x02),
            demand_reset_ctr=bool(func1 & 0x04),
            demand_reset_lock=bool(func1 & 0x08),
            cum_demand=bool(func1 & 0x10),
            cont_cum_demand=bool(func1 & 0x20),
            time_remaining=bool(func1 & 0x40),
            self_read_inhibit_overflow=bool(func2 & 0x01),
            self_read_seq_nbr=bool(func2 & 0x02),
            daily_self_read=bool(func2 & 0x04),
            weekly_self_read=bool(func2 & 0x08),
            self_read_demand_reset=func2 >> 4 & 0x03,
            nbr_self_reads=data[2],
            nbr_summations=data[3],
            nbr_demands=data[4],
            nbr_coin_values=data[5],
            nbr_occur=data[6],
            nbr_tiers=data[7],
            nbr_present_demands=data[8],
            nbr_present_values=data[9],
        )


def _bits(raw: bytes, count: int) -> tuple[bool, ...]:
    return tuple(bool(raw[n // 8] >> (n % 8) & 1) for n in range(count))


def decode_st22(data: bytes, cfg: GeneralConfig, st21: ActualRegisters) -> DataSelection:
    """Decode ST22; its size follows from the ST21 counts."""
    with table_context(22):
        flag_bytes = (st21.nbr_demands + 7) // 8
        expected = st21.nbr_summations + st21.nbr_demands + flag_bytes + 2 * st21.nbr_coin_values
        check_length(data, expected, 22, "ST21 counts")
        r = TableReader(data, cfg)
        return DataSelection(
            summation_select=tuple(r.take(st21.nbr_summations)),
            demand_select=tuple(r.take(st21.nbr_demands)),
            min_or_max_flags=_bits(r.take(flag_bytes), st21.nbr_demands),
            coincident_select=tuple(r.take(st21.nbr_coin_values)),
            coin_demand_assoc=tuple(r.take(st21.nbr_coin_values)),
        )


def _demand_size(cfg: GeneralConfig, st21: ActualRegisters) -> int:
    size = st21.nbr_occur * ni_size(cfg.ni_format2)
    if st21.date_time_field:
        size += st21.nbr_occur * stime_date_size(cfg)
    if st21.cum_demand:
        size += ni_size(cfg.ni_format1)
    if st21.cont_cum_demand:
        size += ni_size(cfg.ni_format1)
    return size


def _data_block_size(cfg: GeneralConfig, st21: ActualRegisters) -> int:
    return (
        st21.nbr_summations * ni_size(cfg.ni_format1)
        + st21.nbr_demands * _demand_size(cfg, st21)
        + st21.nbr_coin_values * st21.nbr_occur * ni_size(cfg.ni_format2)
    )


def st23_size(cfg: GeneralConfig, st21: ActualRegisters) -> int:
    """Bytes ST23 must have under this ST0 and ST21."""
    with table_context(23):
        counter = 1 if st21.demand_reset_ctr else 0
        return counter + (1 + st21.nbr_tiers) * _data_block_size(cfg, st21)


def _read_demand(r: TableReader, st21: ActualRegisters) -> Demand:
    times = tuple(r.stime_date() for _ in range(st21.nbr_occur)) if st21.date_time_field else ()
    cum = r.ni1() if st21.cum_demand else None
    cont_cum = r.ni1() if st21.cont_cum_demand else None
    values = tuple(r.ni2() for _ in range(st21.nbr_occur))
    return Demand(event_times=times, cum_demand=cum, cont_cum_demand=cont_cum, values=values)


def _read_data_block(r: TableReader, st21: ActualRegisters) -> DataBlock:
    summations = tuple(r.ni1() for _ in range(st21.nbr_summations))
    demands = tuple(_read_demand(r, st21) for _ in range(st21.nbr_demands))
    coincidents = tuple(
        tuple(r.ni2() for _ in range(st21.nbr_occur)) for _ in range(st21.nbr_coin_values)
    )
    return DataBlock(summations=summations, demands=demands, coincidents=coincidents)


def decode_st23(data: bytes, cfg: GeneralConfig, st21: ActualRegisters) -> CurrentRegisterData:
    """Decode ST23: optional demand-reset count, the total block, then one block per tier."""
    with table_context(23):
        check_length(data, st23_size(cfg, st21), 23, "ST0 formats and ST21 counts")
        r = TableReader(data, cfg)
        resets = r.u8() if st21.demand_reset_ctr else None
        total = _read_data_block(r, st21)
        tiers = tuple(_read_data_block(r, st21) for _ in range(st21.nbr_tiers))
        return CurrentRegisterData(nbr_demand_resets=resets, total=total, tiers=tiers)


def decode_st27(data: bytes, cfg: GeneralConfig, st21: ActualRegisters) -> PresentRegisterSelect:
    """Decode ST27: one source index per present demand, then per present value."""
    with table_context(27):
        expected = st21.nbr_present_demands + st21.nbr_present_values
        check_length(data, expected, 27, "ST21 counts")
        r = TableReader(data, cfg)
        return PresentRegisterSelect(
            demand_select=tuple(r.take(st21.nbr_present_demands)),
            value_select=tuple(r.take(st21.nbr_present_values)),
        )


def st28_size(cfg: GeneralConfig, st21: ActualRegisters) -> int:
    """Bytes ST28 must have; TIME_REMAINING is a TIME sized by TM_FORMAT."""
    with table_context(28):
        demand = ni_size(cfg.ni_format2) + (time_size(cfg) if st21.time_remaining else 0)
        return st21.nbr_present_demands * demand + st21.nbr_present_values * ni_size(cfg.ni_format1)


def decode_st28(data: bytes, cfg: GeneralConfig, st21: ActualRegisters) -> PresentRegisterData:
    """Decode ST28: present demands (NI_FORMAT2), then present values (NI_FORMAT1)."""
    with table_context(28):
        check_length(data, st28_size(cfg, st21), 28, "ST0 formats and ST21 counts")
        r = TableReader(data, cfg)
        demands = []
        for _ in range(st21.nbr_present_demands):
            remaining = r.time_seconds() if st21.time_remaining else None
            demands.append(PresentDemand(time_remaining=remaining, value=r.ni2()))
        values = tuple(r.ni1() for _ in range(st21.nbr_present_values))
        return PresentRegisterData(demands=tuple(demands), values=values)
