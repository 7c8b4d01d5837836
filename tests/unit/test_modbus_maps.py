"""Register maps: every shipped map decodes values encoded here by hand, and a broken map is
one error naming its file and entry."""

from __future__ import annotations

import struct
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fieldkit.drivers.modbus.maps import (
    SHIPPED_MAPS_DIR,
    MapError,
    find_map,
    list_maps,
    load_map,
    parse_map,
    plan_blocks,
)
from fieldkit.drivers.modbus.snapshot import build_snapshot, decode_block

SHIPPED = sorted(p.stem for p in SHIPPED_MAPS_DIR.glob("*.toml"))

# The test's own idea of units (not the driver's table): engineering value -> map unit.
_TO_UNIT = {"kW": 1e-3, "kvar": 1e-3, "Wh": 1e3, "varh": 1e3, "MWh": 1e-3, "kV": 1e-3, "mA": 1e3}
_FMT = {
    "int16": ">h",
    "uint16": ">H",
    "int32": ">i",
    "uint32": ">I",
    "int64": ">q",
    "uint64": ">Q",
    "float32": ">f",
}

# What the hand-encoded meter measures, in the snapshot's units.
TRUTH: dict[tuple[str, str | None], float | str] = {
    ("voltage", "A"): 121.1,
    ("voltage", "B"): 120.4,
    ("voltage", "C"): 119.6,
    ("current", "A"): 12.6,
    ("current", "B"): 11.8,
    ("current", "C"): 13.1,
    ("active_power", "A"): 1459.4,
    ("active_power", "B"): 1356.2,
    ("active_power", "C"): -1520.3,
    ("reactive_power", "A"): 446.2,
    ("reactive_power", "B"): 468.0,
    ("reactive_power", "C"): -389.9,
    ("power_factor", "A"): 0.956,
    ("power_factor", "B"): 0.945,
    ("power_factor", "C"): -0.969,
    ("total_active_power", None): 1295.3,
    ("total_reactive_power", None): 524.3,
    ("frequency", None): 59.98,
    ("kwh_delivered", None): 52310.7,
    ("kwh_received", None): 12.5,
    ("kvarh_delivered", None): 14210.0,
    ("kvarh_received", None): 3.0,
    ("serial_number", None): "1234567",
    ("meter_id", None): "M16-0054321",
    ("model_code", None): "15",
}


def _encode_pf_4q(pf: float, q: float) -> float:
    """Schneider's 4Q PF by hand: quadrant from the signs of P (pf) and Q."""
    if pf >= 0:
        return pf if q >= 0 else 2.0 - pf
    return pf if q >= 0 else -2.0 - pf


def _encode_image(map_file: Path) -> dict[tuple[int, int], int]:
    """(function, wire address) -> register, for TRUTH through the file's own words."""
    doc: dict[str, Any] = tomllib.loads(map_file.read_text())
    meter = doc["meter"]
    base = meter["address_base"]
    image: dict[tuple[int, int], int] = {}
    for point in doc["point"]:
        truth = TRUTH[(point["quantity"], point.get("element"))]
        fn = point.get("function", meter["function"])
        start = point["address"] - base
        if point["type"] == "string":
            raw = str(truth).encode().ljust(2 * point["length"], b"\x00")
        else:
            value = float(truth)
            if point.get("transform") == "pf_4q":
                value = _encode_pf_4q(value, float(TRUTH[("reactive_power", point["element"])]))
            value = value * _TO_UNIT.get(point["unit"], 1.0) / point.get("scale", 1.0)
            fmt = _FMT[point["type"]]
            raw = struct.pack(fmt, value if fmt == ">f" else round(value))
        pairs = [raw[i : i + 2] for i in range(0, len(raw), 2)]
        if point["type"] != "string" and meter["word_order"] == "little":
            pairs.reverse()
        if meter["byte_order"] == "little":
            pairs = [p[::-1] for p in pairs]
        for i, pair in enumerate(pairs):
            image[(fn, start + i)] = int.from_bytes(pair, "big")
    return image


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_map_decodes_hand_encoded_values(name: str) -> None:
    m = load_map(name)
    assert m.spec.source.strip()
    image = _encode_image(SHIPPED_MAPS_DIR / f"{name}.toml")
    values: dict[tuple[str, str | None], float | str] = {}
    for block in plan_blocks(m):
        regs = [image.get((block.function, a), 0) for a in range(block.address, block.end)]
        values.update(decode_block(m, block, regs))
    assert set(values) == {(p.quantity, p.element) for p in m.points}
    for key, got in values.items():
        want = TRUTH[key]
        if isinstance(want, str):
            assert got == want, key
        else:
            # Integer registers keep only their resolution (0.1 V, 0.01 kWh ...).
            point = m.point(*key)
            assert point is not None
            step = point.scale * {"kW": 1e3, "kvar": 1e3, "Wh": 1e-3, "varh": 1e-3}.get(
                point.unit, 1.0
            )
            tolerance = step if point.type != "float32" else abs(want) * 1e-6 + 1e-9
            assert got == pytest.approx(want, abs=max(tolerance, 1e-3 * step)), key


def test_sdm630_bytes_by_hand() -> None:
    # 230.1 V on L1 is 0x4366 0x199A (c12-protocols.md section 5), frequency 50.02 Hz.
    m = load_map("eastron-sdm630")
    (block,) = plan_blocks(m)
    assert block.label == "input registers 0-79"
    regs = [0] * 80
    regs[0:2] = [0x4366, 0x199A]
    regs[0x46:0x48] = struct.unpack(">2H", struct.pack(">f", 50.02))
    values = decode_block(m, block, regs)
    assert values[("voltage", "A")] == pytest.approx(230.1, abs=1e-4)
    assert values[("frequency", None)] == pytest.approx(50.02, abs=1e-5)


def test_pm5100_int64_energy_and_manual_numbers() -> None:
    m = load_map("schneider-pm5100")
    point = m.point("kwh_delivered")
    assert point is not None
    assert point.address == 3203
    assert point.doc.startswith("3204")
    block = next(b for b in plan_blocks(m) if b.address == 3203)
    regs = list(struct.unpack(">4H", struct.pack(">q", 52_310_712))) + [0] * (block.count - 4)
    assert decode_block(m, block, regs)[("kwh_delivered", None)] == pytest.approx(52310.712)


def test_one_based_map_reads_the_right_wire_address() -> None:
    m = load_map("eastron-sdm72dm-v2")
    voltage = m.point("voltage", "A")
    assert voltage is not None
    assert voltage.address == 1
    assert m.wire_address(voltage) == 0
    assert plan_blocks(m)[0].address == 0


def test_blocks_are_as_few_as_the_map_allows() -> None:
    assert [b.label for b in plan_blocks(load_map("eastron-sdm630"))] == ["input registers 0-79"]
    pm = [b.label for b in plan_blocks(load_map("schneider-pm5100"))]
    assert "holding registers 3053-3068" in pm  # active and reactive power blocks join
    assert len(pm) == 10


# --- map errors ---------------------------------------------------------------------------------

HEADER = """
[meter]
manufacturer = "Test"
model = "T1"
source = "a test"
function = 4
address_base = 0
word_order = "big"
byte_order = "big"
max_registers = 10
bridge_gap = 2
"""


def _point(name: str, address: int, **extra: object) -> str:
    fields = {"quantity": "voltage", "element": "A", "type": "float32", "unit": "V"} | extra
    body = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in fields.items() if v is not None)
    return f'\n[[point]]\nname = "{name}"\naddress = {address}\n{body}\n'


@pytest.mark.parametrize(
    ("points", "message"),
    [
        (_point("va", 0) + _point("vb", 1, element="B"), "point[1] 'vb': overlaps point[0] 'va'"),
        (_point("va", 0, type="float16"), "point[0] 'va' type: unknown type"),
        (_point("va", 0, unit=None), "point[0] 'va' unit: required key is missing"),
        (_point("va", 0, unit="kA"), "point[0] 'va': unit 'kA' is not one of V, kV for voltage"),
        (_point("va", 0, element=None), "give element"),
        (_point("f", 0, quantity="frequency", unit="Hz"), "frequency is not per element"),
        (_point("va", 0, colour="red"), "point[0] 'va' colour: unknown key"),
        (
            _point("id", 0, quantity="meter_id", element=None, type="string", unit=""),
            "needs length",
        ),
        (_point("va", 0) + _point("va2", 4), "voltage of element A is already read by 'va'"),
        (_point("x", 0, quantity="wattage"), "point[0] 'x' quantity"),
        ("", "no [[point]] entries"),
    ],
)
def test_map_errors_name_file_and_entry(points: str, message: str) -> None:
    with pytest.raises(MapError) as caught:
        parse_map(HEADER + points, name="broken", source="broken.toml")
    text = str(caught.value)
    assert text.startswith("broken.toml: ")
    assert message in text
    assert "\n" not in text


def test_long_point_overlapping_a_later_one() -> None:
    points = _point("id", 0, quantity="meter_id", element=None, type="string", unit="", length=8)
    points += _point("va", 2) + _point("vb", 6, element="B")
    with pytest.raises(MapError, match="point\\[1\\] 'va': overlaps point\\[0\\] 'id'"):
        parse_map(HEADER + points, name="b")


def test_address_below_the_base() -> None:
    text = HEADER.replace("address_base = 0", "address_base = 1") + _point("va", 0)
    with pytest.raises(MapError, match="below the map's address_base 1"):
        parse_map(text, name="b")


def test_base_must_be_stated() -> None:
    text = HEADER.replace("address_base = 0\n", "") + _point("va", 0)
    with pytest.raises(MapError, match=r"meter\.address_base: required key is missing"):
        parse_map(text, name="b")


def test_planner_bridges_small_gaps_and_respects_the_request_size() -> None:
    points = "".join(
        [
            _point("va", 0),
            _point("vb", 4, element="B"),  # gap of 2: bridged
            _point("vc", 9, element="C"),  # gap of 3: a new request
            _point("ia", 11, quantity="current", unit="A"),
            _point("ib", 13, quantity="current", element="B", unit="A"),
            _point("ic", 19, quantity="current", element="C", unit="A"),  # would make 11
        ]
    )
    m = parse_map(HEADER + points, name="t")
    assert [(b.address, b.count) for b in plan_blocks(m)] == [(0, 6), (9, 6), (19, 2)]


def test_user_maps_come_first(tmp_path: Path) -> None:
    (tmp_path / "eastron-sdm630.toml").write_text(HEADER + _point("va", 0))
    (tmp_path / "mine.toml").write_text(HEADER + _point("va", 0))
    names = dict(list_maps(tmp_path))
    assert names["eastron-sdm630"] == tmp_path / "eastron-sdm630.toml"
    assert "mine" in names
    assert "schneider-pm5100" in names
    assert load_map("eastron-sdm630", tmp_path).spec.model == "T1"
    with pytest.raises(MapError, match="no map called 'nope' \\(available: "):
        find_map("nope", tmp_path)


def test_maps_dir_follows_fieldkit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fieldkit.paths import maps_dir

    monkeypatch.setenv("FIELDKIT_HOME", str(tmp_path))
    assert maps_dir() == tmp_path / "maps"
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "site.toml").write_text(HEADER + _point("va", 0))
    assert load_map("site").path == tmp_path / "maps" / "site.toml"


def test_snapshot_names_what_the_map_lacks() -> None:
    m = load_map("eastron-sdm630")
    snap = build_snapshot(m, {("voltage", "A"): 120.0}, read_at=datetime(2025, 1, 1, tzinfo=UTC))
    items = {u.item for u in snap.unavailable}
    assert {"serial_number", "clock", "status", "events"} <= items
    assert snap.identity.manufacturer == "Eastron"
    assert snap.identity.model == "SDM630"
    assert snap.protocol == "modbus"
