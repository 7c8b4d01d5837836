"""C12.19 field formats: characters, NI numbers, BCD, and the five TM_FORMATs."""

from __future__ import annotations

import math
import struct
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldkit.drivers.c1218.tables import (
    ByteOrder,
    GeneralConfig,
    decode_int,
    decode_ltime_date,
    decode_ni,
    decode_st0,
    decode_stime_date,
    decode_string,
    decode_time_seconds,
    ltime_date_size,
    ni_size,
    stime_date_size,
    time_size,
)
from fieldkit.drivers.errors import DecodeError

EPOCH = datetime(1970, 1, 1)
ORDERS: st.SearchStrategy[ByteOrder] = st.sampled_from(["little", "big"])
# FORMAT_CONTROL_1..3 then 16 header bytes with every DIM_ zero: the smallest valid ST0.
BASE_ST0 = bytes([0x02, 0x0A, 0x9A]) + b"TEST" + bytes([2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])


def make_cfg(**changes: Any) -> GeneralConfig:
    return replace(decode_st0(BASE_ST0), **changes)


# --- test-side encoders (written from the layouts, not from the decoder) --------------------

NI_CHAR_WIDTH = {2: 12, 3: 6, 13: 21}
NI_BCD_BYTES = {5: 6, 6: 4, 12: 8}
NI_INT_BYTES = {7: 3, 8: 4, 9: 5, 10: 6, 11: 8}


def encode_date_time(dt: datetime | None, tm: int, order: ByteOrder, *, seconds: bool) -> bytes:
    sizes = {0: (0, 0), 1: (6, 5), 2: (6, 5), 3: (5, 4), 4: (4, 4)}
    size = sizes[tm][0 if seconds else 1]
    if dt is None:
        return bytes(size)
    if tm in (1, 2):
        fields = [dt.year % 100, dt.month, dt.day, dt.hour, dt.minute]
        if seconds:
            fields.append(dt.second)
        if tm == 1:
            return bytes(int(f"{value:02d}", 16) for value in fields)
        return bytes(fields)
    elapsed = int((dt - EPOCH).total_seconds())
    if tm == 3:
        tail = bytes([dt.second]) if seconds else b""
        return (elapsed // 60).to_bytes(4, order) + tail
    return elapsed.to_bytes(4, order)


@st.composite
def ni_case(draw: st.DrawFn, fmt: int, order: ByteOrder) -> tuple[bytes, float]:
    """Bytes of one NI value in ``fmt`` and the number they stand for."""
    endian = "<" if order == "little" else ">"
    if fmt == 0:
        value = draw(st.floats(allow_nan=False))
        return struct.pack(endian + "d", value), value
    if fmt == 1:
        value = draw(st.floats(width=32, allow_nan=False))
        return struct.pack(endian + "f", value), value
    if fmt in NI_CHAR_WIDTH:
        width = NI_CHAR_WIDTH[fmt]
        number = draw(st.integers(-(10 ** (width - 1)) + 1, 10**width - 1))
        return str(number).rjust(width).encode(), number
    if fmt in NI_BCD_BYTES:
        digits = 2 * NI_BCD_BYTES[fmt]
        number = draw(st.integers(0, 10**digits - 1))
        return bytes.fromhex(f"{number:0{digits}d}"), number
    size = 4 if fmt == 4 else NI_INT_BYTES[fmt]
    raw = draw(st.integers(-(2 ** (8 * size - 1)), 2 ** (8 * size - 1) - 1))
    data = raw.to_bytes(size, order, signed=True)
    return data, raw / 10_000 if fmt == 4 else raw


# --- NI ------------------------------------------------------------------------------------


def test_addendum_worked_example_int48() -> None:
    assert decode_ni(bytes.fromhex("F25D00000000"), 10, "little") == 24050
    assert decode_ni(bytes.fromhex("000000005DF2"), 10, "big") == 24050


def test_ni_sizes_for_all_fourteen_formats() -> None:
    sizes = [ni_size(fmt) for fmt in range(14)]
    assert sizes == [8, 4, 12, 6, 4, 6, 4, 3, 4, 5, 6, 8, 8, 21]


@pytest.mark.parametrize("fmt", [14, 15, -1])
def test_undefined_ni_format_is_a_decode_error(fmt: int) -> None:
    with pytest.raises(DecodeError, match=f"NI format {fmt}"):
        ni_size(fmt)


def test_integer_ni_formats_are_twos_complement() -> None:
    assert decode_ni(b"\xff\xff\xff", 7, "little") == -1
    assert decode_ni(b"\x80\x00\x00\x00", 8, "big") == -(2**31)
    assert decode_ni(b"\x00\x00\x00\x00\x80", 9, "little") == -(2**39)
    assert decode_ni(b"\x01" + bytes(7), 11, "big") == 2**56


def test_one_complement_and_sign_magnitude_when_st0_says_so() -> None:
    assert decode_int(b"\xfe", "little", 1) == -1
    assert decode_int(b"\x81", "little", 2) == -1
    assert decode_int(b"\x00\x05", "big", 2) == 5
    with pytest.raises(DecodeError, match="INT_FORMAT 3"):
        decode_int(b"\x00", "big", 3)


def test_ni_format4_has_four_implied_decimals() -> None:
    assert decode_ni((1234567).to_bytes(4, "big"), 4, "big") == pytest.approx(123.4567)


def test_ni_floats_follow_data_order() -> None:
    assert decode_ni(struct.pack("<f", 59.97), 1, "little") == pytest.approx(59.97)
    assert decode_ni(struct.pack(">d", -1.5e9), 0, "big") == -1.5e9


def test_bcd_ni_is_read_most_significant_digit_first() -> None:
    assert decode_ni(bytes.fromhex("00 00 01 23 45 67"), 5, "little") == 1234567
    assert decode_ni(bytes.fromhex("99 99 99 99"), 6, "big") == 99999999


def test_bcd_ni_with_a_hex_nibble_is_refused() -> None:
    with pytest.raises(DecodeError, match="nibble"):
        decode_ni(bytes.fromhex("00 00 0A 00"), 6, "big")


def test_char_ni_accepts_blank_padded_numbers() -> None:
    assert decode_ni(b"      123.45", 2, "little") == pytest.approx(123.45)
    assert decode_ni(b"-42   ", 3, "big") == -42
    assert decode_ni(b"1.5E3".ljust(21, b"\x00"), 13, "big") == 1500.0


@pytest.mark.parametrize("text", [b"            ", b"12a456", b"  nan ", b" 1_000", b"--1   "])
def test_char_ni_that_is_not_a_number_is_refused(text: bytes) -> None:
    fmt = 2 if len(text) == 12 else 3
    with pytest.raises(DecodeError, match="not a number"):
        decode_ni(text, fmt, "little")


def test_ni_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(DecodeError, match="6 bytes, got 5"):
        decode_ni(b"\x00" * 5, 10, "little")


@given(
    data=st.data(),
    fmt=st.integers(0, 13),
    order=ORDERS,
)
def test_ni_round_trip(data: st.DataObject, fmt: int, order: ByteOrder) -> None:
    raw, expected = data.draw(ni_case(fmt, order))
    value = decode_ni(raw, fmt, order)
    if isinstance(expected, float) and math.isinf(expected):
        assert value == expected
    else:
        assert value == pytest.approx(expected, rel=1e-12, abs=0)


@given(raw=st.binary(max_size=24), fmt=st.integers(-2, 16), order=ORDERS)
def test_ni_fuzz_raises_only_decode_error(raw: bytes, fmt: int, order: ByteOrder) -> None:
    try:
        value = decode_ni(raw, fmt, order)
    except DecodeError:
        return
    assert len(raw) == ni_size(fmt)
    assert isinstance(value, (int, float))


# --- strings -------------------------------------------------------------------------------


def test_strings_strip_trailing_blanks_and_nuls_only() -> None:
    cfg = make_cfg(char_format=1)
    assert decode_string(b" SIM-1 \x00\x00", cfg) == " SIM-1"


def test_string_character_sets() -> None:
    assert decode_string("Zähler".encode("latin-1"), make_cfg(char_format=2)) == "Zähler"
    assert decode_string("Zähler ".encode(), make_cfg(char_format=3)) == "Zähler"
    utf16 = make_cfg(char_format=4, data_order="big")
    assert decode_string("kWh".encode("utf-16-be") + b"\x00\x00", utf16) == "kWh"
    utf32 = make_cfg(char_format=5, data_order="little")
    assert decode_string("kWh".encode("utf-32-le"), utf32) == "kWh"


def test_bytes_outside_the_character_set_do_not_crash() -> None:
    assert decode_string(b"AB\xffC", make_cfg(char_format=1)) == "AB\ufffdC"
    assert decode_string(b"\xff\xfe\x00", make_cfg(char_format=4)) == "\ufeff\ufffd"


@given(raw=st.binary(max_size=40), char_format=st.integers(0, 7))
def test_string_fuzz_always_gives_text(raw: bytes, char_format: int) -> None:
    assert isinstance(decode_string(raw, make_cfg(char_format=char_format)), str)


# --- times ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tm", "sizes"),
    [(0, (0, 0, 0)), (1, (6, 5, 3)), (2, (6, 5, 3)), (3, (5, 4, 4)), (4, (4, 4, 4))],
)
def test_time_sizes_by_tm_format(tm: int, sizes: tuple[int, int, int]) -> None:
    cfg = make_cfg(tm_format=tm)
    assert (ltime_date_size(cfg), stime_date_size(cfg), time_size(cfg)) == sizes


@pytest.mark.parametrize("tm", [5, 6, 7])
def test_undefined_tm_format_is_a_decode_error(tm: int) -> None:
    with pytest.raises(DecodeError, match=f"TM_FORMAT {tm}"):
        ltime_date_size(make_cfg(tm_format=tm))


def test_ltime_date_uint8_and_bcd() -> None:
    moment = datetime(2025, 3, 14, 15, 9, 26)
    assert decode_ltime_date(bytes.fromhex("19 03 0E 0F 09 1A"), make_cfg(tm_format=2)) == moment
    assert decode_ltime_date(bytes.fromhex("25 03 14 15 09 26"), make_cfg(tm_format=1)) == moment


def test_two_digit_years_pivot_at_90() -> None:
    cfg = make_cfg(tm_format=2)
    assert decode_ltime_date(bytes([89, 12, 31, 23, 59, 59]), cfg) == datetime(
        2089, 12, 31, 23, 59, 59
    )
    assert decode_ltime_date(bytes([90, 1, 1, 0, 0, 0]), cfg) == datetime(1990, 1, 1)
    assert decode_ltime_date(bytes([0, 1, 1, 0, 0, 0]), cfg) == datetime(2000, 1, 1)


def test_ltime_date_minutes_and_seconds_since_1970() -> None:
    moment = datetime(2025, 3, 14, 15, 9, 26)
    minutes = int((moment - EPOCH).total_seconds()) // 60
    fmt3_le = minutes.to_bytes(4, "little") + bytes([26])
    assert decode_ltime_date(fmt3_le, make_cfg(tm_format=3)) == moment
    fmt3_be = minutes.to_bytes(4, "big") + bytes([26])
    assert decode_ltime_date(fmt3_be, make_cfg(tm_format=3, data_order="big")) == moment
    seconds = int((moment - EPOCH).total_seconds())
    fmt4 = seconds.to_bytes(4, "big")
    assert decode_ltime_date(fmt4, make_cfg(tm_format=4, data_order="big")) == moment


def test_stime_date_has_no_seconds() -> None:
    assert decode_stime_date(bytes([25, 3, 14, 15, 9]), make_cfg(tm_format=2)) == datetime(
        2025, 3, 14, 15, 9
    )
    minutes = int((datetime(2025, 3, 14, 15, 9) - EPOCH).total_seconds()) // 60
    cfg3 = make_cfg(tm_format=3)
    assert decode_stime_date(minutes.to_bytes(4, "little"), cfg3) == datetime(2025, 3, 14, 15, 9)


@pytest.mark.parametrize(
    ("tm", "raw"),
    [
        (2, bytes(6)),  # never set
        (2, bytes([25, 13, 1, 0, 0, 0])),  # month 13
        (2, bytes([25, 2, 30, 0, 0, 0])),  # 30 February
        (2, bytes([25, 1, 1, 24, 0, 0])),  # hour 24
        (2, bytes([125, 1, 1, 0, 0, 0])),  # not a two-digit year
        (1, bytes.fromhex("25 1A 01 00 00 00")),  # not BCD
        (3, bytes(5)),
        (3, bytes([1, 0, 0, 0, 60])),  # second 60
        (3, b"\xff\xff\xff\xff\x00"),  # beyond year 9999
        (4, bytes(4)),
        (0, b""),
    ],
)
def test_unset_or_impossible_dates_are_none(tm: int, raw: bytes) -> None:
    assert decode_ltime_date(raw, make_cfg(tm_format=tm)) is None


def test_time_value_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(DecodeError, match="LTIME_DATE is 6 bytes"):
        decode_ltime_date(bytes(5), make_cfg(tm_format=2))


def test_time_of_day_in_seconds() -> None:
    assert decode_time_seconds(bytes([0, 7, 30]), make_cfg(tm_format=2)) == 450
    assert decode_time_seconds(bytes.fromhex("01 07 30"), make_cfg(tm_format=1)) == 4050
    assert (
        decode_time_seconds((450).to_bytes(4, "big"), make_cfg(tm_format=4, data_order="big"))
        == 450
    )
    assert decode_time_seconds(b"", make_cfg(tm_format=0)) is None
    assert decode_time_seconds(bytes([0, 60, 0]), make_cfg(tm_format=2)) is None


def _datetimes(tm: int, *, seconds: bool) -> st.SearchStrategy[datetime]:
    if tm in (1, 2):
        low, high = datetime(1990, 1, 1), datetime(2089, 12, 31, 23, 59, 59)
    else:
        low, high = datetime(1970, 1, 1, 0, 1), datetime(2106, 1, 1)
    moments = st.datetimes(min_value=low, max_value=high).map(lambda d: d.replace(microsecond=0))
    return moments if seconds else moments.map(lambda d: d.replace(second=0))


@given(data=st.data(), tm=st.integers(1, 4), order=ORDERS)
def test_date_time_round_trip(data: st.DataObject, tm: int, order: ByteOrder) -> None:
    cfg = make_cfg(tm_format=tm, data_order=order)
    long_moment = data.draw(_datetimes(tm, seconds=True))
    raw = encode_date_time(long_moment, tm, order, seconds=True)
    assert decode_ltime_date(raw, cfg) == long_moment
    short_moment = data.draw(_datetimes(tm, seconds=False))
    raw = encode_date_time(short_moment, tm, order, seconds=False)
    assert decode_stime_date(raw, cfg) == short_moment


@given(raw=st.binary(max_size=8), tm=st.integers(0, 7), order=ORDERS)
def test_time_fuzz_raises_only_decode_error(raw: bytes, tm: int, order: ByteOrder) -> None:
    cfg = make_cfg(tm_format=tm, data_order=order)
    for decode in (decode_ltime_date, decode_stime_date, decode_time_seconds):
        try:
            result = decode(raw, cfg)
        except DecodeError:
            continue
        assert result is None or isinstance(result, (datetime, int))


def test_epoch_formats_do_not_overflow_near_the_top() -> None:
    last = decode_ltime_date(b"\xff\xff\xff\xff", make_cfg(tm_format=4, data_order="big"))
    assert last == EPOCH + timedelta(seconds=2**32 - 1)
