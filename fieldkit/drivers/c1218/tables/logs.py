"""Logs: ST71 dimensions, ST74 history log, ST76 event log.

ST74 and ST76 share an 11-byte header followed by a fixed array of entry slots used as a
list; :func:`valid_entries_in_order` turns the slots into the valid entries, oldest first.
Big logs are read in pieces (header, then entries by partial reads), which is why
:func:`decode_log_entries` decodes entry bytes on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from fieldkit.drivers.c1218.events import event_name, split_event_code
from fieldkit.drivers.errors import DecodeError

from ._common import check_length, table_context
from ._reader import TableReader
from .config import GeneralConfig
from .formats import ltime_date_size

__all__ = [
    "LOG_HEADER_SIZE",
    "ST71_BASE_SIZE",
    "ST71_EXTENDED_SIZE",
    "ActualLog",
    "EventLog",
    "HistoryLog",
    "LogEntry",
    "LogHeader",
    "LogKind",
    "decode_log_entries",
    "decode_log_header",
    "decode_st71",
    "decode_st74",
    "decode_st76",
    "log_dimensions",
    "st74_entry_size",
    "st76_entry_size",
    "valid_entries_in_order",
    "valid_entry_slots",
]

LogKind = Literal["history", "event"]

LOG_HEADER_SIZE = 11
ST71_BASE_SIZE = 9
ST71_EXTENDED_SIZE = 12  # + EXT_LOG_FLAGS u8, NBR_PROGRAM_TABLES u16 (STD_VERSION_NO > 1)
_LOG_TABLE: dict[str, int] = {"history": 74, "event": 76}


def _log_table(log: str) -> int:
    try:
        return _LOG_TABLE[log]
    except KeyError:
        raise DecodeError(f"log must be 'history' or 'event', not {log!r}") from None


@dataclass(frozen=True, slots=True)
class ActualLog:
    """ST71 ACT_LOG_TBL: which optional entry fields exist, and how many entries fit."""

    event_number_flag: bool
    hist_date_time_flag: bool
    hist_seq_nbr_flag: bool
    hist_inhibit_ovf: bool
    event_inhibit_ovf: bool
    nbr_std_events: int
    nbr_mfg_events: int
    hist_data_length: int
    event_data_length: int
    nbr_history_entries: int
    nbr_event_entries: int
    ext_log_flags: int | None = None
    nbr_program_tables: int | None = None


@dataclass(frozen=True, slots=True)
class LogHeader:
    """The 11-byte header of ST74/ST76.

    ``order`` 0: each new entry goes one slot up; 1: one slot down. ``list_type`` 0 FIFO,
    1 circular. ``last_entry_element`` is the slot of the newest entry.
    """

    order: int
    overflow: bool
    list_type: int
    inhibit_overflow: bool
    nbr_valid_entries: int
    last_entry_element: int
    last_entry_seq_nbr: int
    nbr_unread_entries: int


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One history or event log entry; ``code`` is the event number (bits 0–10)."""

    time: datetime | None
    event_number: int | None
    seq_nbr: int | None
    user_id: int
    code: int
    manufacturer: bool
    argument: bytes

    @property
    def name(self) -> str:
        """The event's name for people (standard names; manufacturer events by number)."""
        return event_name(self.code, manufacturer=self.manufacturer)


@dataclass(frozen=True, slots=True)
class HistoryLog:
    """ST74 HISTORY_LOG_DATA_TBL: header and every entry slot, in slot order."""

    header: LogHeader
    entries: tuple[LogEntry, ...]


@dataclass(frozen=True, slots=True)
class EventLog:
    """ST76 EVENT_LOG_DATA_TBL: header and every entry slot, in slot order."""

    header: LogHeader
    entries: tuple[LogEntry, ...]


def decode_st71(data: bytes, cfg: GeneralConfig) -> ActualLog:
    """Decode ST71: 9 bytes, or 12 with the extension fields when STD_VERSION_NO > 1."""
    with table_context(71):
        extended_allowed = cfg.std_version > 1
        if not (extended_allowed and len(data) == ST71_EXTENDED_SIZE):
            source = f"ST0 STD_VERSION_NO {cfg.std_version}"
            if extended_allowed:
                source += f"; {ST71_EXTENDED_SIZE} with extensions"
            check_length(data, ST71_BASE_SIZE, 71, source)
        r = TableReader(data, cfg)
        flags = r.u8()
        fields = (r.u8(), r.u8(), r.u8(), r.u8(), r.u16(), r.u16())
        extended = len(data) == ST71_EXTENDED_SIZE
        return ActualLog(
            event_number_flag=bool(flags & 0x01),
            hist_date_time_flag=bool(flags & 0x02),
            hist_seq_nbr_flag=bool(flags & 0x04),
            hist_inhibit_ovf=bool(flags & 0x08),
            event_inhibit_ovf=bool(flags & 0x10),
            nbr_std_events=fields[0],
            nbr_mfg_events=fields[1],
            hist_data_length=fields[2],
            event_data_length=fields[3],
            nbr_history_entries=fields[4],
            nbr_event_entries=fields[5],
            ext_log_flags=r.u8() if extended else None,
            nbr_program_tables=r.u16() if extended else None,
        )


def st74_entry_size(cfg: GeneralConfig, st71: ActualLog) -> int:
    """Bytes of one history entry: [time] [event number] [seq] user, code, argument."""
    with table_context(74):
        size = 4 + st71.hist_data_length  # USER_ID u16 + HISTORY_CODE u16
        if st71.hist_date_time_flag:
            size += ltime_date_size(cfg)
        if st71.event_number_flag:
            size += 2
        if st71.hist_seq_nbr_flag:
            size += 2
        return size


def st76_entry_size(cfg: GeneralConfig, st71: ActualLog) -> int:
    """Bytes of one event entry: time, [event number], seq, user, code, argument."""
    with table_context(76):
        size = ltime_date_size(cfg) + 6 + st71.event_data_length  # seq, user, code: u16 each
        if st71.event_number_flag:
            size += 2
        return size


def log_dimensions(cfg: GeneralConfig, st71: ActualLog, log: LogKind) -> tuple[int, int]:
    """``(entry size, slots)`` of the history log (ST74) or the event log (ST76)."""
    if log == "history":
        return st74_entry_size(cfg, st71), st71.nbr_history_entries
    return st76_entry_size(cfg, st71), st71.nbr_event_entries


def decode_log_header(data: bytes, cfg: GeneralConfig, *, log: LogKind = "history") -> LogHeader:
    """Decode the 11-byte header of ST74 (``log="history"``) or ST76 (``"event"``)."""
    table = _log_table(log)
    with table_context(table):
        if len(data) != LOG_HEADER_SIZE:
            raise DecodeError(f"log header is {len(data)} bytes, expected {LOG_HEADER_SIZE}")
        r = TableReader(data, cfg)
        flags = r.u8()
        return LogHeader(
            order=flags & 0x01,
            overflow=bool(flags & 0x02),
            list_type=flags >> 2 & 0x01,
            inhibit_overflow=bool(flags & 0x08),
            nbr_valid_entries=r.u16(),
            last_entry_element=r.u16(),
            last_entry_seq_nbr=r.u32(),
            nbr_unread_entries=r.u16(),
        )


def _read_entry(r: TableReader, st71: ActualLog, log: LogKind) -> LogEntry:
    history = log == "history"
    has_time = st71.hist_date_time_flag if history else True
    has_seq = st71.hist_seq_nbr_flag if history else True
    time = r.ltime_date() if has_time else None
    event_number = r.u16() if st71.event_number_flag else None
    seq_nbr = r.u16() if has_seq else None
    user_id = r.u16()
    number, manufacturer = split_event_code(r.u16())
    argument = r.take(st71.hist_data_length if history else st71.event_data_length)
    return LogEntry(
        time=time,
        event_number=event_number,
        seq_nbr=seq_nbr,
        user_id=user_id,
        code=number,
        manufacturer=manufacturer,
        argument=argument,
    )


def decode_log_entries(
    data: bytes, cfg: GeneralConfig, st71: ActualLog, *, log: LogKind
) -> tuple[LogEntry, ...]:
    """Decode whole entries with no header, e.g. the result of a partial read.

    ``data`` must be a whole number of entries, and no more than the log holds.
    """
    table = _log_table(log)
    with table_context(table):
        size, slots = log_dimensions(cfg, st71, log)
        count, rest = divmod(len(data), size)
        if rest or count > slots:
            raise DecodeError(
                f"{len(data)} bytes of entries are not whole {size}-byte entries (at most {slots})"
            )
        r = TableReader(data, cfg)
        return tuple(_read_entry(r, st71, log) for _ in range(count))


def _decode_log(
    data: bytes, cfg: GeneralConfig, st71: ActualLog, log: LogKind
) -> tuple[LogHeader, tuple[LogEntry, ...]]:
    table = _log_table(log)
    with table_context(table):
        size, slots = log_dimensions(cfg, st71, log)
        expected = LOG_HEADER_SIZE + slots * size
        check_length(data, expected, table, f"ST0 TM_FORMAT and ST71: {slots} × {size} + header")
        header = decode_log_header(data[:LOG_HEADER_SIZE], cfg, log=log)
        entries = decode_log_entries(data[LOG_HEADER_SIZE:], cfg, st71, log=log)
        return header, entries


def decode_st74(data: bytes, cfg: GeneralConfig, st71: ActualLog) -> HistoryLog:
    """Decode the whole ST74: header and all NBR_HISTORY_ENTRIES slots."""
    header, entries = _decode_log(data, cfg, st71, "history")
    return HistoryLog(header, entries)


def decode_st76(data: bytes, cfg: GeneralConfig, st71: ActualLog) -> EventLog:
    """Decode the whole ST76: header and all NBR_EVENT_ENTRIES slots."""
    header, entries = _decode_log(data, cfg, st71, "event")
    return EventLog(header, entries)


def valid_entry_slots(header: LogHeader, nbr_entries: int) -> tuple[int, ...]:
    """Slot indexes of the valid entries, oldest first.

    The newest entry is in LAST_ENTRY_ELEMENT; older ones sit one slot further against the
    list's ORDER each, wrapping round the ``nbr_entries`` slots, for NBR_VALID_ENTRIES in
    all. This holds for a FIFO that stopped when full (INHIBIT_OVERFLOW) as for a circular
    list that overwrote its oldest entries (OVERFLOW). A driver can use it to read only the
    slots it needs.
    """
    valid = header.nbr_valid_entries
    if valid == 0:
        return ()
    if valid > nbr_entries:
        raise DecodeError(
            f"log header claims {valid} valid entries but the log has {nbr_entries} slots"
        )
    last = header.last_entry_element
    if last >= nbr_entries:
        raise DecodeError(f"log header puts the newest entry in slot {last} of {nbr_entries} slots")
    step = -1 if header.order == 0 else 1  # from newest towards older entries
    newest_first = [(last + step * age) % nbr_entries for age in range(valid)]
    return tuple(reversed(newest_first))


def valid_entries_in_order(
    header: LogHeader, entries: tuple[LogEntry, ...], *, nbr_entries: int | None = None
) -> tuple[LogEntry, ...]:
    """The valid entries, oldest first.

    ``entries`` are the log's slots in slot order, from slot 0. Pass ``nbr_entries`` (ST71
    NBR_HISTORY_ENTRIES / NBR_EVENT_ENTRIES) when only the first slots were read; a valid
    entry in a slot that was not read is then a :class:`DecodeError`, not a wrong order.
    """
    slots = valid_entry_slots(header, len(entries) if nbr_entries is None else nbr_entries)
    missing = [slot for slot in slots if slot >= len(entries)]
    if missing:
        raise DecodeError(
            f"log slot {missing[0]} holds a valid entry but only {len(entries)} slots were read"
        )
    return tuple(entries[slot] for slot in slots)
