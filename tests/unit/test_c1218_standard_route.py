"""The standard C12.19 route: units and phases from ST11/ST12/ST15/ST16 for meters with no
profile, from the addendum's worked example up to a whole driver read.

Tables are hand-built bytes (encoders in ``test_c1219_sources`` / ``test_c1219_tables``,
written from the reference layouts); the driver test runs the real simulated meter
in-process on a simulated clock, with these tables served in place of its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.drivers.c1218 import tables as t
from fieldkit.drivers.c1218.client import SessionConfig
from fieldkit.drivers.c1218.driver import C1218Driver, C1218Options
from fieldkit.drivers.c1218.profile import (
    PHASE_QUANTITIES,
    SITE_QUANTITIES,
    MeterProfile,
    ProfileRegistry,
    QuantitySpec,
)
from fieldkit.drivers.c1218.snapshot import TableSet, build_snapshot
from fieldkit.drivers.c1218.standard_route import (
    PresentQuantity,
    SourceCatalog,
    present_quantities,
    standard_registers,
)
from fieldkit.model import MeterSnapshot, PhaseQuantities, Register
from simulators.c1218.meter import C1218Meter
from simulators.c1218.options import SimOptions, resolve_settings
from simulators.scenario import load_scenario
from tests.unit.test_c1219_sources import UOMS, Uom, constants_record, st11_bytes, st12_bytes
from tests.unit.test_c1219_tables import (
    encode_ltime,
    encode_ni,
    make_cfg,
    st0_bytes,
    st21_bytes,
)

READ_AT = datetime(2025, 3, 14, 15, 10, tzinfo=UTC)
T0 = 1_741_964_966.0  # 2025-03-14 15:09:26 UTC

# ST12 MULTIPLIER codes used below.
X1, X1000, CENTI, MILLI = 0, 2, 5, 6

# ST16 flag bytes.
UNITS = 0x11  # UOM_ENTRY_FLAG + engineering units
NO_UNIT = 0x10  # engineering units, no ST12 entry
PULSES = 0x01  # ST12 entry, counts pulses
APPLY_CONSTANTS = 0x39  # + CONSTANTS_FLAG + CONSTANT_TO_BE_APPLIED
CONSTANTS_APPLIED = 0x19  # + CONSTANTS_FLAG, already applied by the meter


def volts(seg: int, time_base: int = 1) -> Uom:
    return Uom(8, time_base=time_base, multiplier=CENTI, segmentation=seg)


def amps(seg: int) -> Uom:
    return Uom(12, time_base=1, multiplier=MILLI, segmentation=seg)


def catalog(
    entries: Sequence[Uom],
    flags: Sequence[int] | None = None,
    *,
    st11_flags: int = 0,
    constants: bytes | None = None,
    nbr_constants: int = 0,
    order: t.ByteOrder = "little",
) -> SourceCatalog:
    """Decode hand-built ST11/ST12/ST16 (and ST15) bytes into a catalog."""
    cfg = make_cfg(order=order, ni1=10)
    flags = [UNITS] * len(entries) if flags is None else flags
    raw11 = st11_bytes(
        flags=st11_flags, uom=len(entries), constants=nbr_constants, sources=len(flags)
    )
    st11 = t.decode_st11(raw11, cfg)
    st12 = t.decode_st12(st12_bytes(list(entries), order), cfg, st11)
    st16 = t.decode_st16(bytes(flags), cfg, st11)
    st15 = None if constants is None else t.decode_st15(constants, cfg, st11)
    return SourceCatalog.build(st11, st12, st16, st15)


def present(
    cat: SourceCatalog, selects: Sequence[int], values: Sequence[float]
) -> list[PresentQuantity]:
    st27 = t.PresentRegisterSelect(demand_select=(), value_select=tuple(selects))
    st28 = t.PresentRegisterData(demands=(), values=tuple(values))
    return list(present_quantities(cat, st27, st28).values)


# --- the addendum's worked example (§B.5) ----------------------------------------------------


@pytest.mark.parametrize("order", ["little", "big"])
def test_addendum_worked_example_is_240_50_volts_on_phase_b(order: t.ByteOrder) -> None:
    cfg = make_cfg(order=order, ni1=10, ni2=9, std_tables=(0, 1, 11, 12, 16, 21, 27, 28))
    # 14 sources, every ST16 flag 0x11; sources 0–12 are counters the kit does not name.
    entries = [Uom(34, time_base=7)] * 13
    word = bytes.fromhex("08293000")  # ST12[13] as the addendum prints it (little-endian)
    raw12 = st12_bytes(entries, order) + (word if order == "little" else word[::-1])
    st11 = t.decode_st11(st11_bytes(uom=14, sources=14), cfg)
    cat = SourceCatalog.build(
        st11, t.decode_st12(raw12, cfg, st11), t.decode_st16(bytes([0x11] * 14), cfg, st11)
    )
    st21 = t.decode_st21(st21_bytes(present_values=4), cfg)
    st27 = t.decode_st27(bytes([0, 1, 2, 13]), cfg, st21)
    value = bytes.fromhex("F25D00000000")  # 24050, INT48 little-endian
    raw28 = bytes(18) + (value if order == "little" else value[::-1])
    st28 = t.decode_st28(raw28, cfg, st21)
    assert raw28[18:24] == (value if order == "little" else value[::-1])  # offset 18

    found = present_quantities(cat, st27, st28)

    assert found.values == (PresentQuantity(3, 13, "voltage", "B", 240.5),)
    assert found.phases() == (PhaseQuantities("B", voltage=240.5),)
    assert found.site() == {}
    assert cat.warnings == ()


def test_other_addendum_encodings_current_frequency_and_total_pf() -> None:
    words = ["0C012800", "18010000", "21290000"]  # I_A inst., total PF, frequency ×10^-2
    cfg = make_cfg(ni1=10)
    st11 = t.decode_st11(st11_bytes(uom=3, sources=3), cfg)
    st12 = t.decode_st12(bytes.fromhex("".join(words)), cfg, st11)
    cat = SourceCatalog.build(st11, st12, t.decode_st16(bytes([0x11] * 3), cfg, st11))
    got = present(cat, [0, 1, 2], [15, 98, 6001])
    assert got == [
        PresentQuantity(0, 0, "current", "A", 15.0),
        PresentQuantity(2, 2, "frequency", None, 60.01),
    ]  # a site-wide power factor has no place in the snapshot: total PF is not named


def test_addendum_kwh_delivered_register() -> None:
    cfg = make_cfg(ni1=10)
    st11 = t.decode_st11(st11_bytes(uom=1, sources=1), cfg)
    st12 = t.decode_st12(bytes.fromhex("00500200"), cfg, st11)  # Q1+Q4, bulk, ×10^3
    cat = SourceCatalog.build(st11, st12, t.decode_st16(bytes([0x11]), cfg, st11))
    assert cat.scale(0, 18452) == 18_452_000.0  # Wh
    regs = standard_registers(cat, selection(sums=[0]), registers_data(sums=[18452]))
    assert regs == (Register("kwh_delivered", 18452.0, "kWh", "Energy delivered (Q1+Q4)"),)


# --- finding a source's unit: the bit walk ---------------------------------------------------


def test_bit_walk_skips_sources_without_a_unit() -> None:
    # Sources 1 and 3 have no ST12 entry: ST12 holds three entries, for sources 0, 2, 4.
    cat = catalog([volts(5), volts(6), volts(7)], [UNITS, NO_UNIT, UNITS, NO_UNIT, UNITS])
    assert cat.warnings == ()
    assert [cat.uom_entry(s) for s in (1, 3)] == [None, None]
    assert [e.segmentation for s in (0, 2, 4) if (e := cat.uom_entry(s))] == [5, 6, 7]
    got = present(cat, [0, 1, 2, 3, 4], [12000, 99, 12100, 99, 12200])
    assert [(q.name, q.phase, q.value) for q in got] == [
        ("voltage", "A", 120.0),
        ("voltage", "B", 121.0),
        ("voltage", "C", 122.0),
    ]
    assert cat.why_unscaled(1) == "ST16: source 1 has no unit of measure (UOM_ENTRY_FLAG clear)"


def test_entry_count_mismatch_keeps_only_sources_both_indexings_agree_on() -> None:
    # A meter that indexes ST12 directly: one entry per source although two flags are 0.
    filler = Uom(34, time_base=7)
    entries = [volts(5), filler, volts(6), filler, volts(7)]
    cat = catalog(entries, [UNITS, NO_UNIT, UNITS, NO_UNIT, UNITS])
    assert len(cat.warnings) == 1
    assert "ST12 has 5 entries but ST16 sets UOM_ENTRY_FLAG on 3 sources" in cat.warnings[0]
    entry0 = cat.uom_entry(0)
    assert entry0 is not None
    assert entry0.segmentation == 5
    # The bit walk would give source 2 the filler entry 1: not labelled rather than mislabelled.
    assert cat.uom_entry(2) is None
    assert cat.uom_entry(4) is None
    got = present(cat, [0, 2, 4], [12000, 12100, 12200])
    assert [(q.name, q.phase) for q in got] == [("voltage", "A")]


def test_fewer_entries_than_flags_leaves_the_last_sources_without_a_unit() -> None:
    cfg = make_cfg(ni1=10)
    st11 = t.decode_st11(st11_bytes(uom=3, sources=4), cfg)
    st12 = t.decode_st12(st12_bytes([volts(5), volts(6), volts(7)], "little"), cfg, st11)
    cat = SourceCatalog.build(st11, st12, t.decode_st16(bytes([UNITS] * 4), cfg, st11))
    assert cat.warnings
    assert [cat.uom_entry(s) is not None for s in range(4)] == [True, True, True, False]
    assert cat.uom_entry(99) is None
    assert cat.scale(99, 1) is None


# --- scaling ---------------------------------------------------------------------------------


def test_constants_apply_before_the_st12_power_of_ten() -> None:
    record = constants_record(2, 10, [], 10, "little")
    cat = catalog([volts(5)], [APPLY_CONSTANTS], constants=record, nbr_constants=1)
    assert cat.scale(0, 12000) == pytest.approx((12000 * 2 + 10) / 100)


def test_constants_the_meter_already_applied_are_not_applied_again() -> None:
    record = constants_record(2, 10, [], 10, "little")
    cat = catalog([volts(5)], [CONSTANTS_APPLIED], constants=record, nbr_constants=1)
    assert cat.scale(0, 24010) == pytest.approx(240.1)


def test_constants_records_follow_the_constants_flags() -> None:
    # Only source 1 has CONSTANTS_FLAG: it takes ST15 record 0.
    record = constants_record(4, None, [], 10, "little")
    cat = catalog([volts(5), volts(6)], [UNITS, APPLY_CONSTANTS], constants=record, nbr_constants=1)
    assert cat.scale(0, 100) == 1.0
    assert cat.scale(1, 100) == 4.0


def test_transformer_ratios_are_not_applied_values_stay_secondary() -> None:
    record = constants_record(1, 0, [(0x00, 80, 20)], 10, "little")  # SET1 not applied
    cat = catalog([volts(5)], [APPLY_CONSTANTS], st11_flags=0x20, constants=record, nbr_constants=1)
    const = cat.constants_for(0)
    assert const is not None
    assert const.set1 is not None
    assert const.set1.ratio_p1 == 20.0
    assert cat.scale(0, 12000) == 120.0


def test_constants_needed_but_missing_leave_the_value_unscaled() -> None:
    cat = catalog([volts(5)], [APPLY_CONSTANTS])  # no ST15
    assert cat.scale(0, 12000) is None
    assert "no usable ST15" in cat.warnings[0]
    assert cat.why_unscaled(0) == (
        "ST15: the constants of source 0 cannot be located (the meter has no ST15)"
    )
    found = present_quantities(
        cat,
        t.PresentRegisterSelect((), (0,)),
        t.PresentRegisterData((), (12000.0,)),
    )
    assert found.values == ()
    assert found.notes == ("present value 0 (voltage): " + str(cat.why_unscaled(0)),)


def test_pulse_counts_need_constants() -> None:
    cat = catalog([volts(5)], [PULSES])
    assert cat.scale(0, 12000) is None
    assert "counts pulses" in str(cat.why_unscaled(0))
    record = constants_record(0.01, None, [], 1, "little")  # FLOAT32 Ke
    cfg = make_cfg(ni1=1)
    st11 = t.decode_st11(st11_bytes(uom=1, constants=1, sources=1), cfg)
    st12 = t.decode_st12(st12_bytes([Uom(8, time_base=1)], "little"), cfg, st11)
    st16 = t.decode_st16(bytes([PULSES | 0x28]), cfg, st11)  # pulses, constants to apply
    with_ke = SourceCatalog.build(st11, st12, st16, t.decode_st15(record, cfg, st11))
    assert with_ke.scale(0, 12000) == pytest.approx(120.0)


def test_nfs_entries_are_not_scaled_or_named() -> None:
    cat = catalog([Uom(8, time_base=1, segmentation=5, nfs=True)])
    assert cat.scale(0, 1) is None
    assert present(cat, [0], [1]) == []


# --- naming: quantity and element ------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "raw", "expected"),
    [
        (volts(5), 12010, ("voltage", "A", 120.1)),
        (volts(7), 12010, ("voltage", "C", 120.1)),
        (volts(5, time_base=2), 12010, ("voltage", "A", 120.1)),  # one fundamental period
        (volts(1), 24000, ("voltage", "A", 240.0)),  # 2S: the L1–L2 element is A
        (volts(3), 24000, ("voltage", "C", 240.0)),  # C–A
        (Uom(20, 1, CENTI, segmentation=6), 12000, ("voltage_angle", "B", 120.0)),
        (Uom(22, 1, CENTI, segmentation=5), -3000, ("current_angle", "A", 330.0)),
        (Uom(24, 1, MILLI, segmentation=5), 985, ("power_factor", "A", 0.985)),
        (Uom(25, 1, MILLI, segmentation=6), 871, ("power_factor", "B", 0.871)),
        (Uom(0, 1, X1, segmentation=5), 1500, ("active_power", "A", 1500.0)),
        (Uom(0, 1, X1000, segmentation=0), 12, ("total_active_power", None, 12000.0)),
        (Uom(1, 2, X1, segmentation=7), -310, ("reactive_power", "C", -310.0)),
        (Uom(1, 1, X1, segmentation=0), 900, ("total_reactive_power", None, 900.0)),
        (Uom(33, 1, CENTI), 5998, ("frequency", None, 59.98)),
        (Uom(70, 1, CENTI), 2550, ("temperature_c", None, 25.5)),
        (Uom(72, 1, X1), 77, ("temperature_c", None, 25.0)),  # °F
        (Uom(74, 1, CENTI), 30000, ("temperature_c", None, 26.85)),  # K
        (amps(6), 12600, ("current", "B", 12.6)),
    ],
)
def test_present_value_names(entry: Uom, raw: int, expected: tuple[str, str | None, float]) -> None:
    (got,) = present(catalog([entry]), [0], [raw])
    assert (got.name, got.phase) == expected[:2]
    assert got.value == pytest.approx(expected[2])


@pytest.mark.parametrize(
    "entry",
    [
        Uom(8, time_base=1, multiplier=CENTI, segmentation=5, harmonic=True),
        Uom(8, time_base=0, multiplier=CENTI, segmentation=5),  # bulk: not a present reading
        Uom(0, time_base=4, segmentation=5),  # block demand
        Uom(12, time_base=1, segmentation=4),  # N–G: neutral current
        Uom(8, time_base=1, segmentation=0),  # no site-wide voltage in a snapshot
        Uom(2, time_base=1, segmentation=5),  # VA: not a snapshot quantity
        Uom(21, time_base=1, segmentation=1),  # angle between two voltages
        Uom(71, time_base=1),  # wet-bulb temperature
    ],
)
def test_present_values_the_kit_does_not_name(entry: Uom) -> None:
    found = present_quantities(
        catalog([entry]), t.PresentRegisterSelect((), (0,)), t.PresentRegisterData((), (1.0,))
    )
    assert found.values == ()
    assert found.notes == ()


def test_unused_select_255_is_skipped() -> None:
    assert present(catalog([volts(5)]), [255, 0], [1, 12000]) == [
        PresentQuantity(1, 0, "voltage", "A", 120.0)
    ]


def test_first_source_for_a_quantity_wins() -> None:
    cat = catalog([volts(5, time_base=2), volts(5, time_base=1)])
    got = present(cat, [0, 1], [12000, 11000])
    assert [(q.index, q.value) for q in got] == [(0, 120.0)]


def test_delta_meter_vcb_pairs_with_ic_as_element_c() -> None:
    # 5S: element 1 = VAB with IA, element 2 = VCB (coded B–C) with IC.
    cat = catalog([volts(1), volts(2), amps(5), amps(7)])
    phases = present_quantities(
        cat,
        t.PresentRegisterSelect((), (0, 1, 2, 3)),
        t.PresentRegisterData((), (24000.0, 24100.0, 5000.0, 5100.0)),
    ).phases()
    assert phases == (
        PhaseQuantities("A", voltage=240.0, current=5.0),
        PhaseQuantities("C", voltage=241.0, current=5.1),
    )


def test_three_phase_wye_meter_fills_elements_in_order() -> None:
    entries = [amps(7), volts(7), volts(5), amps(5), volts(6), amps(6), Uom(33, 1, CENTI)]
    raws = [1200, 12200, 12000, 1000, 12100, 1100, 6000]
    found = present_quantities(
        catalog(entries),
        t.PresentRegisterSelect((), tuple(range(7))),
        t.PresentRegisterData((), tuple(float(r) for r in raws)),
    )
    assert found.phases() == (
        PhaseQuantities("A", voltage=120.0, current=1.0),
        PhaseQuantities("B", voltage=121.0, current=1.1),
        PhaseQuantities("C", voltage=122.0, current=1.2),
    )
    assert found.site() == {"frequency": 60.0}


@settings(max_examples=200)
@given(
    entries=st.lists(UOMS, max_size=10),
    flags=st.lists(st.integers(0, 255), max_size=12),
    selects=st.lists(st.integers(0, 255), max_size=12),
    raws=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=12),
)
def test_any_source_description_names_only_snapshot_quantities(
    entries: list[Uom], flags: list[int], selects: list[int], raws: list[float]
) -> None:
    # Whatever a meter says about its sources, the route names known quantities or nothing.
    cfg = make_cfg(ni1=10)
    st11 = t.decode_st11(st11_bytes(uom=len(entries), sources=len(flags)), cfg)
    st12 = t.decode_st12(st12_bytes(entries, "little"), cfg, st11)
    cat = SourceCatalog.build(st11, st12, t.decode_st16(bytes(flags), cfg, st11))
    found = present_quantities(
        cat,
        t.PresentRegisterSelect((), tuple(selects)),
        t.PresentRegisterData((), tuple(raws)),
    )
    for q in found.values:
        if q.phase is None:
            assert q.name in SITE_QUANTITIES
        else:
            assert q.phase in ("A", "B", "C")
            assert q.name in PHASE_QUANTITIES
        if q.name in ("voltage_angle", "current_angle") and math.isfinite(q.value):
            assert 0.0 <= q.value < 360.0
    keys = [(q.name, q.phase) for q in found.values]
    assert len(keys) == len(set(keys))
    regs = standard_registers(
        cat,
        selection(sums=selects, demands=selects, maxima=[True] * len(selects)),
        registers_data(sums=raws, demands=[demand(r, None) for r in raws]),
    )
    assert {r.id for r in regs} <= {
        "kwh_delivered",
        "kwh_received",
        "kvarh_delivered",
        "kvarh_received",
        "kw_demand_max",
    }


# --- registers -------------------------------------------------------------------------------


def selection(
    sums: Sequence[int] = (), demands: Sequence[int] = (), maxima: Sequence[bool] = ()
) -> t.DataSelection:
    return t.DataSelection(tuple(sums), tuple(demands), tuple(maxima), (), ())


def block(sums: Sequence[float] = (), demands: Sequence[t.Demand] = ()) -> t.DataBlock:
    return t.DataBlock(tuple(sums), tuple(demands), ())


def registers_data(
    sums: Sequence[float] = (),
    demands: Sequence[t.Demand] = (),
    tiers: Sequence[t.DataBlock] = (),
) -> t.CurrentRegisterData:
    return t.CurrentRegisterData(None, block(sums, demands), tuple(tiers))


def demand(value: float, when: datetime | None) -> t.Demand:
    return t.Demand(event_times=(when,), cum_demand=None, cont_cum_demand=None, values=(value,))


ENERGY_SOURCES = [
    Uom(0, 0, X1, q1=True, q4=True),  # Wh delivered
    Uom(0, 0, X1, q2=True, q3=True),  # Wh received
    Uom(1, 0, X1, q1=True, q2=True),  # varh delivered
    Uom(1, 0, X1, q3=True, q4=True),  # varh received
    Uom(0, 0, X1, q1=True, q2=True, q3=True, q4=True),  # all quadrants: no profile id
    Uom(0, 4, X1, q1=True, q4=True),  # W block demand, delivered
    Uom(0, 3, X1, q2=True, q3=True),  # W sub-block demand, received only
]


def test_energy_registers_by_quadrant() -> None:
    cat = catalog(ENERGY_SOURCES)
    regs = standard_registers(
        cat, selection(sums=[4, 0, 1, 2, 3, 255]), registers_data(sums=[9, 1500, 250, 75, 5, 1])
    )
    assert [(r.id, r.value, r.unit) for r in regs] == [
        ("kwh_delivered", 1.5, "kWh"),
        ("kwh_received", 0.25, "kWh"),
        ("kvarh_delivered", 0.075, "kvarh"),
        ("kvarh_received", 0.005, "kvarh"),
    ]
    assert all(r.tier is None and r.timestamp is None for r in regs)


def test_maximum_watt_demand_with_its_time() -> None:
    cat = catalog(ENERGY_SOURCES)
    peak = datetime(2025, 3, 1, 17, 45)
    tz = timezone(timedelta(hours=-5))
    st23 = registers_data(
        demands=[demand(9999, None), demand(777, None), demand(4321, peak)],
    )
    regs = standard_registers(
        cat,
        # Demand 0 is a minimum, demand 1 received-only: demand 2 is the one.
        selection(demands=[5, 6, 5], maxima=[False, True, True]),
        st23,
        localize=lambda moment: moment.replace(tzinfo=tz),
    )
    assert regs == (
        Register(
            "kw_demand_max",
            4.321,
            "kW",
            "Maximum demand since the last reset",
            None,
            peak.replace(tzinfo=tz),
        ),
    )


def test_tier_registers_carry_their_tier_letter() -> None:
    cat = catalog(ENERGY_SOURCES)
    st23 = registers_data(sums=[1000], tiers=[block([600]), block([400])])
    regs = standard_registers(cat, selection(sums=[0]), st23)
    assert [(r.id, r.tier, r.value) for r in regs] == [
        ("kwh_delivered", None, 1.0),
        ("kwh_delivered", "A", 0.6),
        ("kwh_delivered", "B", 0.4),
    ]


# --- whole meters: hand-made tables ----------------------------------------------------------

SOURCES: list[tuple[int, Uom]] = [
    (UNITS, Uom(0, 0, X1000, q1=True, q4=True)),  # 0 kWh delivered, raw in kWh (×10^3 Wh)
    (UNITS, Uom(0, 0, X1, q2=True, q3=True)),  # 1 Wh received
    (UNITS, Uom(0, 4, X1, q1=True, q4=True)),  # 2 W block demand
    (NO_UNIT, Uom(0)),  # 3 a source with no unit (its Uom is not in ST12)
    (APPLY_CONSTANTS, volts(5)),  # 4–6 voltages through ST15 records 0–2
    (APPLY_CONSTANTS, volts(6)),
    (APPLY_CONSTANTS, volts(7)),
    (APPLY_CONSTANTS, amps(5)),  # 7–9 currents through ST15 records 3–5 (×10)
    (APPLY_CONSTANTS, amps(6)),
    (APPLY_CONSTANTS, amps(7)),
    (UNITS, Uom(33, 1, CENTI)),  # 10 frequency
    (UNITS, Uom(0, 1, X1)),  # 11 total W
]
PRESENT_SELECT = [4, 5, 6, 7, 8, 9, 10, 11]
PRESENT_RAW = [12110, 12040, 11980, 1260, 1180, 1210, 6000, 4500]
PEAK = datetime(2025, 3, 14, 15, 9)


def standard_tables(cfg: t.GeneralConfig, *, with_offset: bool = True) -> dict[int, bytes]:
    """ST11, 12, 15, 16, 21, 22, 23, 27, 28 of a three-phase meter no profile knows."""
    order, ni1, ni2 = cfg.data_order, cfg.ni_format1, cfg.ni_format2
    flags = [f for f, _ in SOURCES]
    entries = [u for f, u in SOURCES if f & 0x01]
    multipliers = [1, 1, 1, 10, 10, 10]  # voltages as read, currents stored ÷10
    raw15 = b"".join(
        constants_record(m, 0 if with_offset else None, [], ni1, order) for m in multipliers
    )
    raw11 = st11_bytes(uom=len(entries), constants=len(multipliers), sources=len(flags))
    raw23 = (
        encode_ni(18452, ni1, order)  # kWh delivered
        + encode_ni(1234, ni1, order)  # Wh received
        + encode_ltime(PEAK, cfg, seconds=False)
        + encode_ni(4321, ni2, order)  # W
    )
    return {
        11: raw11,
        12: st12_bytes(entries, order),
        15: raw15,
        16: bytes(flags),
        21: st21_bytes(date_time=True, summations=2, demands=1, occur=1, present_values=8),
        22: bytes([0, 1, 2, 0x01]),
        23: raw23,
        27: bytes(PRESENT_SELECT),
        28: b"".join(encode_ni(v, ni1, order) for v in PRESENT_RAW),
    }


def st1_bytes(manufacturer: str, model: str) -> bytes:
    return (
        manufacturer.encode().ljust(4)
        + model.encode().ljust(8)
        + bytes([1, 0, 2, 3])
        + b"SN-STANDARD-0001"
    )


def unknown_meter(*, order: t.ByteOrder = "little", drop: Sequence[int] = ()) -> TableSet:
    used = [0, 1, 11, 12, 15, 16, 21, 22, 23, 27, 28]
    raw0 = st0_raw(order, used)
    tables = {0: raw0, 1: st1_bytes("ACME", "X-9"), **standard_tables(t.decode_st0(raw0))}
    return TableSet(tables={k: v for k, v in tables.items() if k not in drop})


def st0_raw(order: t.ByteOrder, used: Sequence[int]) -> bytes:
    return st0_bytes(order=order, tm_format=2, ni1=10, ni2=9, std_tables=tuple(used))


def assert_three_phase_values(snap: MeterSnapshot) -> None:
    assert snap.phases == (
        PhaseQuantities("A", voltage=121.1, current=12.6),
        PhaseQuantities("B", voltage=120.4, current=11.8),
        PhaseQuantities("C", voltage=119.8, current=12.1),
    )
    assert snap.frequency == 60.0
    assert snap.total_active_power == 4500.0
    kwh = snap.register("kwh_delivered")
    assert kwh is not None
    assert (kwh.value, kwh.unit) == (18452.0, "kWh")
    received = snap.register("kwh_received")
    assert received is not None
    assert received.value == 1.234
    peak = snap.register("kw_demand_max")
    assert peak is not None
    assert (peak.value, peak.unit) == (4.321, "kW")
    assert peak.timestamp == PEAK.replace(tzinfo=UTC)


@pytest.mark.parametrize("order", ["little", "big"])
def test_snapshot_of_a_meter_without_profile_has_phases_from_the_standard_route(
    order: t.ByteOrder,
) -> None:
    snap = build_snapshot(unknown_meter(order=order), profile=None, read_at=READ_AT, meter_tz=UTC)
    assert_three_phase_values(snap)
    assert snap.unavailable == ()


def test_snapshot_reads_st15_without_offset_too() -> None:
    ts = unknown_meter()
    cfg = t.decode_st0(ts.tables[0])
    ts.tables.update(standard_tables(cfg, with_offset=False))
    snap = build_snapshot(ts, profile=None, read_at=READ_AT, meter_tz=UTC)
    assert_three_phase_values(snap)


def test_without_st12_the_snapshot_says_a_profile_is_needed() -> None:
    snap = build_snapshot(unknown_meter(drop=[12]), profile=None, read_at=READ_AT)
    assert snap.phases == ()
    reasons = {u.item: u.reason for u in snap.unavailable}
    assert reasons["phases"].startswith("no meter profile")
    assert reasons["registers"].startswith("no meter profile")
    # Registers still come out raw, as before the standard route existed.
    assert [r.id for r in snap.registers] == ["summation_0", "summation_1"]


def test_broken_st12_is_named_in_the_reason() -> None:
    ts = unknown_meter()
    ts.tables[12] = ts.tables[12][:-1]
    snap = build_snapshot(ts, profile=None, read_at=READ_AT)
    reasons = {u.item: u.reason for u in snap.unavailable}
    assert "ST12 is 43 bytes, expected 44" in reasons["phases"]
    assert snap.phases == ()


def test_standard_route_without_st22_keeps_phases_and_raw_registers() -> None:
    snap = build_snapshot(unknown_meter(drop=[22]), profile=None, read_at=READ_AT)
    assert len(snap.phases) == 3
    reasons = {u.item: u.reason for u in snap.unavailable}
    assert "no ST22" in reasons["registers"]
    assert [r.unit for r in snap.registers] == ["raw", "raw"]


def test_a_profile_still_wins() -> None:
    profile = MeterProfile(
        name="ACME X-9",
        manufacturer="ACME",
        models=("X-9",),
        elements=("A",),
        registers=(),
        quantities=(QuantitySpec(name="voltage", phase="A", present_value=0, scale=1.0),),
        path=Path("acme-x9.toml"),
    )
    snap = build_snapshot(unknown_meter(), profile=profile, read_at=READ_AT)
    assert snap.phases == (PhaseQuantities("A", voltage=12110.0),)
    assert snap.frequency is None


# --- the driver against the simulated meter, in-process --------------------------------------


class InProcessWire:
    """A Transport straight into a simulated meter on a simulated clock: no port, no sleep."""

    url = "inproc://meter"

    def __init__(self, meter: C1218Meter, now: float = T0) -> None:
        self.meter = meter
        self.now = now
        self._pending = b""

    def write(self, data: bytes) -> None:
        self.meter.receive(data, self.now)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        end = self.now + max(timeout, 0.0)
        while not self._pending:
            self._pending = self.meter.data_to_send()
            if self._pending:
                break
            deadline = self.meter.next_deadline()
            if deadline is None or deadline > end:
                self.now = end
                return b""
            self.now = max(self.now, deadline)
            self.meter.handle_timeout(self.now)
        out, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
        return out

    def set_baudrate(self, baudrate: int) -> None:
        """The in-process wire has no speed."""

    def flush_input(self) -> None:
        self._pending = b""

    def close(self) -> None:
        """Nothing to release."""

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def read_simulated(
    *, profiles: ProfileRegistry, with_offset: bool = True, packet_size: int = 1024
) -> tuple[MeterSnapshot, C1218Driver, list[int]]:
    """Read healthy-16s (big-endian, BCD times) serving the hand-made standard tables."""
    scenario = load_scenario("healthy-16s")
    base = C1218Meter(scenario, started_at=T0, settings=resolve_settings(scenario))
    cfg = t.decode_st0(base.tables.read(0, T0) or b"")
    extra = standard_tables(cfg, with_offset=with_offset)
    settings = resolve_settings(scenario, SimOptions(turnaround_ms=0))
    meter = C1218Meter(scenario, started_at=T0, settings=settings, extra_tables=extra)
    wire = InProcessWire(meter)
    options = C1218Options(
        session=SessionConfig(packet_size=packet_size, max_packets=1), meter_tz=UTC
    )
    driver = C1218Driver(
        wire.url,
        options,
        profiles=profiles,
        transport_factory=lambda url: wire,
        wall_clock=lambda: datetime.fromtimestamp(wire.now, UTC),
        monotonic=wire.clock,
        sleep=wire.sleep,
    )
    snap = driver.read_snapshot()
    # Table ids of the read requests (full 0x30 and partial 0x3F) the driver sent.
    read_ids = [
        int.from_bytes(f.data[7:9], "big")
        for f in snap.frames
        if f.direction == "tx" and len(f.data) > 9 and f.data[6] in (0x30, 0x3F)
    ]
    return snap, driver, read_ids


@pytest.mark.parametrize("with_offset", [True, False])
@pytest.mark.parametrize("packet_size", [1024, 64])
def test_driver_reads_the_source_tables_when_no_profile_matches(
    with_offset: bool, packet_size: int
) -> None:
    # 64-byte packets make ST15 (72 or 36 bytes) too big for one read: partial reads decide.
    snap, _, read_ids = read_simulated(
        profiles=ProfileRegistry([]), with_offset=with_offset, packet_size=packet_size
    )
    assert {11, 12, 15, 16} <= set(read_ids)
    assert read_ids.index(11) < min(read_ids.index(n) for n in (12, 15, 16))
    assert_three_phase_values(snap)
    assert snap.unavailable == ()


def test_driver_leaves_the_source_tables_alone_when_a_profile_matches() -> None:
    snap, _, read_ids = read_simulated(profiles=ProfileRegistry.default())
    assert not {11, 12, 15, 16} & set(read_ids)
    # The shipped 16S profile reads present value 0 as phase A volts ×0.01.
    phase_a = snap.phase("A")
    assert phase_a is not None
    assert phase_a.voltage == 121.1
    assert phase_a.current == pytest.approx(1.26)  # its present value 3, ×0.001
