"""C12.19 standard procedures: the ST7 request and the ST8 answer, as bytes. Pure: no I/O.

A procedure is started by a full write of ST7 (TABLE_IDB_BFLD u16 in ST0 byte order: bits
0-10 the procedure number, bit 11 manufacturer, bits 12-15 the selector; SEQ_NBR u8; the
parameters) and answered in ST8 (the same id and sequence number, RESULT_CODE u8, response
data). The kit runs two: SP9 REMOTE_RESET with the demand-reset action, and SP10
SET_DATE_TIME. The layouts and the worked bytes the tests reproduce are in the C12.19
addendum of the team's protocol reference (sections A.1-A.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from fieldkit.drivers.c1218.tables import GeneralConfig, ltime_date_size
from fieldkit.drivers.errors import DecodeError

__all__ = [
    "RESULT_MEANINGS",
    "SP_REMOTE_RESET",
    "SP_SET_DATE_TIME",
    "ProcedureResponse",
    "clock_qualifier",
    "decode_st8",
    "demand_reset_parameters",
    "encode_ltime_date",
    "encode_st7",
    "set_date_time_parameters",
]

SP_REMOTE_RESET: Final = 9
SP_SET_DATE_TIME: Final = 10

# ST8 RESULT_CODE.
RESULT_MEANINGS: Final[dict[int, str]] = {
    0: "completed",
    1: "accepted, not completed yet",
    2: "invalid parameter",
    3: "conflicts with the meter's setup",
    4: "timing constraint (a demand-reset lockout still running)",
    5: "no authorization",
    6: "unrecognised procedure",
}
RESULT_PENDING: Final = 1

_DEMAND_RESET: Final = 0x01  # SP9 ACTION_FLAG bit 0; one action per call
_SET_TIME_DATE_QUAL: Final = 0x07  # SP10 SET_MASK: time, date and the qualifier
_KEEP_QUALIFIER: Final = 0x70  # GMT, TM_ZN_APPLIED and DST_APPLIED come from the meter's ST52
_DST_FLAG: Final = 0x08


@dataclass(frozen=True, slots=True)
class ProcedureResponse:
    """ST8 decoded: which procedure answered, its sequence number, the result, the data."""

    procedure: int
    manufacturer: bool
    selector: int
    sequence: int
    result_code: int
    data: bytes

    @property
    def meaning(self) -> str:
        """The result code in words."""
        return RESULT_MEANINGS.get(self.result_code, f"result code {self.result_code}")


def encode_st7(
    procedure: int,
    sequence: int,
    parameters: bytes,
    cfg: GeneralConfig,
    *,
    selector: int = 0,
    manufacturer: bool = False,
) -> bytes:
    """The ST7 table data that starts ``procedure`` with ``parameters``."""
    if not 0 <= procedure <= 0x7FF:
        raise ValueError(f"procedure number {procedure} does not fit 11 bits")
    if not 0 <= sequence <= 0xFF or not 0 <= selector <= 0x0F:
        raise ValueError("sequence number is one byte and selector four bits")
    if len(parameters) > cfg.max_proc_parm_length:
        raise ValueError(
            f"{len(parameters)} parameter bytes; the meter takes at most "
            f"{cfg.max_proc_parm_length} (ST0 MAX_PROC_PARM_LENGTH)"
        )
    idb = procedure | (0x800 if manufacturer else 0) | selector << 12
    return idb.to_bytes(2, cfg.data_order) + bytes((sequence,)) + parameters


def decode_st8(data: bytes, cfg: GeneralConfig) -> ProcedureResponse:
    """The procedure response in ST8; raises DecodeError when it is shorter than 4 bytes."""
    if len(data) < 4:
        raise DecodeError(f"ST8 (procedure response) is {len(data)} bytes, at least 4", table=8)
    idb = int.from_bytes(data[:2], cfg.data_order)
    return ProcedureResponse(
        procedure=idb & 0x7FF,
        manufacturer=bool(idb & 0x800),
        selector=idb >> 12,
        sequence=data[2],
        result_code=data[3],
        data=bytes(data[4:]),
    )


def demand_reset_parameters() -> bytes:
    """SP9 parameters: the demand-reset action alone."""
    return bytes((_DEMAND_RESET,))


def encode_ltime_date(moment: datetime, cfg: GeneralConfig) -> bytes:
    """A naive datetime as an LTIME_DATE under ST0 TM_FORMAT 1-4 (the inverse of decoding)."""
    fmt = cfg.tm_format
    if fmt in (1, 2):
        if not 2000 <= moment.year <= 2089:
            raise ValueError(f"year {moment.year} does not fit a two-digit TM_FORMAT {fmt} year")
        fields = (
            moment.year - 2000,
            moment.month,
            moment.day,
            moment.hour,
            moment.minute,
            moment.second,
        )
        if fmt == 1:
            return bytes((v // 10) << 4 | v % 10 for v in fields)
        return bytes(fields)
    epoch = datetime(1970, 1, 1)
    seconds = int((moment.replace(microsecond=0) - epoch).total_seconds())
    if fmt == 3:
        return (seconds // 60).to_bytes(4, cfg.data_order) + bytes((seconds % 60,))
    if fmt == 4:
        return seconds.to_bytes(4, cfg.data_order)
    raise ValueError(f"the meter keeps no time (TM_FORMAT {fmt}): its clock cannot be set")


def clock_qualifier(moment: datetime, meter_qualifier: int, *, dst: bool) -> int:
    """TIME_DATE_QUAL for a set: the meter's own GMT/zone/DST-applied bits kept, the DST flag
    and the day of week (0 = Sunday) of ``moment``."""
    day_of_week = (moment.weekday() + 1) % 7
    return (meter_qualifier & _KEEP_QUALIFIER) | (_DST_FLAG if dst else 0) | day_of_week


def set_date_time_parameters(
    moment: datetime, cfg: GeneralConfig, meter_qualifier: int, *, dst: bool
) -> bytes:
    """SP10 parameters: SET_MASK (time, date, qualifier), the LTIME_DATE, TIME_DATE_QUAL.

    ``moment`` is naive, in the time base the meter keeps (UTC when its GMT flag is set).
    """
    time = encode_ltime_date(moment, cfg)
    assert len(time) == ltime_date_size(cfg)
    qualifier = clock_qualifier(moment, meter_qualifier, dst=dst)
    return bytes((_SET_TIME_DATE_QUAL,)) + time + bytes((qualifier,))
