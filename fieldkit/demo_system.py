"""``fieldkit demo`` (and ``make demo``): the whole system on this machine, then the app.

What it starts, all on 127.0.0.1 and all under one demo home:

1. the office: ``syncserver serve`` on ``office/server.db`` (SQLite), seeded first with the
   server's own commands — the example CIS accounts and work orders, the technician
   ``demo-tech``, a one-time enrolment code;
2. the meters: one simulated meter per scenario that an example work order names (its
   ``[work_order] meter_number``), C12.18 for most and Modbus (with a shipped register map)
   for the polyphase sites in :data:`MODBUS_SCENARIOS`, in one child process;
3. the laptop: ``laptop/`` as ``FIELDKIT_HOME`` with its secrets in the encrypted file, the
   meters' passwords kept there, how to reach each order's meter in ``meter-links.json``;
   it enrols with the code and syncs, so the technician's orders come from the office;
4. the app, in the foreground on this terminal, on the work-order list.

When the app ends — ctrl+q (exit 0), a crash, or a SIGTERM/SIGHUP/SIGINT sent to the demo —
the demo stops what it started and returns the app's status (128 + the signal's number when
a signal ended it). Every child is also told by the kernel to stop if the demo itself dies
(``PR_SET_PDEATHSIG`` on Linux), so nothing outlives it even under SIGKILL.

This module is the one place on the laptop side that starts the server and the simulators
together; the simulators are imported only in the meters' child process.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = [
    "DEMO_PASSPHRASE",
    "DEMO_TECHNICIAN",
    "MODBUS_SCENARIOS",
    "DemoError",
    "DemoMeter",
    "DemoSystem",
    "examples_dir",
    "run_demo_system",
]

DEMO_TECHNICIAN = "demo-tech"
DEMO_TECHNICIAN_PASSWORD = "demo-pass"  # noqa: S105  # the demo office's, on loopback
DEMO_PASSPHRASE = "fieldkit demo secrets"  # noqa: S105  # the demo laptop's secrets file
# Polyphase sites served as Modbus meters (scenario → register map); the rest are C12.18.
MODBUS_SCENARIOS: Mapping[str, str] = {
    "reversed-ct-16s": "eastron-sdm630",
    "voltage-imbalance-16s": "chint-dtsu666",
}
_STOP_TIMEOUT = 10.0
_START_TIMEOUT = 60.0
_PR_SET_PDEATHSIG = 1


class DemoError(Exception):
    """The demo could not start; one line saying what failed (and where its log is)."""


@dataclass(frozen=True, slots=True)
class DemoMeter:
    """One simulated meter: the scenario, the meter number the order names, how to reach it."""

    scenario: str
    meter_number: str
    protocol: str
    url: str
    settings: dict[str, Any] = field(default_factory=dict)


def examples_dir() -> Path:
    """The example CIS files: shipped in the package, or the repository's ``examples/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "examples", here.parent / "examples"):
        if (candidate / "cis-work-orders.csv").is_file():
            return candidate
    raise DemoError("the example CIS files (cis-accounts.csv, cis-work-orders.csv) are missing")


def _find_prctl() -> Callable[..., int] | None:
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: the signal handlers are all there is
        return None
    return prctl


# Looked up once here: the child between fork and exec must not load libraries.
_PRCTL = _find_prctl()


def _die_with_parent() -> None:
    """In a child, before exec: the kernel sends SIGTERM when the demo process dies."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the laptop steps run in this process, then restore."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def ordered_meters(work_orders_csv: Path) -> dict[str, str]:
    """``{scenario: meter number}`` for every shipped scenario an example order names."""
    import csv

    from simulators.scenario import list_scenarios, load_scenario

    with work_orders_csv.open(newline="", encoding="utf-8") as f:
        wanted = {row["meter_number"].strip().upper() for row in csv.DictReader(f)}
    found: dict[str, str] = {}
    for name in list_scenarios():
        order = load_scenario(name).work_order
        if order is not None and order.meter_number and order.meter_number.upper() in wanted:
            found[name] = order.meter_number
    return found


class DemoSystem:
    """The office server, the simulated meters and the enrolled laptop under ``home``.

    ``start()`` brings them up (``say`` is told each step); ``stop()`` stops them and is safe
    to call twice. ``laptop_env`` is the environment the app runs in.
    """

    def __init__(
        self, home: Path, *, say: Callable[[str], None] = lambda _text: None, timeout: float = 10.0
    ) -> None:
        self.home = home
        self.office = home / "office"
        self.laptop = home / "laptop"
        self._say = say
        self._timeout = timeout
        self.server: subprocess.Popen[bytes] | None = None
        self.meters_proc: subprocess.Popen[bytes] | None = None
        self.server_url = ""
        self.meters: list[DemoMeter] = []

    # --- what the app and the tests see ---------------------------------------------------

    @property
    def laptop_env(self) -> dict[str, str]:
        """The variables that make a fieldkit process the demo laptop."""
        return {
            "FIELDKIT_HOME": str(self.laptop),
            "FIELDKIT_TECHNICIAN": DEMO_TECHNICIAN,
            "FIELDKIT_SECRETS_PASSPHRASE": DEMO_PASSPHRASE,
        }

    @property
    def child_pids(self) -> list[int]:
        """The processes this demo started and has not yet reaped."""
        return [p.pid for p in (self.server, self.meters_proc) if p is not None]

    @property
    def server_log(self) -> Path:
        return self.office / "server.log"

    # --- start ----------------------------------------------------------------------------

    def start(self) -> None:
        """Office, meters, laptop; raises :class:`DemoError` (and stops what it started)."""
        try:
            examples = examples_dir()
            self.office.mkdir(parents=True, exist_ok=True)
            self.laptop.mkdir(parents=True, exist_ok=True)
            # Both children start before anything else runs here: no thread is alive at fork.
            self._start_meters(examples / "cis-work-orders.csv")
            code = self._seed_office(examples)
            self._start_server()
            self._await_meters()
            self._set_up_laptop(code)
        except BaseException:
            self.stop()
            raise

    def _syncserver(self, *args: str, stdin: str | None = None) -> str:
        db = str(self.office / "server.db")
        proc = subprocess.run(  # noqa: S603  # our own interpreter and module
            [sys.executable, "-m", "syncserver", *args, "--db", db],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT,
            check=False,
            preexec_fn=_die_with_parent,  # single-threaded here
        )
        if proc.returncode != 0:
            problem = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise DemoError(f"syncserver {args[0]} failed: {problem}")
        return proc.stdout

    def _seed_office(self, examples: Path) -> str:
        self._say("office: seeding the server database from the example CIS files")
        self._syncserver(
            "create-user",
            DEMO_TECHNICIAN,
            "--role",
            "technician",
            stdin=DEMO_TECHNICIAN_PASSWORD + "\n",
        )
        self._syncserver("import-accounts", str(examples / "cis-accounts.csv"))
        self._syncserver("import-work-orders", str(examples / "cis-work-orders.csv"))
        return self._syncserver("enroll-code", "--technician", DEMO_TECHNICIAN).strip()

    def _start_server(self) -> None:
        import httpx

        port = _free_port()
        self.server_url = f"http://127.0.0.1:{port}"
        with self.server_log.open("ab") as log:
            self.server = subprocess.Popen(  # noqa: S603
                [
                    sys.executable,
                    "-m",
                    "syncserver",
                    "serve",
                    "--db",
                    str(self.office / "server.db"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the terminal's signals are the demo's to pass on
                preexec_fn=_die_with_parent,
            )
        self._say(f"office: syncserver serve on {self.server_url} (log: {self.server_log})")
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise DemoError(f"syncserver serve exited at start; see {self.server_log}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.server_url + "/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise DemoError(f"syncserver serve did not answer in {_START_TIMEOUT:.0f} s")

    def _start_meters(self, work_orders_csv: Path) -> None:
        self.meters_proc = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "fieldkit.demo_system",
                "meters",
                str(work_orders_csv),
                str(os.getpid()),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=(self.office / "meters.log").open("ab"),
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def _await_meters(self) -> None:
        proc = self.meters_proc
        assert proc is not None
        assert proc.stdout is not None
        line = proc.stdout.readline()  # one JSON line once every meter listens
        if not line:
            raise DemoError(f"the simulated meters did not start; see {self.office / 'meters.log'}")
        self.meters = [DemoMeter(**m) for m in json.loads(line)]
        kinds = sorted({m.protocol for m in self.meters})
        self._say(f"meters: {len(self.meters)} simulated meters ({', '.join(kinds)}) listening")

    def _set_up_laptop(self, code: str) -> None:
        from fieldkit import paths, secrets
        from fieldkit.sync import laptop
        from simulators.scenario import load_scenario

        (self.laptop / "config.toml").write_text(
            '[secrets]\nbackend = "file"  # the demo keeps its secrets in its own home\n',
            encoding="utf-8",
        )
        links = {
            m.meter_number: {"protocol": m.protocol, "port": m.url, "settings": m.settings}
            for m in self.meters
        }
        with _environ(self.laptop_env):
            paths.meter_links_file().write_text(json.dumps(links, indent=2) + "\n", "utf-8")
            for meter in self.meters:
                for password in load_scenario(meter.scenario).security.passwords:
                    if password.text is not None:
                        secrets.set_password(meter.meter_number, password.level, password.text)
            try:
                technician = laptop.enroll_laptop(self.server_url, code, device_name="demo laptop")
                result = laptop.sync_laptop(timeout=self._timeout)
            except laptop.SyncError as exc:
                raise DemoError(f"the laptop could not enrol and sync: {exc}") from exc
        self._say(
            f"laptop: enrolled as {technician}, {result.work_orders} work orders synced "
            f"(FIELDKIT_HOME={self.laptop})"
        )

    # --- stop -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the server and the meters (SIGTERM, then SIGKILL after 10 s); idempotent."""
        for proc in (self.server, self.meters_proc):
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
        for proc in (self.server, self.meters_proc):
            if proc is None:
                continue
            try:
                proc.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=_STOP_TIMEOUT)
            if proc.stdout is not None:
                proc.stdout.close()
        self.server = None
        self.meters_proc = None

    def __enter__(self) -> DemoSystem:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the demo command -----------------------------------------------------------------------


def _say(text: str) -> None:
    sys.stderr.write(f"fieldkit demo: {text}\n")


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


def run_demo_system(home: Path | None = None) -> int:
    """Start the whole system, run the app in the foreground, stop everything; its status.

    ``home`` None: a new temporary directory, removed at the end (kept, and named, when the
    demo could not start: its logs say why); a given one is kept.
    """
    import shutil
    import tempfile

    temporary = home is None
    root = Path(tempfile.mkdtemp(prefix="fieldkit-demo-")) if home is None else home
    system = DemoSystem(root, say=_say)
    app: subprocess.Popen[bytes] | None = None
    ended_by: list[int] = []
    failed = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        ended_by.append(signum)
        if app is None:
            raise _Stopped(signum)
        with contextlib.suppress(ProcessLookupError):
            app.send_signal(signal.SIGTERM)  # the app quits cleanly and restores the terminal

    previous = {
        s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    }
    try:
        if not temporary and any(root.glob("*")):
            raise DemoError(f"{root} is not empty: give a new or empty directory to --home")
        system.start()
        env = {**os.environ, **system.laptop_env}
        app = subprocess.Popen(
            [sys.executable, "-m", "fieldkit", "tui"],
            env=env,
            preexec_fn=_die_with_parent,  # the meters run in their own process
        )
        code = app.wait()  # a signal now is passed on to the app (see on_signal)
        return 128 + ended_by[0] if ended_by and code != 0 else code
    except _Stopped as stopped:
        return 128 + stopped.signum
    except DemoError as exc:
        failed = True
        sys.stderr.write(f"fieldkit: demo: {exc}\n")
        return 1
    finally:
        if app is not None and app.poll() is None:
            app.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                app.wait(timeout=_STOP_TIMEOUT)
        system.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
        if temporary and not failed:
            shutil.rmtree(root, ignore_errors=True)
        elif temporary:
            _say(f"kept {root} (its logs say what went wrong)")


# --- the meters' process ------------------------------------------------------------------


def _serve_meters(work_orders_csv: Path, parent: int) -> int:
    """Start one simulated meter per ordered scenario; print them as one JSON line; serve
    until SIGTERM (or the demo's death)."""
    import threading

    from simulators.c1218.server import start as start_c1218
    from simulators.modbus.server import start as start_modbus

    if os.getppid() != parent:  # the demo died before the kernel was told to stop us
        return 0
    stop = threading.Event()
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, lambda _s, _f: stop.set())
    running: list[Any] = []
    meters: list[dict[str, Any]] = []
    try:
        for scenario, meter_number in ordered_meters(work_orders_csv).items():
            map_name = MODBUS_SCENARIOS.get(scenario)
            if map_name is None:
                sim: Any = start_c1218(scenario)
                meters.append(
                    {"scenario": scenario, "meter_number": meter_number, "protocol": "c1218",
                     "url": sim.url, "settings": {}}
                )  # fmt: skip
            else:
                sim = start_modbus(scenario, map_name=map_name)
                meters.append(
                    {"scenario": scenario, "meter_number": meter_number, "protocol": "modbus",
                     "url": sim.url, "settings": {"map": map_name}}
                )  # fmt: skip
            running.append(sim)
        sys.stdout.write(json.dumps(meters) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            if os.getppid() != parent:
                break
    finally:
        for sim in running:
            sim.stop()
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "meters":
        _die_with_parent()
        sys.exit(_serve_meters(Path(sys.argv[2]), int(sys.argv[3])))
    sys.exit(f"usage: python -m {__spec__.name if __spec__ else 'fieldkit.demo_system'} ...")
