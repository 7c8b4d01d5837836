"""`fieldkit ports`: optical probes are marked, other ports listed plainly."""

from __future__ import annotations

import json

from serial.tools.list_ports_common import ListPortInfo

from fieldkit.drivers import ports
from tests.helpers import run_cli


def _port(device: str, vid: int | None, pid: int | None, description: str) -> ListPortInfo:
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid, info.description = vid, pid, description
    return info


def test_probes_first_and_marked(monkeypatch: object) -> None:
    fake = [
        _port("/dev/ttyS0", None, None, "ttyS0"),
        _port("/dev/ttyUSB1", 0x0403, 0x6001, "FT232R USB UART"),
        _port("/dev/ttyACM0", 0x2341, 0x0043, "Optical Probe ANSI Type 2"),
    ]
    monkeypatch.setattr(ports._list_ports, "comports", lambda: fake)  # type: ignore[attr-defined]
    found = ports.list_ports()
    assert [p.device for p in found] == ["/dev/ttyACM0", "/dev/ttyUSB1", "/dev/ttyS0"]
    assert found[0].probe == "optical probe (by name)"
    assert found[1].probe is not None
    assert "FTDI" in found[1].probe
    assert found[2].probe is None


def test_ports_command_runs_without_hardware() -> None:
    result = run_cli("ports", "--json")
    assert result.code == 0, result.stderr
    listed = json.loads(result.stdout)
    assert isinstance(listed, list)
    assert all({"device", "vid", "pid", "probe"} <= set(p) for p in listed)


def test_rs485_adapters_are_marked_after_probes(monkeypatch: object) -> None:
    fake = [
        _port("/dev/ttyUSB3", 0x1A86, 0x7523, "USB Serial"),
        _port("/dev/ttyUSB2", None, None, "USB-RS485 converter"),
        _port("/dev/ttyS0", None, None, "ttyS0"),
        _port("/dev/ttyUSB1", 0x0403, 0x6001, "FT232R USB UART"),
    ]
    monkeypatch.setattr(ports._list_ports, "comports", lambda: fake)  # type: ignore[attr-defined]
    found = ports.list_ports()
    assert [p.device for p in found] == [
        "/dev/ttyUSB1",
        "/dev/ttyUSB2",
        "/dev/ttyUSB3",
        "/dev/ttyS0",
    ]
    assert found[1].rs485 == "RS-485 adapter (by name)"
    assert found[2].rs485 is not None
    assert "CH340" in found[2].rs485
    assert found[2].probe is None
    assert found[3].rs485 is None
