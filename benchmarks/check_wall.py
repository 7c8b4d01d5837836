"""How long ``fieldkit check`` takes, from process start to exit, and where the time goes.

Starts a simulated meter in its own process (C12.18 ``healthy-2s`` and ``healthy-16s`` over
``socket://127.0.0.1``, and a Modbus RTU meter), then runs the real command a technician
types, ``fieldkit check --port URL <work order> -q --json``, as a fresh subprocess each time
under a temporary ``FIELDKIT_HOME``, so every run pays for the interpreter, the imports,
the read, the checks, the save (an fsync'd commit) and the exit. Beside it, to split the
total: the bare interpreter (``python -c pass``), the CLI's imports alone
(``python -c "import fieldkit.cli"``), and the same meter read in one process through
``drivers.base`` (what the link costs).

The meters answer at loopback speed unless ``--baud-pace``: then the C12.18 meter holds its
bytes to 9600 baud with its 10 ms turnaround, as an optical probe does, and the total is
what a technician waits at the meter.

Prints the median and the slowest run of each, and the heavy modules a check imported
(Textual and the server must not be among them; ``tests/sim/test_cli_imports.py`` asserts
that).

Run: `make bench` (or `.venv/bin/python benchmarks/check_wall.py [--runs N] [--baud-pace]`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fieldkit.drivers.base import create_driver, read_once

# The part of the kit a check must not load: the app's UI toolkit and the server.
HEAVY = ("textual", "syncserver", "fastapi", "uvicorn", "sqlalchemy", "alembic", "psycopg")
SIM = "from simulators.cli import main; main()"
# The console script's own two lines (``from fieldkit.cli import main; main()``), with the
# wall clock noted once the imports are done and at exit, and sys.modules written at exit.
_HARNESS = (
    "import atexit, json, sys, time\n"
    "out = sys.argv.pop(1)\n"
    "marks = {}\n"
    "def _at_exit():\n"
    "    marks['exit'] = time.time()\n"
    "    open(out, 'w').write(json.dumps({'marks': marks, 'modules': sorted(sys.modules)}))\n"
    "atexit.register(_at_exit)\n"
    "sys.argv[0] = 'fieldkit'\n"
    "from fieldkit.cli import main\n"
    "marks['imported'] = time.time()\n"
    "main()\n"
)


@dataclass(frozen=True)
class Run:
    """One ``fieldkit`` process: where its wall time went, and what it loaded."""

    total: float  # spawn to exit, as the technician waits
    startup: float  # spawn to the CLI imported: the interpreter and the imports
    command: float  # the command itself: parse, read, checks, save, output
    modules: list[str]


@dataclass(frozen=True)
class Meter:
    """A simulated meter and the work order a technician types for it."""

    label: str
    sim_args: tuple[str, ...]
    protocol: str
    check_args: tuple[str, ...]
    driver_settings: dict[str, object]


METERS = (
    Meter(
        "C12.18 2S (healthy-2s)",
        ("c1218", "--scenario", "healthy-2s"),
        "c1218",
        ("--service-type", "1ph-3w", "--nominal-voltage", "240", "--meter-number", "M2S-0012345"),
        {},
    ),
    Meter(
        "C12.18 16S (healthy-16s)",
        ("c1218", "--scenario", "healthy-16s"),
        "c1218",
        ("--service-type", "3ph-4w-wye", "--nominal-voltage", "120", "--meter-number", "M16"),
        {},
    ),
    Meter(
        "Modbus RTU SDM630 (healthy-16s)",
        ("modbus", "--scenario", "healthy-16s", "--map", "eastron-sdm630", "--framer", "rtu"),
        "modbus",
        (
            "--service-type",
            "3ph-4w-wye",
            "--nominal-voltage",
            "230",
            "--meter-number",
            "SDM",
            "--protocol",
            "modbus",
            "--map",
            "eastron-sdm630",
        ),
        {"map": "eastron-sdm630"},
    ),
)


@contextmanager
def simulator(args: Sequence[str], pace: bool) -> Iterator[str]:
    """A simulated meter in its own process; yields its socket:// URL."""
    extra = ["--baud-pace"] if pace else []
    proc = subprocess.Popen(
        [sys.executable, "-c", SIM, *args, *extra, "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if " listening on " not in line:
            raise SystemExit(f"simulator did not start: {line!r}")
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def timed(command: Sequence[str], env: dict[str, str]) -> float:
    """Seconds from spawning ``command`` to its exit; it must succeed."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... exited {done.returncode}: {done.stderr}")
    return elapsed


def fieldkit(args: Sequence[str], env: dict[str, str], scratch: Path) -> Run:
    """Run ``fieldkit ARGS`` as the console script does, timed from spawn to exit."""
    out = scratch / "run.json"
    spawned = time.time()
    done = subprocess.run(
        [sys.executable, "-c", _HARNESS, str(out), *args], env=env, capture_output=True, text=True
    )
    ended = time.time()
    if done.returncode not in (0, 1):  # 1: a check failed, which is a finished check
        raise SystemExit(f"fieldkit {' '.join(args[:2])} exited {done.returncode}: {done.stderr}")
    seen = json.loads(out.read_text())
    marks = seen["marks"]
    return Run(
        total=ended - spawned,
        startup=marks["imported"] - spawned,
        command=marks["exit"] - marks["imported"],
        modules=seen["modules"],
    )


def line(label: str, samples: Sequence[float]) -> str:
    """One row: median and slowest, in milliseconds."""
    return f"{label:<46} {statistics.median(samples) * 1000:>8.0f} {max(samples) * 1000:>8.0f}"


def in_process_read(url: str, meter: Meter) -> float:
    """Seconds the driver takes to read the meter in this process (port open to close)."""
    driver = create_driver(meter.protocol, url, meter.driver_settings)
    started = time.perf_counter()
    outcome = read_once(driver)
    elapsed = time.perf_counter() - started
    if outcome.result != "complete":
        raise SystemExit(f"in-process read of {meter.label}: {outcome.result} {outcome.error}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each command")
    parser.add_argument("--baud-pace", action="store_true", help="meters at 9600 baud")
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        env = {
            **os.environ,
            "FIELDKIT_HOME": str(scratch / "home"),
            "FIELDKIT_TECHNICIAN": "bench",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        }
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"python {sys.version.split()[0]}, {args.runs} runs each, ms; load {load}")
        print(f"{'':<46} {'median':>8} {'slowest':>8}")
        print(line("python -c pass", [timed([py, "-c", "pass"], env) for _ in range(args.runs)]))
        helps = [fieldkit(["--help"], env, scratch) for _ in range(args.runs)]
        print(line("fieldkit --help", [r.total for r in helps]))
        print(line("  start and imports", [r.startup for r in helps]))
        for meter in METERS:
            with simulator(meter.sim_args, args.baud_pace) as url:
                command = ["check", "--port", url, *meter.check_args, "-q", "--json"]
                fieldkit(command, env, scratch)  # the first creates the laptop's database
                runs = [fieldkit(command, env, scratch) for _ in range(args.runs)]
                reads = [in_process_read(url, meter) for _ in range(args.runs)]
            print(line(f"fieldkit check: {meter.label}", [r.total for r in runs]))
            print(line("  start and imports", [r.startup for r in runs]))
            print(line("  the command", [r.command for r in runs]))
            print(line("    the read alone (in one process)", reads))
            print(line("  exit", [r.total - r.startup - r.command for r in runs]))
            modules = runs[-1].modules
            heavy = sorted({m.split(".")[0] for m in modules if m.split(".")[0] in HEAVY})
            print(f"  modules loaded: {len(modules)}; of the app or the server: {heavy or 'none'}")
        print(f"load at the end {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
