"""ANSI C12.19 table decoders: raw table bytes + decoded ST0 in, frozen dataclasses out.

Pure functions, no I/O. Each decoder takes the table's data as a read returns it (without
count and checksum) and refuses, with :class:`~fieldkit.drivers.errors.DecodeError` naming
the table, any table whose length is not what ST0 (and ST21 or ST71) imply.

Modules: ``config`` (ST0), ``formats`` (characters, NI numbers, times), ``identity``
(ST1/2/3/5), ``registers`` (ST21/22/23/27/28), ``clock`` (ST51/52/55), ``logs``
(ST71/74/76).
"""

from __future__ import annotations

from ._common import MFG_TABLE_BASE, ByteOrder, table_label
from .clock import (
    ActualTimeTou,
    ClockState,
    ClockTable,
    decode_st51,
    decode_st52,
    decode_st55,
)
from .config import GeneralConfig, decode_set, decode_st0
from .formats import (
    bcd_digits,
    decode_int,
    decode_ltime_date,
    decode_ni,
    decode_stime_date,
    decode_string,
    decode_time_seconds,
    ltime_date_size,
    ni_size,
    stime_date_size,
    time_size,
)
from .identity import (
    ElectricNameplate,
    EndDeviceStatus,
    ManufacturerIdentification,
    decode_st1,
    decode_st2,
    decode_st3,
    decode_st5,
)
from .logs import (
    LOG_HEADER_SIZE,
    ActualLog,
    EventLog,
    HistoryLog,
    LogEntry,
    LogHeader,
    LogKind,
    decode_log_entries,
    decode_log_header,
    decode_st71,
    decode_st74,
    decode_st76,
    st74_entry_size,
    st76_entry_size,
    valid_entries_in_order,
    valid_entry_slots,
)
from .registers import (
    ActualRegisters,
    CurrentRegisterData,
    DataBlock,
    DataSelection,
    Demand,
    PresentDemand,
    PresentRegisterData,
    PresentRegisterSelect,
    decode_st21,
    decode_st22,
    decode_st23,
    decode_st27,
    decode_st28,
    st23_size,
    st28_size,
)

__all__ = [
    "LOG_HEADER_SIZE",
    "MFG_TABLE_BASE",
    "ActualLog",
    "ActualRegisters",
    "ActualTimeTou",
    "ByteOrder",
    "ClockState",
    "ClockTable",
    "CurrentRegisterData",
    "DataBlock",
    "DataSelection",
    "Demand",
    "ElectricNameplate",
    "EndDeviceStatus",
    "EventLog",
    "GeneralConfig",
    "HistoryLog",
    "LogEntry",
    "LogHeader",
    "LogKind",
    "ManufacturerIdentification",
    "PresentDemand",
    "PresentRegisterData",
    "PresentRegisterSelect",
    "bcd_digits",
    "decode_int",
    "decode_log_entries",
    "decode_log_header",
    "decode_ltime_date",
    "decode_ni",
    "decode_set",
    "decode_st0",
    "decode_st1",
    "decode_st2",
    "decode_st3",
    "decode_st5",
    "decode_st21",
    "decode_st22",
    "decode_st23",
    "decode_st27",
    "decode_st28",
    "decode_st51",
    "decode_st52",
    "decode_st55",
    "decode_st71",
    "decode_st74",
    "decode_st76",
    "decode_stime_date",
    "decode_string",
    "decode_time_seconds",
    "ltime_date_size",
    "ni_size",
    "st23_size",
    "st28_size",
    "st74_entry_size",
    "st76_entry_size",
    "stime_date_size",
    "table_label",
    "time_size",
    "valid_entries_in_order",
    "valid_entry_slots",
]
