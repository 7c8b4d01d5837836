"""``syncserver`` as a user runs it: its commands as subprocesses, and ``serve`` as a real
process on 127.0.0.1 that a test can stop (SIGTERM or SIGKILL) and start again.

``serve`` runs in its own process group: with ``--workers N`` uvicorn forks N workers that
hold the listening socket, so a SIGKILL (the machine losing power) goes to the whole group,
or orphaned workers would go on answering."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def syncserver(db: str, *args: str, stdin: str | None = None) -> str:
    """Run ``python -m syncserver ARGS --db DB``; its stdout (fails the test on exit != 0)."""
    proc = subprocess.run(
        [sys.executable, "-m", "syncserver", *args, "--db", db],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, f"syncserver {' '.join(args)}: {proc.stderr}"
    return proc.stdout


class ServerProcess:
    """``syncserver serve --db DB --port PORT [--workers N]`` on 127.0.0.1."""

    def __init__(self, db: str, log: Path, port: int | None = None, *, workers: int = 1) -> None:
        self.db = db
        self.workers = workers
        self.port = port or free_port()
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        assert self.proc is None
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "syncserver",
                    "serve",
                    "--db",
                    self.db,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"syncserver serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"syncserver serve did not answer: {self.log.read_text()[-2000:]}")

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None:
            return
        group = self.proc.pid  # start_new_session: the group id is the parent's pid
        if kill:
            os.killpg(group, signal.SIGKILL)
        else:  # uvicorn's supervisor stops its workers gracefully on SIGTERM
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.proc.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):  # a worker that outlived its parent
            os.killpg(group, signal.SIGKILL)
        self.proc = None

    def restart(self, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()
