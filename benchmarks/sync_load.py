"""Many laptops syncing at once: a busy day of a utility's field force, compressed.

Each simulated laptop is a real fieldkit store (its own SQLite file, the visit log and
outbox of :mod:`fieldkit.store`) enrolled with a one-time code through the real enrolment,
saving real field visits (templates read from the simulated meters by the real driver and
judged by the real checks, ``tests.helpers.field_visit``, with their ids, times, meter,
work order and technician filled in per visit) and syncing them with the real client
(:func:`fieldkit.sync.laptop.sync_database`: push, then pull its technician's feed; the
CLI's defaults of a 10 s timeout and 5 tries with full-jitter back-off).

The server is ``syncserver serve`` on 127.0.0.1: PostgreSQL (a throwaway cluster, fsync
on) with two workers, SQLite with one. Each laptop belongs to its own technician, who has
``--orders`` work orders dispatched from a generated CIS export; every visit answers one of
them. The office dispatches one more order to a tenth of the technicians every 30 s, so
pulls carry work.

The cadence (``--interval`` N, default 15 s): at the start every laptop syncs at once with
``--backlog`` visits saved offline (the morning, when the vans come back into coverage),
then each syncs every N × U(0.5, 1.5) s, saving 1–3 visits in between. At N = 15 s, 200
laptops make about 13 pushes and 27 visits a second: the 2,400 visits of a busy day of 200
technicians (12 each) every 90 s, a day compressed several hundred times.

Load generation: the client is synchronous (httpx.Client), as on a laptop, so each laptop
is a thread, and the laptops are spread over ``--processes`` processes (default 4) so that
one interpreter's GIL does not become the bottleneck. Each laptop's latency is timed at
its transport (request sent to answer read). The generator's own CPU and its lateness
against the schedule are printed next to the server's CPU, to show which side was busy.

Printed: pushes, visits, p50/p95/max push and pull latency, errors by kind (HTTP status or
the transport error), the checker's lost / duplicated (every visit a laptop saved is on the
server exactly once, one ``visit.create`` in the audit log), and the database's growth per
10,000 visits (SQLite: the file + its WAL; PostgreSQL: ``pg_database_size``).

Run: ``.venv/bin/python benchmarks/sync_load.py [--engine sqlite|postgresql|both]
[--laptops 200] [--seconds 300] [--interval 15] [--processes 4] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.review_latency import Template, fill, make_template, percentile  # noqa: E402
from fieldkit.store import visits as visit_log  # noqa: E402
from fieldkit.store.db import close_database, open_database  # noqa: E402
from fieldkit.sync.laptop import (  # noqa: E402
    LaptopOutbox,
    LaptopTokens,
    SyncError,
    enroll_database,
    sync_database,
)
from fieldkit.sync.schema import VisitDocument  # noqa: E402
from syncserver.core.security import hash_password  # noqa: E402
from syncserver.db.engine import Database  # noqa: E402
from syncserver.db.migrate import upgrade  # noqa: E402
from syncserver.db.models import User  # noqa: E402
from syncserver.services import imports, users  # noqa: E402
from syncserver.services.journal import Actor, unit_of_work  # noqa: E402
from tests.syncserver_process import ServerProcess  # noqa: E402

# (scenario, the meter number its work order names) a form's visits are made from; the
# faulty ones make about one visit in eight an exception, as in the field.
SCENARIOS = {
    "2S": [("healthy-2s", "M2S-0012345"), ("clock-drift-2s", "M2S-0034567")],
    "16S": [("healthy-16s", "M16-0054321"), ("reversed-ct-16s", "M16-0065432")],
}
FAULTY_SHARE = 0.12
DISPATCH_EVERY = 30.0  # seconds between the office's new work orders
MORNING = 20.0  # the first seconds, when every laptop syncs its backlog at once
CLI_TIMEOUT, CLI_ATTEMPTS = 10.0, 5  # what `fieldkit sync` uses
Templates = dict[str, tuple[list[Template], list[Template]]]  # form -> healthy, faulty


class MemoryVault:
    """One laptop's secrets (its device token), kept in memory: no keyring here."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = dict(data or {})

    def load(self) -> dict[str, Any]:
        return dict(self.data)

    def save(self, data: dict[str, Any]) -> None:
        self.data = dict(data)


# --- the world: technicians, accounts, work orders ------------------------------------


@dataclass(frozen=True)
class Order:
    work_order_id: str
    meter_number: str
    form: str


def _account_row(i: int, form: str) -> dict[str, str]:
    return {
        "account_number": f"LD-{i:06d}",
        "customer_name": f"Customer {i}",
        "phone": f"+1-555-{i % 10000:04d}",
        "net_metering": "no",
        "premise_id": f"PRM-LD-{i:06d}",
        "service_address": f"{i % 900 + 1} Load Street, Springfield",
        "meter_number": f"M{form}-LD{i:06d}",
        "meter_serial": f"SN{form}LD{i:010d}",
        "form": form,
        "meter_class": "CL200",
        "service_type": "1ph-3w" if form == "2S" else "3ph-4w-wye",
        "nominal_voltage": "240" if form == "2S" else "120",
        "ct_ratio": "",
        "pt_ratio": "",
        "rotation": "" if form == "2S" else "ABC",
        "high_leg": "",
        "last_read_kwh": str(10000 + i % 5000),
        "last_read_at": "2026-11-02",
        "meter_password_ref": "",
    }


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _orders_csv(
    path: Path, first: int, count: int, technicians: list[str], rng: random.Random
) -> tuple[Path, Path, dict[str, list[Order]]]:
    """Accounts ``first..first+count-1`` and one dispatched order on each, dealt round the
    technicians; the two CIS files and the orders by technician."""
    accounts, orders_rows = [], []
    by_tech: dict[str, list[Order]] = {t: [] for t in technicians}
    for i in range(first, first + count):
        form = "16S" if rng.random() < 0.2 else "2S"
        account = _account_row(i, form)
        technician = technicians[(i - first) % len(technicians)]
        accounts.append(account)
        order = Order(f"WO-LD-{i:06d}", account["meter_number"], form)
        orders_rows.append(
            {
                "work_order_id": order.work_order_id,
                "meter_number": order.meter_number,
                "account_number": account["account_number"],
                "kind": rng.choice(["read", "read", "exchange", "investigate", "high_bill"]),
                "priority": "normal",
                "technician": technician,
                "status": "dispatched",
                "scheduled_for": (date(2026, 12, 4) + timedelta(days=i % 5)).isoformat(),
                "contact_customer": "no",
                "notes": "Dispatched for the load test",
            }
        )
        by_tech[technician].append(order)
    return (
        _write_csv(path / f"accounts-{first}.csv", accounts),
        _write_csv(path / f"orders-{first}.csv", orders_rows),
        by_tech,
    )


def _import(db: str, accounts: Path, orders: Path) -> None:
    database = Database(db)
    try:
        with unit_of_work(database, Actor("cli", "load")) as work:
            imports.import_accounts(work, accounts)
            imports.import_work_orders(work, orders)
    finally:
        database.dispose()


def build_world(
    db: str, folder: Path, laptops: int, orders: int, rng: random.Random
) -> tuple[list[str], dict[str, list[Order]], list[str]]:
    """Technicians (one per laptop), their dispatched orders and one enrolment code each."""
    database = Database(db)
    upgrade(database)
    technicians = [f"tech-{n:03d}" for n in range(1, laptops + 1)]
    # One argon2 hash for them all: an argon2 hash costs ~1 s on this machine, and nobody
    # logs in with these passwords (laptops use device tokens).
    shared = hash_password("technicians sign in on their laptops")
    with unit_of_work(database, Actor("cli", "load")) as work:
        for name in technicians:
            work.session.add(
                User(
                    name=name,
                    role="technician",
                    password_hash=shared,
                    active=True,
                    created_at=work.at,
                )
            )
            work.audit("user.create", "user", name, role="technician")
    database.dispose()
    accounts, orders_file, by_tech = _orders_csv(folder, 1, laptops * orders, technicians, rng)
    _import(db, accounts, orders_file)
    database = Database(db)
    with unit_of_work(database, Actor("cli", "load")) as work:
        codes = [users.create_enroll_code(work, name, 60) for name in technicians]
    database.dispose()
    return technicians, by_tech, codes


# --- one laptop ------------------------------------------------------------------------


@dataclass(frozen=True)
class LaptopPlan:
    name: str
    folder: str
    technician: str
    secrets: dict[str, Any]
    orders: list[Order]
    seed: int


@dataclass(frozen=True)
class Plan:
    url: str
    templates: Templates
    interval: float
    backlog: int
    seconds: float
    go_file: str
    ready_file: str


@dataclass
class Figures:
    """What one generator process measured."""

    # kind, seconds to the answer, outcome (status or transport error), when it was sent
    requests: list[tuple[str, float, str, float]] = field(default_factory=list)
    sync_errors: Counter[str] = field(default_factory=Counter)
    saved: dict[str, list[str]] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    lags: list[float] = field(default_factory=list)
    syncs: int = 0
    acknowledged: int = 0
    duplicates: int = 0
    work_orders_pulled: int = 0
    cpu: float = 0.0


class TimedTransport(httpx.BaseTransport):
    """The laptop's HTTP transport, timing every request to its answer read in full."""

    def __init__(self, figures: Figures, lock: threading.Lock) -> None:
        self._inner = httpx.HTTPTransport()
        self._figures = figures
        self._lock = lock

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        kind = "push" if path.endswith("/sync/push") else "pull" if "/sync/pull" in path else path
        sent, started = time.time(), time.perf_counter()
        try:
            response = self._inner.handle_request(request)
            response.read()
        except httpx.TransportError as exc:
            with self._lock:
                self._figures.requests.append(
                    (kind, time.perf_counter() - started, type(exc).__name__, sent)
                )
            raise
        with self._lock:
            self._figures.requests.append(
                (kind, time.perf_counter() - started, str(response.status_code), sent)
            )
        return response

    def close(self) -> None:
        self._inner.close()


def _visit(plan: Plan, order: Order, technician: str, rng: random.Random) -> VisitDocument:
    healthy, faulty = plan.templates[order.form]
    template = rng.choice(faulty if rng.random() < FAULTY_SHARE else healthy)
    start = datetime.now(UTC) - timedelta(minutes=25)
    values = {
        "@V@": str(uuid.uuid4()),
        "@O@": str(uuid.uuid4()),
        "@S@": start.isoformat(),
        "@E@": (start + timedelta(minutes=20)).isoformat(),
        "@W@": order.work_order_id,
        "@M@": order.meter_number,
        "@T@": technician,
        "@N@": "SN" + order.meter_number.replace("-", ""),
    }
    return VisitDocument.model_validate_json(fill(template, values))


def _run_laptop(
    plan: Plan, laptop: LaptopPlan, start_at: float, figures: Figures, lock: threading.Lock
) -> None:
    rng = random.Random(laptop.seed)
    db = open_database(Path(laptop.folder) / "fieldkit.db")
    tokens = LaptopTokens(db, MemoryVault(laptop.secrets))
    http = httpx.Client(transport=TimedTransport(figures, lock), timeout=CLI_TIMEOUT)
    saved: list[str] = []
    next_order = 0

    def save_one() -> None:
        nonlocal next_order
        order = laptop.orders[next_order % len(laptop.orders)]
        next_order += 1
        saved.append(visit_log.save(db, _visit(plan, order, laptop.technician, rng)).visit_id)

    def sync() -> None:
        try:
            result = sync_database(
                db, tokens, http=http, timeout=CLI_TIMEOUT, max_attempts=CLI_ATTEMPTS
            )
        except SyncError as exc:
            with lock:
                figures.sync_errors[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
            partial = exc.result if hasattr(exc, "result") else None
            result = partial
        with lock:
            figures.syncs += 1
            if result is not None:
                figures.acknowledged += result.acknowledged
                figures.duplicates += result.duplicates
                figures.work_orders_pulled += result.work_orders

    def wait_until(moment: float) -> None:
        # How late a thread wakes past its time says whether the generator keeps up.
        if (ahead := moment - time.time()) > 0:
            time.sleep(ahead)
            with lock:
                figures.lags.append(time.time() - moment)

    try:
        for _ in range(plan.backlog):  # saved offline before the day's first sync
            save_one()
        end = start_at + plan.seconds
        due = start_at
        while due < end:
            wait_until(due)
            sync()
            following = due + plan.interval * rng.uniform(0.5, 1.5)
            for moment in sorted(rng.uniform(due, following) for _ in range(rng.randint(1, 3))):
                if moment >= end:
                    break
                wait_until(moment)
                save_one()
            due = following
        for _ in range(5):  # the end of the day: sync until the outbox is empty
            if LaptopOutbox(db).count_pending() == 0:
                break
            sync()
        with lock:
            figures.saved[laptop.name] = saved
            figures.pending[laptop.name] = LaptopOutbox(db).count_pending()
    finally:
        http.close()
        close_database(db)


def run_generator(plan: Plan, laptops: list[LaptopPlan]) -> Figures:
    """One load-generator process: a thread for each of ``laptops``, from the go signal."""
    figures = Figures()
    lock = threading.Lock()
    Path(f"{plan.ready_file}.{os.getpid()}").touch()
    while not Path(plan.go_file).exists():
        time.sleep(0.02)
    start_at = float(Path(plan.go_file).read_text())
    threads = [
        threading.Thread(target=_run_laptop, args=(plan, laptop, start_at, figures, lock))
        for laptop in laptops
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures.cpu = usage.ru_utime + usage.ru_stime
    return figures


# --- measuring the server side ---------------------------------------------------------


def _proc_stats() -> dict[int, tuple[int, float, str]]:
    """Every process: its parent, its CPU seconds (own + reaped children) and cmdline."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[int, float, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        ppid = int(fields[1])
        cpu = sum(int(v) for v in fields[11:15]) / tick  # utime stime cutime cstime
        found[int(entry.name)] = (ppid, cpu, cmdline)
    return found


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and all its descendants, living or reaped."""
    stats = _proc_stats()
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1]
            todo.extend(p for p, (ppid, _, _) in stats.items() if ppid == pid)
    return total


def postmaster_pid(port: int) -> int | None:
    """The PostgreSQL postmaster listening on ``port`` (started with ``-p PORT``)."""
    for pid, (_, _, cmdline) in _proc_stats().items():
        if "postgres" in cmdline and f"-p {port} " in cmdline + " " and "pg_ctl" not in cmdline:
            return pid
    return None


def database_bytes(db: str) -> int:
    """Bytes the database takes once checkpointed: SQLite's pages (read through the WAL), or
    pg_database_size. Not the WAL file's size: it holds many copies of the busy pages and a
    checkpoint does not shrink it, so file + WAL overstated the growth per 10,000 visits."""
    if not db.startswith("postgresql"):
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            return int(pages * conn.execute("PRAGMA page_size").fetchone()[0])
        finally:
            conn.close()
    from sqlalchemy import text

    database = Database(db)
    try:
        with database.read() as session:
            return int(
                session.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            )
    finally:
        database.dispose()


def server_visits(db: str) -> tuple[Counter[str], Counter[str]]:
    """Rows per visit id in ``visits``, and ``visit.create`` audit rows per visit id."""
    from sqlalchemy import text

    database = Database(db)
    try:
        with database.read() as session:
            rows = Counter(
                {
                    v: int(n)
                    for v, n in session.execute(
                        text("SELECT visit_id, count(*) FROM visits GROUP BY visit_id")
                    )
                }
            )
            creates = Counter(
                {
                    v: int(n)
                    for v, n in session.execute(
                        text(
                            "SELECT entity_id, count(*) FROM audit_log "
                            "WHERE action = 'visit.create' GROUP BY entity_id"
                        )
                    )
                }
            )
            return rows, creates
    finally:
        database.dispose()


# --- the whole run ---------------------------------------------------------------------


@dataclass
class Report:
    """The figures of one run."""

    engine: str
    workers: int
    laptops: int
    seconds: float
    interval: float
    processes: int
    wall: float = 0.0
    syncs: int = 0
    pushes: int = 0
    pulls: int = 0
    visits_saved: int = 0
    visits_on_server: int = 0
    acknowledged: int = 0
    duplicates_answered: int = 0
    work_orders_pulled: int = 0
    push_ms: dict[str, float] = field(default_factory=dict)
    pull_ms: dict[str, float] = field(default_factory=dict)
    morning_push_ms: dict[str, float] = field(default_factory=dict)
    steady_push_ms: dict[str, float] = field(default_factory=dict)
    steady_pull_ms: dict[str, float] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    sync_errors: dict[str, int] = field(default_factory=dict)
    lost: int = 0
    duplicated: int = 0
    unknown: int = 0
    pending: int = 0
    server_errors: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    bytes_per_10k_visits: float = 0.0
    generator_cpu: float = 0.0
    server_cpu: float = 0.0
    database_cpu: float = 0.0
    office_imports_s: list[float] = field(default_factory=list)
    lag_p95_s: float = 0.0
    lag_max_s: float = 0.0
    loadavg: str = ""


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "p50": round(statistics.median(values) * 1000, 1),
        "p95": round(percentile(values, 0.95) * 1000, 1),
        "max": round(max(values) * 1000, 1),
    }


def make_templates(*, faulty: bool = True) -> Templates:
    """Real field visits of each meter form, healthy and (with ``faulty``) faulty: each a
    simulated meter read by the real driver (about 3 s each on the 2-core machine)."""
    templates: Templates = {}
    for form, ((healthy, healthy_meter), (bad, bad_meter)) in SCENARIOS.items():
        good = [make_template(healthy, healthy_meter)]
        templates[form] = (good, [make_template(bad, bad_meter)] if faulty else good)
    return templates


@contextmanager
def engine_db(engine: str, folder: Path) -> Iterator[tuple[str, int, int | None]]:
    """The server database (path or URL), the workers to run, and the postmaster's port."""
    if engine == "sqlite":
        yield str(folder / "server.db"), 1, None
        return
    from tests.server.conftest import start_postgres

    server, stop = start_postgres(fsync=True)
    try:
        server.admin("CREATE DATABASE load")
        yield server.url("load"), 2, server.port
    finally:
        stop()


def run_load(
    engine: str,
    folder: Path,
    *,
    laptops: int = 200,
    seconds: float = 300.0,
    interval: float = 15.0,
    backlog: int = 5,
    orders: int = 40,
    processes: int = 4,
    templates: Templates | None = None,
    seed: int = 13,
) -> Report:
    """Run the load on ``engine`` in ``folder`` (which it fills); the figures."""
    rng = random.Random(seed)
    report = Report(engine, 0, laptops, seconds, interval, processes)
    templates = templates or make_templates()
    with engine_db(engine, folder) as (db, workers, pg_port):
        report.workers = workers
        technicians, by_tech, codes = build_world(db, folder, laptops, orders, rng)
        server = ServerProcess(db, folder / "server.log", workers=workers)
        server.start(timeout=120)
        try:
            plans = _enrol(server.url, folder, technicians, by_tech, codes)
            report.bytes_before = database_bytes(db)
            plan = Plan(
                server.url,
                templates,
                interval,
                backlog,
                seconds,
                str(folder / "go"),
                str(folder / "ready"),
            )
            pg_pid = postmaster_pid(pg_port) if pg_port else None
            assert server.proc is not None
            chunks = [plans[i::processes] for i in range(processes) if plans[i::processes]]
            with ProcessPoolExecutor(len(chunks)) as pool:
                futures = [pool.submit(run_generator, plan, chunk) for chunk in chunks]
                while len(list(folder.glob("ready.*"))) < len(chunks):
                    if any(f.done() for f in futures):
                        futures[0].result()
                        [f.result() for f in futures]
                    time.sleep(0.05)
                server_cpu0 = tree_cpu(server.proc.pid)
                db_cpu0 = tree_cpu(pg_pid) if pg_pid else 0.0
                started = time.time() + 0.5
                took: list[float] = []
                (folder / "go.tmp").write_text(repr(started))
                (folder / "go.tmp").rename(folder / "go")
                dispatcher = threading.Thread(
                    target=_dispatch,
                    args=(db, folder, technicians, started, seconds, laptops * orders, rng, took),
                )
                dispatcher.start()
                loads: list[float] = []
                sampler = threading.Thread(target=_sample_load, args=(futures, loads), daemon=True)
                sampler.start()
                results = [f.result() for f in futures]
                dispatcher.join()
                report.office_imports_s = [round(t, 2) for t in took]
                sampler.join()
                report.loadavg = (
                    f"{min(loads):.1f}-{max(loads):.1f} (mean {statistics.mean(loads):.1f})"
                    if loads
                    else ""
                )
                report.wall = time.time() - started
                report.server_cpu = tree_cpu(server.proc.pid) - server_cpu0
                report.database_cpu = (tree_cpu(pg_pid) - db_cpu0) if pg_pid else 0.0
            report.bytes_after = database_bytes(db)
        finally:
            server.stop()
        rows, creates = server_visits(db)
    _summarise(report, results, rows, creates, started)
    return report


def _sample_load(futures: list[Any], loads: list[float]) -> None:
    """The 1-minute load average every 5 s while the generators run (the machine is shared:
    the figures mean little without it)."""
    while not all(f.done() for f in futures):
        loads.append(os.getloadavg()[0])
        time.sleep(5)


def _enrol(
    url: str,
    folder: Path,
    technicians: list[str],
    by_tech: dict[str, list[Order]],
    codes: list[str],
) -> list[LaptopPlan]:
    """Enrol every laptop with its code (as `fieldkit enroll` does); the plans the
    generators run. Each laptop's first sync, at the start, pulls its orders."""

    def one(n: int) -> LaptopPlan:
        name = f"laptop-{n + 1:03d}"
        home = folder / name
        home.mkdir()
        db = open_database(home / "fieldkit.db")
        vault = MemoryVault()
        tokens = LaptopTokens(db, vault)
        try:
            enroll_database(db, tokens, url, codes[n], device_name=name)
        finally:
            close_database(db)
        return LaptopPlan(name, str(home), technicians[n], vault.data, by_tech[technicians[n]], n)

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(len(technicians))))


def _dispatch(
    db: str,
    folder: Path,
    technicians: list[str],
    started: float,
    seconds: float,
    first: int,
    rng: random.Random,
    took: list[float],
) -> None:
    """The office: one new order for a tenth of the technicians every 30 s of the run (the
    seconds each import took go to ``took``)."""
    next_at, number = started + DISPATCH_EVERY, first + 1
    while next_at < started + seconds:
        time.sleep(max(0.0, next_at - time.time()))
        chosen = rng.sample(technicians, max(1, len(technicians) // 10))
        accounts, orders, _ = _orders_csv(folder, number, len(chosen), chosen, rng)
        began = time.perf_counter()
        _import(db, accounts, orders)
        took.append(time.perf_counter() - began)
        number += len(chosen)
        next_at += DISPATCH_EVERY


def _summarise(
    report: Report,
    results: list[Figures],
    rows: Counter[str],
    creates: Counter[str],
    started: float,
) -> None:
    requests = [r for f in results for r in f.requests]
    morning = started + MORNING

    def answered(kind: str, since: float = 0.0, until: float = float("inf")) -> list[float]:
        return [s for k, s, o, at in requests if k == kind and o == "200" and since <= at < until]

    statuses = Counter(f"{kind} {outcome}" for kind, _, outcome, _ in requests)
    report.push_ms = _percentiles(answered("push"))
    report.pull_ms = _percentiles(answered("pull"))
    report.morning_push_ms = _percentiles(answered("push", until=morning))
    report.steady_push_ms = _percentiles(answered("push", since=morning))
    report.steady_pull_ms = _percentiles(answered("pull", since=morning))
    saved = {v for f in results for ids in f.saved.values() for v in ids}
    report.syncs = sum(f.syncs for f in results)
    report.pushes = sum(1 for kind, _, _, _ in requests if kind == "push")
    report.pulls = sum(1 for kind, _, _, _ in requests if kind == "pull")
    report.visits_saved = len(saved)
    report.visits_on_server = len(rows)
    report.acknowledged = sum(f.acknowledged for f in results)
    report.duplicates_answered = sum(f.duplicates for f in results)
    report.work_orders_pulled = sum(f.work_orders_pulled for f in results)
    report.statuses = dict(sorted(statuses.items()))
    report.sync_errors = dict(sum((f.sync_errors for f in results), Counter()))
    report.lost = len(saved - set(rows))
    report.unknown = len(set(rows) - saved)
    report.duplicated = sum(n - 1 for n in rows.values()) + sum(n - 1 for n in creates.values())
    report.pending = sum(n for f in results for n in f.pending.values())
    report.server_errors = sum(
        1 for _, _, outcome, _ in requests if outcome.isdigit() and int(outcome) >= 500
    )
    growth = report.bytes_after - report.bytes_before
    report.bytes_per_10k_visits = round(growth / max(1, report.visits_on_server) * 10_000)
    report.generator_cpu = round(sum(f.cpu for f in results), 1)
    report.server_cpu = round(report.server_cpu, 1)
    report.database_cpu = round(report.database_cpu, 1)
    lags = sorted(lag for f in results for lag in f.lags)
    if lags:
        report.lag_p95_s = round(percentile(lags, 0.95), 2)
        report.lag_max_s = round(lags[-1], 2)


def describe(report: Report) -> str:
    """The figures as a few lines."""
    mb = report.bytes_per_10k_visits / 1e6
    return "\n".join(
        [
            f"{report.engine} ({report.workers} worker{'s' if report.workers > 1 else ''}): "
            f"{report.laptops} laptops for {report.seconds:.0f} s (wall {report.wall:.0f} s), "
            f"a sync every {report.interval:g} s x U(0.5, 1.5), "
            f"{report.processes} generator processes",
            f"  syncs {report.syncs}, pushes {report.pushes}, pulls {report.pulls}; visits saved "
            f"{report.visits_saved}, on the server {report.visits_on_server}; "
            f"{report.work_orders_pulled} work orders pulled",
            f"  push latency ms {report.push_ms}   pull latency ms {report.pull_ms}",
            f"  first {MORNING:g} s (all at once) push ms {report.morning_push_ms}; after it: "
            f"push ms {report.steady_push_ms}, pull ms {report.steady_pull_ms}",
            f"  requests by outcome {report.statuses}",
            f"  the office's imports of new orders took {report.office_imports_s} s",
            f"  sync errors {report.sync_errors or 'none'}; 5xx {report.server_errors}",
            f"  lost {report.lost}, duplicated {report.duplicated}, unknown {report.unknown}, "
            f"pending {report.pending}; "
            f"{report.duplicates_answered} re-sent ops answered duplicate",
            f"  database {report.bytes_before / 1e6:.1f} -> {report.bytes_after / 1e6:.1f} MB: "
            f"{mb:.1f} MB per 10,000 visits",
            f"  CPU s: load generator {report.generator_cpu}, server {report.server_cpu}, "
            f"PostgreSQL {report.database_cpu}; schedule lag p95 {report.lag_p95_s} s, "
            f"max {report.lag_max_s} s; load average during the run {report.loadavg}",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--laptops", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between syncs")
    parser.add_argument("--backlog", type=int, default=5, help="visits saved before the first sync")
    parser.add_argument("--orders", type=int, default=40, help="work orders per technician")
    parser.add_argument("--processes", type=int, default=4, help="load-generator processes")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    load = Path("/proc/loadavg").read_text().split(" ")[0]
    print(f"machine: {os.cpu_count()} CPUs, load average {load} at the start")
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    reports = []
    templates = make_templates()
    for engine in engines:
        with tempfile.TemporaryDirectory(prefix="fk-load-") as folder:
            report = run_load(
                engine,
                Path(folder),
                laptops=args.laptops,
                seconds=args.seconds,
                interval=args.interval,
                backlog=args.backlog,
                orders=args.orders,
                processes=args.processes,
                templates=templates,
            )
        print(describe(report), flush=True)
        reports.append(report)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in reports], indent=2) + "\n")
    if any(r.lost or r.duplicated or r.server_errors or r.pending for r in reports):
        raise SystemExit("the load lost, duplicated or left visits, or the server answered 5xx")


if __name__ == "__main__":
    main()
