"""The I/O around the sans-I/O meter: a TCP listener or a pty, a thread, a clock.

One client at a time: while a client is connected the listener is not served (further
clients wait in the backlog); when the client closes, the meter is back in BASE and the next
client is accepted. In pty mode the meter stays on the pty for the whole run and only the
channel traffic timeout ends a session.

In-process use (tests)::

    with start("healthy-2s") as sim:
        port = serial.serial_for_url(sim.url)   # socket://127.0.0.1:PORT
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import selectors
import socket
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from types import TracebackType

from simulators.c1218.meter import C1218Meter
from simulators.c1218.options import SimOptions, resolve_settings
from simulators.c1218.pacing import WirePacer
from simulators.c1218.physics import MeterClock
from simulators.c1218.procedures import MeterState
from simulators.scenario import Scenario, load_scenario

__all__ = ["RunningSimulator", "SimOptions", "SimStats", "SimulatorError", "start"]

LOG = logging.getLogger(__name__)

_MAX_IDLE_WAIT = 0.25  # seconds; also bounds how late a stop() is noticed
_READ_SIZE = 4096


class SimulatorError(RuntimeError):
    """The simulator could not start or stopped with an error; the message is one line."""


@dataclass(frozen=True, slots=True)
class SimStats:
    """What went over the simulated wire so far, over every connection."""

    bytes_rx: int = 0
    bytes_tx: int = 0
    requests: int = 0
    table_reads: int = 0
    busy_answers: int = 0
    corrupted_packets: int = 0
    dropped_packets: int = 0
    retransmissions: int = 0
    naks_sent: int = 0
    duplicates: int = 0
    traffic_timeouts: int = 0
    connections: int = 0
    wire_seconds: float = 0.0

    @property
    def wire_bytes(self) -> int:
        """Bytes on the wire in both directions."""
        return self.bytes_rx + self.bytes_tx


def _meter_stats(meter: C1218Meter) -> SimStats:
    faults = meter.faults.counters
    link = meter.link.counters
    return SimStats(
        requests=meter.counters.requests,
        table_reads=meter.counters.table_reads,
        busy_answers=meter.counters.busy_answers,
        corrupted_packets=faults.corrupted_in + faults.corrupted_out,
        dropped_packets=faults.dropped_out,
        retransmissions=link.retransmissions,
        naks_sent=link.naks_sent,
        duplicates=link.duplicates,
        traffic_timeouts=meter.counters.traffic_timeouts,
    )


def _add(a: SimStats, b: SimStats) -> SimStats:
    # Every field is a count or a duration: summing them all means a new counter cannot be
    # left out of the totals.
    return SimStats(**{f.name: getattr(a, f.name) + getattr(b, f.name) for f in fields(SimStats)})


class _Loop:
    """Everything the background thread owns."""

    def __init__(
        self, scenario: Scenario, *, host: str, port: int, use_pty: bool, options: SimOptions
    ) -> None:
        self.scenario = scenario
        self.settings = resolve_settings(scenario, options)
        self.started_at = time.time()
        # The meter's clock, demand and new events survive a reconnect: it is one meter.
        self.meter_state = MeterState(MeterClock(scenario.clock))
        # Fault dice shared by every connection, so a seeded run is repeatable as a whole.
        self.rng = random.Random(self.settings.seed)  # noqa: S311
        self.pacer = WirePacer(enabled=options.baud_pace)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self._finished = SimStats()
        self._bytes_rx = 0
        self._bytes_tx = 0
        self._connections = 0
        self.meter: C1218Meter | None = None
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
            if use_pty:
                self.url = self._open_pty()
            else:
                self.url = self._open_listener(host, port)
        except OSError as exc:
            self.close()
            where = "a pty" if use_pty else f"{host}:{port}"
            raise SimulatorError(f"cannot open {where}: {exc.strerror or exc}") from None

    # --- endpoints --------------------------------------------------------------------------

    def _open_listener(self, host: str, port: int) -> str:
        listener = socket.create_server((host, port), backlog=4)
        listener.setblocking(False)
        self._listener = listener
        self._sel.register(listener, selectors.EVENT_READ, "listen")
        bound_host, bound_port = listener.getsockname()[:2]
        return f"socket://{bound_host}:{bound_port}"

    def _open_pty(self) -> str:
        if not hasattr(os, "openpty"):
            raise OSError("pseudo-terminals need Linux or macOS; use --listen instead")
        import tty  # POSIX only: imported here so TCP mode works on Windows too

        master, slave = os.openpty()
        self._master, self._slave = master, slave
        # Raw mode: no echo, no line editing, no CR/LF translation; bytes pass untouched.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._sel.register(master, selectors.EVENT_READ, "pty")
        self._attach_meter()
        return os.ttyname(slave)

    def _attach_meter(self) -> None:
        meter = C1218Meter(
            self.scenario,
            started_at=self.started_at,
            settings=self.settings,
            rng=self.rng,
            state=self.meter_state,
        )
        with self.lock:
            self.meter = meter
            self._connections += 1
        self.pacer.reset()
        self._pending.clear()

    def _detach_meter(self) -> None:
        with self.lock:
            if self.meter is not None:
                self._finished = _add(self._finished, _meter_stats(self.meter))
            self.meter = None
        self.pacer.reset()
        self._pending.clear()

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            conn, peer = self._listener.accept()
        except BlockingIOError:
            return
        LOG.info("client connected from %s", peer)
        conn.setblocking(False)
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn = conn
        self._sel.unregister(self._listener)
        self._sel.register(conn, selectors.EVENT_READ, "conn")
        self._attach_meter()

    def _drop_connection(self) -> None:
        if self._conn is None:
            return
        LOG.info("client disconnected")
        self._sel.unregister(self._conn)
        self._conn.close()
        self._conn = None
        self._detach_meter()
        if self._listener is not None:
            self._sel.register(self._listener, selectors.EVENT_READ, "listen")

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self._tick(time.time())
                timeout = self._wait_time(time.time())
                for key, _ in self._sel.select(timeout):
                    self._on_ready(key.data, time.time())
        except Exception as exc:  # the thread must not die silently
            LOG.exception("simulator loop failed")
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
                self._drop_connection()
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
        meter = self.meter
        if meter is None:
            return
        self._bytes_rx += len(data)
        self.pacer.inbound(data, now, meter.baud)
        self._tick(now)

    def _tick(self, now: float) -> None:
        meter = self.meter
        if meter is None:
            return
        for chunk in self.pacer.take_inbound(now):
            meter.receive(chunk, now)
        deadline = meter.next_deadline()
        if deadline is not None and now >= deadline:
            meter.handle_timeout(now)
        self.pacer.outbound(meter.data_to_send(), now)
        self._pending += self.pacer.take_outbound(now, meter.baud)
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
            self._drop_connection()
            return
        self._bytes_tx += sent
        del self._pending[:sent]

    def _wait_time(self, now: float) -> float:
        if self._pending:
            return 0.005  # the peer's buffer was full: try again soon
        meter = self.meter
        if meter is None:
            return _MAX_IDLE_WAIT
        deadlines = [meter.next_deadline(), self.pacer.next_deadline(meter.baud)]
        due = [d for d in deadlines if d is not None]
        if not due:
            return _MAX_IDLE_WAIT
        return min(_MAX_IDLE_WAIT, max(0.0, min(due) - now))

    # --- outside the thread -----------------------------------------------------------------

    def stats(self) -> SimStats:
        with self.lock:
            total = self._finished
            if self.meter is not None:
                total = _add(total, _meter_stats(self.meter))
            return _add(
                total,
                SimStats(
                    bytes_rx=self._bytes_rx,
                    bytes_tx=self._bytes_tx,
                    connections=self._connections,
                    wire_seconds=self.pacer.wire_seconds,
                ),
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


class RunningSimulator:
    """A simulator serving in a background thread; stop it with :meth:`stop` or ``with``."""

    def __init__(self, loop: _Loop) -> None:
        self._loop = loop
        self.url: str = loop.url
        self._thread = threading.Thread(
            target=loop.run, name=f"fieldkit-sim {loop.scenario.name}", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int | None:
        """The TCP port served, or None in pty mode."""
        if not self.url.startswith("socket://"):
            return None
        return int(self.url.rsplit(":", 1)[1])

    @property
    def started_at(self) -> float:
        """POSIX time the meter started; its registers count energy from here."""
        return self._loop.started_at

    @property
    def stats(self) -> SimStats:
        """Bytes and requests so far, over every connection."""
        return self._loop.stats()

    @property
    def meter_state(self) -> MeterState:
        """What procedures have changed on the meter (clock, demand, events logged)."""
        return self._loop.meter_state

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

    def __enter__(self) -> RunningSimulator:
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
    host: str = "127.0.0.1",
    port: int = 0,
    pty: bool = False,
    options: SimOptions = SimOptions(),  # noqa: B008  # frozen, so sharing it is harmless
) -> RunningSimulator:
    """Start a simulated C12.18 meter on ``host:port`` (0 = any free port) or on a new pty.

    ``scenario`` is a loaded :class:`Scenario`, a shipped scenario name or a path. Raises
    :class:`~simulators.scenario.ScenarioError` for a bad scenario and
    :class:`SimulatorError` when the port or pty cannot be opened.
    """
    loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    loop = _Loop(loaded, host=host, port=port, use_pty=pty, options=options)
    return RunningSimulator(loop)
