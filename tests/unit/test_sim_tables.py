"""C12.19 tables the simulated meter serves, checked against bytes computed by hand."""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime
from typing import Literal

import pytest

from simulators.c1218.sources import ELEMENT_SEGMENTATION, meter_sources
from simulators.c1218.tables import NI_SIZES, MeterTables, TableCodec
from simulators.scenario import MODEL_ELEMENTS, Scenario, load_scenario, parse_scenario

T0 = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC).timestamp()  # a Friday


def scenario_16s(
    *, order: str, ni1: int = 8, ni2: int = 8, tm: int = 2, extra: str = ""
) -> Scenario:
    """A 16S meter with round numbers: 120 V, 10 A; A lags 30°, B's CT is reversed."""
    text = f"""
name = "hand-computed"
[meter]
model = "SIM-16S"
data_order = "{order}"
tm_format = {tm}
ni_format1 = {ni1}
ni_format2 = {ni2}
[clock]
drift_seconds = 0
[status]
flags = ["low_battery", "tamper_detect"]
[site]
frequency = 59.98
temperature_c = -4.5
[[phase]]
name = "A"
voltage = 120.0
current = 10.0
voltage_angle = 0
current_angle = 30
[[phase]]
name = "B"
voltage = 120.0
current = 10.0
voltage_angle = 120
current_angle = 300
[[phase]]
name = "C"
voltage = 120.0
current = 10.0
voltage_angle = 240
current_angle = 240
{extra}
"""
    return parse_scenario(text)


def tables(scenario: Scenario | str) -> MeterTables:
    loaded = load_scenario(scenario) if isinstance(scenario, str) else scenario
    return MeterTables(loaded, started_at=T0)


# --- ST0 ------------------------------------------------------------------------------------


def test_st0_healthy_2s_byte_for_byte() -> None:
    st0 = tables("healthy-2s").read(0, T0)
    assert st0 is not None
    expected = bytes.fromhex(
        "02"  # DATA_ORDER 0 (little), CHAR_FORMAT 1
        "02"  # TM_FORMAT 2
        "88"  # NI_FORMAT1 8, NI_FORMAT2 8
        "464b4954"  # DEVICE_CLASS "FKIT"
        "02 00 08 0c 01 00"  # electric, no default set, SP10 needs 8 bytes / answers 12, v1.0
        "0a 00 02 00 01 00"  # 10 bytes of table set, 2 of procedures, 1 MFG status byte
        # tables 0,1,2,3,5,7 | 8,11,12 | 16,21,22,23 | 27,28 | 51,52,55 | 71 | 76
        "af 19 e1 18 00 00 98 00 80 10"
        "00 06"  # procedures 9 and 10
        "80 00 00 00 00 00 00 00 00 00"  # ST7 is writable (it starts procedures)
    )
    assert st0 == expected


def test_st0_lists_st74_only_with_history_and_formats_of_16s() -> None:
    t = tables("healthy-16s")
    st0 = t.read(0, T0)
    assert st0 is not None
    assert st0[0] & 0x01 == 1  # big-endian
    assert st0[1] & 0x07 == 1  # BCD time
    assert st0[2] == 0x8A  # NI1 INT48 (10), NI2 INT32 (8)
    assert st0[19 + 9] == 0x14  # 74 and 76
    assert 74 in t.served
    assert 74 not in tables("healthy-2s").served


# --- ST3 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "status1"), [("little", "0011"), ("big", "1100")]
)  # low_battery = bit 8, tamper_detect = bit 12
def test_st3_status_flags_in_both_byte_orders(order: str, status1: str) -> None:
    st3 = tables(scenario_16s(order=order)).read(3, T0)
    assert st3 == bytes.fromhex("01" + status1 + "00" + "00")


def test_st3_of_tamper_scenario_sets_bits_12_and_13() -> None:
    st3 = tables("tamper-2s").read(3, T0)
    assert st3 is not None
    assert int.from_bytes(st3[1:3], "little") == 0x3000


# --- ST21, ST22, ST27 -----------------------------------------------------------------------


def test_st21_22_27_shape_for_three_elements() -> None:
    t = tables(scenario_16s(order="little"))
    assert t.read(21, T0) == bytes((0x06, 0, 0, 4, 1, 0, 1, 0, 1, 25))
    assert t.read(22, T0) == bytes((0, 1, 2, 3, 4, 0x01))
    assert t.read(27, T0) == bytes((4, *range(5, 30)))  # present value j is source 5 + j


def test_st21_for_one_element() -> None:
    st21 = tables("healthy-2s").read(21, T0)
    assert st21 is not None
    assert st21[9] == 11  # 7 × 1 + 4


# --- sources: ST11, ST12, ST16 and the route from a present value to a unit ----------------

SHIPPED_MODELS = {"healthy-2s": 1, "healthy-16s": 3}
# ST12 MULTIPLIER code → power of ten (addendum §B.2), written out again on purpose.
POWER_OF_CODE = {0: 0, 1: 2, 2: 3, 3: 6, 4: 9, 5: -2, 6: -3, 7: -6}


def _uom(entry: int) -> tuple[int, int, int, int, bool]:
    """ID_CODE, TIME_BASE, MULTIPLIER, SEGMENTATION, NFS of one ST12 entry."""
    return entry & 0xFF, entry >> 8 & 7, entry >> 11 & 7, entry >> 19 & 7, bool(entry >> 31)


def _read(t: MeterTables, table_id: int) -> bytes:
    data = t.read(table_id, T0)
    assert data is not None, f"ST{table_id} is not served"
    return data


def _data_order(t: MeterTables) -> Literal["big", "little"]:
    """DATA_ORDER as a reader takes it from ST0 (bit 0 of the first byte)."""
    return "big" if _read(t, 0)[0] & 0x01 else "little"


def _entries(t: MeterTables) -> list[int]:
    st12 = _read(t, 12)
    return [int.from_bytes(st12[i : i + 4], _data_order(t)) for i in range(0, len(st12), 4)]


def _route(t: MeterTables) -> dict[tuple[int, int], float]:
    """What a reader with no profile finds: (ID_CODE, SEGMENTATION) → value in units.

    Follows addendum §B.5 with the bit walk for the ST12 index; NFS entries are skipped.
    """
    st16, st21, st27, st28 = (_read(t, n) for n in (16, 21, 27, 28))
    ni1 = t.codec.ni_format1
    size = {1: 4, 8: 4, 9: 5, 10: 6}[ni1]
    entries = _entries(t)
    order = _data_order(t)
    found: dict[tuple[int, int], float] = {}
    for j in range(st21[9]):
        source = st27[1 + j]  # one present demand comes first
        assert st16[source] & 0x01, "every source has a unit"
        u = sum(1 for flags in st16[:source] if flags & 0x01)
        id_code, time_base, code, seg, nfs = _uom(entries[u])
        if nfs:
            continue
        assert time_base == 1  # present values are instantaneous
        raw_bytes = st28[4 + j * size : 4 + (j + 1) * size]
        if ni1 == 1:
            (raw,) = struct.unpack((">" if order == "big" else "<") + "f", raw_bytes)
        else:
            raw = int.from_bytes(raw_bytes, order, signed=True)
        assert (id_code, seg) not in found, "two present values with the same label"
        found[(id_code, seg)] = raw * 10.0 ** POWER_OF_CODE[code]
    return found


@pytest.mark.parametrize(
    ("order", "volts_b", "wh_delivered", "varh_delivered", "pf_a"),
    [
        ("little", "08293000", "00400200", "01c00000", "18012880"),
        ("big", "00302908", "00024000", "0000c001", "80280118"),
    ],
)
def test_st12_entries_by_hand_in_both_byte_orders(
    order: str, volts_b: str, wh_delivered: str, varh_delivered: str, pf_a: str
) -> None:
    st12 = tables(scenario_16s(order=order)).read(12, T0)
    assert st12 is not None
    assert len(st12) == 4 * 30

    def entry(source: int) -> str:
        return st12[4 * source : 4 * source + 4].hex()

    # Wh delivered: ID 0, bulk, 10^0, Q1 (bit 14) + Q4 (bit 17) → 0x00024000
    assert entry(0) == wh_delivered
    # varh delivered: ID 1, bulk, 10^0, Q1 + Q2 (bits 14, 15): positive var → 0x0000C001
    assert entry(2) == varh_delivered
    # phase B volts = present value 1 → source 6: ID 8, TIME_BASE 1 (bit 8), MULTIPLIER 5
    # (bits 11–13: 0x2800), SEGMENTATION 6 B–N (bits 19–21: 0x300000) → 0x00302908
    assert entry(6) == volts_b
    # PF of A = present value 12 → source 17: ID 24, TIME_BASE 1, SEGMENTATION 5, MULTIPLIER
    # 0 and NFS (bit 31): no code says 10^-4 → 0x80280118
    assert entry(17) == pf_a


def test_st12_remaining_kinds_little_endian() -> None:
    st12 = tables(scenario_16s(order="little")).read(12, T0)
    assert st12 is not None

    def entry(source: int) -> str:
        return st12[4 * source : 4 * source + 4].hex()

    assert entry(1) == "00800100"  # Wh received: Q2 + Q3 (bits 15, 16)
    assert entry(3) == "01000300"  # varh received: Q3 + Q4 (bits 16, 17)
    assert entry(4) == "00440200"  # W demand: TIME_BASE 4 block (0x400), Q1 + Q4
    assert entry(5 + 3) == "0c312800"  # I A: ID 12, 10^-3 (code 6 = 0x3000), A–N
    assert entry(5 + 8) == "14293800"  # V angle C: ID 20, 10^-2, C–N
    assert entry(5 + 10) == "16293000"  # I angle B: ID 22, 10^-2, B–N
    assert entry(5 + 17) == "00013800"  # W C: ID 0, 10^0, C–N
    assert entry(5 + 20) == "01013800"  # var C: ID 1
    assert entry(5 + 21) == "21290000"  # frequency: ID 33, 10^-2, not phase related
    assert entry(5 + 22) == "46010080"  # temperature °C: ID 70, NFS (raw is 10^-1)
    assert entry(5 + 23) == "00010000"  # total W
    assert entry(5 + 24) == "01010000"  # total var


def test_st12_of_2s_describes_the_line_to_line_element() -> None:
    t = tables("healthy-2s")
    entries = _entries(t)
    assert len(entries) == 5 + 11
    assert entries[5] == 0x00082908  # 240 V element: ID 8, 10^-2, SEGMENTATION 1 (A–B)
    per_element = entries[5 : 5 + 7]
    assert {_uom(e)[3] for e in per_element} == {1}  # every element quantity is A–B
    assert {_uom(e)[3] for e in entries[5 + 7 :]} == {0}  # site values are totals


@pytest.mark.parametrize(("name", "n"), SHIPPED_MODELS.items())
def test_st11_st16_counts_agree_with_st21_st27_st28(name: str, n: int) -> None:
    t = tables(name)
    st11, st12, st16, st21, st22, st27, st28 = (_read(t, x) for x in (11, 12, 16, 21, 22, 27, 28))
    values = st21[9]
    sources = 5 + values
    assert values == 7 * n + 4
    # block demand, NBR_UOM_ENTRIES, no ST13/14/15 entries, electric constants, NBR_SOURCES
    assert st11 == bytes((0x04, sources, 0, 0, 0, 0, 2, sources))
    assert st16 == bytes([0x11] * sources)  # UOM entry + engineering units, no ST15
    assert len(st12) == 4 * st11[1]
    assert len(st27) == 1 + values
    meter = t.scenario.meter
    assert len(st28) == NI_SIZES[meter.ni_format2] + NI_SIZES[meter.ni_format1] * values
    assert list(st27[1:]) == list(range(5, sources))  # present value j → source 5 + j
    assert max(st27) < st11[7]
    # ST22 summations 0–3 are bulk energy, the demand 4 a block demand; ST27 demand too
    entries = _entries(t)
    assert [_uom(entries[s])[:2] for s in st22[:4]] == [(0, 0), (0, 0), (1, 0), (1, 0)]
    assert _uom(entries[st22[4]])[:2] == (0, 4)
    assert st27[0] == st22[4]


@pytest.mark.parametrize(("order", "ni1"), [("little", 8), ("big", 10), ("little", 1)])
def test_reader_without_profile_finds_units_and_phases(order: str, ni1: int) -> None:
    found = _route(tables(scenario_16s(order=order, ni1=ni1)))
    approx = pytest.approx
    assert found[(8, 6)] == approx(120.0)  # phase B RMS volts
    assert found[(12, 5)] == approx(10.0)  # phase A current
    assert found[(20, 7)] == approx(240.0)  # VC angle
    assert found[(22, 6)] == approx(300.0)  # IB angle: the reversed CT
    assert found[(0, 6)] == approx(-1200.0)  # W of B
    assert found[(1, 5)] == approx(600.0, abs=0.5)  # var of A, lagging
    assert found[(33, 0)] == approx(59.98)
    assert found[(0, 0)] == approx(1039.23, abs=0.5)  # total W
    # Power factor and temperature are NFS: nothing is labelled from them.
    assert not any(key[0] in (24, 70) for key in found)
    assert len(found) == 25 - 3 - 1


@pytest.mark.parametrize("name", ["healthy-2s", "healthy-16s", "voltage-imbalance-16s"])
def test_route_agrees_with_the_scenario(name: str) -> None:
    scenario = load_scenario(name)
    found = _route(tables(scenario))
    segs = (1,) if len(scenario.phase) == 1 else (5, 6, 7)
    for phase, seg in zip(scenario.phase, segs, strict=True):
        assert found[(8, seg)] == pytest.approx(phase.voltage)
        assert found[(12, seg)] == pytest.approx(phase.current)
        assert found[(22, seg)] == pytest.approx(phase.current_angle % 360)
    assert found[(33, 0)] == pytest.approx(scenario.site.frequency)


def test_st0_lists_the_source_tables_but_no_st15() -> None:
    for name in SHIPPED_MODELS:
        t = tables(name)
        assert {11, 12, 16} <= set(t.standard_ids)
        assert 15 not in t.standard_ids
        assert t.read(15, T0) is None


# --- ST28 -----------------------------------------------------------------------------------


def _value(st28: bytes, index: int, size: int, order: str, demand_size: int = 4) -> int:
    at = demand_size + index * size
    return int.from_bytes(st28[at : at + size], order, signed=True)  # type: ignore[arg-type]


def test_st28_values_little_endian_int32_by_hand() -> None:
    st28 = tables(scenario_16s(order="little")).read(28, T0)
    assert st28 is not None
    assert len(st28) == 4 + 25 * 4
    # present demand = total W: A 1039.2 + B −1200 + C 1200
    assert st28[0:4] == (1039).to_bytes(4, "little")
    four = [st28[4 + 4 * i : 8 + 4 * i] for i in range(25)]
    assert four[0] == bytes.fromhex("e02e0000")  # VA 12000 = 120.00 V
    assert four[3] == bytes.fromhex("10270000")  # IA 10000 = 10.000 A
    assert four[7] == bytes.fromhex("e02e0000")  # VB angle 12000 = 120.00°
    assert four[9] == bytes.fromhex("b80b0000")  # IA angle 3000 = 30.00°
    assert four[10] == bytes.fromhex("30750000")  # IB angle 30000 = 300.00°
    assert four[12] == bytes.fromhex("d4210000")  # PF A 8660 = cos 30°
    assert four[13] == bytes.fromhex("f0d8ffff")  # PF B −10000: reversed CT
    assert four[15] == bytes.fromhex("0f040000")  # P A 1039 W
    assert four[16] == bytes.fromhex("50fbffff")  # P B −1200 W
    assert four[18] == bytes.fromhex("58020000")  # Q A 600 var (lagging is positive)
    assert four[21] == bytes.fromhex("6e170000")  # 5998 = 59.98 Hz
    assert four[22] == bytes.fromhex("d3ffffff")  # −45 = −4.5 °C
    assert four[23] == bytes.fromhex("0f040000")  # total P 1039 W


def test_st28_values_big_endian_int48_by_hand() -> None:
    st28 = tables(scenario_16s(order="big", ni1=10)).read(28, T0)
    assert st28 is not None
    assert len(st28) == 4 + 25 * 6
    assert st28[4:10] == bytes.fromhex("000000002ee0")  # VA
    assert _value(st28, 8, 6, "big") == 24000  # VC angle
    assert st28[4 + 16 * 6 : 4 + 17 * 6] == bytes.fromhex("fffffffffb50")  # P B −1200
    assert _value(st28, 24, 6, "big") == 600  # total Q: only A contributes


def test_st28_int40_and_float_formats() -> None:
    st28 = tables(scenario_16s(order="big", ni1=9)).read(28, T0)
    assert st28 is not None
    assert _value(st28, 22, 5, "big") == -45
    floats = tables(scenario_16s(order="little", ni1=1, ni2=1)).read(28, T0)
    assert floats is not None
    values = struct.unpack("<" + "f" * 26, floats)
    assert values[0] == pytest.approx(1039.23, abs=0.01)  # unrounded demand
    assert values[1] == pytest.approx(12000.0)
    assert values[1 + 12] == pytest.approx(8660.25, abs=0.01)


def test_st28_healthy_2s_matches_the_scenario() -> None:
    st28 = tables("healthy-2s").read(28, T0)
    assert st28 is not None
    values = [_value(st28, i, 4, "little") for i in range(11)]
    assert values[0] == 24120  # 241.2 V
    assert values[1] == 18400  # 18.4 A
    assert values[2:4] == [0, 1800]
    assert values[4] == round(math.cos(math.radians(18)) * 10000)
    assert values[7] == 6000
    assert values[8] == 340
    assert values[5] == values[9] == round(241.2 * 18.4 * math.cos(math.radians(18)))


# --- ST23 -----------------------------------------------------------------------------------


def test_st23_registers_grow_with_time() -> None:
    t = tables("healthy-2s")
    start = t.read(23, T0)
    later = t.read(23, T0 + 3600)
    assert start is not None
    assert later is not None
    assert len(start) == 1 + 4 * 4 + 5 + 4
    assert start[0] == 27  # demand resets
    wh = int.from_bytes(start[1:5], "little")
    assert wh == 18_452_600
    grown = int.from_bytes(later[1:5], "little") - wh
    assert grown == math.floor(241.2 * 18.4 * math.cos(math.radians(18)))  # one hour of load
    assert int.from_bytes(later[5:9], "little") == 0  # nothing received
    assert int.from_bytes(start[22:26], "little") == 6800  # max demand in W


def test_st23_demand_time_is_stime_in_meter_time() -> None:
    # healthy-2s: demand 150 h before start, drift +2 s → 2025-03-08 09:09 (seconds dropped)
    st23 = tables("healthy-2s").read(23, T0)
    assert st23 is not None
    assert st23[17:22] == bytes((25, 3, 8, 9, 9))


# --- clock ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tm", "expected"),
    [(2, "19030e0f091a15"), (1, "25031415092615")],  # Friday = 5, GMT flag 0x10
)
def test_st52_clock_uint8_and_bcd(tm: int, expected: str) -> None:
    st52 = tables(scenario_16s(order="big", tm=tm)).read(52, T0)
    assert st52 == bytes.fromhex(expected)


def test_st52_applies_drift() -> None:
    st52 = tables("clock-drift-2s").read(52, T0)
    assert st52 is not None
    assert st52[3:6] == bytes((15, 18, 26))  # 9 minutes fast


def test_st52_local_zone_with_dst() -> None:
    extra = '[clock]\nutc = false\ntimezone = "America/Chicago"\n'
    scenario = scenario_16s(order="little").model_copy(
        update={"clock": parse_scenario(_minimal(extra)).clock}
    )
    st52 = tables(scenario).read(52, T0)
    # 10:09:26 CDT; Friday 5 | DST 0x08 | zone applied 0x20 | DST applied 0x40
    assert st52 == bytes.fromhex("19030e0a091a6d")


def test_st55_is_st52_plus_status() -> None:
    t = tables("healthy-2s")
    assert t.read(55, T0) == (t.read(52, T0) or b"") + b"\x00\x00"


def _minimal(extra: str) -> str:
    return f'name = "m"\n[[phase]]\nname = "A"\nvoltage = 240\ncurrent = 1\n{extra}'


# --- logs -----------------------------------------------------------------------------------


def test_st71_log_sizes() -> None:
    assert tables("healthy-2s").read(71, T0) == bytes.fromhex("07 0a 00 02 02 1000 2000")
    assert tables("healthy-16s").read(71, T0) == bytes.fromhex("07 0a 00 02 02 0010 0020")


def test_st76_entries_in_order_with_times() -> None:
    st76 = tables("healthy-2s").read(76, T0)
    assert st76 is not None
    assert len(st76) == 11 + 32 * 16
    # circular, no overflow, 3 valid, newest in slot 2, seq 3, 3 unread
    assert st76[:11] == bytes.fromhex("04 0300 0200 03000000 0300")
    first = st76[11:27]
    # demand reset (20) 720 h before 15:09:28 (drift +2 s) = 2025-02-12 15:09:28
    assert first == bytes.fromhex("19020c0f091c 0100 0100 0000 1400 0000")
    third = st76[11 + 32 : 11 + 48]
    assert third[6:8] == (3).to_bytes(2, "little")
    assert third[12:14] == (2).to_bytes(2, "little")  # power up is the newest
    assert st76[11 + 48 :] == bytes(29 * 16)


def test_st74_wraps_when_there_are_more_entries_than_slots() -> None:
    st74 = tables("healthy-16s").read(74, T0)
    assert st74 is not None
    assert len(st74) == 11 + 16 * 16
    flags = st74[0]
    assert flags & 0x02  # overflow
    assert int.from_bytes(st74[1:3], "big") == 16  # valid entries
    assert int.from_bytes(st74[3:5], "big") == 3  # 20 entries: the newest is in slot 3
    assert int.from_bytes(st74[5:9], "big") == 20
    seqs = [int.from_bytes(st74[11 + 16 * s + 8 : 11 + 16 * s + 10], "big") for s in range(16)]
    assert seqs == [17, 18, 19, 20, *range(5, 17)]


def test_event_arguments_and_manufacturer_flag() -> None:
    extra = """
[[event]]
code = 41
age_hours = 1
argument = "abcd"
user_id = 7
manufacturer = true
"""
    st76 = tables(parse_scenario(_minimal(extra))).read(76, T0)
    assert st76 is not None
    entry = st76[11:27]
    assert entry[10:12] == (7).to_bytes(2, "little")
    assert entry[12:14] == (0x0800 | 41).to_bytes(2, "little")
    assert entry[14:16] == bytes.fromhex("abcd")


# --- other tables and the codec -------------------------------------------------------------


def test_st1_st2_st5_text_fields() -> None:
    t = tables("healthy-16s")
    st2 = t.read(2, T0)
    assert st2 is not None
    assert len(st2) == 33
    assert st2[:6] == b"7.2   "
    assert st2[13:18] == b"16S  "
    assert int.from_bytes(st2[18:20], "big") >> 3 & 0x07 == 3  # three elements
    assert t.read(5, T0) == b"M16-0054321".ljust(20)
    assert t.read(51, T0) == bytes(9)


def test_codec_saturates_instead_of_wrapping() -> None:
    codec = TableCodec(data_order="little", tm_format=2, ni_format1=7, ni_format2=8)
    assert codec.ni1(10_000_000) == bytes.fromhex("ffff7f")  # INT24 maximum
    assert codec.ni1(-10_000_000) == bytes.fromhex("000080")
    assert codec.ni1(math.nan) == bytes(3)


def test_unknown_table_is_none() -> None:
    assert tables("healthy-2s").read(9, T0) is None


def test_every_model_places_each_of_its_elements() -> None:
    for model, elements in MODEL_ELEMENTS.items():
        sources = meter_sources(model, elements)
        assert len(sources) == 5 + 7 * len(elements) + 4
        assert len(ELEMENT_SEGMENTATION[model]) == len(elements)
    with pytest.raises(ValueError, match="SIM-16S has 3 elements"):
        meter_sources("SIM-16S", ("A",))
