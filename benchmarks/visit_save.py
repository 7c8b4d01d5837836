"""How long saving a visit takes, from the call to the COMMIT, at synchronous=FULL.

Builds a realistic visit — about 40 readings (registers and per-phase quantities), 20 check
results with their values, 50 events and a 10 KiB frame capture — and saves it again and
again into a fresh laptop database under a temporary FIELDKIT_HOME (WAL, synchronous=FULL,
the kit's own pragmas), each save a new visit with its outbox row in one transaction, as
``fieldkit check`` does. Prints the median and the 99th percentile.

Target on the 2-core machine: median ≤ 30 ms.

Run: `make bench` (or `.venv/bin/python benchmarks/visit_save.py [--saves N]`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fieldkit.drivers.base import LinkStats, ReadOutcome
from fieldkit.model import (
    CheckResult,
    CheckStatus,
    ClockReading,
    FrameRecord,
    MeterEvent,
    MeterIdentity,
    MeterSnapshot,
    PhaseQuantities,
    Quantity,
    Register,
    SiteExpectation,
)
from fieldkit.store import database
from fieldkit.store import visits as log
from fieldkit.visit import VisitResult, visit_document

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def realistic_visit() -> VisitResult:
    """16S meter: 19 registers + 3 phases × 7 quantities = 40 readings, and the rest."""
    registers = tuple(
        Register(f"register_{n}", 1000.0 + n, "kWh", f"register {n}", timestamp=NOW)
        for n in range(19)
    )
    phases = tuple(
        PhaseQuantities(p, 120.0, 10.0, a, a + 18.0, 0.95, 1140.0, 370.0)
        for p, a in (("A", 0.0), ("B", 120.0), ("C", 240.0))
    )
    events = tuple(
        MeterEvent(code=n % 40, name=f"event {n}", timestamp=NOW - timedelta(hours=n), sequence=n)
        for n in range(50)
    )
    # 10 KiB of frames, as a capture keeps them.
    frames = tuple(
        FrameRecord("tx" if n % 2 else "rx", bytes(range(256))[: 128 - n % 3], n * 0.01)
        for n in range(80)
    )
    snapshot = MeterSnapshot(
        protocol="c1218",
        identity=MeterIdentity("FKIT", "SIM-16S", "SN16S00000054321", meter_id="M16-0054321"),
        read_at=NOW,
        clock=ClockReading(NOW + timedelta(seconds=2), NOW, uncertainty_seconds=0.05),
        registers=registers,
        phases=phases,
        events=events,
        frequency=60.0,
        temperature_c=34.0,
    )
    results = tuple(
        CheckResult(
            id=f"check_{n}",
            status=CheckStatus.PASS,
            message=f"check {n} is within its limits",
            measured="120.1 V",
            expected="114-126 V",
            values=(Quantity("voltage", 120.1, "V", element="A", low=114.0, high=126.0),),
        )
        for n in range(20)
    )
    outcome = ReadOutcome(
        "c1218", "socket://127.0.0.1:1", NOW, snapshot, None, frames, LinkStats(bytes_tx=900)
    )
    return VisitResult(
        SiteExpectation(meter_number="M16-0054321"),
        snapshot,
        results,
        CheckStatus.PASS,
        outcome,
        work_order_id="WO-1",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=300)
    args = parser.parse_args()
    result = realistic_visit()
    template = visit_document(result, technician="bench", outcome="resolved", notes=["ok"])
    capture = template.capture
    assert capture is not None
    capture_bytes = len(capture.model_dump_json())
    timings: list[float] = []
    with tempfile.TemporaryDirectory() as folder, database(Path(folder) / "fieldkit.db") as db:
        synchronous = db.execute("PRAGMA synchronous").fetchone()[0]
        assert synchronous == 2, "the benchmark must run at synchronous=FULL"
        for _ in range(args.saves):
            start = time.perf_counter()
            # What `fieldkit check` does after the read: build the record, then save it.
            visit = visit_document(result, technician="bench", outcome="resolved", notes=["ok"])
            log.save(db, visit)
            timings.append((time.perf_counter() - start) * 1000)
        size = Path(folder, "fieldkit.db").stat().st_size
    timings.sort()
    median = statistics.median(timings)
    p99 = timings[min(len(timings) - 1, round(0.99 * (len(timings) - 1)))]
    snap = result.snapshot
    assert snap is not None
    readings = len(snap.registers) + 7 * len(snap.phases)
    frame_bytes = sum(
        len(f.data) for f in snap.frames or (result.outcome.frames if result.outcome else ())
    )
    sys.stdout.write(
        f"visit save at synchronous=FULL: {args.saves} saves; {readings} readings, "
        f"{len(result.results)} results, {len(snap.events)} events, "
        f"{frame_bytes / 1024:.1f} KiB of frames ({capture_bytes / 1024:.1f} KiB as JSON)\n"
        f"  median {median:.2f} ms   p99 {p99:.2f} ms   max {timings[-1]:.2f} ms   "
        f"(target: median <= 30 ms; database {size / 1e6:.1f} MB)\n"
    )


if __name__ == "__main__":
    main()
