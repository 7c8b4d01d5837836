"""The I/O around the simulated Modbus meter: a TCP listener or a pty, a thread, a clock.

``framer="rtu"`` carries RTU frames over the socket or pty (what ``socket://`` and a serial
port carry: an RTU-over-TCP gateway); ``framer="socket"`` is Modbus TCP (``tcp://``). One
client at a time, as the C12.18 simulator. With ``baud_pace`` the bytes move at the line's
speed (11 bits a character, as Modbus RTU counts them) in both directions.

In-process use (tests)::

    with start("healthy-16s", map_name="eastron-sdm630") as sim:
        driver = create_driver("modbus", sim.url, {"map": "eastron-sdm630"})
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from simulators.c1218.pacing import WirePacer
from simulators.modbus.device import DeviceCounters, Framing, ModbusDevice, ModbusFaults
from simulators.modbus.registers import (
    RegisterImage,
    SimMap,
    load_sim_map,
    scenario_values,
)
from simulators.scenario import Scenario, load_scenario

__all__ = [
    "ModbusSimOptions",
    "ModbusSimStats",
    "RunningModbusSimulator",
    "SimulatorError",
    "start",
]

LOG = logging.getLogger(__name__)

_MAX_IDLE_WAIT = 0.25
_READ_SIZE = 4096
RTU_BITS_PER_CHARACTER = 11


class SimulatorError(RuntimeError):
    """The simulator could not start or stopped with an error; one line."""


@dataclass(frozen=True, slots=True)
class ModbusSimOptions:
    """One run of the Modbus simulator (command-line flags; None keeps the scenario's)."""

    framer: Framing = "rtu"
    baud: int | None = None  # None: the scenario's [modbus] baud, else the map's
    baud_pace: bool = False
    device_id: int | None = None  # None: the scenario's [modbus] device_id
    faults: ModbusFaults = ModbusFaults()  # noqa: RUF009  # frozen
    turnaround_ms: float | None = None
    wobble: bool | None = None


@dataclass(frozen=True, slots=True)
class ModbusSimStats:
    """What went over the simulated wire so far."""

    bytes_rx: int
    bytes_tx: int
    requests: int
    answers: int
    exceptions: int
    busy_answers: int
    ignored: int
    registers_served: int
    connections: int
    wire_seconds: float


class _Loop:
    def __init__(
        self,
        scenario: Scenario,
        sim_map: SimMap,
        *,
        host: str,
        port: int,
        use_pty: bool,
        options: ModbusSimOptions,
    ) -> None:
        self.scenario = scenario
        self.map = sim_map
        self.options = options
        self.started_at = time.time()
        self.baud = options.baud or scenario.modbus.baud or sim_map.baud
        if options.wobble is not None:
            modbus = scenario.modbus.model_copy(update={"wobble": options.wobble})
            self.scenario = scenario.model_copy(update={"modbus": modbus})
        self.device_id = options.device_id or scenario.modbus.device_id
        self.turnaround_s = (
            options.turnaround_ms
            if options.turnaround_ms is not None
            else scenario.modbus.turnaround_ms
        ) / 1000.0
        paced = options.baud_pace and options.framer == "rtu"
        self.pacer = WirePacer(enabled=paced, bits_per_byte=RTU_BITS_PER_CHARACTER)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.device: ModbusDevice | None = None
        self._finished = DeviceCounters()
        self._bytes_rx = self._bytes_tx = self._connections = 0
        self._pending = bytearray()
        self._conn: socket.socket | None = None
        self._listener: socket.socket | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            self.url = self._open_pty() if use_pty else self._open_listener(host, port)
        except OSError as exc:
            self.close()
            where = "a pty" if use_pty else f"{host}:{port}"
            raise SimulatorError(f"cannot open {where}: {exc.strerror or exc}") from None

    # --- endpoints ----------------------------------------------------------------------------

    def _image_at(self, now: float) -> RegisterImage:
        values = scenario_values(self.scenario, self.map, started_at=self.started_at, now=now)
        return RegisterImage(self.map, values)

    def _open_listener(self, host: str, port: int) -> str:
        listener = socket.create_server((host, port), backlog=4)
        listener.setblocking(False)
        self._listener = listener
        self._sel.register(listener, selectors.EVENT_READ, "listen")
        bound_host, bound_port = listener.getsockname()[:2]
        scheme = "tcp" if self.options.framer == "socket" else "socket"
        return f"{scheme}://{bound_host}:{bound_port}"

    def _open_pty(self) -> str:
        if not hasattr(os, "openpty"):
            raise OSError("pseudo-terminals need Linux or macOS; use --listen instead")
        import tty

        master, slave = os.openpty()
        self._master, self._slave = master, slave
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._sel.register(master, selectors.EVENT_READ, "pty")
        self._attach()
        return os.ttyname(slave)

    def _attach(self) -> None:
        device = ModbusDevice(
            self._image_at,
            device_id=self.device_id,
            framing=self.options.framer,
            faults=self.options.faults,
            turnaround_s=self.turnaround_s,
        )
        with self.lock:
            self.device = device
            self._connections += 1
        self.pacer.reset()
        self._pending.clear()

    def _detach(self) -> None:
        with self.lock:
            if self.device is not None:
                self._finished = _sum(self._finished, self.device.counters)
            self.device = None
        self.pacer.reset()
        self._pending.clear()

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            conn, _peer = self._listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn = conn
        self._sel.unregister(self._listener)
        self._sel.register(conn, selectors.EVENT_READ, "conn")
        self._attach()

    def _drop(self) -> None:
        if self._conn is None:
            return
        self._sel.unregister(self._conn)
        self._conn.close()
        self._conn = None
        self._detach()
        if self._listener is not None:
            self._sel.register(self._listener, selectors.EVENT_READ, "listen")

    # --- the loop -----------------------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self._tick(time.time())
                for key, _ in self._sel.select(self._wait_time(time.time())):
                    self._on_ready(key.data, time.time())
        except Exception as exc:
            LOG.exception("modbus simulator loop failed")
            self.error = exc
        finally:
            self.close()

    def _on_ready(self, what: str, now: float) -> None:
        if what == "wake":
            with contextlib.suppress(BlockingIOError):
                self._wake_r.recv(64)
        elif what == "listen":
            self._accept()
        elif what == "conn":
            assert self._conn is not None
            try:
                data = self._conn.recv(_READ_SIZE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._drop()
                return
            self._incoming(data, now)
        elif what == "pty":
            assert self._master is not None
            try:
                data = os.read(self._master, _READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            self._incoming(data, now)

    def _incoming(self, data: bytes, now: float) -> None:
        if self.device is None:
            return
        self._bytes_rx += len(data)
        self.pacer.inbound(data, now, self.baud)
        self._tick(now)

    def _tick(self, now: float) -> None:
        device = self.device
        if device is None:
            return
        for chunk in self.pacer.take_inbound(now):
            device.receive(chunk, now)
        self.pacer.outbound(device.data_to_send(now), now)
        self._pending += self.pacer.take_outbound(now, self.baud)
        self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        try:
            if self._conn is not None:
                sent = self._conn.send(self._pending)
            elif self._master is not None:
                sent = os.write(self._master, self._pending)
            else:
                sent = len(self._pending)
        except BlockingIOError:
            return
        except OSError:
            self._drop()
            return
        self._bytes_tx += sent
        del self._pending[:sent]

    def _wait_time(self, now: float) -> float:
        if self._pending:
            return 0.002
        device = self.device
        if device is None:
            return _MAX_IDLE_WAIT
        due = [d for d in (device.next_deadline(), self.pacer.next_deadline(self.baud)) if d]
        if not due:
            return _MAX_IDLE_WAIT
        return min(_MAX_IDLE_WAIT, max(0.0, min(due) - now))

    # --- outside the thread -------------------------------------------------------------------

    def stats(self) -> ModbusSimStats:
        with self.lock:
            total = self._finished
            if self.device is not None:
                total = _sum(total, self.device.counters)
        return ModbusSimStats(
            bytes_rx=self._bytes_rx,
            bytes_tx=self._bytes_tx,
            requests=total.requests,
            answers=total.answers,
            exceptions=total.exceptions,
            busy_answers=total.busy_answers,
            ignored=total.ignored,
            registers_served=total.registers_served,
            connections=self._connections,
            wire_seconds=self.pacer.wire_seconds,
        )

    def wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def close(self) -> None:
        for sock in (self._conn, self._listener):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        self._conn = self._listener = None
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        for sock in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                sock.close()
        with contextlib.suppress(Exception):
            self._sel.close()


def _sum(a: DeviceCounters, b: DeviceCounters) -> DeviceCounters:
    return DeviceCounters(
        requests=a.requests + b.requests,
        answers=a.answers + b.answers,
        exceptions=a.exceptions + b.exceptions,
        busy_answers=a.busy_answers + b.busy_answers,
        ignored=a.ignored + b.ignored,
        registers_served=a.registers_served + b.registers_served,
    )


class RunningModbusSimulator:
    """A simulated Modbus meter serving in a background thread."""

    def __init__(self, loop: _Loop) -> None:
        self._loop = loop
        self.url: str = loop.url
        self.map_name = loop.map.name
        self.baud = loop.baud
        self.device_id = loop.device_id
        self._thread = threading.Thread(
            target=loop.run, name=f"fieldkit-sim modbus {loop.scenario.name}", daemon=True
        )
        self._thread.start()

    @property
    def stats(self) -> ModbusSimStats:
        """Bytes and requests so far."""
        return self._loop.stats()

    @property
    def alive(self) -> bool:
        """True while the serving thread runs."""
        return self._thread.is_alive()

    @property
    def error(self) -> BaseException | None:
        """What stopped the serving thread, if it failed."""
        return self._loop.error

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, close the port and join the thread."""
        self._loop.stopping.set()
        self._loop.wake()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise SimulatorError(f"simulator thread did not stop within {timeout} s")

    def __enter__(self) -> RunningModbusSimulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start(
    scenario: Scenario | str | Path,
    *,
    map_name: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    pty: bool = False,
    options: ModbusSimOptions = ModbusSimOptions(),  # frozen
) -> RunningModbusSimulator:
    """Serve ``scenario`` through the map ``map_name`` on ``host:port`` (0: any) or a pty.

    Raises ScenarioError for a bad scenario, MapFileError for a map it cannot serve, and
    SimulatorError when the port or pty cannot be opened.
    """
    loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    sim_map = load_sim_map(map_name)
    loop = _Loop(loaded, sim_map, host=host, port=port, use_pty=pty, options=options)
    return RunningModbusSimulator(loop)
