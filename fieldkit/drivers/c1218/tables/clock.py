"""Clock tables: ST51 time/TOU dimensions, ST52 clock, ST55 clock state.

Times are naive: whether they are UTC or local, with or without DST, is in the qualifier
flags (``gmt``, ``tz_applied``, ``dst_applied``), which the caller must use before comparing
with the laptop's clock. DAY_OF_WEEK 0 is Sunday (implementations agree; unconfirmed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ._common import check_length, table_context
from ._reader import TableReader
from .config import GeneralConfig
from .formats import ltime_date_size

__all__ = [
    "ST51_SIZE",
    "ActualTimeTou",
    "ClockState",
    "ClockTable",
    "decode_st51",
    "decode_st52",
    "decode_st55",
]

ST51_SIZE = 9


@dataclass(frozen=True, slots=True)
class ActualTimeTou:
    """ST51 ACT_TIME_TOU_TBL: what the calendar and TOU functions can do, and their sizes."""

    tou_self_read: bool
    season_self_read: bool
    season_demand_reset: bool
    season_change_armed: bool
    sort_dates: bool
    anchor_date: bool
    cap_dst_auto: bool
    separate_weekdays: bool
    separate_sum_demands: bool
    sort_tier_switches: bool
    cap_tm_zn_offset: bool
    nbr_seasons: int
    nbr_special_sched: int
    nbr_non_recurr_dates: int
    nbr_recurr_dates: int
    nbr_tier_switches: int
    calendar_tbl_size: int


@dataclass(frozen=True, slots=True)
class ClockTable:
    """ST52 CLOCK_TBL: the meter's time and its TIME_DATE_QUAL byte."""

    time: datetime | None
    day_of_week: int
    dst: bool
    gmt: bool
    tz_applied: bool
    dst_applied: bool
    raw_qualifier: int


@dataclass(frozen=True, slots=True)
class ClockState:
    """ST55 CLOCK_STATE_TBL: time and qualifier as ST52, plus the TOU state word.

    ``current_tier`` is bits 0–2 of STATUS; when ST51 SEPARATE_SUM_DEMANDS is set it is the
    summation tier and ``demand_tier`` (bits 3–5) the demand tier, otherwise
    ``demand_tier`` means nothing.
    """

    time: datetime | None
    day_of_week: int
    dst: bool
    gmt: bool
    tz_applied: bool
    dst_applied: bool
    raw_qualifier: int
    status: int
    current_tier: int
    demand_tier: int
    tier_drive: int
    special_schedule_active: int
    season: int


def decode_st51(data: bytes, cfg: GeneralConfig) -> ActualTimeTou:
    """Decode ST51 (9 bytes)."""
    with table_context(51):
        check_length(data, ST51_SIZE, 51, "fixed size")
        r = TableReader(data, cfg)
        flag1, flag2, calendar = r.u8(), r.u8(), r.u8()
        return ActualTimeTou(
            tou_self_read=bool(flag1 & 0x01),
            season_self_read=bool(flag1 & 0x02),
            season_demand_reset=bool(flag1 & 0x04),
            season_change_armed=bool(flag1 & 0x08),
            sort_dates=bool(flag1 & 0x10),
            anchor_date=bool(flag1 & 0x20),
            cap_dst_auto=bool(flag2 & 0x01),
            separate_weekdays=bool(flag2 & 0x02),
            separate_sum_demands=bool(flag2 & 0x04),
            sort_tier_switches=bool(flag2 & 0x08),
            cap_tm_zn_offset=bool(flag2 & 0x10),
            nbr_seasons=calendar & 0x0F,
            nbr_special_sched=calendar >> 4,
            nbr_non_recurr_dates=r.u8(),
            nbr_recurr_dates=r.u8(),
            nbr_tier_switches=r.u16(),
            calendar_tbl_size=r.u16(),
        )


def decode_st52(data: bytes, cfg: GeneralConfig) -> ClockTable:
    """Decode ST52: an LTIME_DATE and the qualifier byte (7 bytes with TM_FORMAT 2)."""
    with table_context(52):
        check_length(data, ltime_date_size(cfg) + 1, 52, f"ST0 TM_FORMAT {cfg.tm_format}")
        r = TableReader(data, cfg)
        time, qual = r.ltime_date(), r.u8()
        return ClockTable(
            time=time,
            day_of_week=qual & 0x07,
            dst=bool(qual & 0x08),
            gmt=bool(qual & 0x10),
            tz_applied=bool(qual & 0x20),
            dst_applied=bool(qual & 0x40),
            raw_qualifier=qual,
        )


def decode_st55(data: bytes, cfg: GeneralConfig) -> ClockState:
    """Decode ST55: LTIME_DATE, qualifier, STATUS word (9 bytes with TM_FORMAT 2)."""
    with table_context(55):
        check_length(data, ltime_date_size(cfg) + 3, 55, f"ST0 TM_FORMAT {cfg.tm_format}")
        r = TableReader(data, cfg)
        time, qual, status = r.ltime_date(), r.u8(), r.u16()
        return ClockState(
            time=time,
            day_of_week=qual & 0x07,
            dst=bool(qual & 0x08),
            gmt=bool(qual & 0x10),
            tz_applied=bool(qual & 0x20),
            dst_applied=bool(qual & 0x40),
            raw_qualifier=qual,
            status=status,
            current_tier=status & 0x07,
            demand_tier=status >> 3 & 0x07,
            tier_drive=status >> 6 & 0x03,
            special_schedule_active=status >> 8 & 0x0F,
            season=status >> 12,
        )
