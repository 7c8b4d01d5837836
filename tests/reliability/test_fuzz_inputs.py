"""Hostile input at every door the kit opens to the outside: bytes from a meter, files from
an office, JSON from anywhere. Each target either returns a value or raises its own typed
error with a one-line message — never another exception, never a hang.

``FIELDKIT_FUZZ_EXAMPLES`` sets the examples per target: a fast slice in ``make test``
(default 150), about 60,000 per target in ``make reliability`` (over a million in all).
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldkit.checks import PolicyError
from fieldkit.checks.policy import parse_policy
from fieldkit.drivers.c1218 import tables as t
from fieldkit.drivers.c1218.link import LinkConfig, LinkConnection, NeedData
from fieldkit.drivers.c1218.packet import FrameError, FrameScanner, decode_packet, split_message
from fieldkit.drivers.c1218.profile import ProfileError, load_profile
from fieldkit.drivers.c1218.snapshot import TableSet, build_snapshot
from fieldkit.drivers.errors import DecodeError
from fieldkit.drivers.modbus import codec
from fieldkit.drivers.modbus.maps import MapError, load_map, parse_map, plan_blocks
from fieldkit.drivers.modbus.snapshot import build_snapshot as modbus_snapshot
from fieldkit.drivers.modbus.snapshot import decode_block
from fieldkit.store import WorkOrderImportError, parse_work_orders_csv
from fieldkit.sync.schema import SchemaError, load_document

from ..unit.test_c1219_tables import st0_bytes

pytestmark = pytest.mark.reliability

EXAMPLES = int(os.environ.get("FIELDKIT_FUZZ_EXAMPLES", "150"))
fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
ROOT = Path(__file__).resolve().parents[2]


def one_line(exc: BaseException) -> None:
    text = str(exc)
    assert text
    assert "\n" not in text


# --- bytes from a meter --------------------------------------------------------------------

configs = st.builds(
    lambda order, tm, ni1, ni2, char, procs: t.decode_st0(
        st0_bytes(
            order=order,
            tm_format=tm,
            ni1=ni1,
            ni2=ni2,
            char_format=char,
            std_tables=(0, 1, 3, 5, 11, 12, 15, 16, 21, 22, 23, 27, 28, 52, 55, 71, 74, 76),
            std_procs=procs,
        )
    ),
    st.sampled_from(["little", "big"]),
    st.integers(0, 4),
    st.integers(0, 13),
    st.integers(0, 13),
    st.integers(0, 5),
    st.sampled_from([(), (9, 10)]),
)


@fuzz
@given(st.binary(max_size=600), st.integers(64, 8192))
def test_frame_scanner_takes_any_byte_stream(data: bytes, max_packet: int) -> None:
    scanner = FrameScanner(max_packet)
    for start in range(0, len(data), 37):
        for _ in scanner.feed(data[start : start + 37]):
            pass
    scanner.reset()


@fuzz
@given(st.binary(max_size=300))
def test_packet_decoder_returns_a_packet_or_frame_error(frame: bytes) -> None:
    try:
        decode_packet(frame)
    except FrameError as exc:
        one_line(exc)


@fuzz
@given(st.binary(min_size=1, max_size=2000), st.integers(72, 1024))
def test_segmented_messages_reassemble_byte_for_byte(message: bytes, size: int) -> None:
    packets = split_message(message, packet_size=size, toggle=False)
    assert b"".join(p.data for p in packets) == message
    for packet in packets:
        assert decode_packet(packet.encode()) == packet


@fuzz
@given(st.lists(st.binary(max_size=80), max_size=12), st.lists(st.floats(0, 5), max_size=12))
def test_link_takes_any_answer_and_any_timing(chunks: list[bytes], gaps: list[float]) -> None:
    link = LinkConnection(LinkConfig(response_timeout=0.5))
    now = 0.0
    link.send_message(b"\x30\x00\x00", 1024, now)
    link.data_to_send()
    for chunk, gap in zip(chunks, gaps + [0.1] * len(chunks), strict=False):
        now += gap
        link.receive_data(chunk, now)
        link.handle_timeout(now)
        link.data_to_send()
        while not isinstance(link.next_event(), NeedData):
            pass


_DECODERS_CFG_ONLY = (
    t.decode_st1,
    t.decode_st2,
    t.decode_st3,
    t.decode_st5,
    t.decode_st11,
    t.decode_st21,
    t.decode_st51,
    t.decode_st52,
    t.decode_st55,
    t.decode_st71,
)


@fuzz
@given(configs, st.sampled_from(_DECODERS_CFG_ONLY), st.binary(max_size=300))
def test_table_decoders_return_a_table_or_decode_error(cfg: Any, decoder: Any, data: bytes) -> None:
    try:
        decoder(data, cfg)
    except DecodeError as exc:
        one_line(exc)


@fuzz
@given(st.binary(max_size=120))
def test_st0_decoder_returns_a_config_or_decode_error(data: bytes) -> None:
    try:
        t.decode_st0(data)
    except DecodeError as exc:
        one_line(exc)


@fuzz
@given(
    configs,
    st.dictionaries(
        st.sampled_from([3, 5, 11, 12, 15, 16, 21, 22, 23, 27, 28, 52, 55, 71, 74, 76]),
        st.binary(max_size=200),
        max_size=10,
    ),
)
def test_a_snapshot_is_built_from_any_tables(cfg: Any, tables: dict[int, bytes]) -> None:
    """Garbage in any table beyond ST0/ST1 becomes an unavailable item, never a crash."""
    raw_st0 = st0_bytes(
        order=cfg.data_order,
        tm_format=cfg.tm_format,
        ni1=cfg.ni_format1,
        ni2=cfg.ni_format2,
        char_format=cfg.char_format,
        std_tables=(0, 1, 3, 5, 11, 12, 15, 16, 21, 22, 23, 27, 28, 52, 55, 71, 74, 76),
    )
    ts = TableSet(tables={0: raw_st0, 1: b"FKIT" + b"SIM-16S " + bytes(4) + b"SN-FUZZ".ljust(16)})
    ts.tables.update(tables)
    ts.clock_reference = datetime(2026, 12, 1, tzinfo=UTC)
    try:
        snapshot = build_snapshot(ts, profile=None, read_at=datetime(2026, 12, 1, tzinfo=UTC))
    except DecodeError as exc:  # only ST1 may stop it
        one_line(exc)
        return
    assert snapshot.identity.manufacturer


_SHIPPED_MAPS = ("eastron-sdm630", "schneider-pm5100", "eastron-sdm72dm-v2", "chint-dtsu666")


@fuzz
@given(st.binary(max_size=300), st.integers(0, 255), st.sampled_from([3, 4]))
def test_modbus_rtu_parser_takes_any_answer(data: bytes, device: int, function: int) -> None:
    request = codec.ReadRequest(device_id=device, function=function, address=0, count=10)
    parser = codec.RtuAnswerParser(request)
    try:
        for start in range(0, len(data), 7):
            if parser.feed(data[start : start + 7]) is not None:
                break
    except codec.FrameError as exc:
        one_line(exc)


@fuzz
@given(st.binary(max_size=300), st.integers(0, 0xFFFF))
def test_modbus_tcp_parser_takes_any_answer(data: bytes, transaction: int) -> None:
    request = codec.ReadRequest(device_id=1, function=4, address=0, count=10)
    parser = codec.MbapAnswerParser(request, transaction)
    try:
        for start in range(0, len(data), 5):
            if parser.feed(data[start : start + 5]) is not None:
                break
    except codec.FrameError as exc:
        one_line(exc)


@fuzz
@given(st.sampled_from(_SHIPPED_MAPS), st.randoms(use_true_random=False))
def test_any_register_contents_decode_to_a_snapshot(name: str, rng: random.Random) -> None:
    meter_map = load_map(name)
    values: dict[Any, Any] = {}
    for block in plan_blocks(meter_map):
        registers = [rng.randrange(0x10000) for _ in range(block.count)]
        values.update(decode_block(meter_map, block, registers))
    snapshot = modbus_snapshot(meter_map, values, read_at=datetime(2026, 12, 1, tzinfo=UTC))
    for phase in snapshot.phases:
        for angle in (phase.voltage_angle, phase.current_angle):
            assert angle is None or 0.0 <= angle < 360.0


# --- files from the office and the utility ---------------------------------------------------

toml_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
policy_sections = st.sampled_from(
    [
        "general",
        "light_load",
        "clock_drift",
        "service_voltage",
        "voltage_imbalance",
        "status_flags",
        "phase_angle",
        "events",
        "nonsense",
    ]
)
policy_keys = st.sampled_from(
    [
        "enabled",
        "warn_seconds",
        "fail_seconds",
        "range_a_pct",
        "floor_a",
        "low_current_floor_a",
        "fail_flags",
        "warn_pct",
        "fail_pct",
        "light_pct",
        "CL200",
        "x",
    ]
)


@fuzz
@given(
    st.dictionaries(
        policy_sections, st.dictionaries(policy_keys, toml_values, max_size=4), max_size=4
    )
)
def test_policy_files_load_or_say_which_key(data: dict[str, Any]) -> None:
    try:
        parse_policy(data, source="policy.toml")
    except PolicyError as exc:
        one_line(exc)
        assert str(exc).startswith("policy.toml")  # noqa: PT017 (the message is the point)


@fuzz
@given(st.binary(max_size=400))
def test_csv_exports_import_or_name_the_row(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orders.csv"
        path.write_bytes(data)
        try:
            parse_work_orders_csv(path)
        except WorkOrderImportError as exc:
            one_line(exc)


_CSV_HEADER = (ROOT / "docs" / "work-orders.example.csv").read_text().splitlines()[0]


@fuzz
@given(st.lists(st.lists(st.text(max_size=10), min_size=0, max_size=24), max_size=5))
def test_csv_rows_with_any_cells_import_or_name_the_cell(rows: list[list[str]]) -> None:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow(row)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orders.csv"
        path.write_text(_CSV_HEADER + "\n" + out.getvalue(), encoding="utf-8")
        try:
            parse_work_orders_csv(path)
        except WorkOrderImportError as exc:
            one_line(exc)
            assert str(exc).startswith("orders.csv")  # noqa: PT017 (the message is the point)


@fuzz
@given(st.text(max_size=400))
def test_meter_profiles_load_or_name_the_key(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "profile.toml"
        path.write_text(text, encoding="utf-8")
        try:
            load_profile(path)
        except ProfileError as exc:
            one_line(exc)


_SDM630 = (ROOT / "fieldkit" / "drivers" / "modbus" / "maps" / "eastron-sdm630.toml").read_text()


@fuzz
@given(st.integers(0, len(_SDM630)), st.text(max_size=30), st.integers(0, 40))
def test_register_maps_load_or_name_the_entry(at: int, insert: str, cut: int) -> None:
    """A real map with text spliced in and some cut out: valid, or an error naming where."""
    text = _SDM630[:at] + insert + _SDM630[at + cut :]
    try:
        parse_map(text, name="spliced")
    except MapError as exc:
        one_line(exc)


# --- JSON from anywhere ------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=16),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=25,
)
_READ = json.loads((ROOT / "tests" / "fixtures" / "v0.1.0" / "check-healthy-16s.json").read_text())


@fuzz
@given(json_values)
def test_any_json_loads_or_names_the_field(data: Any) -> None:
    try:
        load_document(data, source="visit.json")
    except SchemaError as exc:
        one_line(exc)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value[:3]):
            out += _paths(item, (*prefix, i))
    return out


_READ_PATHS = _paths(_READ)[1:]


@fuzz
@given(st.sampled_from(_READ_PATHS), json_values)
def test_a_real_document_with_one_field_replaced_loads_or_names_it(
    where: tuple[Any, ...], value: Any
) -> None:
    data = json.loads(json.dumps(_READ))
    target = data
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    try:
        load_document(data, source="visit.json")
    except SchemaError as exc:
        one_line(exc)
