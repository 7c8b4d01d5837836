"""Many laptops syncing at once (``benchmarks/sync_load.py``), checked.

Each laptop is a real fieldkit store saving real field visits and syncing them through
the real client to a real ``syncserver serve``; the checker reads the server's database.
Nothing a laptop saved may be lost or stored twice, every outbox drains, and no request
may be answered 5xx or fail at all (no 4xx is expected from enrolled laptops: any would be
a bug of the client or the server).

Fast slice (in ``make test``): 20 laptops for 12 s on SQLite with one worker, a sync
every 4 s. ``make reliability`` sets FIELDKIT_LOAD_LAPTOPS / FIELDKIT_LOAD_SECONDS /
FIELDKIT_LOAD_INTERVAL and FIELDKIT_LOAD_ENGINES=sqlite,postgresql: 200 laptops for 300 s
on each engine (PostgreSQL with two workers), the figures in ``.reliability/``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import asdict
from pathlib import Path

import pytest

from benchmarks.review_latency import percentile
from benchmarks.sync_load import _percentiles, database_bytes, describe, make_templates, run_load

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

LAPTOPS = int(os.environ.get("FIELDKIT_LOAD_LAPTOPS", "20"))
SECONDS = float(os.environ.get("FIELDKIT_LOAD_SECONDS", "12"))
INTERVAL = float(os.environ.get("FIELDKIT_LOAD_INTERVAL", "4"))
ENGINES = os.environ.get("FIELDKIT_LOAD_ENGINES", "sqlite").split(",")
FULL = LAPTOPS >= 100
OUT = Path(__file__).resolve().parents[2] / ".reliability"


@pytest.mark.timeout(int(SECONDS * 3 + 240))
@pytest.mark.parametrize("engine", ENGINES)
def test_many_laptops_at_once_lose_nothing(
    engine: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if engine == "postgresql":
        from tests.server.conftest import _pg_bin

        if _pg_bin() is None and os.environ.get("FIELDKIT_REQUIRE_POSTGRES") != "1":
            pytest.skip("no PostgreSQL server binaries")
    report = run_load(
        engine,
        tmp_path,
        laptops=LAPTOPS,
        seconds=SECONDS,
        interval=INTERVAL,
        backlog=5 if FULL else 2,
        orders=40 if FULL else 5,
        processes=4 if FULL else 2,
        templates=make_templates(faulty=FULL),
    )
    with capsys.disabled():
        print("\n" + describe(report))
    if FULL:
        OUT.mkdir(exist_ok=True)
        (OUT / f"sync-load-{engine}.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    assert report.visits_saved > 0
    assert report.lost == 0
    assert report.duplicated == 0
    assert report.unknown == 0
    assert report.pending == 0
    assert report.server_errors == 0
    assert report.sync_errors == {}
    # every request answered 200: any other status would be a failure the user sees
    assert {k.split()[1] for k in report.statuses} == {"200"}, report.statuses
    # each laptop synced at the start (its backlog) and again on its cadence
    assert report.syncs >= 2 * LAPTOPS
    assert report.visits_on_server == report.visits_saved


def test_database_growth_counts_the_data_not_the_wal_file(tmp_path: Path) -> None:
    """The growth per 10,000 visits is the database's, not SQLite's write-ahead log: a busy
    server's WAL holds many copies of the same pages (and is not shrunk by a checkpoint)."""
    db = tmp_path / "server.db"
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # a checkpoint starved by readers
        conn.execute("CREATE TABLE t (v BLOB)")
        conn.execute("INSERT INTO t VALUES (randomblob(100000))")
        conn.commit()
        for _ in range(200):  # the same rows rewritten: ~20 MB of WAL, 0.1 MB of data
            conn.execute("UPDATE t SET v = randomblob(100000)")
            conn.commit()
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        data = conn.execute("PRAGMA page_count").fetchone()[0] * page_size
        assert (tmp_path / "server.db-wal").stat().st_size > 50 * data
        assert database_bytes(str(db)) == data
    finally:
        conn.close()


def test_p95_is_the_nearest_rank_not_the_maximum() -> None:
    """Of 20 pushes the p95 is the 19th slowest, not the slowest (which is the max)."""
    figures = _percentiles([n / 1000 for n in range(1, 21)])  # 1..20 ms
    assert figures == {"p50": 10.5, "p95": 19.0, "max": 20.0}
    assert _percentiles([n / 1000 for n in range(1, 101)])["p95"] == 95.0


def test_the_review_pages_p95_is_the_same_nearest_rank() -> None:
    """One percentile for every benchmark: p95 of 30 page loads is the 29th, where the
    review benchmark's old rounding took the 28th and printed a p95 one rank too good."""
    assert percentile([float(n) for n in range(30, 0, -1)], 0.95) == 29.0
    assert percentile([5.0], 0.95) == 5.0
