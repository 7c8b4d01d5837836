"""C12.19 field formats chosen by ST0: characters, integers, BCD, NI numbers and times.

Everything here is a pure function of the raw bytes and the decoded ST0. A value whose
byte count is wrong raises :class:`DecodeError`; a well-sized but impossible date decodes to
``None`` because meters fill unset clocks and log stamps with zeros.

Two-digit years (TM_FORMAT 1 and 2) pivot at 90: 00–89 are 2000–2089, 90–99 are 1990–1999.
"""

from __future__ import annotations

import re
import struct
from datetime import datetime, timedelta

from fieldkit.drivers.errors import DecodeError

from ._common import ByteOrder
from .config import GeneralConfig

__all__ = [
    "NI_SIZES",
    "bcd_digits",
    "decode_int",
    "decode_ltime_date",
    "decode_ni",
    "decode_stime_date",
    "decode_string",
    "decode_time_seconds",
    "ltime_date_size",
    "ni_size",
    "stime_date_size",
    "time_size",
]

# NI_FORMAT code -> bytes (0 FLOAT64, 1 FLOAT32, 2 CHAR[12], 3 CHAR[6], 4 INT32 with an implied
# decimal point, 5 BCD[6], 6 BCD[4], 7 INT24, 8 INT32, 9 INT40, 10 INT48, 11 INT64, 12 BCD[8],
# 13 CHAR[21]).
NI_SIZES: dict[int, int] = {
    0: 8,
    1: 4,
    2: 12,
    3: 6,
    4: 4,
    5: 6,
    6: 4,
    7: 3,
    8: 4,
    9: 5,
    10: 6,
    11: 8,
    12: 8,
    13: 21,
}
_NI_FLOAT = {0: "d", 1: "f"}
_NI_CHAR = frozenset({2, 3, 13})
_NI_BCD = frozenset({5, 6, 12})
# Format 4 puts the decimal point four digits from the right (÷10^4); from one implementation's
# comment, not from the standard text.
_NI_IMPLIED_SCALE = 10_000

_CHARSETS: dict[int, str] = {1: "ascii", 2: "latin-1", 3: "utf-8"}
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

# TM_FORMAT -> (LTIME_DATE, STIME_DATE, TIME) sizes in bytes.
_TIME_SIZES: dict[int, tuple[int, int, int]] = {
    0: (0, 0, 0),
    1: (6, 5, 3),
    2: (6, 5, 3),
    3: (5, 4, 4),
    4: (4, 4, 4),
}
_EPOCH = datetime(1970, 1, 1)
_CENTURY_PIVOT = 90


# --- characters ------------------------------------------------------------------------------


def decode_string(raw: bytes, cfg: GeneralConfig) -> str:
    """Text in the meter's CHAR_FORMAT, trailing blanks and NULs removed.

    Bytes the character set cannot represent become U+FFFD rather than an error: an
    identity with one odd byte is still worth showing. UTF-16/32 follow DATA_ORDER; an
    undefined CHAR_FORMAT is read as ISO 8859-1, which accepts every byte.
    """
    if cfg.char_format in (4, 5):
        width = 16 if cfg.char_format == 4 else 32
        codec = f"utf-{width}-{'le' if cfg.data_order == 'little' else 'be'}"
    else:
        codec = _CHARSETS.get(cfg.char_format, "latin-1")
    return raw.decode(codec, errors="replace").rstrip(" \x00")


# --- integers and BCD ------------------------------------------------------------------------


def decode_int(raw: bytes, order: ByteOrder, int_format: int = 0) -> int:
    """A signed integer of ``len(raw)`` bytes in ``order``, per ST0 INT_FORMAT.

    0 is two's complement (the common case); 1 one's complement and 2 sign-magnitude are
    the codes' usual meanings but unconfirmed on a meter.
    """
    if int_format not in (0, 1, 2):
        raise DecodeError(f"INT_FORMAT {int_format} is not a defined integer format (0–2)")
    value = int.from_bytes(raw, order)
    bits = 8 * len(raw)
    sign = 1 << (bits - 1) if bits else 0
    if not value & sign:
        return value
    if int_format == 0:
        return value - (1 << bits)
    if int_format == 1:
        return -(~value & ((1 << bits) - 1))
    return -(value & (sign - 1))


def bcd_digits(raw: bytes) -> str:
    """Packed BCD as a digit string, most significant digit first."""
    digits = raw.hex()
    if not all(ch in "0123456789" for ch in digits):
        raise DecodeError(f"BCD value {raw.hex(' ').upper()} has a nibble above 9")
    return digits


# --- NI (non-integer) numbers ----------------------------------------------------------------


def ni_size(fmt: int) -> int:
    """Bytes taken by one value in NI format ``fmt`` (0–13)."""
    try:
        return NI_SIZES[fmt]
    except KeyError:
        raise DecodeError(f"NI format {fmt} is not defined (0–13)") from None


def decode_ni(raw: bytes, fmt: int, order: ByteOrder, *, int_format: int = 0) -> float | int:
    """One NI value: ``int`` for integer and BCD formats, ``float`` otherwise.

    Binary formats follow ``order`` (DATA_ORDER); BCD formats are digit strings, most
    significant digit first; CHAR formats hold the number as text, blank padded.
    """
    size = ni_size(fmt)
    if len(raw) != size:
        raise DecodeError(f"an NI format {fmt} value is {size} bytes, got {len(raw)}")
    if fmt in _NI_FLOAT:
        endian = "<" if order == "little" else ">"
        value: float = struct.unpack(endian + _NI_FLOAT[fmt], raw)[0]
        return value
    if fmt in _NI_CHAR:
        return _number_from_text(raw)
    if fmt in _NI_BCD:
        return int(bcd_digits(raw))
    number = decode_int(raw, order, int_format)
    if fmt == 4:
        return number / _NI_IMPLIED_SCALE
    return number


def _number_from_text(raw: bytes) -> float | int:
    text = raw.decode("latin-1").strip(" \x00")
    if not _NUMBER_TEXT.fullmatch(text):
        raise DecodeError(f"character NI value {text!r} is not a number")
    if any(mark in text for mark in ".eE"):
        return float(text)
    return int(text)


# --- times -----------------------------------------------------------------------------------


def _time_sizes(cfg: GeneralConfig) -> tuple[int, int, int]:
    try:
        return _TIME_SIZES[cfg.tm_format]
    except KeyError:
        raise DecodeError(f"TM_FORMAT {cfg.tm_format} is not defined (0–4)") from None


def ltime_date_size(cfg: GeneralConfig) -> int:
    """Bytes of an LTIME_DATE (date and time with seconds) under ST0 TM_FORMAT."""
    return _time_sizes(cfg)[0]


def stime_date_size(cfg: GeneralConfig) -> int:
    """Bytes of an STIME_DATE (date and time to the minute) under ST0 TM_FORMAT."""
    return _time_sizes(cfg)[1]


def time_size(cfg: GeneralConfig) -> int:
    """Bytes of a TIME (time of day or a duration) under ST0 TM_FORMAT."""
    return _time_sizes(cfg)[2]


def decode_ltime_date(raw: bytes, cfg: GeneralConfig) -> datetime | None:
    """An LTIME_DATE as a naive datetime; ``None`` for zeros or an impossible date."""
    _check_time_size(raw, ltime_date_size(cfg), "LTIME_DATE")
    return _decode_date_time(raw, cfg, with_seconds=True)


def decode_stime_date(raw: bytes, cfg: GeneralConfig) -> datetime | None:
    """An STIME_DATE (no seconds) as a naive datetime; ``None`` for zeros or nonsense."""
    _check_time_size(raw, stime_date_size(cfg), "STIME_DATE")
    return _decode_date_time(raw, cfg, with_seconds=False)


def decode_time_seconds(raw: bytes, cfg: GeneralConfig) -> int | None:
    """A TIME as seconds (hh:mm:ss for formats 1/2, a UINT32 count for 3/4).

    ``None`` when TM_FORMAT is 0 or the fields are impossible (bad BCD, minutes ≥ 60).
    """
    _check_time_size(raw, time_size(cfg), "TIME")
    if cfg.tm_format == 0:
        return None
    if cfg.tm_format in (3, 4):
        return int.from_bytes(raw, cfg.data_order)
    fields = _calendar_fields(raw, bcd=cfg.tm_format == 1)
    if fields is None:
        return None
    hour, minute, second = fields
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour * 3600 + minute * 60 + second


def _check_time_size(raw: bytes, size: int, what: str) -> None:
    if len(raw) != size:
        raise DecodeError(f"a {what} is {size} bytes with this TM_FORMAT, got {len(raw)}")


def _decode_date_time(raw: bytes, cfg: GeneralConfig, *, with_seconds: bool) -> datetime | None:
    if cfg.tm_format == 0 or not any(raw):
        return None
    if cfg.tm_format in (1, 2):
        fields = _calendar_fields(raw, bcd=cfg.tm_format == 1)
        if fields is None:
            return None
        year, month, day, hour, minute = fields[:5]
        second = fields[5] if with_seconds else 0
        if year > 99:
            return None
        year += 2000 if year < _CENTURY_PIVOT else 1900
        try:
            return datetime(year, month, day, hour, minute, second)
        except ValueError:
            return None
    count = int.from_bytes(raw[:4], cfg.data_order)
    if cfg.tm_format == 3:
        second = raw[4] if with_seconds else 0
        if second > 59:
            return None
        offset = timedelta(minutes=count, seconds=second)
    else:
        offset = timedelta(seconds=count)
    try:
        return _EPOCH + offset
    except OverflowError:
        return None


def _calendar_fields(raw: bytes, *, bcd: bool) -> tuple[int, ...] | None:
    if not bcd:
        return tuple(raw)
    if any(byte >> 4 > 9 or byte & 0x0F > 9 for byte in raw):
        return None
    return tuple((byte >> 4) * 10 + (byte & 0x0F) for byte in raw)
