"""The simulator over real I/O: a TCP listener on 127.0.0.1, a pty, the command line.

Raw bytes from the test only; the driver is not involved.
"""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import tty
from collections.abc import Iterator
from typing import Any

import pytest

from fieldkit.drivers.c1218.packet import ACK, Packet, decode_packet
from simulators.c1218.server import RunningSimulator, SimOptions, SimulatorError, start

pytestmark = pytest.mark.sim

IDENTIFY = Packet(b"\x20").encode()
IDENTIFY_OK = bytes.fromhex("ee00000000050000010000c6b5")


def read_exactly(sock: socket.socket, size: int, timeout: float = 3.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def exchange(sock: socket.socket, payload: bytes, toggle: bool, response_size: int) -> bytes:
    """Send one request, check the ACK, ACK the one-packet response, return its data."""
    sock.sendall(Packet(payload, toggle=toggle).encode())
    answer = read_exactly(sock, 1 + response_size)
    assert answer[:1] == bytes((ACK,)), answer.hex()
    sock.sendall(bytes((ACK,)))
    return decode_packet(answer[1:]).data


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with start("healthy-2s") as running:
        yield running


def connect(running: RunningSimulator) -> socket.socket:
    assert running.port is not None
    return socket.create_connection(("127.0.0.1", running.port), timeout=3)


def test_url_names_the_actual_port(sim: RunningSimulator) -> None:
    match = re.fullmatch(r"socket://127\.0\.0\.1:(\d+)", sim.url)
    assert match is not None
    assert int(match.group(1)) == sim.port != 0


def test_identify_gets_ack_and_response(sim: RunningSimulator) -> None:
    with connect(sim) as sock:
        sock.sendall(IDENTIFY)
        assert read_exactly(sock, 14) == bytes((ACK,)) + IDENTIFY_OK
        sock.sendall(bytes((ACK,)))
        deadline = time.monotonic() + 2
        while sim.stats.bytes_rx < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
    stats = sim.stats
    assert stats.requests == 1
    assert (stats.bytes_rx, stats.bytes_tx) == (10, 14)
    assert stats.wire_bytes == 24


def test_a_whole_session_reads_a_table(sim: RunningSimulator) -> None:
    with connect(sim) as sock:
        exchange(sock, b"\x20", False, 13)
        assert exchange(sock, b"\x61\x01\x00\x04\x06", True, 13) == bytes.fromhex("0001000406")
        assert exchange(sock, b"\x50\x00\x02" + b"TEST".ljust(10), False, 9) == b"\x00"
        st1 = exchange(sock, b"\x30\x00\x01", True, 8 + 36)
        assert st1[3:7] == b"FKIT"
        assert st1[19:35] == b"SN2S000000012345"
        assert exchange(sock, b"\x21", False, 9) == b"\x00"


def test_next_client_finds_the_meter_in_base(sim: RunningSimulator) -> None:
    with connect(sim) as first:
        exchange(first, b"\x20", False, 13)  # leaves the meter in ID, no Terminate
    with connect(sim) as second:
        # A fresh session: Identify is accepted and answered with toggle 0 again.
        second.sendall(IDENTIFY)
        assert read_exactly(second, 14) == bytes((ACK,)) + IDENTIFY_OK
    deadline = time.monotonic() + 2
    while sim.stats.connections < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim.stats.connections == 2


def test_only_one_client_at_a_time(sim: RunningSimulator) -> None:
    with connect(sim) as first, connect(sim) as waiting:
        exchange(first, b"\x20", False, 13)
        waiting.sendall(IDENTIFY)
        waiting.settimeout(0.3)
        with pytest.raises(TimeoutError):
            waiting.recv(1)  # queued until the first client leaves
        first.close()
        assert read_exactly(waiting, 14) == bytes((ACK,)) + IDENTIFY_OK


def test_busy_option_counts_busy_answers() -> None:
    with start("healthy-2s", options=SimOptions(busy=1, turnaround_ms=0)) as running:
        with connect(running) as sock:
            exchange(sock, b"\x20", False, 13)
            exchange(sock, b"\x50\x00\x02" + b"TEST".ljust(10), True, 9)
            assert exchange(sock, b"\x30\x00\x00", False, 9) == b"\x06"
            assert exchange(sock, b"\x30\x00\x00", True, 8 + 45)[0] == 0  # ST0 is 41 bytes
        assert running.stats.busy_answers == 1
        assert running.stats.table_reads == 2


def test_baud_pacing_takes_the_time_a_9600_line_would() -> None:
    options = SimOptions(baud_pace=True, turnaround_ms=0)
    with start("healthy-2s", options=options) as running, connect(running) as sock:
        started = time.monotonic()
        sock.sendall(IDENTIFY)
        answer = read_exactly(sock, 14)
        elapsed = time.monotonic() - started
    assert answer == bytes((ACK,)) + IDENTIFY_OK
    assert elapsed >= (9 + 14) * 10 / 9600 * 0.95  # 24 ms on the wire
    assert running.stats.wire_seconds == pytest.approx(23 * 10 / 9600)


def test_port_in_use_is_a_simulator_error(sim: RunningSimulator) -> None:
    with pytest.raises(SimulatorError, match=r"cannot open 127\.0\.0\.1"):
        start("healthy-2s", port=sim.port or 0)


def test_stop_joins_the_thread() -> None:
    running = start("healthy-2s")
    running.stop()
    assert not running.alive
    with pytest.raises(OSError):  # noqa: PT011  # refused: nobody listens any more
        connect(running).close()


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pty")
def test_pty_mode_answers_identify() -> None:
    with start("healthy-2s", pty=True) as running:
        assert running.url.startswith("/dev/")
        assert running.port is None
        fd = os.open(running.url, os.O_RDWR | os.O_NOCTTY)
        try:
            tty.setraw(fd)
            os.write(fd, IDENTIFY)
            data = b""
            deadline = time.monotonic() + 3
            while len(data) < 14 and time.monotonic() < deadline:
                ready, _, _ = select.select([fd], [], [], 0.1)
                if ready:
                    data += os.read(fd, 64)
            assert data == bytes((ACK,)) + IDENTIFY_OK
        finally:
            os.close(fd)


def _run_cli(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    code = "from simulators.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_cli_prints_one_line_serves_and_exits_0_on_sigterm() -> None:
    proc = _run_cli("c1218", "--scenario", "healthy-2s", "--turnaround-ms", "0")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(
            r"fieldkit-sim c1218 healthy-2s listening on socket://127\.0\.0\.1:(\d+)\n", line
        )
        assert match is not None, line
        with socket.create_connection(("127.0.0.1", int(match.group(1))), timeout=3) as sock:
            sock.sendall(IDENTIFY)
            assert read_exactly(sock, 14) == bytes((ACK,)) + IDENTIFY_OK
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        assert proc.stdout.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_sigint_also_exits_0() -> None:
    proc = _run_cli("c1218", "--scenario", "healthy-16s", "--pty")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert re.fullmatch(r"fieldkit-sim c1218 healthy-16s listening on /dev/\S+\n", line)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_fault_flags_reach_the_meter() -> None:
    """`fieldkit-sim c1218 --malformed-table 23`: a reader sees ST23 spoiled, the rest whole."""
    from fieldkit.drivers.base import read_once
    from fieldkit.drivers.c1218.driver import C1218Driver

    proc = _run_cli(
        "c1218", "--scenario", "healthy-16s", "--malformed-table", "23",
        "--malformed-kind", "short", "--mfg-tables", "40",
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"listening on (socket://\S+)", line)
        assert match is not None, line
        outcome = read_once(C1218Driver(match.group(1)))
        assert outcome.ok, outcome.error
        assert outcome.snapshot is not None
        assert [u.item for u in outcome.snapshot.unavailable] == ["registers"]
        assert "malformed twice" in outcome.snapshot.unavailable[0].reason
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=5)
