"""`fieldkit read|check --protocol modbus` and `fieldkit maps` as a technician runs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.modbus.server import start
from tests.helpers import run_cli

pytestmark = pytest.mark.sim


@pytest.fixture
def modbus_meter() -> Iterator[Any]:
    with start("reversed-ct-16s", map_name="eastron-sdm630") as simulator:
        yield simulator


def test_check_over_modbus_finds_the_reversed_ct(modbus_meter: Any, tmp_path: Path) -> None:
    capture = tmp_path / "modbus.json"
    result = run_cli(
        "check",
        "--protocol",
        "modbus",
        "--map",
        "eastron-sdm630",
        "--port",
        modbus_meter.url,
        "--service-type",
        "3ph-4w-wye",
        "--nominal-voltage",
        "120",
        "--json",
        "--capture",
        str(capture),
    )
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["protocol"] == "modbus"
    statuses = {c["id"]: c["status"] for c in document["checks"]}
    assert statuses["polarity"] == "fail"
    assert document["verdict"] == "fail"
    # Angles computed from PF and the sign of Q are marked as such.
    assert all("current_angle" in p["derived"] for p in document["phases"])
    saved = json.loads(capture.read_text())
    assert (saved["protocol"], saved["result"]) == ("modbus", "complete")
    assert saved["frames"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--protocol", "modbus"], "--map: a Modbus read needs the meter's register map"),
        (["--protocol", "modbus", "--map", "no-such-meter"], "--map:"),
        (["--protocol", "modbus", "--map", "eastron-sdm630", "--device-id", "300"], "--device-id"),
        (["--protocol", "modbus", "--map", "eastron-sdm630", "--password", "x"], "--password"),
        (["--map", "eastron-sdm630"], "--map: not a C12.18 setting"),
        (["--protocol", "dlms"], "--protocol: 'dlms' is not a protocol this kit speaks"),
    ],
)
def test_options_for_the_wrong_protocol_are_usage_errors(args: list[str], says: str) -> None:
    result = run_cli("read", "--port", "socket://127.0.0.1:9", *args)
    assert result.code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert says in lines[0]


def test_maps_list_and_show(tmp_path: Path) -> None:
    env = {"FIELDKIT_HOME": str(tmp_path)}
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "broken.toml").write_text("this is = not [ a map")
    listed = run_cli("maps", "list", env=env)
    assert listed.code == 0, listed.stderr
    assert "eastron-sdm630" in listed.stdout
    assert "schneider-pm5100" in listed.stdout
    assert "broken" in listed.stdout
    assert "BROKEN" in listed.stdout
    shown = run_cli("maps", "show", "eastron-sdm630", env=env)
    assert shown.code == 0, shown.stderr
    assert "input registers" in shown.stdout
    missing = run_cli("maps", "show", "no-such-meter", env=env)
    assert missing.code == 1
    assert len(missing.stderr.strip().splitlines()) == 1
