"""How fast the office server takes in visits over HTTP, against a plain insert.

Pushes ``--visits`` realistic visits (about 40 readings, 20 check results and 50 meter
events each, ~15 kB of JSON) from ``--devices`` enrolled devices at once, each through the
real sync client (``fieldkit.sync.client``: batches of at most 100 ops and 1 MiB) to a real
``syncserver serve`` on 127.0.0.1 — SQLite with one worker, PostgreSQL with two (a
throwaway cluster with fsync on). Then inserts the same rows (applied_ops, visits with
their summary columns, visit_checks and the hash-chained audit rows, in transactions of the
same size) in one process on a fresh database of the same engine, checks both databases
hold the same number of rows in each of those tables, and prints visits/s for both and
their ratio. Target: ≥ 0.5.

Run: ``.venv/bin/python benchmarks/sync_ingest.py [--engine sqlite|postgresql|both]
[--visits 10000] [--devices 10]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pydantic_core

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fieldkit.sync.client import Credentials, PendingOp, SyncClient  # noqa: E402
from fieldkit.sync.schema import VisitDocument  # noqa: E402
from syncserver.db.engine import Database  # noqa: E402
from syncserver.db.migrate import upgrade  # noqa: E402
from syncserver.db.models import AppliedOp, AuditLog, Visit, VisitCheck  # noqa: E402
from syncserver.services import imports, users  # noqa: E402
from syncserver.services.journal import Actor, canonical, unit_of_work  # noqa: E402
from syncserver.services.sync import readings_of  # noqa: E402

RANK = {"skip": 0, "pass": 1, "warn": 2, "fail": 3}

CHECKS = [
    "meter_identity",
    "service_voltage",
    "voltage_imbalance",
    "polarity",
    "phase_angle",
    "cross_phase",
    "clock_drift",
    "status_flags",
    "reverse_energy",
    "meter_temperature",
]


def make_visit(n: int, device: int) -> dict[str, Any]:
    """One visit document (a whole ``VisitDocument``) of realistic size: a snapshot with 40
    readings (registers and phase values) and 50 log events, and 20 check results."""
    at = datetime(2026, 12, 1, 8, tzinfo=UTC) + timedelta(minutes=n)
    visit_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"visit/{device}/{n}"))
    return {
        "schema_version": 1,
        "document": "visit",
        "visit_id": visit_id,
        "op_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"op/{device}/{n}")),
        "revision": 1,
        "status": "final",
        "outcome": "resolved",
        "technician": "demo-tech",
        "started_at": at.isoformat(),
        "ended_at": (at + timedelta(minutes=20)).isoformat(),
        "saved_at": (at + timedelta(minutes=20)).isoformat(),
        "work_order": "WO-2026-10404",
        "meter_number": "M2S-0012345",
        "read_result": "complete",
        "verdict": "pass",
        "notes": [{"at": at.isoformat(), "technician": "demo-tech", "text": "Seal replaced."}],
        "snapshot": {
            "protocol": "c1218",
            "read_at": at.isoformat(),
            "identity": {
                "manufacturer": "FKIT",
                "model": "SIM-2S",
                "serial_number": "SN2S000000012345",
                "meter_id": "M2S-0012345",
            },
            "registers": [
                {"id": f"kwh_tier_{i}", "value": 17612.6 + i * 0.37, "unit": "kWh"}
                for i in range(34)
            ],
            "phases": [
                {"phase": p, "voltage": 120.0 + i, "current": 3.2 + i, "power_factor": 0.98}
                for i, p in enumerate("ABC")
            ],
            "frequency": 60.0,
            "temperature_c": 31.5,
            "total_active_power": 1.2,
            "events": [
                {
                    "code": 1 + i % 40,
                    "name": f"event {1 + i % 40}",
                    "timestamp": (at - timedelta(hours=i)).isoformat(),
                    "user_id": i % 3,
                    "log": "history" if i % 2 else "event",
                    "sequence": i,
                }
                for i in range(50)
            ],
        },
        "checks": [
            {
                "id": CHECKS[i % len(CHECKS)],
                "status": ["pass", "warn", "fail", "skip"][i % 4],
                "message": f"{CHECKS[i % len(CHECKS)]} measured within the expected band ({i})",
                "measured": f"{119.8 + i:.1f} V",
                "expected": "120 V",
                "likely_causes": ["loose jaw", "CT wiring"][: i % 3],
                "values": [{"name": "voltage", "value": 119.8 + i, "unit": "V", "element": "A"}],
            }
            for i in range(20)
        ],
    }


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children, from /proc (Linux; 0 where
    there is no /proc): what the server spent, whatever else shares the machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if entry.parent.name == str(pid) or fields[1] == str(pid):  # fields[1]: parent pid
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


@dataclass
class HttpRun:
    """One over-HTTP run: wall time, visits, and the CPU the server and the clients used."""

    elapsed: float
    visits: int
    server_cpu: float
    client_cpu: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(db: str, devices: int) -> list[Credentials]:
    database = Database(db)
    upgrade(database)
    creds = []
    with unit_of_work(database, Actor("cli", "bench")) as work:
        users.create_user(work, "demo-tech", "technician", "benchmark password")
        imports.import_accounts(work, ROOT / "examples" / "cis-accounts.csv")
        imports.import_work_orders(work, ROOT / "examples" / "cis-work-orders.csv")
        for d in range(devices):
            code = users.create_enroll_code(work, "demo-tech", 15)
            device, _, token = users.enroll_device(work, code, f"bench laptop {d}")
            creds.append(Credentials("", device.device_id, token, "demo-tech"))
    database.dispose()
    return creds


class Outbox:
    def __init__(self, ops: list[PendingOp]) -> None:
        self.ops = ops
        self.position = 0
        self.rejected = 0

    def pending(self, limit: int) -> list[PendingOp]:
        return self.ops[self.position : self.position + limit]

    def mark(self, acknowledged: Any, rejected: Any) -> None:
        self.position += len(acknowledged) + len(rejected)
        self.rejected += len(rejected)

    def count_pending(self) -> int:
        return len(self.ops) - self.position


def over_http(db: str, visits: int, devices: int, workers: int) -> HttpRun:
    creds = prepare(db, devices)
    port = free_port()
    # This checkout first (the editable install may point at another one).
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "syncserver",
            "serve",
            "--db",
            db,
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.1)
        per = visits // devices
        boxes = [
            Outbox([PendingOp(str(uuid.uuid4()), "visit", make_visit(n, d)) for n in range(per)])
            for d in range(devices)
        ]
        errors: list[str] = []

        def run(d: int) -> None:
            c = creds[d]
            with SyncClient(
                Credentials(url, c.device_id, c.token, c.technician), timeout=120
            ) as client:
                result = client.push(boxes[d])
            if result.pending or result.rejected:
                errors.append(
                    f"device {d}: {result.pending} pending, {len(result.rejected)} rejected"
                )

        threads = [threading.Thread(target=run, args=(d,)) for d in range(devices)]
        server_cpu, client_cpu = cpu_seconds(server.pid), time.process_time()
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        server_cpu = cpu_seconds(server.pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
        if errors:
            raise SystemExit("; ".join(errors))
        return HttpRun(elapsed, per * devices, server_cpu, client_cpu)
    finally:
        server.terminate()
        server.wait(30)


def plain_insert(db: str, visits: int, devices: int) -> tuple[float, float]:
    """The same rows ingest writes (applied_ops; visits with their summary columns; each
    visit's per-check statuses in visit_checks; the hash-chained audit rows), inserted in
    one process with SQLAlchemy Core executemany, 60 visits a transaction."""
    from sqlalchemy import insert, select, update

    from syncserver.db.models import AuditHead, Device, Meter, WorkOrder

    prepare(db, devices)
    database = Database(db)
    with database.read() as session:
        device_pks = list(session.execute(select(Device.id)).scalars())
        technician = session.execute(select(Device.technician_id)).scalars().first()
        order = session.execute(
            select(WorkOrder).where(WorkOrder.work_order_id == "WO-2026-10404")
        ).scalar_one()
        meter = session.execute(
            select(Meter.id).where(Meter.meter_number == "M2S-0012345")
        ).scalar_one()
    per = visits // devices
    rows = []
    # What ingest derives from each document (its worst status per check, its readings,
    # its times) is worked out here, before the clock starts: the plain insert is the
    # writing alone.
    for d in range(devices):
        for n in range(per):
            document = make_visit(n, d)
            body = pydantic_core.to_json(document)
            worst: dict[str, str] = {}
            for check in document["checks"]:  # each check's worst status, as ingest keeps
                if RANK[check["status"]] >= RANK[worst.get(check["id"], "skip")]:
                    worst[check["id"]] = check["status"]
            parsed = VisitDocument.model_validate(document)
            rows.append(
                (
                    device_pks[d],
                    str(uuid.uuid4()),
                    body,
                    hashlib.sha256(b"visit\n" + body).hexdigest(),
                    worst,
                    {
                        "visit_id": parsed.visit_id,
                        "started_at": parsed.started_at,
                        "visited_at": parsed.started_at,
                        "ended_at": parsed.ended_at,
                        "verdict": parsed.verdict,
                        "exception": parsed.verdict in ("warn", "fail"),
                        "checks_failed": sum(1 for status in worst.values() if status == "fail"),
                        **readings_of(parsed),
                    },
                )
            )
    now = datetime.now(UTC)
    batch = 60
    visit_table = Visit.__table__
    cpu = time.process_time()
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        with database.write() as session:
            session.execute(
                insert(AppliedOp.__table__),
                [
                    {
                        "device_pk": d,
                        "op_id": o,
                        "kind": "visit",
                        "body_sha256": h,
                        "status": "applied",
                        "flags": "",
                        "applied_at": now,
                    }
                    for d, o, _, h, _, _ in chunk
                ],
            )
            pks = dict(
                session.execute(
                    insert(visit_table).returning(visit_table.c.visit_id, visit_table.c.id),
                    [
                        {
                            "device_pk": d,
                            "technician_id": technician,
                            "work_order_pk": order.id,
                            "claimed_work_order": "WO-2026-10404",
                            "account_id": order.account_id,
                            "meter_id": meter,
                            "meter_number": "M2S-0012345",
                            "received_at": now,
                            "flags": "",
                            "review_status": "new",
                            "reviewed_by": None,
                            "body_sha256": h,
                            "body": b.decode(),
                            "revision": 1,
                            "status": "final",
                            "outcome": "resolved",
                            **derived,
                        }
                        for d, _, b, h, _, derived in chunk
                    ],
                ).all()
            )
            session.execute(
                insert(VisitCheck.__table__),
                [
                    {
                        "visit_pk": pks[derived["visit_id"]],
                        "check_id": check,
                        "status": status,
                        "visited_at": derived["visited_at"],
                    }
                    for _, _, _, _, worst, derived in chunk
                    for check, status in worst.items()
                ],
            )
            head = session.execute(select(AuditHead).with_for_update()).scalar_one()
            seq, prev = head.last_seq, head.last_hash
            audit = []
            for _, _, _, h, _, derived in chunk:
                seq += 1
                detail = canonical({"sha256": h, "revision": 1, "flags": []})
                row = {
                    "seq": seq,
                    "at": now.isoformat(),
                    "actor_type": "device",
                    "actor_id": "x",
                    "action": "visit.create",
                    "entity": "visit",
                    "entity_id": derived["visit_id"],
                    "detail": detail,
                }
                digest = hashlib.sha256((prev + canonical(row)).encode()).hexdigest()
                audit.append({**row, "at": now, "prev_hash": prev, "row_hash": digest})
                prev = digest
            session.execute(insert(AuditLog.__table__), audit)
            session.execute(update(AuditHead).values(last_seq=seq, last_hash=prev))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    database.dispose()
    return elapsed, cpu


COUNTED = ("applied_ops", "visits", "visit_checks", "audit_log")

# What the visits and their checks hold, beyond how many there are: both sides must have
# written the same summaries (bodies, verdicts, readings, per-check statuses).
CONTENT = {
    "visit bodies (bytes)": "SELECT sum(length(body)) FROM visits",
    "exception visits": "SELECT count(*) FROM visits WHERE exception",
    "voltage_a sum": "SELECT round(sum(voltage_a)) FROM visits",
    "visit_checks failed": "SELECT count(*) FROM visit_checks WHERE status = 'fail'",
    "visits' failed-check counts": "SELECT sum(checks_failed) FROM visits",
    "visits with a work order": "SELECT count(work_order_pk) FROM visits",
}


def row_counts(db: str) -> dict[str, int]:
    """Rows in each table ingest writes and a few sums of what they hold (so the two sides
    are seen to do the same work)."""
    from sqlalchemy import text

    database = Database(db)
    try:
        with database.read() as session:
            counts = {}
            for table in COUNTED:  # the names above, not input
                count = text(f"SELECT count(*) FROM {table}")  # noqa: S608
                counts[table] = int(session.execute(count).scalar_one())
            for name, query in CONTENT.items():
                counts[name] = int(session.execute(text(query)).scalar_one() or 0)
            return counts
    finally:
        database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--visits", type=int, default=10_000)
    parser.add_argument("--devices", type=int, default=10)
    args = parser.parse_args()
    size = len(json.dumps(make_visit(0, 0)))
    print(f"{args.visits} visits of {size / 1000:.1f} kB from {args.devices} devices, 127.0.0.1")
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    for engine in engines:
        with tempfile.TemporaryDirectory(prefix="fk-bench-") as folder:
            stop = None
            if engine == "sqlite":
                http_db, plain_db, workers = f"{folder}/http.db", f"{folder}/plain.db", 1
            else:
                from tests.server.conftest import start_postgres

                server, stop = start_postgres(fsync=True)
                server.admin("CREATE DATABASE http")
                server.admin("CREATE DATABASE plain")
                http_db, plain_db, workers = server.url("http"), server.url("plain"), 2
            try:
                run = over_http(http_db, args.visits, args.devices, workers)
                plain, plain_cpu = plain_insert(plain_db, args.visits, args.devices)
                written = row_counts(http_db), row_counts(plain_db)
                if written[0] != written[1]:
                    raise SystemExit(f"not the same rows: http {written[0]}, plain {written[1]}")
            finally:
                if stop is not None:
                    stop()
        count = run.visits
        http_rate, plain_rate = count / run.elapsed, count / plain
        print(
            f"{engine:10s} workers={workers}  http {http_rate:7.0f} visits/s ({run.elapsed:5.1f} s)"
            f"   plain insert {plain_rate:7.0f} visits/s ({plain:5.1f} s)"
            f"   ratio {http_rate / plain_rate:.2f}"
        )
        # CPU per visit, which the machine's other load changes much less than the rates
        # (the database server's own processes are not counted on PostgreSQL).
        print(
            f"{'':10s} CPU per visit: server {run.server_cpu / count * 1000:.2f} ms, "
            f"clients {run.client_cpu / count * 1000:.2f} ms, "
            f"plain insert {plain_cpu / count * 1000:.2f} ms   "
            f"(load average {os.getloadavg()[0]:.1f})"
        )


if __name__ == "__main__":
    main()
