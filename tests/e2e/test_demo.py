"""``fieldkit demo`` as a user runs it: in a terminal (a pty), the whole system comes up, the
app shows the office's work orders, and quitting stops every process the demo started.

The demo's descendants (the office server, the meters' process, the app) and the TCP ports
they listen on are read from /proc while the app is on screen; after the demo ends, every
one of those pids must be gone and every port closed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.syncserver_process import ROOT

pytestmark = [
    pytest.mark.sim,
    pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc (Linux)"),
]

ANSI = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Z]|.)")
# The example orders the office assigned to demo-tech (examples/cis-work-orders.csv).
SHOWN = ("WO-2026-10401", "M2S-0034567")


class Terminal:
    """``fieldkit ARGS`` on a new pty of 120×40; what it wrote, without escape codes."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        env = {
            **os.environ,
            **(env or {}),
            "PYTHONPATH": str(ROOT),
            "TERM": "xterm-256color",
            "COLUMNS": "120",
            "LINES": "40",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fieldkit", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=ROOT,
            start_new_session=True,  # its own session: the pty is its controlling terminal
        )
        os.close(slave)
        self.master = master
        self.raw = b""

    @property
    def text(self) -> str:
        return ANSI.sub(b"", self.raw).decode("utf-8", "replace")

    def pump(self, timeout: float) -> None:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if ready:
            with contextlib.suppress(OSError):  # EIO: the other side closed
                self.raw += os.read(self.master, 65536)

    def wait_for(self, *needles: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(n in self.text for n in needles):
                return
            if self.proc.poll() is not None:
                break
            self.pump(0.2)
        raise AssertionError(f"never saw {needles}; the terminal showed:\n{self.text[-3000:]}")

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def exit_status(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.pump(0.1)
        assert self.proc.poll() is not None, f"the demo did not end:\n{self.text[-2000:]}"
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.master)


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def listening_ports(pids: set[int]) -> set[int]:
    """TCP ports on which these processes listen (from their socket inodes)."""
    inodes: set[str] = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _run_until_shown(terminal: Terminal) -> tuple[set[int], set[int]]:
    terminal.wait_for(*SHOWN, "work orders")
    pids = descendants(terminal.proc.pid)
    ports = listening_ports(pids)
    return pids, ports


def _assert_all_stopped(pids: set[int], ports: set[int]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    assert [p for p in pids if alive(p)] == []
    assert [p for p in ports if port_open(p)] == []


def test_the_demo_opens_the_app_on_the_offices_orders_and_ctrl_q_stops_everything() -> None:
    terminal = Terminal("demo")
    try:
        pids, ports = _run_until_shown(terminal)
        # The app, the office server, the meters' process (and nothing is left over later).
        assert len(pids) >= 3, terminal.text[-2000:]
        # The office server and twelve simulated meters.
        assert len(ports) >= 13, ports
        assert "enrolled as demo-tech" in terminal.text
        terminal.send(b"\x11")  # ctrl+q
        assert terminal.exit_status() == 0, terminal.text[-2000:]
    finally:
        terminal.close()
    _assert_all_stopped(pids, ports)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_the_demo_stops_everything_it_started(signum: int) -> None:
    terminal = Terminal("demo")
    try:
        pids, ports = _run_until_shown(terminal)
        terminal.proc.send_signal(signum)
        assert terminal.exit_status() == 128 + signum, terminal.text[-2000:]
    finally:
        terminal.close()
    _assert_all_stopped(pids, ports)


@pytest.mark.slow
def test_the_app_crashing_stops_everything_too() -> None:
    terminal = Terminal("demo")
    try:
        pids, ports = _run_until_shown(terminal)
        app = max(p for p in pids if b"tui" in Path(f"/proc/{p}/cmdline").read_bytes())
        os.kill(app, signal.SIGKILL)  # the worst crash: no cleanup in the app at all
        assert terminal.exit_status() != 0
    finally:
        terminal.close()
    _assert_all_stopped(pids, ports)


@pytest.mark.slow
def test_the_demo_killed_outright_leaves_no_process_behind() -> None:
    terminal = Terminal("demo")
    try:
        pids, ports = _run_until_shown(terminal)
        os.kill(terminal.proc.pid, signal.SIGKILL)  # no handler runs: the kernel's turn
        terminal.proc.wait(timeout=10)
    finally:
        terminal.close()
    _assert_all_stopped(pids, ports)


def test_a_home_that_is_not_empty_is_refused_in_one_line_and_nothing_starts(
    tmp_path: Path,
) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    result = run_cli("demo", "--home", str(tmp_path))
    assert result.code == 1
    assert result.stderr == (
        f"fieldkit: demo: {tmp_path} is not empty: give a new or empty directory to --home\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_the_cli_read_demo_is_still_there() -> None:
    result = run_cli("demo", "--cli", "--scenario", "healthy-2s")
    assert result.code == 0, result.stderr
    assert "fieldkit check (against the scenario's work order)" in result.stdout
    assert "PASS" in result.stdout
