"""How close a full site read comes to what the wire allows.

Starts the simulated 16S meter (`healthy-16s`) in its own process with `--baud-pace`, so
bytes cross the simulated optical link no faster than the negotiated baud rate in both
directions, and the meter waits its turnaround before answering. Then reads the full site
table set with the driver and prints, per configuration:

    bytes on the wire, round trips, wall time, and the ratio to the wire-time floor
    floor = bytes × 10 / baud + round trips × the simulator's turnaround

Wall time runs from the first byte of Identify to the ACK of Terminate (the driver's
`last_session_seconds`): opening and closing the port are left out, because pyserial's
socket:// close sleeps 300 ms that a real serial port does not.

A ratio near 1 means the driver adds almost nothing to what the physics costs. Target at
9600 baud: ≤ 1.2. The other rows show what negotiating larger packets and 57600 baud buys.

Run: `make bench` (or `.venv/bin/python benchmarks/c1218_read.py [--runs N]`).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from fieldkit.drivers.c1218.client import ClientStats, SessionConfig
from fieldkit.drivers.c1218.driver import C1218Driver, C1218Options

SCENARIO = "healthy-16s"
TURNAROUND_S = 0.010  # the simulator's default turnaround (scenario [link] turnaround_ms)


@dataclass(frozen=True)
class Case:
    label: str
    baud: int
    packet_size: int
    packets: int


CASES = (
    Case("9600 baud, 64 B x 1 packet (no larger packets)", 9600, 64, 1),
    Case("9600 baud, 256 B x 4 packets (granted)", 9600, 1024, 8),
    Case("57600 baud, 256 B x 4 packets (granted)", 57600, 1024, 8),
)


def start_simulator() -> tuple[subprocess.Popen[str], str]:
    exe = Path(sys.executable).with_name("fieldkit-sim")
    proc = subprocess.Popen(
        [str(exe), "c1218", "--scenario", SCENARIO, "--baud-pace", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if " listening on " not in line:
        proc.kill()
        raise SystemExit(f"simulator did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[1].strip()


def read_once(url: str, case: Case) -> tuple[float, ClientStats]:
    session = SessionConfig(baud=case.baud, packet_size=case.packet_size, max_packets=case.packets)
    driver = C1218Driver(url, C1218Options(session=session))
    snapshot = driver.read_snapshot()
    if snapshot.unavailable:
        raise SystemExit(f"read incomplete: {snapshot.unavailable}")
    stats, wall = driver.last_stats, driver.last_session_seconds
    if stats is None or wall is None:
        raise SystemExit("the driver kept no statistics")
    return wall, stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="reads per configuration")
    args = parser.parse_args()
    proc, url = start_simulator()
    try:
        print(f"simulated meter {SCENARIO} at {url}, --baud-pace, turnaround {TURNAROUND_S}s")
        print(
            f"{'configuration':<48} {'bytes':>6} {'trips':>5} {'wall s':>7} "
            f"{'floor s':>7} {'ratio':>6}"
        )
        for case in CASES:
            walls = []
            for _ in range(args.runs):
                wall, stats = read_once(url, case)
                walls.append(wall)
            wall = statistics.median(walls)
            wire_bytes = stats.bytes_tx + stats.bytes_rx
            # Bytes before the speed switch go at 9600; the stats cannot split them, so the
            # floor uses the negotiated speed for all bytes (a slightly low, i.e. strict, floor
            # at 57600 is not claimed as a target).
            floor = wire_bytes * 10 / case.baud + stats.round_trips * TURNAROUND_S
            ratio = wall / floor
            print(
                f"{case.label:<48} {wire_bytes:>6} {stats.round_trips:>5} {wall:>7.3f} "
                f"{floor:>7.3f} {ratio:>6.2f}"
            )
        print(f"(median of {args.runs} reads each; first row is the baseline)")
    finally:
        proc.terminate()
        proc.wait(timeout=5)


if __name__ == "__main__":
    main()
