"""Standard procedures as the simulated meter carries them out: SP9 and SP10 via ST7/ST8.

Written from the C12.19 addendum (§A.1-A.4), independently of the driver's encoder: the
client writes ST7 (TABLE_IDB_BFLD u16 in DATA_ORDER, SEQ_NBR, parameters) with a full
write; the meter runs the procedure and answers in ST8 (the same TABLE_IDB_BFLD and SEQ_NBR,
RESULT_CODE, response data).

- SP9 REMOTE_RESET, ACTION_FLAG bit 0: demand reset. Maximum demand goes to zero, the
  demand-reset counter (ST23 NBR_DEMAND_RESETS) goes up by one, event 20 is logged.
- SP10 SET_DATE_TIME: SET_MASK, LTIME_DATE, TIME_DATE_QUAL. The clock jumps to the given
  time (read in the meter's own time base: UTC when its GMT flag is set, else its zone);
  events 3 (stamped with the old time) and 4 (stamped with the new) are logged, and the
  response data is the time before and the time after, two LTIME_DATEs.

Anything else is answered in ST8: result 6 for a procedure the meter does not know, 2 for
parameters it cannot read, 1 ("not completed yet") for the first ``pending`` reads of ST8
when told to, or a forced result when the fault option asks for one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

from simulators.c1218.physics import LoggedEvent, MeterClock

__all__ = [
    "EVENT_DEMAND_RESET",
    "EVENT_TIME_CHANGED_NEW",
    "EVENT_TIME_CHANGED_OLD",
    "PROCEDURES",
    "RESULT_COMPLETED",
    "RESULT_INVALID_PARAMETER",
    "RESULT_NOT_COMPLETED",
    "RESULT_UNKNOWN_PROCEDURE",
    "SP_DEMAND_RESET",
    "SP_SET_DATE_TIME",
    "MeterState",
    "ProcedureRun",
    "run_procedure",
]

SP_DEMAND_RESET = 9
SP_SET_DATE_TIME = 10
PROCEDURES = (SP_DEMAND_RESET, SP_SET_DATE_TIME)

RESULT_COMPLETED = 0
RESULT_NOT_COMPLETED = 1
RESULT_INVALID_PARAMETER = 2
RESULT_UNKNOWN_PROCEDURE = 6

EVENT_TIME_CHANGED_OLD = 3
EVENT_TIME_CHANGED_NEW = 4
EVENT_DEMAND_RESET = 20


@dataclass(slots=True)
class MeterState:
    """What procedures change on the meter; kept across connections (the same meter)."""

    clock: MeterClock
    demand_resets_done: int = 0
    demand_reset_at: datetime | None = None  # meter time of the last reset
    events: list[LoggedEvent] = field(default_factory=list)  # logged since the start
    procedures_run: list[tuple[int, int]] = field(default_factory=list)  # (number, result)


@dataclass(frozen=True, slots=True)
class ProcedureRun:
    """What the meter answers in ST8 once the procedure has run (or refused to)."""

    idb: bytes  # TABLE_IDB_BFLD as the client wrote it
    sequence: int
    result: int
    response: bytes = b""

    def st8(self, result: int | None = None) -> bytes:
        """ST8 bytes: id, sequence number, result code, response data."""
        code = self.result if result is None else result
        return self.idb + bytes((self.sequence, code)) + (self.response if code == 0 else b"")


def _decode_ltime(raw: bytes, tm_format: int) -> datetime:
    bcd = tm_format == 1
    fields = [(b >> 4) * 10 + (b & 0x0F) for b in raw] if bcd else list(raw)
    year, month, day, hour, minute, second = fields
    return datetime(2000 + year, month, day, hour, minute, second)


def _encode_ltime(moment: datetime, tm_format: int) -> bytes:
    fields = (
        moment.year % 100,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
    )
    if tm_format == 1:
        return bytes((v // 10) << 4 | v % 10 for v in fields)
    return bytes(fields)


def run_procedure(
    data: bytes,
    *,
    state: MeterState,
    data_order: str,
    tm_format: int,
    zone: tzinfo,
    now: float,
    user_id: int,
    forced_result: int | None = None,
) -> ProcedureRun:
    """Carry out the procedure a full write of ST7 asks for, at POSIX time ``now``."""
    order: Literal["big", "little"] = "big" if data_order == "big" else "little"
    if len(data) < 3:
        return ProcedureRun(data[:2].ljust(2, b"\x00"), 0, RESULT_INVALID_PARAMETER)
    idb, sequence, parameters = data[:2], data[2], data[3:]
    value = int.from_bytes(idb, order)
    number, manufacturer = value & 0x7FF, bool(value & 0x800)
    if manufacturer or number not in PROCEDURES:
        return ProcedureRun(idb, sequence, RESULT_UNKNOWN_PROCEDURE)
    if forced_result is not None and forced_result != RESULT_COMPLETED:
        state.procedures_run.append((number, forced_result))
        return ProcedureRun(idb, sequence, forced_result)
    if number == SP_DEMAND_RESET:
        result = _demand_reset(parameters, state, now, user_id)
        response = b""
    else:
        result, response = _set_date_time(parameters, state, tm_format, zone, now, user_id)
    state.procedures_run.append((number, result))
    return ProcedureRun(idb, sequence, result, response)


def _log(state: MeterState, code: int, at: datetime, user_id: int) -> None:
    state.events.append(
        LoggedEvent(
            time=at,
            code=code,
            manufacturer=False,
            user_id=user_id,
            argument=b"",
            sequence=0,  # numbered when the log is built, after the scenario's own events
        )
    )


def _demand_reset(parameters: bytes, state: MeterState, now: float, user_id: int) -> int:
    if len(parameters) != 1 or parameters[0] & 0x80:
        return RESULT_INVALID_PARAMETER
    if parameters[0] != 0x01:
        # Self read and season change are not modelled; one action per call, as advised.
        return RESULT_INVALID_PARAMETER
    at = state.clock.at(now)
    state.demand_resets_done += 1
    state.demand_reset_at = at
    _log(state, EVENT_DEMAND_RESET, at, user_id)
    return RESULT_COMPLETED


def _set_date_time(
    parameters: bytes,
    state: MeterState,
    tm_format: int,
    zone: tzinfo,
    now: float,
    user_id: int,
) -> tuple[int, bytes]:
    if len(parameters) != 8:
        return RESULT_INVALID_PARAMETER, b""
    mask, raw_time = parameters[0], parameters[1:7]
    if mask & 0x03 != 0x03 or mask & 0xF8:
        # Time and date together (the kit sets both); a partial set is not modelled.
        return RESULT_INVALID_PARAMETER, b""
    try:
        wanted = _decode_ltime(raw_time, tm_format)
    except ValueError:
        return RESULT_INVALID_PARAMETER, b""
    before = state.clock.at(now)
    target = wanted.replace(tzinfo=UTC if state.clock.utc else zone)
    real = datetime.fromtimestamp(now, UTC)
    state.clock.drift_seconds = (target - real) / timedelta(seconds=1)
    after = state.clock.at(now)
    _log(state, EVENT_TIME_CHANGED_OLD, before, user_id)
    _log(state, EVENT_TIME_CHANGED_NEW, after, user_id)
    local = before.replace(tzinfo=None), after.replace(tzinfo=None)
    return RESULT_COMPLETED, _encode_ltime(local[0], tm_format) + _encode_ltime(local[1], tm_format)
