"""Names for C12.19 log codes: the 77 standard events and the manufacturer flag."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldkit.drivers.c1218.events import (
    MANUFACTURER_FLAG,
    STANDARD_EVENTS,
    event_id,
    event_name,
    split_event_code,
)
from fieldkit.drivers.errors import DecodeError


def test_standard_events_cover_0_to_76_with_unique_snake_case_ids() -> None:
    assert [e.number for e in STANDARD_EVENTS] == list(range(77))
    ids = [e.id for e in STANDARD_EVENTS]
    assert len(set(ids)) == 77
    assert all(re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", i) for i in ids)
    assert len({e.name for e in STANDARD_EVENTS}) == 77


@pytest.mark.parametrize(
    ("code", "ident", "name"),
    [
        (1, "primary_power_down", "Primary power down"),
        (2, "primary_power_up", "Primary power up"),
        (20, "demand_reset", "Demand reset"),
        (32, "test_mode_started", "Test mode started"),
        (47, "tamper_attempt", "Tamper attempt detected"),
        (48, "reverse_rotation", "Reverse rotation detected"),
        (76, "read_secured_register_with_values", "Secured register read with values"),
    ],
)
def test_field_visit_events_by_number(code: int, ident: str, name: str) -> None:
    assert event_id(code) == ident
    assert event_name(code) == name


def test_manufacturer_flag_from_the_code_or_the_argument() -> None:
    assert event_name(MANUFACTURER_FLAG | 41) == "Manufacturer event 41"
    assert event_name(41, manufacturer=True) == "Manufacturer event 41"
    assert event_id(0x0801) == "mfg_event_1"
    assert event_name(41) == "Non-volatile memory failure detected"


def test_selector_bits_do_not_change_the_event() -> None:
    assert event_name(0x3014) == "Demand reset"
    assert split_event_code(0xF814) == (20, True)


def test_numbers_beyond_the_standard_list_still_get_a_name() -> None:
    assert event_id(99) == "std_event_99"
    assert event_name(99).startswith("Standard event 99")


@pytest.mark.parametrize("code", [-1, 0x10000])
def test_codes_outside_16_bits_are_refused(code: int) -> None:
    with pytest.raises(DecodeError, match="outside"):
        event_name(code)


@given(code=st.integers(0, 0xFFFF))
def test_every_16_bit_code_has_a_name_and_keeps_the_flag(code: int) -> None:
    number, manufacturer = split_event_code(code)
    assert number == code & 0x7FF
    assert manufacturer == bool(code & 0x800)
    assert event_name(code)
    assert event_id(code).startswith("mfg_event_") == manufacturer
