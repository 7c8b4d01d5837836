"""C12.19 table decoders against hand-built tables, in both byte orders.

Hand-written hex pins the layouts; the test-side encoders below are written from the
layouts in the reference (not from the decoder) and drive the round-trip properties.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from fieldkit.drivers.c1218.packet import decode_packet
from fieldkit.drivers.c1218.tables import (
    LOG_HEADER_SIZE,
    ActualLog,
    ActualRegisters,
    ByteOrder,
    GeneralConfig,
    LogEntry,
    LogHeader,
    decode_log_entries,
    decode_log_header,
    decode_st0,
    decode_st1,
    decode_st2,
    decode_st3,
    decode_st5,
    decode_st21,
    decode_st22,
    decode_st23,
    decode_st27,
    decode_st28,
    decode_st51,
    decode_st52,
    decode_st55,
    decode_st71,
    decode_st74,
    decode_st76,
    ltime_date_size,
    st23_size,
    st28_size,
    st74_entry_size,
    st76_entry_size,
    valid_entries_in_order,
    valid_entry_slots,
)
from fieldkit.drivers.errors import DecodeError

ORDERS: st.SearchStrategy[ByteOrder] = st.sampled_from(["little", "big"])
EPOCH = datetime(1970, 1, 1)


# --- test-side encoders ----------------------------------------------------------------------


def set_bytes(members: Iterable[int], dim: int, base: int = 0) -> bytes:
    """A C12.19 SET of ``dim`` bytes, element n at bit n % 8 of byte n // 8."""
    out = bytearray(dim)
    for member in members:
        n = member - base
        out[n // 8] |= 1 << (n % 8)
    return bytes(out)


def st0_bytes(
    *,
    order: ByteOrder = "little",
    char_format: int = 1,
    model_select: int = 0,
    tm_format: int = 2,
    access_method: int = 0,
    id_form: int = 0,
    int_format: int = 0,
    ni1: int = 10,
    ni2: int = 9,
    device_class: bytes = b"TEST",
    nameplate: int = 2,
    std_version: int = 1,
    std_revision: int = 0,
    mfg_status: int = 0,
    nbr_pending: int = 0,
    std_tables: Sequence[int] = (0, 1, 3),
    mfg_tables: Sequence[int] = (),
    std_procs: Sequence[int] = (),
    mfg_procs: Sequence[int] = (),
    std_write: Sequence[int] = (),
    mfg_write: Sequence[int] = (),
) -> bytes:
    def dim(*groups: Sequence[int], base: int = 0) -> int:
        top = max((m - base for group in groups for m in group), default=-1)
        return top // 8 + 1

    d_std = dim(std_tables, std_write)
    d_mfg = dim(mfg_tables, mfg_write, base=2048)
    d_sp = dim(std_procs)
    d_mp = dim(mfg_procs, base=2048)
    head = bytes(
        [
            (order == "big") | char_format << 1 | model_select << 4,
            tm_format | access_method << 3 | id_form << 5 | int_format << 6,
            ni1 | ni2 << 4,
        ]
    )
    head += device_class + bytes([nameplate, 0, 16, 32, std_version, std_revision])
    head += bytes([d_std, d_mfg, d_sp, d_mp, mfg_status, nbr_pending])
    return (
        head
        + set_bytes(std_tables, d_std)
        + set_bytes(mfg_tables, d_mfg, 2048)
        + set_bytes(std_procs, d_sp)
        + set_bytes(mfg_procs, d_mp, 2048)
        + set_bytes(std_write, d_std)
        + set_bytes(mfg_write, d_mfg, 2048)
    )


def make_cfg(**kw: Any) -> GeneralConfig:
    return decode_st0(st0_bytes(**kw))


def encode_ni(value: float, fmt: int, order: ByteOrder) -> bytes:
    """Integer, float and BCD NI formats (the ones the register tests use)."""
    int_sizes = {7: 3, 8: 4, 9: 5, 10: 6, 11: 8}
    if fmt in int_sizes:
        return int(value).to_bytes(int_sizes[fmt], order, signed=True)
    if fmt in (0, 1):
        return struct.pack(("<" if order == "little" else ">") + ("d" if fmt == 0 else "f"), value)
    bcd_bytes = {5: 6, 6: 4, 12: 8}[fmt]
    return bytes.fromhex(f"{int(value):0{2 * bcd_bytes}d}")


def encode_ltime(dt: datetime | None, cfg: GeneralConfig, *, seconds: bool = True) -> bytes:
    tm = cfg.tm_format
    sizes = {0: (0, 0), 1: (6, 5), 2: (6, 5), 3: (5, 4), 4: (4, 4)}
    size = sizes[tm][0 if seconds else 1]
    if dt is None:
        return bytes(size)
    if tm in (1, 2):
        fields = [dt.year % 100, dt.month, dt.day, dt.hour, dt.minute] + [dt.second] * seconds
        return bytes(int(f"{f:02d}", 16) if tm == 1 else f for f in fields)
    elapsed = int((dt - EPOCH).total_seconds())
    if tm == 3:
        return (elapsed // 60).to_bytes(4, cfg.data_order) + bytes([dt.second]) * seconds
    return elapsed.to_bytes(4, cfg.data_order)


def u16(value: int, cfg: GeneralConfig) -> bytes:
    return value.to_bytes(2, cfg.data_order)


def st21_bytes(
    *,
    season_info: bool = False,
    date_time: bool = False,
    reset_ctr: bool = False,
    reset_lock: bool = False,
    cum: bool = False,
    cont_cum: bool = False,
    time_remaining: bool = False,
    func2: int = 0,
    self_reads: int = 0,
    summations: int = 0,
    demands: int = 0,
    coin: int = 0,
    occur: int = 0,
    tiers: int = 0,
    present_demands: int = 0,
    present_values: int = 0,
) -> bytes:
    func1 = sum(
        bit << n
        for n, bit in enumerate(
            [season_info, date_time, reset_ctr, reset_lock, cum, cont_cum, time_remaining]
        )
    )
    counts = [self_reads, summations, demands, coin, occur, tiers, present_demands]
    return bytes([func1, func2, *counts, present_values])


def st71_bytes(
    cfg: GeneralConfig,
    *,
    flags: int = 0,
    std_events: int = 10,
    mfg_events: int = 8,
    hist_len: int = 0,
    event_len: int = 0,
    hist_entries: int = 0,
    event_entries: int = 0,
    ext: tuple[int, int] | None = None,
) -> bytes:
    data = bytes([flags, std_events, mfg_events, hist_len, event_len])
    data += u16(hist_entries, cfg) + u16(event_entries, cfg)
    if ext is not None:
        data += bytes([ext[0]]) + u16(ext[1], cfg)
    return data


def log_header_bytes(
    cfg: GeneralConfig,
    *,
    order: int = 0,
    overflow: bool = False,
    circular: bool = True,
    inhibit: bool = False,
    valid: int = 0,
    last: int = 0,
    seq: int = 0,
    unread: int = 0,
) -> bytes:
    flags = order | overflow << 1 | circular << 2 | inhibit << 3
    return (
        bytes([flags])
        + u16(valid, cfg)
        + u16(last, cfg)
        + seq.to_bytes(4, cfg.data_order)
        + u16(unread, cfg)
    )


# --- ST0 -------------------------------------------------------------------------------------

# Little-endian, ISO 646, TM_FORMAT 2, access method 1, NI1 INT48, NI2 INT40, electric, v2.0;
# tables 0 1 2 3 5 7 8 15 (15 is bit 7 of byte 1, a bit one open decoder never looks at),
# MT0 and MT3, procedures 9 and 10, MFG procedure 4; writable: ST7 only.
ST0_HAND_BUILT = bytes.fromhex(
    "02 0A 9A 46 4B 49 54 02 00 10 20 02 00"  # formats, class "FKIT", nameplate .. version
    "02 01 02 01 03 00"  # DIM_ std/mfg tables, std/mfg procedures, mfg status 3, pending 0
    "AF 81"  # STD_TBLS_USED
    "09"  # MFG_TBLS_USED
    "00 06"  # STD_PROC_USED
    "10"  # MFG_PROC_USED
    "80 00"  # STD_TBLS_WRITE
    "00"  # MFG_TBLS_WRITE
)


def test_st0_hand_built() -> None:
    cfg = decode_st0(ST0_HAND_BUILT)
    assert cfg.data_order == "little"
    assert (cfg.char_format, cfg.model_select) == (1, 0)
    assert (cfg.tm_format, cfg.data_access_method, cfg.id_form, cfg.int_format) == (2, 1, 0, 0)
    assert (cfg.ni_format1, cfg.ni_format2) == (10, 9)
    assert cfg.device_class == b"FKIT"
    assert (cfg.nameplate_type, cfg.max_proc_parm_length, cfg.max_resp_data_len) == (2, 16, 32)
    assert (cfg.std_version, cfg.std_revision) == (2, 0)
    assert (cfg.dim_mfg_status_used, cfg.nbr_pending) == (3, 0)
    assert cfg.std_tables_used == {0, 1, 2, 3, 5, 7, 8, 15}
    assert cfg.mfg_tables_used == {2048, 2051}
    assert cfg.std_procs_used == {9, 10}
    assert cfg.mfg_procs_used == {2048 + 4}
    assert cfg.std_tables_write == {7}
    assert cfg.mfg_tables_write == frozenset()


def test_st0_uses_standard_and_manufacturer_ids() -> None:
    cfg = decode_st0(ST0_HAND_BUILT)
    assert cfg.uses(15)
    assert cfg.uses(0)
    assert not cfg.uses(4)
    assert not cfg.uses(52)
    assert cfg.uses(2048 + 3)
    assert not cfg.uses(2048 + 1)
    assert not cfg.uses(3000)


def test_st0_format_bits_big_endian() -> None:
    # b0 big, CHAR_FORMAT 3 (UTF-8), MODEL_SELECT 2; TM 4, access 2, ID_FORM BCD, INT 0;
    # NI1 INT32, NI2 FLOAT32.
    data = bytes.fromhex("27 34 18") + b"EE  " + bytes([2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    cfg = decode_st0(data)
    assert (cfg.data_order, cfg.char_format, cfg.model_select) == ("big", 3, 2)
    assert (cfg.tm_format, cfg.data_access_method, cfg.id_form) == (4, 2, 1)
    assert (cfg.ni_format1, cfg.ni_format2, cfg.default_set_used) == (8, 1, 1)
    assert cfg.std_tables_used == frozenset()


def test_st0_from_a_set_of_tables_used() -> None:
    used = (0, 1, 2, 3, 5, 21, 22, 23, 27, 28, 51, 52, 55, 71, 72, 74, 76)
    cfg = make_cfg(std_tables=used, mfg_tables=(2048 + 110,), std_procs=(9, 10))
    assert cfg.dim_std_tables_used == 10  # table 76 is in byte 9
    assert cfg.std_tables_used == frozenset(used)
    assert cfg.mfg_tables_used == {2158}
    assert all(cfg.uses(t) for t in used)
    assert cfg.uses(2158)
    assert not any(cfg.uses(t) for t in set(range(80)) - set(used))


@pytest.mark.parametrize("cut", [-1, 1])
def test_st0_length_mismatch(cut: int) -> None:
    data = ST0_HAND_BUILT[:cut] if cut < 0 else ST0_HAND_BUILT + b"\x00"
    with pytest.raises(DecodeError) as err:
        decode_st0(data)
    assert err.value.table == 0
    assert "ST0" in str(err.value)
    assert str(len(data)) in str(err.value)
    assert "28" in str(err.value)


def test_st0_shorter_than_its_header() -> None:
    with pytest.raises(DecodeError, match=r"ST0 .* is 5 bytes"):
        decode_st0(b"\x00" * 5)


@given(
    order=ORDERS,
    formats=st.tuples(*(st.integers(0, 7),) * 3, st.integers(0, 3), st.integers(0, 1)),
    int_format=st.integers(0, 3),
    ni=st.tuples(st.integers(0, 15), st.integers(0, 15)),
    header=st.lists(st.integers(0, 255), min_size=6, max_size=6),
    std_tables=st.sets(st.integers(0, 2039), max_size=20),
    mfg_tables=st.sets(st.integers(2048, 2048 + 255), max_size=10),
    std_procs=st.sets(st.integers(0, 100), max_size=10),
    mfg_procs=st.sets(st.integers(2048, 2048 + 100), max_size=10),
)
def test_st0_round_trip(
    order: ByteOrder,
    formats: tuple[int, int, int, int, int],
    int_format: int,
    ni: tuple[int, int],
    header: list[int],
    std_tables: set[int],
    mfg_tables: set[int],
    std_procs: set[int],
    mfg_procs: set[int],
) -> None:
    char_format, model_select, tm, access, id_form = formats
    std_write = set(sorted(std_tables)[::2])
    mfg_write = set(sorted(mfg_tables)[1::2])
    data = st0_bytes(
        order=order,
        char_format=char_format,
        model_select=model_select,
        tm_format=tm,
        access_method=access,
        id_form=id_form,
        int_format=int_format,
        ni1=ni[0],
        ni2=ni[1],
        device_class=bytes(header[:4]),
        nameplate=header[4],
        mfg_status=header[5],
        std_tables=sorted(std_tables),
        mfg_tables=sorted(mfg_tables),
        std_procs=sorted(std_procs),
        mfg_procs=sorted(mfg_procs),
        std_write=sorted(std_write),
        mfg_write=sorted(mfg_write),
    )
    cfg = decode_st0(data)
    assert (cfg.data_order, cfg.char_format, cfg.model_select) == (order, char_format, model_select)
    assert (cfg.tm_format, cfg.data_access_method, cfg.id_form) == (tm, access, id_form)
    assert (cfg.int_format, cfg.ni_format1, cfg.ni_format2) == (int_format, *ni)
    assert (cfg.device_class, cfg.nameplate_type) == (bytes(header[:4]), header[4])
    assert cfg.dim_mfg_status_used == header[5]
    assert cfg.std_tables_used == std_tables
    assert cfg.mfg_tables_used == mfg_tables
    assert cfg.std_procs_used == std_procs
    assert cfg.mfg_procs_used == mfg_procs
    assert cfg.std_tables_write == std_write
    assert cfg.mfg_tables_write == mfg_write


# --- ST1, ST2, ST3, ST5 ------------------------------------------------------------------------


def test_st1_from_the_public_read_response_vector(c1218_vectors: dict[str, Any]) -> None:
    response = next(v for v in c1218_vectors["responses"] if v["what"].startswith("read ST1"))
    app = decode_packet(bytes.fromhex(response["frame"])).data
    count = int.from_bytes(app[1:3], "big")
    ident = decode_st1(app[3 : 3 + count], make_cfg())
    assert (ident.manufacturer, ident.model) == ("PEER", "HOLDOUT1")
    assert (ident.hw_version, ident.hw_revision, ident.fw_version, ident.fw_revision) == (
        4,
        1,
        3,
        7,
    )
    assert ident.serial_number == "HX0000042771"


def test_st1_simulator_example_and_padding() -> None:
    data = b"FKIT" + b"SIM-1   " + bytes([1, 2, 3, 4]) + b"SN00000000000001"
    ident = decode_st1(data, make_cfg())
    assert (ident.manufacturer, ident.model, ident.serial_number) == (
        "FKIT",
        "SIM-1",
        "SN00000000000001",
    )


def test_st1_bcd_serial_with_id_form_1() -> None:
    data = b"GE  " + b"I210+C  " + bytes([2, 0, 5, 1]) + bytes.fromhex("00 00 00 00 12 34 56 78")
    ident = decode_st1(data, make_cfg(id_form=1))
    assert ident.serial_number == "0000000012345678"
    assert ident.model == "I210+C"


@pytest.mark.parametrize(("id_form", "size"), [(0, 24), (0, 31), (1, 32), (1, 25)])
def test_st1_length_must_match_id_form(id_form: int, size: int) -> None:
    with pytest.raises(DecodeError, match=f"ST1 .* is {size} bytes") as err:
        decode_st1(bytes(size), make_cfg(id_form=id_form))
    assert err.value.table == 1


def test_st1_bcd_serial_with_a_hex_digit_names_the_table() -> None:
    data = bytes(16) + bytes.fromhex("00 00 00 00 12 34 56 7F")
    with pytest.raises(DecodeError, match="ST1") as err:
        decode_st1(data, make_cfg(id_form=1))
    assert err.value.table == 1


def _st2(elements: bytes) -> bytes:
    return (
        b"   7.2" + b"   1.0" + bytes([3]) + b"9S   " + elements + b"\x24" + b"  20.0" + b"   2.5"
    )


@pytest.mark.parametrize(
    ("order", "elements"), [("little", bytes.fromhex("99 14")), ("big", bytes.fromhex("14 99"))]
)
def test_st2_electric_nameplate(order: ByteOrder, elements: bytes) -> None:
    # E_ELEMENTS 0x1499: freq 1, 3 elements, base type 2, accuracy class 5.
    plate = decode_st2(_st2(elements), make_cfg(order=order))
    assert (plate.kh, plate.kt, plate.input_scalar, plate.ed_config) == (
        "   7.2",
        "   1.0",
        3,
        "9S",
    )
    assert (plate.freq, plate.elements, plate.base_type, plate.accuracy_class) == (1, 3, 2, 5)
    assert (plate.element_volts, plate.supply_volts) == (4, 2)
    assert (plate.class_max_amps, plate.ta) == ("  20.0", "   2.5")


def test_st2_other_lengths_and_non_electric_nameplates_are_refused() -> None:
    with pytest.raises(DecodeError, match="is 32 bytes, expected 33") as err:
        decode_st2(_st2(b"\x00\x00")[:-1], make_cfg())
    assert err.value.table == 2
    with pytest.raises(DecodeError, match="not electric") as err:
        decode_st2(_st2(b"\x00\x00"), make_cfg(nameplate=0))
    assert err.value.table == 2


@pytest.mark.parametrize(
    ("order", "status1"), [("little", bytes.fromhex("40 11")), ("big", bytes.fromhex("11 40"))]
)
def test_st3_flags(order: ByteOrder, status1: bytes) -> None:
    status = decode_st3(
        b"\x03" + status1 + b"\x00" + b"\xaa\x55", make_cfg(order=order, mfg_status=2)
    )
    assert status.metering
    assert status.test_mode
    assert not status.meter_shop_mode
    assert not status.factory
    assert status.status1 == 0x1140
    assert status.flags == {"clock_error", "low_battery", "tamper_detect"}
    assert (status.status2, status.mfg_status) == (0, b"\xaa\x55")


def test_st3_clean_meter_has_no_flags() -> None:
    status = decode_st3(b"\x01\x00\x00\x00", make_cfg())
    assert status.flags == frozenset()
    assert status.mfg_status == b""


def test_st3_length_follows_dim_mfg_status_used() -> None:
    with pytest.raises(DecodeError, match="expected 7") as err:
        decode_st3(bytes(6), make_cfg(mfg_status=3))
    assert err.value.table == 3


def test_st5_character_and_bcd_ids() -> None:
    assert decode_st5(b"METER-0042".ljust(20), make_cfg()) == "METER-0042"
    assert decode_st5(bytes.fromhex("00000000000012345678"), make_cfg(id_form=1)) == (
        "00000000000012345678"
    )
    with pytest.raises(DecodeError, match="ST5") as err:
        decode_st5(bytes(20), make_cfg(id_form=1))
    assert err.value.table == 5


# --- registers --------------------------------------------------------------------------------


def test_st21_flags_and_counts() -> None:
    regs = decode_st21(bytes([0x7F, 0x3F, 4, 3, 2, 1, 2, 4, 1, 6]), make_cfg())
    assert all(
        [
            regs.season_info_field,
            regs.date_time_field,
            regs.demand_reset_ctr,
            regs.demand_reset_lock,
            regs.cum_demand,
            regs.cont_cum_demand,
            regs.time_remaining,
            regs.self_read_inhibit_overflow,
            regs.self_read_seq_nbr,
            regs.daily_self_read,
            regs.weekly_self_read,
        ]
    )
    assert regs.self_read_demand_reset == 3
    assert (regs.nbr_self_reads, regs.nbr_summations, regs.nbr_demands) == (4, 3, 2)
    assert (regs.nbr_coin_values, regs.nbr_occur, regs.nbr_tiers) == (1, 2, 4)
    assert (regs.nbr_present_demands, regs.nbr_present_values) == (1, 6)
    quiet = decode_st21(bytes(10), make_cfg())
    assert not quiet.date_time_field
    assert quiet.self_read_demand_reset == 0
    with pytest.raises(DecodeError, match="ST21") as err:
        decode_st21(bytes(9), make_cfg())
    assert err.value.table == 21


def test_st22_selections_and_min_max_bits() -> None:
    cfg = make_cfg()
    st21 = decode_st21(st21_bytes(summations=2, demands=9, coin=1), cfg)
    data = bytes([0, 1]) + bytes(range(10, 19)) + bytes([0b0000_0101, 0b1]) + bytes([20, 3])
    sel = decode_st22(data, cfg, st21)
    assert sel.summation_select == (0, 1)
    assert sel.demand_select == tuple(range(10, 19))
    assert sel.min_or_max_flags == (True, False, True, False, False, False, False, False, True)
    assert (sel.coincident_select, sel.coin_demand_assoc) == ((20,), (3,))
    with pytest.raises(DecodeError, match="ST22") as err:
        decode_st22(data[:-1], cfg, st21)
    assert err.value.table == 22


@pytest.mark.parametrize(
    ("order", "data"),
    [
        ("little", "05" + "F25D00000000" + "102700"),
        ("big", "05" + "000000005DF2" + "002710"),
    ],
)
def test_st23_hand_built(order: ByteOrder, data: str) -> None:
    # Demand-reset count, one INT48 summation, one INT24 demand, one occurrence, no tiers.
    cfg = make_cfg(order=order, ni1=10, ni2=7)
    st21 = decode_st21(st21_bytes(reset_ctr=True, summations=1, demands=1, occur=1), cfg)
    regs = decode_st23(bytes.fromhex(data), cfg, st21)
    assert regs.nbr_demand_resets == 5
    assert regs.total.summations == (24050,)
    assert regs.total.demands[0].values == (10000,)
    assert regs.total.demands[0].event_times == ()
    assert regs.total.demands[0].cum_demand is None
    assert regs.tiers == ()


def test_st23_with_demand_times_cumulative_coincident_and_tiers() -> None:
    cfg = make_cfg(order="big", ni1=8, ni2=1, tm_format=2)
    st21 = decode_st21(
        st21_bytes(
            date_time=True,
            cum=True,
            cont_cum=True,
            summations=2,
            demands=1,
            coin=1,
            occur=2,
            tiers=2,
        ),
        cfg,
    )
    peak1, peak2 = datetime(2025, 3, 1, 17, 15), datetime(2025, 3, 9, 8, 0)

    def block(base: int) -> bytes:
        return (
            encode_ni(base, 8, "big")
            + encode_ni(base + 1, 8, "big")
            + encode_ltime(peak1, cfg, seconds=False)
            + encode_ltime(None, cfg, seconds=False)  # second peak never stamped
            + encode_ni(base + 2, 8, "big")
            + encode_ni(base + 3, 8, "big")
            + encode_ni(4.5, 1, "big")
            + encode_ni(2.25, 1, "big")
            + encode_ni(0.5, 1, "big")
            + encode_ni(0.75, 1, "big")
        )

    data = block(100) + block(200) + block(300)
    assert len(data) == st23_size(cfg, st21) == 3 * (2 * 4 + 2 * 5 + 2 * 4 + 2 * 4 + 2 * 4)
    regs = decode_st23(data, cfg, st21)
    assert regs.nbr_demand_resets is None
    assert regs.total.summations == (100, 101)
    demand = regs.total.demands[0]
    assert demand.event_times == (peak1, None)
    assert (demand.cum_demand, demand.cont_cum_demand) == (102, 103)
    assert demand.values == (4.5, 2.25)
    assert regs.total.coincidents == ((0.5, 0.75),)
    assert [tier.summations for tier in regs.tiers] == [(200, 201), (300, 301)]
    assert peak2 not in demand.event_times


def test_st23_length_mismatch_names_both_lengths() -> None:
    cfg = make_cfg(ni1=10, ni2=7)
    st21 = decode_st21(st21_bytes(reset_ctr=True, summations=1, demands=1, occur=1), cfg)
    with pytest.raises(DecodeError) as err:
        decode_st23(bytes(11), cfg, st21)
    assert err.value.table == 23
    assert "11 bytes" in str(err.value)
    assert "expected 10" in str(err.value)


def test_st23_with_an_undefined_ni_format_names_the_table() -> None:
    cfg = make_cfg(ni1=14)
    st21 = decode_st21(st21_bytes(summations=1), cfg)
    with pytest.raises(DecodeError, match=r"ST23.*NI format 14") as err:
        st23_size(cfg, st21)
    assert err.value.table == 23


def test_st27_and_st28_addendum_phase_b_voltage() -> None:
    # Addendum B.5: present value 3 selects source 13; its INT48 at ST28 offset 18 is 24050.
    cfg = make_cfg(ni1=10, ni2=10)
    st21 = decode_st21(st21_bytes(present_values=4), cfg)
    select = decode_st27(bytes([0, 4, 8, 13]), cfg, st21)
    assert select.value_select[3] == 13
    assert select.demand_select == ()
    data = bytes(18) + bytes.fromhex("F2 5D 00 00 00 00")
    present = decode_st28(data, cfg, st21)
    assert present.values == (0, 0, 0, 24050)
    assert present.demands == ()


@pytest.mark.parametrize(
    ("tm", "order", "remaining", "seconds"),
    [
        (2, "little", "00 07 1E", 450),
        (1, "big", "00 07 30", 450),
        (4, "big", "00 00 01 C2", 450),
        (3, "little", "C2 01 00 00", 450),
        (0, "little", "", None),
    ],
)
def test_st28_time_remaining_sized_by_tm_format(
    tm: int, order: ByteOrder, remaining: str, seconds: int | None
) -> None:
    cfg = make_cfg(order=order, tm_format=tm, ni1=8, ni2=7)
    st21 = decode_st21(st21_bytes(time_remaining=True, present_demands=2, present_values=1), cfg)
    demand = bytes.fromhex(remaining) + encode_ni(1234, 7, order)
    data = demand + demand + encode_ni(-5, 8, order)
    assert st28_size(cfg, st21) == len(data)
    present = decode_st28(data, cfg, st21)
    assert [(d.time_remaining, d.value) for d in present.demands] == [(seconds, 1234)] * 2
    assert present.values == (-5,)


def test_st28_refuses_a_four_byte_time_remaining_under_tm_format_2() -> None:
    cfg = make_cfg(tm_format=2, ni1=8, ni2=7)
    st21 = decode_st21(st21_bytes(time_remaining=True, present_demands=1), cfg)
    with pytest.raises(DecodeError, match=r"ST28 .* is 7 bytes, expected 6") as err:
        decode_st28(bytes(7), cfg, st21)
    assert err.value.table == 28


def test_st27_length_mismatch() -> None:
    cfg = make_cfg()
    st21 = decode_st21(st21_bytes(present_demands=1, present_values=2), cfg)
    with pytest.raises(DecodeError, match="ST27") as err:
        decode_st27(bytes(2), cfg, st21)
    assert err.value.table == 27


REGISTER_NI = st.sampled_from([0, 1, 5, 6, 7, 8, 9, 10, 11, 12])


def _ni_value(fmt: int) -> st.SearchStrategy[float]:
    if fmt == 0:
        return st.floats(allow_nan=False)
    if fmt == 1:
        return st.floats(width=32, allow_nan=False)
    if fmt in (5, 6, 12):
        return st.integers(0, 10 ** (2 * {5: 6, 6: 4, 12: 8}[fmt]) - 1)
    bits = 8 * {7: 3, 8: 4, 9: 5, 10: 6, 11: 8}[fmt]
    return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


@settings(max_examples=60)
@given(
    data=st.data(),
    order=ORDERS,
    ni1=REGISTER_NI,
    ni2=REGISTER_NI,
    tm=st.integers(0, 4),
    flags=st.lists(st.booleans(), min_size=4, max_size=4),
    counts=st.lists(st.integers(0, 3), min_size=5, max_size=5),
)
def test_st23_round_trip(
    data: st.DataObject,
    order: ByteOrder,
    ni1: int,
    ni2: int,
    tm: int,
    flags: list[bool],
    counts: list[int],
) -> None:
    cfg = make_cfg(order=order, ni1=ni1, ni2=ni2, tm_format=tm)
    reset_ctr, date_time, cum, cont_cum = flags
    nsum, ndem, ncoin, nocc, ntiers = counts
    st21 = decode_st21(
        st21_bytes(
            reset_ctr=reset_ctr,
            date_time=date_time,
            cum=cum,
            cont_cum=cont_cum,
            summations=nsum,
            demands=ndem,
            coin=ncoin,
            occur=nocc,
            tiers=ntiers,
        ),
        cfg,
    )
    moments = st.datetimes(datetime(1990, 1, 1), datetime(2089, 12, 31)).map(
        lambda d: d.replace(second=0, microsecond=0)
    )
    raw = bytearray()
    expected_blocks = []
    resets = data.draw(st.integers(0, 255))
    if reset_ctr:
        raw.append(resets)
    for _ in range(1 + ntiers):
        sums = [data.draw(_ni_value(ni1)) for _ in range(nsum)]
        raw += b"".join(encode_ni(v, ni1, order) for v in sums)
        demands = []
        for _ in range(ndem):
            # TM_FORMAT 0 has no time bytes: every occurrence decodes as "no time".
            times: list[datetime | None] = [data.draw(moments) if tm else None for _ in range(nocc)]
            if date_time:
                raw += b"".join(encode_ltime(t, cfg, seconds=False) for t in times)
            extra = [data.draw(_ni_value(ni1)) for _ in range(cum + cont_cum)]
            raw += b"".join(encode_ni(v, ni1, order) for v in extra)
            values = [data.draw(_ni_value(ni2)) for _ in range(nocc)]
            raw += b"".join(encode_ni(v, ni2, order) for v in values)
            demands.append((times, extra, values))
        coins = [[data.draw(_ni_value(ni2)) for _ in range(nocc)] for _ in range(ncoin)]
        raw += b"".join(encode_ni(v, ni2, order) for row in coins for v in row)
        expected_blocks.append((sums, demands, coins))

    assert st23_size(cfg, st21) == len(raw)
    regs = decode_st23(bytes(raw), cfg, st21)
    assert regs.nbr_demand_resets == (resets if reset_ctr else None)
    blocks = (regs.total, *regs.tiers)
    assert len(blocks) == len(expected_blocks)
    for block, (sums, demands, coins) in zip(blocks, expected_blocks, strict=True):
        assert list(block.summations) == sums
        for demand, (times, extra, values) in zip(block.demands, demands, strict=True):
            if date_time:
                assert list(demand.event_times) == times
            else:
                assert demand.event_times == ()
            got_extra = [v for v in (demand.cum_demand, demand.cont_cum_demand) if v is not None]
            assert got_extra == extra
            assert list(demand.values) == values
        assert [list(row) for row in block.coincidents] == coins


# --- clock ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "switches", "size"), [("little", "34 12", "00 02"), ("big", "12 34", "02 00")]
)
def test_st51(order: ByteOrder, switches: str, size: str) -> None:
    data = bytes.fromhex(f"21 14 34 05 06 {switches} {size}")
    tou = decode_st51(data, make_cfg(order=order))
    assert tou.tou_self_read
    assert tou.anchor_date
    assert not tou.season_self_read
    assert tou.separate_sum_demands
    assert tou.cap_tm_zn_offset
    assert not tou.cap_dst_auto
    assert (tou.nbr_seasons, tou.nbr_special_sched) == (4, 3)
    assert (tou.nbr_non_recurr_dates, tou.nbr_recurr_dates) == (5, 6)
    assert (tou.nbr_tier_switches, tou.calendar_tbl_size) == (0x1234, 512)
    with pytest.raises(DecodeError, match="ST51") as err:
        decode_st51(data[:8], make_cfg())
    assert err.value.table == 51


def test_st52_addendum_bytes() -> None:
    # 2025-03-14 15:09:26, Friday, DST in force, zone and DST applied (addendum A.4).
    clock = decode_st52(bytes.fromhex("19 03 0E 0F 09 1A 6D"), make_cfg(tm_format=2))
    assert clock.time == datetime(2025, 3, 14, 15, 9, 26)
    assert clock.day_of_week == 5
    assert clock.dst
    assert clock.tz_applied
    assert clock.dst_applied
    assert not clock.gmt
    assert clock.raw_qualifier == 0x6D


@pytest.mark.parametrize("order", ["little", "big"])
@pytest.mark.parametrize("tm", [1, 2, 3, 4])
def test_st52_each_tm_format(tm: int, order: ByteOrder) -> None:
    cfg = make_cfg(tm_format=tm, order=order)
    moment = datetime(2031, 7, 4, 23, 59, 58)
    clock = decode_st52(encode_ltime(moment, cfg) + b"\x14", cfg)
    assert clock.time == moment
    assert clock.gmt
    assert clock.day_of_week == 4
    assert not clock.dst


def test_st52_unset_clock_and_wrong_size() -> None:
    clock = decode_st52(bytes(7), make_cfg(tm_format=2))
    assert clock.time is None
    with pytest.raises(DecodeError, match=r"ST52 .* is 7 bytes, expected 6 \(ST0 TM_FORMAT 3\)"):
        decode_st52(bytes(7), make_cfg(tm_format=3))


@pytest.mark.parametrize(("order", "status"), [("little", "CA 52"), ("big", "52 CA")])
def test_st55_status_word(order: ByteOrder, status: str) -> None:
    # STATUS 0x52CA: tier 2, demand tier 1, tier drive 3, special schedule 2, season 5.
    data = bytes.fromhex("19 03 0E 0F 09 1A 05") + bytes.fromhex(status)
    state = decode_st55(data, make_cfg(order=order))
    assert state.time == datetime(2025, 3, 14, 15, 9, 26)
    assert state.day_of_week == 5
    assert not state.dst
    assert state.status == 0x52CA
    assert (state.current_tier, state.demand_tier, state.tier_drive) == (2, 1, 3)
    assert (state.special_schedule_active, state.season) == (2, 5)
    with pytest.raises(DecodeError, match="ST55") as err:
        decode_st55(data[:-1], make_cfg())
    assert err.value.table == 55


# --- logs -------------------------------------------------------------------------------------


def test_st71_base_and_extended() -> None:
    cfg = make_cfg(order="big")
    log = decode_st71(bytes.fromhex("1F 0A 08 02 04 01 F4 00 64"), cfg)
    assert log.event_number_flag
    assert log.hist_date_time_flag
    assert log.hist_seq_nbr_flag
    assert log.hist_inhibit_ovf
    assert log.event_inhibit_ovf
    assert (log.nbr_std_events, log.nbr_mfg_events) == (10, 8)
    assert (log.hist_data_length, log.event_data_length) == (2, 4)
    assert (log.nbr_history_entries, log.nbr_event_entries) == (500, 100)
    assert log.ext_log_flags is None
    assert log.nbr_program_tables is None
    v2 = make_cfg(std_version=2)
    ext = decode_st71(st71_bytes(v2, hist_entries=3, ext=(0x01, 300)), v2)
    assert (ext.nbr_history_entries, ext.ext_log_flags, ext.nbr_program_tables) == (3, 1, 300)
    assert decode_st71(st71_bytes(v2), v2).ext_log_flags is None


@pytest.mark.parametrize(("version", "size"), [(1, 12), (1, 8), (2, 10), (2, 13)])
def test_st71_length_mismatch(version: int, size: int) -> None:
    with pytest.raises(DecodeError, match=f"ST71 .* is {size} bytes") as err:
        decode_st71(bytes(size), make_cfg(std_version=version))
    assert err.value.table == 71


def _history_entry(
    cfg: GeneralConfig, when: datetime | None, number: int, seq: int, user: int, code: int
) -> bytes:
    return (
        encode_ltime(when, cfg)
        + u16(number, cfg)
        + u16(seq, cfg)
        + u16(user, cfg)
        + u16(code, cfg)
        + bytes([number, seq])
    )


@pytest.mark.parametrize("order", ["little", "big"])
def test_st74_circular_log_that_wrapped(order: ByteOrder) -> None:
    cfg = make_cfg(order=order, tm_format=2)
    st71 = decode_st71(st71_bytes(cfg, flags=0x07, hist_len=2, hist_entries=4), cfg)
    assert st74_entry_size(cfg, st71) == 6 + 2 + 2 + 2 + 2 + 2
    # Six entries were written into four slots: slots hold #5 #6 #3 #4, newest in slot 1.
    header = log_header_bytes(cfg, overflow=True, valid=4, last=1, seq=6, unread=2)
    slots = [(5, 0x0001), (6, 0x0002), (3, 0x0814), (4, 0x3014)]
    body = b"".join(
        _history_entry(cfg, datetime(2025, 1, n, 12, 0, 0), n, n, 1, code) for n, code in slots
    )
    log = decode_st74(header + body, cfg, st71)
    assert log.header.overflow
    assert log.header.list_type == 1
    assert log.header.order == 0
    assert (log.header.nbr_valid_entries, log.header.last_entry_element) == (4, 1)
    assert (log.header.last_entry_seq_nbr, log.header.nbr_unread_entries) == (6, 2)
    ordered = valid_entries_in_order(log.header, log.entries)
    assert [e.seq_nbr for e in ordered] == [3, 4, 5, 6]
    assert [e.time for e in ordered] == [datetime(2025, 1, n, 12) for n in (3, 4, 5, 6)]
    third = ordered[0]
    assert (third.code, third.manufacturer) == (20, True)  # bit 11 set: MFG event 20
    assert (ordered[1].code, ordered[1].manufacturer) == (20, False)  # selector bits ignored
    assert ordered[1].name == "Demand reset"
    assert ordered[2].name == "Primary power down"
    assert ordered[2].argument == bytes([5, 5])
    assert ordered[2].event_number == 5
    assert ordered[2].user_id == 1


def test_st74_without_optional_fields() -> None:
    cfg = make_cfg()
    st71 = decode_st71(st71_bytes(cfg, flags=0x00, hist_len=0, hist_entries=2), cfg)
    assert st74_entry_size(cfg, st71) == 4
    header = log_header_bytes(cfg, circular=False, valid=1, last=0)
    log = decode_st74(header + u16(0, cfg) + u16(2, cfg) + bytes(4), cfg, st71)
    entry = log.entries[0]
    assert (entry.time, entry.event_number, entry.seq_nbr) == (None, None, None)
    assert (entry.user_id, entry.code, entry.argument) == (0, 2, b"")
    assert valid_entries_in_order(log.header, log.entries) == (entry,)


def test_st74_length_mismatch() -> None:
    cfg = make_cfg()
    st71 = decode_st71(st71_bytes(cfg, flags=0x02, hist_len=1, hist_entries=3), cfg)
    with pytest.raises(DecodeError, match=r"ST74 .* is 40 bytes, expected 44") as err:
        decode_st74(bytes(40), cfg, st71)
    assert err.value.table == 74


@pytest.mark.parametrize("order", ["little", "big"])
def test_st76_event_log_with_partial_entry_reads(order: ByteOrder) -> None:
    cfg = make_cfg(order=order, tm_format=4)
    st71 = decode_st71(st71_bytes(cfg, flags=0x01, event_len=1, event_entries=3), cfg)
    assert st76_entry_size(cfg, st71) == 4 + 2 + 2 + 2 + 2 + 1

    def entry(when: datetime, number: int, seq: int, code: int) -> bytes:
        return (
            encode_ltime(when, cfg)
            + u16(number, cfg)
            + u16(seq, cfg)
            + u16(2, cfg)
            + u16(code, cfg)
            + b"\x09"
        )

    t1, t2 = datetime(2024, 12, 31, 23, 0, 1), datetime(2025, 1, 1, 0, 0, 2)
    entries = entry(t1, 40, 7, 47) + bytes(13) + entry(t2, 41, 8, 0x0829)
    # Descending list started in slot 0: the next entry wrapped to slot 2; slot 1 is unused.
    header = log_header_bytes(cfg, order=1, valid=2, last=2, seq=8)
    log = decode_st76(header + entries, cfg, st71)
    ordered = valid_entries_in_order(log.header, log.entries)
    assert [(e.time, e.seq_nbr, e.code, e.manufacturer) for e in ordered] == [
        (t1, 7, 47, False),
        (t2, 8, 41, True),
    ]
    assert ordered[0].name == "Tamper attempt detected"
    assert ordered[1].name == "Manufacturer event 41"

    # The driver reads the header, then entries in chunks: the same bytes decode alike.
    head = decode_log_header(header, cfg, log="event")
    assert head == log.header
    chunk = decode_log_entries(entries[26:], cfg, st71, log="event")
    assert chunk == log.entries[2:]
    with pytest.raises(DecodeError, match="not whole 13-byte entries") as err:
        decode_log_entries(entries[:20], cfg, st71, log="event")
    assert err.value.table == 76
    with pytest.raises(DecodeError, match="at most 3") as err:
        decode_log_entries(entries + entries[:13], cfg, st71, log="event")
    assert err.value.table == 76


def test_log_header_must_be_eleven_bytes() -> None:
    with pytest.raises(DecodeError, match=r"ST76 .* 10 bytes") as err:
        decode_log_header(bytes(10), make_cfg(), log="event")
    assert err.value.table == 76


def _header(order: int, valid: int, last: int, *, overflow: bool = False) -> LogHeader:
    return LogHeader(order, overflow, 1, False, valid, last, 0, 0)


@pytest.mark.parametrize(
    ("order", "valid", "last", "slots"),
    [
        (0, 0, 3, ()),  # empty: LAST_ENTRY_ELEMENT means nothing
        (0, 3, 2, (0, 1, 2)),  # ascending, not yet wrapped
        (0, 5, 1, (2, 3, 4, 0, 1)),  # ascending, wrapped
        (1, 3, 2, (4, 3, 2)),  # descending, not yet wrapped (filled from the top)
        (1, 5, 3, (2, 1, 0, 4, 3)),  # descending, wrapped
        (0, 1, 4, (4,)),
    ],
)
def test_valid_entry_slots(order: int, valid: int, last: int, slots: tuple[int, ...]) -> None:
    assert valid_entry_slots(_header(order, valid, last), 5) == slots


def test_only_the_first_slots_read() -> None:
    entries = tuple(LogEntry(None, None, n, 0, n, False, b"") for n in range(3))
    not_wrapped = _header(0, 3, 2)
    assert valid_entries_in_order(not_wrapped, entries, nbr_entries=10) == entries
    wrapped = _header(0, 4, 0)
    with pytest.raises(DecodeError, match="slot 7 holds a valid entry but only 3"):
        valid_entries_in_order(wrapped, entries, nbr_entries=10)


def test_inconsistent_log_header_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="6 valid entries"):
        valid_entry_slots(_header(0, 6, 0), 5)
    with pytest.raises(DecodeError, match="slot 5 of 5"):
        valid_entry_slots(_header(0, 2, 5), 5)


@given(
    nbr=st.integers(1, 12),
    order=st.integers(0, 1),
    data=st.data(),
)
def test_valid_entries_are_the_newest_in_insertion_order(
    nbr: int, order: int, data: st.DataObject
) -> None:
    written = data.draw(st.integers(0, 3 * nbr))
    # Simulate a meter writing entries 1..written into a circular list of nbr slots.
    slots: list[int | None] = [None] * nbr
    pos = 0 if order == 0 else nbr - 1
    last = pos
    for n in range(1, written + 1):
        slots[pos] = n
        last = pos
        pos = (pos + (1 if order == 0 else -1)) % nbr
    valid = min(written, nbr)
    header = _header(order, valid, last, overflow=written > nbr)
    picked = [slots[s] for s in valid_entry_slots(header, nbr)]
    assert picked == list(range(written - valid + 1, written + 1))


@settings(max_examples=60)
@given(
    order=ORDERS,
    tm=st.integers(0, 4),
    flags=st.integers(0, 7),
    arg_len=st.integers(0, 4),
    data=st.data(),
)
def test_log_entries_round_trip(
    order: ByteOrder, tm: int, flags: int, arg_len: int, data: st.DataObject
) -> None:
    cfg = make_cfg(order=order, tm_format=tm)
    count = data.draw(st.integers(0, 4))
    st71 = decode_st71(
        st71_bytes(
            cfg,
            flags=flags,
            hist_len=arg_len,
            event_len=arg_len,
            hist_entries=count,
            event_entries=count,
        ),
        cfg,
    )
    moments = st.datetimes(datetime(1990, 1, 1), datetime(2089, 12, 31)).map(
        lambda d: d.replace(microsecond=0)
    )
    words = st.integers(0, 0xFFFF)
    for log in ("history", "event"):
        history = log == "history"
        raw = b""
        expected = []
        for _ in range(count):
            when = data.draw(moments) if tm else None
            number, seq, user, code = (data.draw(words) for _ in range(4))
            argument = data.draw(st.binary(min_size=arg_len, max_size=arg_len))
            has_time = bool(flags & 0x02) if history else True
            has_seq = bool(flags & 0x04) if history else True
            raw += encode_ltime(when, cfg) if has_time else b""
            raw += u16(number, cfg) if flags & 0x01 else b""
            raw += u16(seq, cfg) if has_seq else b""
            raw += u16(user, cfg) + u16(code, cfg) + argument
            expected.append(
                LogEntry(
                    time=when if has_time else None,
                    event_number=number if flags & 0x01 else None,
                    seq_nbr=seq if has_seq else None,
                    user_id=user,
                    code=code & 0x7FF,
                    manufacturer=bool(code & 0x800),
                    argument=argument,
                )
            )
        got = decode_log_entries(raw, cfg, st71, log=log)
        assert list(got) == expected
        header = log_header_bytes(cfg, valid=count, last=max(count - 1, 0))
        whole = (decode_st74 if history else decode_st76)(header + raw, cfg, st71)
        assert list(valid_entries_in_order(whole.header, whole.entries)) == expected


# --- fuzz: arbitrary bytes only ever raise DecodeError ---------------------------------------


@st.composite
def any_cfg(draw: st.DrawFn) -> GeneralConfig:
    """Any ST0 a meter could send, including undefined format codes, with small sets."""
    return decode_st0(draw(st0_candidates(exact=True)))


@st.composite
def st0_candidates(draw: st.DrawFn, *, exact: bool) -> bytes:
    """ST0 bytes with random formats; set bytes of the right length when ``exact``."""
    formats = draw(st.binary(min_size=7, max_size=7))
    nameplate = draw(st.sampled_from([2, 2, 2, 0, 1, 255]))
    middle = draw(st.binary(min_size=5, max_size=5))
    dims = draw(st.lists(st.integers(0, 3), min_size=6, max_size=6))
    wanted = 2 * dims[0] + 2 * dims[1] + dims[2] + dims[3]
    if not exact:
        wanted = draw(st.integers(max(0, wanted - 2), wanted + 2))
    sets = draw(st.binary(min_size=wanted, max_size=wanted))
    return formats + bytes([nameplate]) + middle + bytes(dims) + sets


def _small_st21(cfg: GeneralConfig, raw: bytes) -> ActualRegisters:
    counts = bytes(b % 4 for b in raw[2:])
    return decode_st21(raw[:2] + counts, cfg)


def _small_st71(cfg: GeneralConfig, raw: bytes) -> ActualLog:
    return decode_st71(raw[:5] + bytes([raw[5] % 4, 0, raw[7] % 4, 0]), cfg)


Draw = Callable[[st.SearchStrategy[Any]], Any]
Decoder = Callable[[Draw, GeneralConfig], object]


def _fuzz_data(draw: Draw, size: Callable[[], int]) -> bytes:
    """Arbitrary bytes, half the time exactly as long as the table should be."""
    if draw(st.booleans()):
        try:
            wanted = size()
        except DecodeError:
            wanted = -1
        if 0 <= wanted <= 4096:
            data: bytes = draw(st.binary(min_size=wanted, max_size=wanted))
            return data
    noise: bytes = draw(st.binary(max_size=80))
    return noise


def _simple(
    decode: Callable[[bytes, GeneralConfig], object], size: Callable[[GeneralConfig], int]
) -> Decoder:
    def run(draw: Draw, cfg: GeneralConfig) -> object:
        return decode(_fuzz_data(draw, lambda: size(cfg)), cfg)

    return run


def _with_st21(
    decode: Callable[[bytes, GeneralConfig, ActualRegisters], object],
    size: Callable[[GeneralConfig, ActualRegisters], int],
) -> Decoder:
    def run(draw: Draw, cfg: GeneralConfig) -> object:
        st21 = _small_st21(cfg, draw(st.binary(min_size=10, max_size=10)))
        return decode(_fuzz_data(draw, lambda: size(cfg, st21)), cfg, st21)

    return run


def _fuzz_st74(draw: Draw, cfg: GeneralConfig) -> object:
    st71 = _small_st71(cfg, draw(st.binary(min_size=9, max_size=9)))

    def size() -> int:
        return LOG_HEADER_SIZE + st71.nbr_history_entries * st74_entry_size(cfg, st71)

    log = decode_st74(_fuzz_data(draw, size), cfg, st71)
    return valid_entries_in_order(log.header, log.entries)


def _fuzz_st76(draw: Draw, cfg: GeneralConfig) -> object:
    st71 = _small_st71(cfg, draw(st.binary(min_size=9, max_size=9)))

    def size() -> int:
        return LOG_HEADER_SIZE + st71.nbr_event_entries * st76_entry_size(cfg, st71)

    log = decode_st76(_fuzz_data(draw, size), cfg, st71)
    return valid_entries_in_order(log.header, log.entries)


def _fuzz_log_pieces(draw: Draw, cfg: GeneralConfig) -> object:
    st71 = _small_st71(cfg, draw(st.binary(min_size=9, max_size=9)))
    header = decode_log_header(draw(st.binary(min_size=11, max_size=11)), cfg)
    entries = decode_log_entries(
        _fuzz_data(draw, lambda: st76_entry_size(cfg, st71)), cfg, st71, log="event"
    )
    return valid_entries_in_order(header, entries)


def _fuzz_st0(draw: Draw, cfg: GeneralConfig) -> object:
    exact = draw(st.booleans())
    return decode_st0(draw(st0_candidates(exact=exact) | st.binary(max_size=80)))


DECODERS: dict[str, Decoder] = {
    "st0": _fuzz_st0,
    "st1": _simple(decode_st1, lambda c: 24 if c.id_form else 32),
    "st2": _simple(decode_st2, lambda c: 33),
    "st3": _simple(decode_st3, lambda c: 4 + c.dim_mfg_status_used),
    "st5": _simple(decode_st5, lambda c: 10 if c.id_form else 20),
    "st21": _simple(decode_st21, lambda c: 10),
    "st22": _with_st21(
        decode_st22,
        lambda c, r: r.nbr_summations + r.nbr_demands * 2 + 1 + 2 * r.nbr_coin_values,
    ),
    "st23": _with_st21(decode_st23, st23_size),
    "st27": _with_st21(decode_st27, lambda c, r: r.nbr_present_demands + r.nbr_present_values),
    "st28": _with_st21(decode_st28, st28_size),
    "st51": _simple(decode_st51, lambda c: 9),
    "st52": _simple(decode_st52, lambda c: ltime_date_size(c) + 1),
    "st55": _simple(decode_st55, lambda c: ltime_date_size(c) + 3),
    "st71": _simple(decode_st71, lambda c: 12 if c.std_version > 1 else 9),
    "st74": _fuzz_st74,
    "st76": _fuzz_st76,
    "log_pieces": _fuzz_log_pieces,
}


@pytest.mark.parametrize("name", sorted(DECODERS))
@settings(max_examples=150)
@given(data=st.data())
def test_fuzz_every_decoder_raises_only_decode_error(name: str, data: st.DataObject) -> None:
    cfg = data.draw(any_cfg())
    try:
        result = DECODERS[name](data.draw, cfg)
    except DecodeError as exc:
        message = str(exc)
        event("refused")
    else:
        message = ""
        event("decoded")
        assert result is not None
    assert "\n" not in message  # one line for the technician
