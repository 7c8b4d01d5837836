"""ST11/ST12/ST15/ST16 decoders against hand-built tables, in both byte orders.

The hex in the first tests is the addendum's (§B.5); the test-side encoders below are written
from the bit layouts in ``c1219-addendum.md`` §B, not from the decoder, and drive the
round-trip and fuzz properties.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.drivers.c1218.tables import (
    ActualSources,
    ByteOrder,
    ConstantSet,
    ElectricConstants,
    GeneralConfig,
    decode_st11,
    decode_st12,
    decode_st15,
    decode_st16,
    multiplier_exponent,
    st15_sizes,
)
from fieldkit.drivers.errors import DecodeError
from tests.unit.test_c1219_tables import encode_ni, make_cfg

ORDERS: st.SearchStrategy[ByteOrder] = st.sampled_from(["little", "big"])

# ST12 MULTIPLIER code -> power of ten, as the addendum's table lists it.
ADDENDUM_EXPONENTS = {0: 0, 1: 2, 2: 3, 3: 6, 4: 9, 5: -2, 6: -3, 7: -6}


# --- test-side encoders ----------------------------------------------------------------------


@dataclass(frozen=True)
class Uom:
    """The fields of one UOM_ENTRY_BFLD, as the test means them."""

    id_code: int
    time_base: int = 0
    multiplier: int = 0  # the code, 0–7
    q1: bool = False
    q2: bool = False
    q3: bool = False
    q4: bool = False
    net_flow: bool = False
    segmentation: int = 0
    harmonic: bool = False
    id_resource: int = 0
    nfs: bool = False

    def word(self) -> int:
        return (
            self.id_code
            | self.time_base << 8
            | self.multiplier << 11
            | self.q1 << 14
            | self.q2 << 15
            | self.q3 << 16
            | self.q4 << 17
            | self.net_flow << 18
            | self.segmentation << 19
            | self.harmonic << 22
            | self.id_resource << 23
            | self.nfs << 31
        )


def st11_bytes(
    *,
    flags: int = 0,
    uom: int = 0,
    demand_ctrl: int = 0,
    data_ctrl_length: int = 0,
    data_ctrl: int = 0,
    constants: int = 0,
    selector: int = 2,
    sources: int = 0,
) -> bytes:
    counts = [uom, demand_ctrl, data_ctrl_length, data_ctrl, constants, selector, sources]
    return bytes([flags, *counts])


def st12_bytes(entries: list[Uom], order: ByteOrder) -> bytes:
    return b"".join(e.word().to_bytes(4, order) for e in entries)


def constants_record(
    multiplier: float,
    offset: float | None,
    sets: list[tuple[int, float, float]],
    fmt: int,
    order: ByteOrder,
) -> bytes:
    out = encode_ni(multiplier, fmt, order)
    if offset is not None:
        out += encode_ni(offset, fmt, order)
    for flags, f1, p1 in sets:
        out += bytes([flags]) + encode_ni(f1, fmt, order) + encode_ni(p1, fmt, order)
    return out


def sources_cfg(order: ByteOrder = "little", ni1: int = 10) -> GeneralConfig:
    return make_cfg(order=order, ni1=ni1, std_tables=(0, 1, 11, 12, 15, 16))


# --- ST12: the addendum's encodings ----------------------------------------------------------


@pytest.mark.parametrize("order", ["little", "big"])
def test_st12_worked_example_phase_b_volts(order: ByteOrder) -> None:
    # §B.5: bytes 08 29 30 00 (little-endian UINT32 0x00302908).
    raw = bytes.fromhex("08293000")
    data = raw if order == "little" else raw[::-1]
    cfg = sources_cfg(order)
    (entry,) = decode_st12(data, cfg, decode_st11(st11_bytes(uom=1, sources=1), cfg))
    assert entry.raw == 0x00302908
    assert (entry.id_code, entry.time_base, entry.multiplier_exponent) == (8, 1, -2)
    assert entry.segmentation == 6  # B–N
    assert (entry.q1, entry.q2, entry.q3, entry.q4) == (False, False, False, False)
    assert (entry.harmonic, entry.nfs, entry.net_flow) == (False, False, False)


@pytest.mark.parametrize(
    ("hex_le", "id_code", "time_base", "exponent", "segmentation", "quadrants"),
    [
        ("0C012800", 12, 1, 0, 5, (False, False, False, False)),  # phase-A current, inst.
        ("18010000", 24, 1, 0, 0, (False, False, False, False)),  # total PF
        ("21290000", 33, 1, -2, 0, (False, False, False, False)),  # frequency ×10^-2
        ("00500200", 0, 0, 3, 0, (True, False, False, True)),  # kWh delivered, bulk, ×10^3
    ],
)
@pytest.mark.parametrize("order", ["little", "big"])
def test_st12_other_addendum_encodings(
    order: ByteOrder,
    hex_le: str,
    id_code: int,
    time_base: int,
    exponent: int,
    segmentation: int,
    quadrants: tuple[bool, bool, bool, bool],
) -> None:
    raw = bytes.fromhex(hex_le)
    cfg = sources_cfg(order)
    st11 = decode_st11(st11_bytes(uom=1, sources=1), cfg)
    (entry,) = decode_st12(raw if order == "little" else raw[::-1], cfg, st11)
    assert entry.id_code == id_code
    assert entry.time_base == time_base
    assert entry.multiplier_exponent == exponent
    assert entry.segmentation == segmentation
    assert (entry.q1, entry.q2, entry.q3, entry.q4) == quadrants


def test_st12_high_fields_harmonic_resource_and_nfs() -> None:
    cfg = sources_cfg()
    word = Uom(id_code=16, harmonic=True, id_resource=0x1F, nfs=True, net_flow=True).word()
    st11 = decode_st11(st11_bytes(uom=1, sources=1), cfg)
    (entry,) = decode_st12(word.to_bytes(4, "little"), cfg, st11)
    assert (entry.harmonic, entry.nfs, entry.net_flow) == (True, True, True)
    assert entry.id_resource == 0x1F
    assert entry.id_code == 16


@pytest.mark.parametrize(("code", "exponent"), sorted(ADDENDUM_EXPONENTS.items()))
def test_multiplier_codes_are_the_addendum_powers_of_ten(code: int, exponent: int) -> None:
    assert multiplier_exponent(code) == exponent
    cfg = sources_cfg()
    st11 = decode_st11(st11_bytes(uom=1, sources=1), cfg)
    (entry,) = decode_st12(Uom(8, multiplier=code).word().to_bytes(4, "little"), cfg, st11)
    assert entry.multiplier_exponent == exponent


def test_multiplier_code_out_of_range_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="MULTIPLIER code 8"):
        multiplier_exponent(8)


@pytest.mark.parametrize("size", [0, 7, 9, 12])
def test_st12_length_must_follow_nbr_uom_entries(size: int) -> None:
    cfg = sources_cfg()
    st11 = decode_st11(st11_bytes(uom=2, sources=2), cfg)
    with pytest.raises(DecodeError, match=r"ST12 is \d+ bytes, expected 8") as info:
        decode_st12(bytes(size), cfg, st11)
    assert info.value.table == 12


# --- ST11 ------------------------------------------------------------------------------------


def test_st11_flags_and_counts() -> None:
    cfg = sources_cfg()
    got = decode_st11(bytes([0b1110_0101, 30, 4, 6, 2, 16, 2, 51]), cfg)
    assert got == ActualSources(
        pf_exclude=True,
        reset_exclude=False,
        block_demand=True,
        sliding_demand=False,
        thermal_demand=False,
        set1_present=True,
        set2_present=True,
        flag_bit7=True,
        nbr_uom_entries=30,
        nbr_demand_ctrl_entries=4,
        data_ctrl_length=6,
        nbr_data_ctrl_entries=2,
        nbr_constants_entries=16,
        constants_selector=2,
        nbr_sources=51,
    )


@pytest.mark.parametrize("size", [0, 7, 9])
def test_st11_is_eight_bytes(size: int) -> None:
    with pytest.raises(DecodeError, match="ST11") as info:
        decode_st11(bytes(size), sources_cfg())
    assert info.value.table == 11


# --- ST15 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["little", "big"])
def test_st15_offset_present_when_the_length_says_so(order: ByteOrder) -> None:
    # INT48, offset, no sets: 12 bytes per record (addendum §B.3).
    cfg = sources_cfg(order)
    st11 = decode_st11(st11_bytes(constants=2, sources=2), cfg)
    data = constants_record(40, -3, [], 10, order) + constants_record(1, 0, [], 10, order)
    assert len(data) == 24
    assert st15_sizes(cfg, st11) == (12, 24)
    assert decode_st15(data, cfg, st11) == (
        ElectricConstants(multiplier=40.0, offset=-3.0, set1=None, set2=None),
        ElectricConstants(multiplier=1.0, offset=0.0, set1=None, set2=None),
    )


@pytest.mark.parametrize("bit7", [0, 0x80])
@pytest.mark.parametrize("order", ["little", "big"])
def test_st15_offset_absent_when_the_length_says_so(order: ByteOrder, bit7: int) -> None:
    # The length decides, whatever ST11 bit 7 says (it has two readings).
    cfg = sources_cfg(order)
    st11 = decode_st11(st11_bytes(flags=bit7, constants=2, sources=2), cfg)
    data = constants_record(40, None, [], 10, order) + constants_record(7, None, [], 10, order)
    got = decode_st15(data, cfg, st11)
    assert [c.multiplier for c in got] == [40.0, 7.0]
    assert all(c.offset is None for c in got)


@pytest.mark.parametrize("order", ["little", "big"])
def test_st15_with_both_transformer_sets(order: ByteOrder) -> None:
    cfg = sources_cfg(order, ni1=8)  # INT32
    st11 = decode_st11(st11_bytes(flags=0x60, constants=1, sources=1), cfg)
    data = constants_record(2, 5, [(0x01, 80, 20), (0x00, 40, 1)], 8, order)
    assert len(data) == 4 + 4 + 2 * 9
    (got,) = decode_st15(data, cfg, st11)
    assert got.multiplier == 2.0
    assert got.offset == 5.0
    assert got.set1 == ConstantSet(applied=True, ratio_f1=80.0, ratio_p1=20.0, flags=0x01)
    assert got.set2 == ConstantSet(applied=False, ratio_f1=40.0, ratio_p1=1.0, flags=0x00)


def test_st15_float_constants() -> None:
    cfg = sources_cfg("big", ni1=1)  # FLOAT32
    st11 = decode_st11(st11_bytes(flags=0x20, constants=1, sources=1), cfg)
    data = constants_record(0.5, None, [(0, 1.25, 2.5)], 1, "big")
    (got,) = decode_st15(data, cfg, st11)
    assert got.multiplier == 0.5
    assert got.offset is None
    assert got.set1 == ConstantSet(applied=False, ratio_f1=1.25, ratio_p1=2.5, flags=0)


@pytest.mark.parametrize("size", [0, 11, 13, 23, 25, 36])
def test_st15_length_fitting_neither_layout_is_a_decode_error(size: int) -> None:
    cfg = sources_cfg()
    st11 = decode_st11(st11_bytes(constants=2, sources=2), cfg)
    with pytest.raises(DecodeError, match=r"expected 24 \(with OFFSET\) or 12") as info:
        decode_st15(bytes(size), cfg, st11)
    assert info.value.table == 15


@pytest.mark.parametrize("selector", [0, 1, 3])
def test_st15_non_electric_selector_is_a_decode_error(selector: int) -> None:
    cfg = sources_cfg()
    st11 = decode_st11(st11_bytes(constants=1, selector=selector, sources=1), cfg)
    with pytest.raises(DecodeError, match=f"selector {selector}") as info:
        decode_st15(bytes(12), cfg, st11)
    assert info.value.table == 15


def test_st15_empty_table_with_no_records() -> None:
    cfg = sources_cfg()
    st11 = decode_st11(st11_bytes(constants=0, selector=0, sources=4), cfg)
    assert decode_st15(b"", cfg, st11) == ()


# --- ST16 ------------------------------------------------------------------------------------


def test_st16_flag_bits() -> None:
    cfg = sources_cfg()
    st11 = decode_st11(st11_bytes(sources=4), cfg)
    got = decode_st16(bytes([0x11, 0x3F, 0x10, 0xC0]), cfg, st11)
    assert [s.raw for s in got] == [0x11, 0x3F, 0x10, 0xC0]

    def flags(n: int) -> tuple[bool, ...]:
        s = got[n]
        return (
            s.uom_entry,
            s.demand_ctrl,
            s.data_ctrl,
            s.constants,
            s.pulse_engr,
            s.constant_to_be_applied,
        )

    assert flags(0) == (True, False, False, False, True, False)
    assert flags(1) == (True, True, True, True, True, True)
    assert flags(2) == (False, False, False, False, True, False)
    assert flags(3) == (False,) * 6  # bits 6–7 are filler


@pytest.mark.parametrize("size", [0, 3, 5])
def test_st16_length_must_follow_nbr_sources(size: int) -> None:
    cfg = sources_cfg()
    st11 = decode_st11(st11_bytes(sources=4), cfg)
    with pytest.raises(DecodeError, match="expected 4") as info:
        decode_st16(bytes(size), cfg, st11)
    assert info.value.table == 16


# --- properties ------------------------------------------------------------------------------

UOMS = st.builds(
    Uom,
    id_code=st.integers(0, 255),
    time_base=st.integers(0, 7),
    multiplier=st.integers(0, 7),
    q1=st.booleans(),
    q2=st.booleans(),
    q3=st.booleans(),
    q4=st.booleans(),
    net_flow=st.booleans(),
    segmentation=st.integers(0, 7),
    harmonic=st.booleans(),
    id_resource=st.integers(0, 31),
    nfs=st.booleans(),
)


@given(entries=st.lists(UOMS, max_size=12), order=ORDERS)
def test_st12_round_trip(entries: list[Uom], order: ByteOrder) -> None:
    cfg = sources_cfg(order)
    st11 = decode_st11(st11_bytes(uom=len(entries), sources=len(entries)), cfg)
    got = decode_st12(st12_bytes(entries, order), cfg, st11)
    assert len(got) == len(entries)
    for want, have in zip(entries, got, strict=True):
        assert have.raw == want.word()
        assert (have.id_code, have.time_base) == (want.id_code, want.time_base)
        assert have.multiplier_exponent == ADDENDUM_EXPONENTS[want.multiplier]
        assert (have.q1, have.q2, have.q3, have.q4) == (want.q1, want.q2, want.q3, want.q4)
        assert (have.net_flow, have.segmentation) == (want.net_flow, want.segmentation)
        assert (have.harmonic, have.id_resource, have.nfs) == (
            want.harmonic,
            want.id_resource,
            want.nfs,
        )


@settings(max_examples=80)
@given(
    order=ORDERS,
    ni1=st.sampled_from([7, 8, 9, 10, 11]),
    with_offset=st.booleans(),
    set1=st.booleans(),
    set2=st.booleans(),
    records=st.lists(
        st.tuples(
            st.integers(-(2**23), 2**23 - 1),
            st.integers(-(2**23), 2**23 - 1),
            st.integers(0, 255),
            st.integers(0, 2**23 - 1),
            st.integers(0, 2**23 - 1),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_st15_round_trip(
    order: ByteOrder,
    ni1: int,
    with_offset: bool,
    set1: bool,
    set2: bool,
    records: list[tuple[int, int, int, int, int]],
) -> None:
    cfg = sources_cfg(order, ni1=ni1)
    flags = (0x20 if set1 else 0) | (0x40 if set2 else 0)
    st11 = decode_st11(st11_bytes(flags=flags, constants=len(records), sources=1), cfg)
    sets_of = [(f, r1, r2) for _, _, f, r1, r2 in records]
    data = b"".join(
        constants_record(m, o if with_offset else None, [s] * (set1 + set2), ni1, order)
        for (m, o, *_), s in zip(records, sets_of, strict=True)
    )
    got = decode_st15(data, cfg, st11)
    assert len(got) == len(records)
    for (m, o, f, r1, r2), have in zip(records, got, strict=True):
        assert have.multiplier == m
        assert have.offset == (o if with_offset else None)
        expected_set = ConstantSet(applied=bool(f & 1), ratio_f1=r1, ratio_p1=r2, flags=f)
        assert have.set1 == (expected_set if set1 else None)
        assert have.set2 == (expected_set if set2 else None)


@settings(max_examples=300)
@given(
    st11_raw=st.binary(min_size=8, max_size=8),
    data=st.binary(max_size=300),
    order=ORDERS,
    ni1=st.integers(0, 15),
)
def test_decoders_raise_only_decode_error(
    st11_raw: bytes, data: bytes, order: ByteOrder, ni1: int
) -> None:
    # Any bytes, any ST11, any NI format (including undefined ones): a result or DecodeError.
    cfg = sources_cfg(order, ni1=ni1)
    st11 = decode_st11(st11_raw, cfg)
    errors: list[DecodeError] = []
    for decoder in (decode_st12, decode_st15, decode_st16):
        try:
            decoder(data, cfg, st11)
        except DecodeError as exc:
            errors.append(exc)
    assert all(e.table in (12, 15, 16) and str(e).startswith("ST1") for e in errors)


@given(data=st.binary(max_size=16))
def test_st11_any_bytes(data: bytes) -> None:
    cfg = sources_cfg()
    if len(data) == 8:
        got = decode_st11(data, cfg)
        assert (got.nbr_uom_entries, got.nbr_sources) == (data[1], data[7])
    else:
        with pytest.raises(DecodeError):
            decode_st11(data, cfg)
