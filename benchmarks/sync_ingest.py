"""How fast the office server takes in visits over HTTP, against a plain insert.

Pushes ``--visits`` realistic visits (about 40 readings, 20 check results and 50 meter
events each, ~15 kB of JSON) from ``--devices`` enrolled devices at once — each visit to
its own meter and answering its own work order, as a week of a crew's field work is (a CIS
export of that many accounts and work orders is imported first) — each device through the
real sync client (``fieldkit.sync.client``: batches of at most 100 ops and 1 MiB) to a real
``syncserver serve`` on 127.0.0.1 — SQLite with one worker, PostgreSQL with two (a
throwaway cluster with fsync on). Then inserts the same rows (applied_ops, visits with
their summary columns, visit_checks and the hash-chained audit rows, in transactions of the
same size) in one process on a fresh database of the same engine, checks both databases
hold the same number of rows in each of those tables, and prints visits/s for both and
their ratio. Target: ≥ 0.5.

Each of ``--rounds`` rounds (3) measures both sides on fresh copies of one seeded database,
in turn; the median ratio is the figure (one round's varies by ±10 % on a 2-core machine).

Run: ``.venv/bin/python benchmarks/sync_ingest.py [--engine sqlite|postgresql|both]
[--visits 10000] [--devices 10] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import pairwise
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
from syncserver.db.models import AppliedOp, AuditLog, Visit, VisitCheck, VisitRepeat  # noqa: E402
from syncserver.services import imports, users  # noqa: E402
from syncserver.services.journal import Actor, canonical, unit_of_work  # noqa: E402
from syncserver.services.prepare import readings_of  # noqa: E402

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


def place(i: int) -> tuple[str, str, str]:
    """Visit ``i``'s (meter number, serial, work order), from :func:`cis_files`."""
    return f"MB-{i:07d}", f"SNB{i:010d}", f"WO-B-{i:07d}"


def cis_files(folder: Path, visits: int) -> tuple[Path, Path]:
    """A CIS export of one account, premise and 2S meter per visit and a dispatched work
    order for each, assigned to demo-tech (the layouts of docs/server.md)."""
    accounts, orders = folder / "accounts.csv", folder / "work-orders.csv"
    with accounts.open("w", encoding="utf-8") as a, orders.open("w", encoding="utf-8") as w:
        a.write(
            "account_number,customer_name,premise_id,service_address,meter_number,"
            "meter_serial,form,meter_class,service_type,nominal_voltage,last_read_kwh,"
            "last_read_at\n"
        )
        w.write("work_order_id,meter_number,account_number,kind,priority,technician,status\n")
        for i in range(visits):
            meter, serial, order = place(i)
            a.write(
                f"B{i:08d},Customer {i},PB-{i:07d},{i} Bench Street,{meter},{serial},"
                f"2S,CL200,1ph-3w,240,17000.0,2026-11-02\n"
            )
            w.write(f"{order},{meter},B{i:08d},read,normal,demo-tech,dispatched\n")
    return accounts, orders


def make_visit(n: int, device: int, per: int) -> dict[str, Any]:
    """Device ``device``'s visit ``n`` (of ``per``): one visit document (a whole
    ``VisitDocument``) of realistic size, a snapshot with 40 readings (registers and phase
    values) and 50 log events, and 20 check results, at the place :func:`place` gives it."""
    meter, serial, order = place(device * per + n)
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
        "work_order": order,
        "meter_number": meter,
        "read_result": "complete",
        "verdict": "pass",
        "notes": [{"at": at.isoformat(), "technician": "demo-tech", "text": "Seal replaced."}],
        "snapshot": {
            "protocol": "c1218",
            "read_at": at.isoformat(),
            "identity": {
                "manufacturer": "FKIT",
                "model": "SIM-2S",
                "serial_number": serial,
                "meter_id": meter,
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


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time (user + system) of a process and of its children (uvicorn's workers, or
    the push helpers of one worker), from /proc (Linux; 0 where there is no /proc): what
    the server spent, whatever else shares the machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    own = children = 0.0
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used = (int(fields[11]) + int(fields[12])) / ticks
        if entry.parent.name == str(pid):
            own += used
        elif fields[1] == str(pid):  # fields[1]: the parent's pid
            children += used
    return own, children


@dataclass
class HttpRun:
    """One over-HTTP run: wall time, visits, and the CPU the server and the clients used."""

    elapsed: float
    visits: int
    server_cpu: float
    """Of which the server's child processes (workers, or one worker's push helpers)."""
    children_cpu: float
    client_cpu: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(db: str, visits: int, devices: int) -> list[Credentials]:
    database = Database(db)
    upgrade(database)
    creds = []
    with tempfile.TemporaryDirectory(prefix="fk-ingest-cis-") as folder:
        accounts, orders = cis_files(Path(folder), visits)
        with unit_of_work(database, Actor("cli", "bench")) as work:
            users.create_user(work, "demo-tech", "technician", "benchmark password")
            imports.import_accounts(work, accounts)
            imports.import_work_orders(work, orders)
    with unit_of_work(database, Actor("cli", "bench")) as work:
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


def over_http(db: str, creds: list[Credentials], visits: int, workers: int) -> HttpRun:
    devices = len(creds)
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
            Outbox(
                [PendingOp(str(uuid.uuid4()), "visit", make_visit(n, d, per)) for n in range(per)]
            )
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
        before, client_cpu = cpu_seconds(server.pid), time.process_time()
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        after = cpu_seconds(server.pid)
        server_cpu, children_cpu = sum(after) - sum(before), after[1] - before[1]
        client_cpu = time.process_time() - client_cpu
        if errors:
            raise SystemExit("; ".join(errors))
        return HttpRun(elapsed, per * devices, server_cpu, children_cpu, client_cpu)
    finally:
        server.terminate()
        server.wait(30)


def plain_insert(db: str, visits: int, devices: int) -> tuple[float, float]:
    """The same rows ingest writes (applied_ops; visits with their summary columns; each
    visit's per-check statuses in visit_checks; each visit's previous visit to its meter in
    visit_repeats; the hash-chained audit rows), inserted in one process with SQLAlchemy
    Core executemany, 60 visits a transaction."""
    from sqlalchemy import insert, select, update

    from syncserver.db.models import AuditHead, Device, Meter, WorkOrder

    database = Database(db)
    with database.read() as session:
        device_pks = list(session.execute(select(Device.id)).scalars())
        technician = session.execute(select(Device.technician_id)).scalars().first()
        meters = dict(session.execute(select(Meter.meter_number, Meter.id)).all())
        orders = {
            o: (pk, account)
            for o, pk, account in session.execute(
                select(WorkOrder.work_order_id, WorkOrder.id, WorkOrder.account_id)
            )
        }
    per = visits // devices
    rows = []
    # What ingest derives from each document (its worst status per check, its readings,
    # its times, its meter and work order) is worked out here, before the clock starts:
    # the plain insert is the writing alone.
    for d in range(devices):
        for n in range(per):
            document = make_visit(n, d, per)
            body = pydantic_core.to_json(document)
            worst: dict[str, str] = {}
            for check in document["checks"]:  # each check's worst status, as ingest keeps
                if RANK[check["status"]] >= RANK[worst.get(check["id"], "skip")]:
                    worst[check["id"]] = check["status"]
            parsed = VisitDocument.model_validate(document)
            order_pk, account = orders[str(parsed.work_order)]
            rows.append(
                (
                    device_pks[d],
                    str(uuid.uuid4()),
                    body,
                    hashlib.sha256(b"visit\n" + body).hexdigest(),
                    worst,
                    {
                        "visit_id": parsed.visit_id,
                        "work_order_pk": order_pk,
                        "claimed_work_order": parsed.work_order,
                        "account_id": account,
                        "meter_id": meters[str(parsed.meter_number)],
                        "meter_number": parsed.meter_number,
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
    # Each visit's previous visit to its meter, as ingest keeps it: the latest other start
    # strictly before its own, at the same meter.
    starts: dict[int, list[datetime]] = {}
    for *_, derived in rows:
        starts.setdefault(derived["meter_id"], []).append(derived["visited_at"])
    previous: dict[tuple[int, datetime], datetime] = {}
    for meter_pk, times in starts.items():
        ordered = sorted(set(times))
        previous.update(((meter_pk, t), p) for p, t in pairwise(ordered))
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
            repeats = [
                {
                    "visit_pk": pks[derived["visit_id"]],
                    "technician_id": technician,
                    "visited_at": derived["visited_at"],
                    "previous_at": previous[derived["meter_id"], derived["visited_at"]],
                }
                for *_, derived in chunk
                if (derived["meter_id"], derived["visited_at"]) in previous
            ]
            if repeats:
                session.execute(insert(VisitRepeat.__table__), repeats)
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


COUNTED = ("applied_ops", "visits", "visit_checks", "visit_repeats", "audit_log")

# What the visits and their checks hold, beyond how many there are: both sides must have
# written the same summaries (bodies, verdicts, readings, per-check statuses).
CONTENT = {
    "visit bodies (bytes)": "SELECT sum(length(body)) FROM visits",
    "exception visits": "SELECT count(*) FROM visits WHERE exception",
    "voltage_a sum": "SELECT round(sum(voltage_a)) FROM visits",
    "visit_checks failed": "SELECT count(*) FROM visit_checks WHERE status = 'fail'",
    "visits' failed-check counts": "SELECT sum(checks_failed) FROM visits",
    "visits with a work order": "SELECT count(work_order_pk) FROM visits",
    "visits' meters": "SELECT count(DISTINCT meter_id) FROM visits",
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


def copy_file(seed: str, folder: str, name: str) -> str:
    """A copy of the seeded SQLite database (closed, so its WAL is checkpointed)."""
    shutil.copyfile(seed, f"{folder}/{name}.db")
    return f"{folder}/{name}.db"


def copy_database(server: Any, name: str) -> str:
    """A copy of the seeded PostgreSQL database, made from it as a template."""
    server.admin(f"CREATE DATABASE {name} TEMPLATE seed")
    return str(server.url(name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--visits", type=int, default=10_000)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    size = len(json.dumps(make_visit(0, 0, 1)))
    print(f"{args.visits} visits of {size / 1000:.1f} kB from {args.devices} devices, 127.0.0.1")
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    for engine in engines:
        with tempfile.TemporaryDirectory(prefix="fk-bench-") as folder:
            stop = None
            copy: Callable[[str], str]
            if engine == "sqlite":
                seed, workers = f"{folder}/seed.db", 1
                copy = partial(copy_file, seed, folder)
            else:
                from tests.server.conftest import start_postgres

                server, stop = start_postgres(fsync=True)
                server.admin("CREATE DATABASE seed")
                seed, workers = server.url("seed"), 2
                copy = partial(copy_database, server)

            try:
                # The accounts, work orders and devices once; each round on fresh copies, the
                # two sides taking turns so that the machine's drift reaches both alike.
                creds = prepare(seed, args.visits, args.devices)
                ratios = []
                for n in range(args.rounds):
                    http_db, plain_db = copy(f"http{n}"), copy(f"plain{n}")
                    run = over_http(http_db, creds, args.visits, workers)
                    plain, plain_cpu = plain_insert(plain_db, args.visits, args.devices)
                    written = row_counts(http_db), row_counts(plain_db)
                    if written[0] != written[1]:
                        raise SystemExit(
                            f"not the same rows: http {written[0]}, plain {written[1]}"
                        )
                    ratios.append(report(engine, workers, run, plain, plain_cpu))
            finally:
                if stop is not None:
                    stop()
        if len(ratios) > 1:
            print(
                f"{engine:10s} ratio over {len(ratios)} rounds: median "
                f"{statistics.median(ratios):.2f} (lowest {min(ratios):.2f}, "
                f"highest {max(ratios):.2f})"
            )


def report(engine: str, workers: int, run: HttpRun, plain: float, plain_cpu: float) -> float:
    """Print one round's figures; its ratio."""
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
        f"{'':10s} CPU per visit: server {run.server_cpu / count * 1000:.2f} ms "
        f"(child processes {run.children_cpu / count * 1000:.2f}), "
        f"clients {run.client_cpu / count * 1000:.2f} ms, "
        f"plain insert {plain_cpu / count * 1000:.2f} ms   "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    return http_rate / plain_rate


if __name__ == "__main__":
    main()
