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
from dataclasses import asdict
from pathlib import Path

import pytest

from benchmarks.sync_load import describe, make_templates, run_load

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
