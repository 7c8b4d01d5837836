"""Interop with pymodbus, a Modbus implementation written outside this project.

The driver reads a pymodbus server (Modbus TCP, and RTU frames over TCP); pymodbus clients
read the simulated meter. Values on the pymodbus side are encoded with pymodbus's own
``convert_to_registers``, not with anything of ours.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.client.mixin import ModbusClientMixin
from pymodbus.framer import FramerType
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from fieldkit.drivers.base import create_driver, read_once
from fieldkit.drivers.errors import MeterRefused
from simulators.modbus.server import ModbusSimOptions, start

pytestmark = pytest.mark.sim

F32 = ModbusClientMixin.DATATYPE.FLOAT32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def pymodbus_server() -> Iterator[Any]:
    """Run a pymodbus ModbusTcpServer (SOCKET or RTU framer) in a background event loop."""
    loops: list[tuple[asyncio.AbstractEventLoop, ModbusTcpServer, threading.Thread]] = []

    def _start(device: SimDevice, framer: FramerType) -> int:
        port = _free_port()
        loop = asyncio.new_event_loop()
        holder: list[ModbusTcpServer] = []
        ready = threading.Event()

        async def serve() -> None:
            server = ModbusTcpServer(device, address=("127.0.0.1", port), framer=framer)
            holder.append(server)
            await server.serve_forever(background=True)
            ready.set()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(serve())
            loop.run_forever()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        assert ready.wait(5)
        loops.append((loop, holder[0], thread))
        return port

    yield _start
    for loop, server, thread in loops:
        asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def _sdm630_device(device_id: int) -> SimDevice:
    """An SDM630's input registers 0-79 as pymodbus lays them out (FLOAT32, high word first)."""
    values = [0.0] * 40
    for index, value in {
        0: 230.1,
        1: 231.2,
        2: 229.8,  # L1-L3 voltage
        3: 5.0,
        4: 6.0,
        5: 7.0,  # currents
        6: 1100.0,
        7: 1300.0,
        8: 1500.0,  # active power
        12: 200.0,
        13: -300.0,
        14: 0.0,  # reactive power
        15: 0.984,
        16: 0.974,
        17: 1.0,  # power factor
        26: 3900.0,
        30: -100.0,
        35: 50.02,
        36: 1234.5,
        37: 6.5,
    }.items():
        values[index] = value
    ir = [SimData(address=0, values=values, datatype=DataType.FLOAT32)]
    hr = [SimData(address=0, values=0, datatype=DataType.REGISTERS)]
    bits = [SimData(address=0, values=False, datatype=DataType.BITS)]
    return SimDevice(id=device_id, simdata=(bits, bits, hr, ir))


@pytest.mark.parametrize(
    ("framer", "scheme"), [(FramerType.SOCKET, "tcp"), (FramerType.RTU, "socket")]
)
def test_driver_reads_a_pymodbus_server(
    pymodbus_server: Any, framer: FramerType, scheme: str
) -> None:
    port = pymodbus_server(_sdm630_device(3), framer)
    driver = create_driver(
        "modbus", f"{scheme}://127.0.0.1:{port}", {"map": "eastron-sdm630", "device_id": 3}
    )
    outcome = read_once(driver)
    assert outcome.ok, outcome.error
    snap = outcome.snapshot
    assert snap is not None
    a, b, c = (snap.phase(n) for n in "ABC")
    assert a is not None
    assert b is not None
    assert c is not None
    assert a.voltage == pytest.approx(230.1, abs=1e-4)
    assert c.voltage == pytest.approx(229.8, abs=1e-4)
    assert b.current == pytest.approx(6.0)
    assert c.active_power == pytest.approx(1500.0)
    assert b.reactive_power == pytest.approx(-300.0)
    assert b.current_angle is not None
    assert 90.0 < b.current_angle < 120.0
    assert snap.frequency == pytest.approx(50.02, abs=1e-5)
    assert snap.register("kwh_delivered") is not None
    assert snap.total_active_power == pytest.approx(3900.0)


def test_pymodbus_server_refusal_reaches_the_driver(pymodbus_server: Any) -> None:
    port = pymodbus_server(_sdm630_device(1), FramerType.SOCKET)
    driver = create_driver("modbus", f"tcp://127.0.0.1:{port}", {"map": "schneider-pm5100"})
    outcome = read_once(driver)
    assert isinstance(outcome.error, MeterRefused)


def test_pymodbus_clients_read_the_simulator() -> None:
    options = ModbusSimOptions(framer="socket", wobble=False)
    with start("healthy-16s", map_name="eastron-sdm630", options=options) as sim:
        host, port = sim.url.removeprefix("tcp://").rsplit(":", 1)
        client = ModbusTcpClient(host, port=int(port), timeout=2, retries=0)
        assert client.connect()
        try:
            reply = client.read_input_registers(0, count=80, device_id=1)
            assert not reply.isError()
            volts = client.convert_from_registers(reply.registers[0:6], F32, word_order="big")
            assert volts == pytest.approx([121.1, 120.4, 119.6], abs=1e-4)
            refused = client.read_input_registers(200, count=2, device_id=1)
            assert refused.isError()
            assert refused.exception_code == 2
        finally:
            client.close()
    rtu = ModbusSimOptions(framer="rtu", wobble=False)
    with start("healthy-16s", map_name="schneider-pm5100", options=rtu) as sim:
        serial = ModbusSerialClient(sim.url, framer=FramerType.RTU, timeout=2, retries=0)
        assert serial.connect()
        try:
            reply = serial.read_holding_registers(3027, count=6, device_id=1)
            assert not reply.isError()
            volts = serial.convert_from_registers(reply.registers, F32, word_order="big")
            assert volts == pytest.approx([121.1, 120.4, 119.6], abs=1e-4)
            energy = serial.read_holding_registers(3203, count=4, device_id=1)
            wh = serial.convert_from_registers(energy.registers, ModbusClientMixin.DATATYPE.INT64)
            assert 52_310_700 <= wh < 52_311_700
        finally:
            serial.close()
