"""Standard procedures 9 and 10 as ST7/ST8 bytes, against the worked bytes of the reference.

The expected bytes are the C12.19 addendum's section A.4 (computed there independently of
this code: little-endian meter, TM_FORMAT 2, SEQ_NBR 0x2A / 0x2B).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldkit.drivers.c1218 import tables as t
from fieldkit.drivers.c1218.procedures import (
    SP_REMOTE_RESET,
    SP_SET_DATE_TIME,
    decode_st8,
    demand_reset_parameters,
    encode_ltime_date,
    encode_st7,
    set_date_time_parameters,
)
from fieldkit.drivers.errors import DecodeError

from .test_c1219_tables import st0_bytes

LITTLE = t.decode_st0(st0_bytes(tm_format=2, std_procs=(9, 10)))
BIG = t.decode_st0(st0_bytes(order="big", tm_format=2, std_procs=(9, 10)))


def test_set_date_time_matches_the_worked_bytes() -> None:
    # 2025-03-14 15:09:26 local, a Friday, DST in force, zone and DST applied on the meter.
    moment = datetime(2025, 3, 14, 15, 9, 26)
    params = set_date_time_parameters(moment, LITTLE, meter_qualifier=0x60, dst=True)
    st7 = encode_st7(SP_SET_DATE_TIME, 0x2A, params, LITTLE)
    assert st7.hex(" ") == "0a 00 2a 07 19 03 0e 0f 09 1a 6d"
    assert encode_st7(SP_SET_DATE_TIME, 0x2A, params, BIG)[:2] == b"\x00\x0a"


def test_set_date_time_keeps_the_meters_own_qualifier_bits() -> None:
    # A meter on GMT: GMT flag kept, no DST, day of week from the date (Sunday = 0).
    sunday = datetime(2026, 11, 29, 12, 0, 0)
    params = set_date_time_parameters(sunday, LITTLE, meter_qualifier=0x1F, dst=False)
    assert params[-1] == 0x10


def test_demand_reset_matches_the_worked_bytes() -> None:
    st7 = encode_st7(SP_REMOTE_RESET, 0x2B, demand_reset_parameters(), LITTLE)
    assert st7.hex(" ") == "09 00 2b 01"
    assert encode_st7(SP_REMOTE_RESET, 0x2B, b"\x01", LITTLE, selector=3)[:2] == b"\x09\x30"


@pytest.mark.parametrize(
    ("data", "code", "meaning", "response"),
    [
        ("0a002a00", 0, "completed", ""),
        ("0a002a01", 1, "accepted, not completed yet", ""),
        # Times before and after the set, as the reference's "ST8 with times" answer.
        ("0a002a0019030e0f020b19030e0f091a", 0, "completed", "19030e0f020b19030e0f091a"),
        ("09002b04", 4, "timing constraint (a demand-reset lockout still running)", ""),
    ],
)
def test_st8_answers_decode(data: str, code: int, meaning: str, response: str) -> None:
    answer = decode_st8(bytes.fromhex(data), LITTLE)
    assert (answer.result_code, answer.meaning, answer.data.hex()) == (code, meaning, response)
    assert answer.procedure in (9, 10)
    assert not answer.manufacturer


def test_short_st8_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="at least 4"):
        decode_st8(b"\x0a\x00\x2a", LITTLE)


def test_parameters_longer_than_the_meter_takes_are_refused() -> None:
    with pytest.raises(ValueError, match="MAX_PROC_PARM_LENGTH"):
        encode_st7(SP_SET_DATE_TIME, 1, b"\x00" * 17, LITTLE)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2089, 12, 31, 23, 59, 59)),
    st.sampled_from([1, 2, 3, 4]),
    st.sampled_from(["little", "big"]),
)
def test_encoded_times_decode_to_the_same_second(moment: datetime, fmt: int, order: str) -> None:
    cfg = t.decode_st0(st0_bytes(order=order, tm_format=fmt))  # type: ignore[arg-type]
    raw = encode_ltime_date(moment, cfg)
    assert len(raw) == t.ltime_date_size(cfg)
    assert t.decode_ltime_date(raw, cfg) == moment.replace(microsecond=0)


def test_a_meter_without_a_clock_cannot_be_set() -> None:
    cfg = t.decode_st0(st0_bytes(tm_format=0))
    with pytest.raises(ValueError, match="TM_FORMAT 0"):
        encode_ltime_date(datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None), cfg)
