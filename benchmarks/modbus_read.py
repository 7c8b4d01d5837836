"""How close a full Modbus read of each shipped map comes to what an RS-485 line allows.

For each map in ``fieldkit/drivers/modbus/maps``, starts the simulated Modbus meter
(``healthy-16s`` through that map) in its own process with ``--baud-pace --baud 9600``, so
RTU bytes cross the simulated line no faster than 9600 baud at 11 bits a character (start,
8 data, parity or second stop, stop) in both directions, and the meter answers 3.5
characters after a request ends, as Modbus RTU requires. Then reads the whole map with the
driver and prints:

    requests, registers, bytes on the wire, wall time, and the ratio to the wire floor
    floor = frame bytes × 11 / baud + (2 × requests − 1) × 3.5 characters
            (the silence before each answer and before each request but the first)

Wall time is the session's (``LinkStats.session_seconds``): from the port being open to the
last answer. Opening and closing the port are left out: pyserial's socket:// close sleeps
300 ms that a real serial port does not. Target: ratio ≤ 1.3.

Run: ``.venv/bin/python benchmarks/modbus_read.py [--runs N] [--baud 9600]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from fieldkit.drivers.base import create_driver, read_once
from fieldkit.drivers.modbus.maps import SHIPPED_MAPS_DIR, load_map, plan_blocks

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = "healthy-16s"
BITS = 11


@dataclass(frozen=True)
class Row:
    name: str
    requests: int
    registers: int
    wire_bytes: int
    wall: float
    floor: float

    @property
    def ratio(self) -> float:
        return self.wall / self.floor


def _start_sim(map_name: str, baud: int) -> tuple[subprocess.Popen[str], str]:
    code = "import sys; from simulators.cli import main; sys.argv[0] = 'fieldkit-sim'; main()"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "modbus",
            "--map",
            map_name,
            "--scenario",
            SCENARIO,
            "--baud",
            str(baud),
            "--baud-pace",
            "--still",
            "--turnaround-ms",
            f"{3.5 * BITS / baud * 1000:.3f}",  # a meter answers after the 3.5-character gap
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if " listening on " not in line:
        proc.kill()
        raise SystemExit(f"simulator for {map_name} did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[1]


def measure(map_name: str, baud: int, runs: int) -> Row:
    meter_map = load_map(map_name)
    blocks = plan_blocks(meter_map)
    gap = 3.5 * BITS / baud
    proc, url = _start_sim(map_name, baud)
    try:
        walls = []
        wire = 0
        driver = create_driver("modbus", url, {"map": map_name, "baud": baud})
        for _ in range(runs):
            outcome = read_once(driver)
            if not outcome.ok or outcome.stats.session_seconds is None:
                raise SystemExit(f"{map_name}: read failed: {outcome.error}")
            walls.append(outcome.stats.session_seconds)
            wire = outcome.stats.bytes_tx + outcome.stats.bytes_rx
    finally:
        proc.terminate()
        proc.wait(10)
    # Silence before every frame but the first request: a read starts on an idle line.
    floor = wire * BITS / baud + (2 * len(blocks) - 1) * gap
    return Row(
        name=map_name,
        requests=len(blocks),
        registers=sum(b.count for b in blocks),
        wire_bytes=wire,
        wall=statistics.median(walls),
        floor=floor,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="reads per map (median is shown)")
    parser.add_argument("--baud", type=int, default=9600)
    args = parser.parse_args()
    names = sorted(p.stem for p in SHIPPED_MAPS_DIR.glob("*.toml"))
    print(f"Full read of each shipped map, RTU at {args.baud} baud, median of {args.runs}")
    print(
        f"{'map':22} {'requests':>8} {'registers':>9} {'bytes':>6} "
        f"{'wall s':>8} {'floor s':>8} {'ratio':>6}"
    )
    worst = 0.0
    for name in names:
        row = measure(name, args.baud, args.runs)
        worst = max(worst, row.ratio)
        print(
            f"{row.name:22} {row.requests:>8} {row.registers:>9} {row.wire_bytes:>6} "
            f"{row.wall:>8.3f} {row.floor:>8.3f} {row.ratio:>6.3f}"
        )
    print(f"worst ratio {worst:.3f} (target ≤ 1.3)")


if __name__ == "__main__":
    main()
