"""The simulated Modbus meter, sans-I/O: its own CRC and framing, which registers answer."""

from __future__ import annotations

import struct

import pytest

from simulators.modbus.device import ModbusDevice, ModbusFaults, crc16
from simulators.modbus.registers import RegisterImage, load_sim_map, scenario_values
from simulators.scenario import load_scenario


def _rtu(device: int, function: int, address: int, count: int) -> bytes:
    body = struct.pack(">BBHH", device, function, address, count)
    return body + struct.pack("<H", crc16(body))


def _device(map_name: str = "eastron-sdm630", **faults: object) -> ModbusDevice:
    scenario = load_scenario("healthy-16s")
    sim_map = load_sim_map(map_name)

    def image(now: float) -> RegisterImage:
        return RegisterImage(sim_map, scenario_values(scenario, sim_map, started_at=0.0, now=now))

    return ModbusDevice(image, device_id=1, framing="rtu", faults=ModbusFaults(**faults))  # type: ignore[arg-type]


def _ask(device: ModbusDevice, frame: bytes) -> bytes:
    device.receive(frame, 0.0)
    return device.data_to_send(1.0)


def test_a_request_cut_short_does_not_spoil_the_retry_after_a_silence() -> None:
    device = _device()
    request = _rtu(1, 4, 0, 2)
    device.receive(request[:3] + request[4:], 0.0)  # one byte lost on the wire: 7 of 8
    device.receive(request, 0.3)  # the master's retry, after its 0.3 s timeout

    answer = device.data_to_send(1.0)

    assert answer[:3] == bytes([1, 4, 4])


def test_crc_is_the_specifications() -> None:
    assert struct.pack("<H", crc16(bytes.fromhex("1103006B0003"))) == bytes.fromhex("7687")


def test_answers_a_read_with_crc() -> None:
    answer = _ask(_device(), _rtu(1, 4, 0, 2))
    assert answer[:3] == bytes([1, 4, 4])
    assert struct.unpack(">f", answer[3:7])[0] == pytest.approx(121.1, abs=1e-4)
    assert crc16(answer[:-2]) == struct.unpack("<H", answer[-2:])[0]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (_rtu(1, 4, 80, 2), 2),  # past the last register
        (_rtu(1, 3, 0, 2), 2),  # holding registers: the map has none
        (_rtu(1, 4, 0, 81), 3),  # more than the meter's 80 a request
        (_rtu(1, 6, 0, 1), 1),  # a write: not a function this meter answers
    ],
)
def test_exceptions(frame: bytes, code: int) -> None:
    answer = _ask(_device(), frame)
    assert answer[1] & 0x80
    assert answer[2] == code


def test_bridged_gaps_answer_zero_and_unbridged_ones_refuse() -> None:
    sdm = _ask(_device(), _rtu(1, 4, 0x24, 2))  # unused, inside the 16-register bridge
    assert sdm[:3] == bytes([1, 4, 4])
    assert sdm[3:7] == bytes(4)
    pm = _ask(_device("schneider-pm5100"), _rtu(1, 3, 3005, 2))  # no bridging on the PM5100
    assert pm[1:3] == bytes([0x83, 2])


def test_other_ids_bad_crc_and_faults() -> None:
    device = _device()
    assert _ask(device, _rtu(2, 4, 0, 2)) == b""
    bad = bytearray(_rtu(1, 4, 0, 2))
    bad[-1] ^= 0xFF
    assert _ask(device, bytes(bad)) == b""
    assert device.counters.ignored == 2
    busy = _device(busy=1)
    assert _ask(busy, _rtu(1, 4, 0, 2))[1:3] == bytes([0x84, 6])
    assert _ask(busy, _rtu(1, 4, 0, 2))[1] == 4
    other = _ask(_device(answer_as=9), _rtu(1, 4, 0, 2))
    assert other[0] == 9
    assert crc16(other[:-2]) == struct.unpack("<H", other[-2:])[0]
    assert _ask(_device(silent=True), _rtu(1, 4, 0, 2)) == b""
