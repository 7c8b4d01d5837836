"""How fast the office pages answer on a year of a big utility's visits.

Seeds ``--visits`` visits (default 1,000,000) over ``--meters`` meters (default a tenth of
the visits, one account and premise each), ``--technicians`` technicians (200) with one
enrolled device each, over the year before today; about 12 % of the visits have a failed or
warned check. One meter gets exactly 200 visits (the meter-history page measured).

The visits are real field visits: each template is a simulated meter of a shipped scenario
read by the real driver and judged by the real checks (``tests.helpers.field_visit``), with
its ids, times, meter and technician replaced per visit. They are seeded straight into the
tables the push API fills, with exactly what ``syncserver.services.sync`` writes for a new
visit (the ``visits`` row with the fields ingest reads out of the document, one
``visit_checks`` row per check id with its worst status, the ``applied_ops`` row, and the
hash-chained ``visit.create`` audit row, and the ``visit_repeats`` rows, filled at the end
by ingest's own statement over every visit; the first seeded visit is read back through
ingest's own parser and must give the same fields), in bulk (COPY on PostgreSQL, executemany on
SQLite) so that seeding takes minutes rather than the hours a million pushes would. Each
visit answers its own work order (``work_orders`` + ``work_order_assignments``, as the CIS
import leaves them, status ``completed``). Review statuses stay ``new``, as ingest leaves
them. On PostgreSQL the tables are VACUUMed and ANALYZEd after seeding (autovacuum would do the
same: the vacuum sets the visibility map that index-only scans need);
SQLite is left as the server leaves it.

Then ``syncserver serve`` (one worker) runs on the database on 127.0.0.1, an office user
logs in through the form, and each page is fetched ``--samples`` times over HTTP after a
warm-up: the exceptions page (first page; a deep keyset page, 10k–100k rows down; a check
filter), a visit page, the meter history of 200 visits and the account page of its
customer, the search box (an account number; a surname's first letters) and the weekly
report. Prints p50/p95/max in ms. Target: p95 ≤ 50 ms on the 2-core machine.

Run: ``.venv/bin/python benchmarks/review_latency.py [--engine sqlite|postgresql|both]
[--visits 1000000] [--samples 50] [--keep DIR]``; with ``--keep`` the SQLite file and the
PostgreSQL cluster stay in DIR, and a second run migrates them to the latest schema (timed)
and measures them again without seeding.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pydantic_core

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Table, insert, text, update  # noqa: E402

from fieldkit.sync.schema import VisitDocument  # noqa: E402
from syncserver.core.security import hash_password, hash_secret  # noqa: E402
from syncserver.db.engine import Database  # noqa: E402
from syncserver.db.migrate import upgrade  # noqa: E402
from syncserver.db.models import (  # noqa: E402
    Account,
    AppliedOp,
    AuditHead,
    AuditLog,
    Device,
    Meter,
    Premise,
    SearchTerm,
    User,
    Visit,
    VisitCheck,
    WorkOrder,
    WorkOrderAssignment,
)
from syncserver.services import repeats  # noqa: E402
from syncserver.services.journal import Actor, canonical, unit_of_work  # noqa: E402
from syncserver.services.prepare import readings_of  # noqa: E402
from syncserver.services.search import terms_of  # noqa: E402
from syncserver.services.users import create_user  # noqa: E402
from tests.helpers import field_visit  # noqa: E402
from tests.syncserver_process import ServerProcess  # noqa: E402

OFFICE, OFFICE_PASSWORD = "olga", "benchmark office password"
ADMIN, ADMIN_PASSWORD = "ada", "benchmark admin password"
CHUNK = 20_000
RANK = {"skip": 0, "pass": 1, "warn": 2, "fail": 3}

# (scenario, the meter number in its work order, the form): faulty ones by meter form.
HEALTHY = {"2S": ("healthy-2s", "M2S-0012345"), "16S": ("healthy-16s", "M16-0054321")}
FAULTY = {
    "2S": [
        ("clock-drift-2s", "M2S-0034567", "investigate"),
        ("tamper-2s", "M2S-0078901", "tamper"),
        ("low-voltage-2s", "M2S-0045678", "investigate"),
        ("hot-socket-2s", "M2S-0056789", "investigate"),
    ],
    "16S": [
        ("reversed-ct-16s", "M16-0065432", "investigate"),
        ("missing-phase-16s", "M16-0076543", "investigate"),
        ("crossed-phase-16s", "M16-0087654", "investigate"),
        ("low-voltage-16s", "M16-0043210", "investigate"),
    ],
}
ROUTINE_KINDS = ["read", "read", "read", "exchange", "high_bill", "no_comms", "investigate"]
EXCEPTION_SHARE = 0.12
HOT_METER = "M2S-0000001"
SEEDED_PG = "pg/seeded"  # written in the --keep folder once the cluster's seed is complete


@dataclass(frozen=True)
class Template:
    """One real visit document as JSON with placeholders, and what ingest reads from it."""

    body: str
    checks: dict[str, str]
    verdict: str | None
    outcome: str
    readings: dict[str, float | None]

    @property
    def failed(self) -> int:
        """How many of its checks failed (``visits.checks_failed``)."""
        return sum(1 for status in self.checks.values() if status == "fail")


def make_template(scenario: str, meter_number: str) -> Template:
    """A real field visit of ``scenario`` with its per-visit fields as placeholders."""
    document = field_visit(scenario, "WO-TEMPLATE", "resolved")
    serial = (document.get("meter_serial") or "").strip()
    readings = readings_of(VisitDocument.model_validate(document))
    document.update(
        visit_id="@V@", op_id="@O@", started_at="@S@", ended_at="@E@", saved_at="@E@",
        work_order="@W@",
    )  # fmt: skip
    body = pydantic_core.to_json(document).decode()
    body = body.replace(meter_number, "@M@").replace("demo-tech", "@T@")
    if serial:
        body = body.replace(serial, "@N@")
    checks: dict[str, str] = {}
    for check in document["checks"]:
        if RANK[check["status"]] >= RANK[checks.get(check["id"], "skip")]:
            checks[check["id"]] = check["status"]
    return Template(body, checks, document["verdict"], document["outcome"], readings)


_FIELD = re.compile(r"@[VOSEWMTN]@")


def fill(template: Template, values: dict[str, str]) -> str:
    """The template with every placeholder replaced."""
    return _FIELD.sub(lambda m: values[m.group(0)], template.body)


class Writer:
    """Bulk rows into a table: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def rows(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        with self.database.write() as session:
            if self.database.is_sqlite:
                session.execute(insert(table), rows)
                return
            columns = list(rows[0])
            raw = session.connection().connection.driver_connection
            assert raw is not None
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row([row[c] for c in columns])


FIRST = ["Ana", "Ben", "Carla", "Dev", "Erin", "Farid", "Grace", "Hugo", "Ines", "Jon"]
LAST = ["Smith", "Okafor", "Nguyen", "García", "Kowalski", "O'Brien", "Patel", "Rossi",
        "Schmidt", "Tanaka", "Walker", "Yilmaz", "Dubois"]  # fmt: skip


def customer(i: int) -> str:
    """Account ``i``'s customer name (surnames repeat, as they do in a real CIS)."""
    return f"{FIRST[i % len(FIRST)]} {LAST[(i // 10) % len(LAST)]} {i}"


def address(i: int) -> str:
    """Premise ``i``'s service address."""
    return f"{i % 400 + 1} Street {i // 400}, Springfield"


def seed(database: Database, visits: int, meters: int, technicians: int, rng: random.Random) -> str:
    """Fill the database; the meter number with exactly 200 visits."""
    write = Writer(database)
    started = time.perf_counter()
    with unit_of_work(database, Actor("cli", "bench")) as work:
        create_user(work, OFFICE, "office", OFFICE_PASSWORD)
    shared_hash = hash_password("technicians sign in on their laptops")
    now = datetime.now(UTC).replace(microsecond=0)
    tech_ids = list(range(1001, 1001 + technicians))
    write.rows(
        User.__table__,
        [
            {"id": t, "name": f"tech-{t - 1000:03d}", "role": "technician",
             "password_hash": shared_hash, "active": True, "created_at": now}
            for t in tech_ids
        ],
    )  # fmt: skip
    write.rows(
        Device.__table__,
        [
            {"id": t, "device_id": str(uuid.UUID(int=t)), "name": f"van {t - 1000}",
             "technician_id": t, "token_hash": hash_secret(f"device token {t}"),
             "enrolled_at": now}
            for t in tech_ids
        ],
    )  # fmt: skip
    forms = ["16S" if rng.random() < 0.2 else "2S" for _ in range(meters)]
    hot = 1  # the meter whose history page is measured gets exactly 200 visits
    forms[hot - 1] = "2S"
    for start in range(0, meters, CHUNK):
        ids = range(start + 1, min(meters, start + CHUNK) + 1)
        write.rows(
            Account.__table__,
            [
                {"id": i, "account_number": f"{i:09d}", "customer_name": customer(i),
                 "phone": f"+1-555-{i % 10000:04d}", "net_metering": i % 17 == 0}
                for i in ids
            ],
        )  # fmt: skip
        write.rows(
            Premise.__table__,
            [
                {"id": i, "premise_id": f"PRM-{i:07d}", "account_id": i,
                 "service_address": address(i)}
                for i in ids
            ],
        )  # fmt: skip
        terms = {
            (t, i, source)
            for i in ids
            for source, text_ in (("name", customer(i)), ("address", address(i)))
            for t in terms_of(text_)
        }
        write.rows(
            SearchTerm.__table__,
            [{"term": t, "account_id": a, "source": s} for t, a, s in sorted(terms)],
        )
        write.rows(
            Meter.__table__,
            [
                {"id": i, "meter_number": f"M{forms[i - 1]}-{i:07d}", "premise_pk": i,
                 "meter_serial": f"SN{forms[i - 1]}{i:012d}", "form": forms[i - 1],
                 "meter_class": "CL200",
                 "service_type": "1ph-3w" if forms[i - 1] == "2S" else "3ph-4w-wye",
                 "nominal_voltage": 240.0 if forms[i - 1] == "2S" else 120.0,
                 "rotation": None if forms[i - 1] == "2S" else "ABC",
                 "last_read_kwh": 10000.0 + i % 5000, "last_read_at": now - timedelta(days=30)}
                for i in ids
            ],
        )  # fmt: skip
    print(f"  {meters} accounts, premises and meters: {time.perf_counter() - started:.0f} s")

    templates = {
        form: (make_template(*HEALTHY[form]), [(make_template(s, m), k) for s, m, k in faulty])
        for form, faulty in FAULTY.items()
    }
    year = 365 * 24 * 3600
    first = now - timedelta(days=365)
    # Visit times, oldest first (ids grow with time, as they do when visits arrive).
    moments = sorted(rng.randrange(year) for _ in range(visits))
    hot_slots = set(rng.sample(range(visits), min(200, visits)))
    audit_seq, audit_prev = _audit_head(database)
    for start in range(0, visits, CHUNK):
        visit_rows, check_rows, op_rows, audit_rows, orders, assigned = [], [], [], [], [], []
        for n in range(start, min(visits, start + CHUNK)):
            pk = n + 1
            meter = hot if n in hot_slots else rng.randrange(2, meters + 1)
            form = forms[meter - 1]
            healthy, faulty = templates[form]
            if rng.random() < EXCEPTION_SHARE:
                template, kind = rng.choice(faulty)
            else:
                template, kind = healthy, rng.choice(ROUTINE_KINDS)
            moment = first + timedelta(seconds=moments[n])
            # Visits happen in working hours: fold the moment into 07:00-17:00.
            moment = moment.replace(hour=7 + moment.hour % 10)
            ended = moment + timedelta(minutes=rng.randrange(8, 60))
            technician = rng.choice(tech_ids)
            visit_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            op_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            work_order = f"WO-{pk:08d}"
            meter_number = f"M{form}-{meter:07d}"
            body = fill(
                template,
                {"@V@": visit_id, "@O@": op_id, "@S@": moment.isoformat(),
                 "@E@": ended.isoformat(), "@W@": work_order, "@M@": meter_number,
                 "@T@": f"tech-{technician - 1000:03d}", "@N@": f"SN{form}{meter:012d}"},
            )  # fmt: skip
            digest = hashlib.sha256(b"visit\n" + body.encode()).hexdigest()
            received = ended + timedelta(hours=rng.randrange(1, 30))
            orders.append(
                {"id": pk, "work_order_id": work_order, "account_id": meter, "meter_id": meter,
                 "kind": kind, "priority": "normal", "technician_id": technician,
                 "status": "completed", "scheduled_for": moment.date().isoformat(),
                 "contact_customer": False, "notes": None, "updated_at": received}
            )  # fmt: skip
            assigned.append(
                {"id": pk, "work_order_pk": pk, "technician_id": technician,
                 "assigned_at": moment - timedelta(days=2)}
            )  # fmt: skip
            visit_rows.append(
                {"id": pk, "visit_id": visit_id, "device_pk": technician,
                 "technician_id": technician, "work_order_pk": pk,
                 "claimed_work_order": work_order, "account_id": meter, "meter_id": meter,
                 "meter_number": meter_number, "started_at": moment, "received_at": received,
                 "flags": "", "review_status": "new", "reviewed_by": None,
                 "body_sha256": digest, "body": body, "revision": 1, "status": "final",
                 "visited_at": moment, "ended_at": ended, "verdict": template.verdict,
                 "outcome": template.outcome,
                 "exception": template.verdict in ("warn", "fail"),
                 "checks_failed": template.failed, **template.readings}
            )  # fmt: skip
            check_rows.extend(
                {"visit_pk": pk, "check_id": c, "status": s, "visited_at": moment}
                for c, s in template.checks.items()
            )
            op_rows.append(
                {"device_pk": technician, "op_id": op_id, "kind": "visit", "body_sha256": digest,
                 "status": "applied", "code": None, "reason": None, "flags": "",
                 "applied_at": received}
            )  # fmt: skip
            audit_seq += 1
            hashed = {
                "seq": audit_seq, "at": received.isoformat(), "actor_type": "device",
                "actor_id": str(uuid.UUID(int=technician)), "action": "visit.create",
                "entity": "visit", "entity_id": visit_id,
                "detail": canonical({"sha256": digest, "revision": 1, "flags": []}),
            }  # fmt: skip
            row_hash = hashlib.sha256((audit_prev + canonical(hashed)).encode()).hexdigest()
            audit_rows.append({**hashed, "at": received, "prev_hash": audit_prev,
                               "row_hash": row_hash})  # fmt: skip
            audit_prev = row_hash
        if start == 0:
            same_as_ingest(visit_rows[0], check_rows)
        write.rows(WorkOrder.__table__, orders)
        write.rows(WorkOrderAssignment.__table__, assigned)
        write.rows(Visit.__table__, visit_rows)
        write.rows(VisitCheck.__table__, check_rows)
        write.rows(AppliedOp.__table__, op_rows)
        write.rows(AuditLog.__table__, audit_rows)
        done = min(visits, start + CHUNK)
        if done % 100_000 == 0 or done == visits:
            print(f"  {done} visits: {time.perf_counter() - started:.0f} s", flush=True)
    began = time.perf_counter()
    with database.write() as session:
        # Ingest's own statement, over every visit at once: what the pushes would have kept.
        repeats.fill(session)
    print(f"  visit_repeats filled in {time.perf_counter() - began:.1f} s")
    with database.write() as session:
        session.execute(update(AuditHead).values(last_seq=audit_seq, last_hash=audit_prev))
        if not database.is_sqlite:
            for table in ("users", "devices", "accounts", "premises", "meters", "work_orders",
                          "work_order_assignments", "visits"):  # fmt: skip
                session.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    if not database.is_sqlite:
        with database.write_engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        ) as connection:
            connection.execute(text("VACUUM ANALYZE"))
    print(f"  seeded in {time.perf_counter() - started:.0f} s")
    assert f"M2S-{hot:07d}" == HOT_METER
    return HOT_METER


def same_as_ingest(row: dict[str, Any], check_rows: list[dict[str, Any]]) -> None:
    """Stop unless ingest's own reading of the seeded body gives the seeded row's fields."""
    import pydantic_core as core

    from syncserver.services.prepare import VisitFields, visit_fields

    fields = visit_fields(core.from_json(row["body"]))
    if not isinstance(fields, VisitFields):
        raise SystemExit(f"ingest would reject the seeded visit: {fields}")
    checks = {c["check_id"]: c["status"] for c in check_rows if c["visit_pk"] == row["id"]}
    names = ("visit_id", "claimed_work_order", "meter_number", "started_at", "ended_at")
    readings = {k: row[k] for k in fields.readings}
    seeded = (*(row[n] for n in names), row["verdict"], row["outcome"], checks, readings)
    ingested = (
        fields.visit_id, fields.work_order_id, fields.meter_number, fields.started_at,
        fields.ended_at, fields.verdict, fields.outcome, fields.checks, fields.readings,
    )  # fmt: skip
    if any(c["visited_at"] != row["visited_at"] for c in check_rows if c["visit_pk"] == row["id"]):
        raise SystemExit("the seeded visit_checks rows do not carry their visit's time")
    if seeded != ingested:
        raise SystemExit(f"the seeded row differs from ingest's: {seeded} != {ingested}")


def _audit_head(database: Database) -> tuple[int, str]:
    """Where the audit chain stands (the office user's creation is on it already)."""
    with database.read() as session:
        seq, last = session.execute(text("SELECT last_seq, last_hash FROM audit_head")).one()
        return int(seq), str(last)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank ``share`` quantile of ``values``: the ceil(share * n)-th smallest,
    so p95 of 30 samples is the 29th (rounding gave the 28th and read one rank low), and
    p95 of 20 is the 19th, not the maximum."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def measure(client: httpx.Client, urls: Callable[[int], str], samples: int) -> list[float] | str:
    """Milliseconds of ``samples`` GETs after 5 warm-ups; a reason when the page is missing."""
    for i in range(5):
        answer = client.get(urls(i))
        if answer.status_code != 200:
            return f"HTTP {answer.status_code} for {urls(i)}"
    times = []
    for i in range(samples):
        url = urls(i)
        began = time.perf_counter()
        answer = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        if answer.status_code != 200:
            return f"HTTP {answer.status_code} for {url}"
    return times


def log_in(client: Any, name: str = OFFICE, password: str = OFFICE_PASSWORD) -> None:
    """Sign a user in through the form, as a browser does."""
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None, form.text
    answer = client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": token.group(1),
              "next": "/exceptions"},
    )  # fmt: skip
    if answer.status_code not in (200, 303):
        raise SystemExit(f"could not log in: HTTP {answer.status_code}")


def ensure_admin(database: Database) -> None:
    """The admin user the Admin pages are measured as (added to a kept database too)."""
    with database.read() as session:
        found = session.execute(
            text("SELECT count(*) FROM users WHERE name = :n"), {"n": ADMIN}
        ).scalar_one()
    if not found:
        with unit_of_work(database, Actor("cli", "bench")) as work:
            create_user(work, ADMIN, "admin", ADMIN_PASSWORD)


def admin_pages() -> dict[str, Callable[[int], str]]:
    """The Admin pages measured as the admin user (the first audit view, a warm-up, checks
    the chain from where the last checkpoint left it: the whole chain on a new database)."""
    return {
        "admin: users and devices": lambda i: "/admin",
        "admin: audit log (from checkpoint)": lambda i: "/admin/audit",
        "work orders, status=open": lambda i: "/work-orders?status=open",
    }


def first_audit_view(client: httpx.Client) -> None:
    """Time the first audit view: from the last checkpoint (none: the whole chain)."""
    began = time.perf_counter()
    answer = client.get("/admin/audit")
    shown = re.search(r'role="(?:status|alert)">([^<]+)<', answer.text)
    print(f"  first audit view: HTTP {answer.status_code} in {time.perf_counter() - began:.1f} s"
          f" ({shown.group(1) if shown else '?'})")  # fmt: skip


def pages(
    database: Database, hot_meter: str, rng: random.Random
) -> dict[str, Callable[[int], str]]:
    """What to fetch for each measured page (a function of the sample number)."""
    from syncserver.services.review import Keyset

    with database.read() as session:
        exceptions = session.execute(
            text("SELECT count(*) FROM visits WHERE exception")
        ).scalar_one()
        depths = [rng.randrange(min(10_000, exceptions // 2), max(exceptions - 50, 1))
                  for _ in range(20)]  # fmt: skip
        cursors = []
        for depth in depths:
            at, pk = session.execute(
                text(
                    "SELECT visited_at, id FROM visits WHERE exception "
                    "ORDER BY visited_at DESC, id DESC LIMIT 1 OFFSET :d"
                ),
                {"d": depth},
            ).one()
            if isinstance(at, str):
                at = datetime.fromisoformat(at)
            cursors.append(Keyset(at.replace(tzinfo=at.tzinfo or UTC), pk).encode())
        visit_ids = list(
            session.execute(
                text("SELECT visit_id FROM visits WHERE exception AND id % 97 = 0 LIMIT 200")
            ).scalars()
        )
    with database.read() as session:
        accounts = session.execute(text("SELECT count(*) FROM accounts")).scalar_one()
    rng_ids = [rng.randrange(1, accounts + 1) for _ in range(20)]
    print(f"  {exceptions} exceptions; deep pages {min(depths)}–{max(depths)} rows down")
    monday = datetime.now(UTC).date() - timedelta(days=datetime.now(UTC).weekday() + 7)
    return {
        "exceptions, first page": lambda i: "/exceptions",
        "exceptions, deep keyset page": lambda i: f"/exceptions?after={cursors[i % 20]}",
        "exceptions, check=polarity": lambda i: "/exceptions?check=polarity",
        "visit page": lambda i: f"/visits/{visit_ids[i % len(visit_ids)]}",
        "meter history (200 visits)": lambda i: f"/meters/{hot_meter}",
        "account page (200 visits)": lambda i: "/accounts/000000001",
        "search, account number": lambda i: f"/search?q={rng_ids[i % len(rng_ids)]:09d}",
        "search, surname prefix": lambda i: f"/search?q={LAST[i % len(LAST)][:5]}",
        "weekly report": lambda i: f"/reports?week={monday.isoformat()}",
    }


def profile(db: str, urls: dict[str, Callable[[int], str]]) -> None:
    """Each page once in-process, with the time of every SQL statement it ran and the
    query plan of the slowest: where a page's time goes. On SQLite a statement's time runs
    to its first row only (SQLite computes the rest as the rows are fetched)."""
    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from syncserver.core.config import Settings
    from syncserver.main import create_app

    app = create_app(Settings(db=db))
    with TestClient(app) as client:
        log_in(client)
        database: Database = app.state.database
        statements: list[tuple[float, str, Any]] = []
        began: dict[int, float] = {}

        def before(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
            began[id(cursor)] = time.perf_counter()

        def after(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
            statements.append(((time.perf_counter() - began.pop(id(cursor))) * 1000, sql, params))

        engine = database.read_engine
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        for name, url in urls.items():
            statements.clear()
            t0 = time.perf_counter()
            answer = client.get(url(0))
            total = (time.perf_counter() - t0) * 1000
            spent = sum(ms for ms, _, _ in statements)
            print(f"  {name}: HTTP {answer.status_code}, {total:.1f} ms, "
                  f"{len(statements)} statements {spent:.1f} ms")  # fmt: skip
            if not statements:
                continue
            ms, sql, params = max(statements, key=lambda s: s[0])
            print(f"    slowest {ms:.1f} ms: {' '.join(sql.split())[:300]}")
            if ms > 5:
                prefix = "EXPLAIN QUERY PLAN " if database.is_sqlite else "EXPLAIN "
                with engine.connect() as connection:
                    raw = connection.connection.driver_connection
                    assert raw is not None
                    cursor = raw.cursor()
                    cursor.execute(prefix + sql, params)
                    for row in cursor.fetchall():
                        print("      " + " | ".join(str(c) for c in row))


@dataclass
class Engine:
    """A database to seed and serve, and how to get rid of it."""

    name: str
    db: str
    stop: Callable[[], None]
    reused: bool = False


def engines(which: str, folder: Path, keep: bool) -> Iterator[Engine]:
    """The SQLite file and/or a PostgreSQL cluster (tests/server/conftest.py's): a
    throwaway one, or with ``keep`` one kept in ``folder``/pg and re-used once seeded."""
    if which in ("sqlite", "both"):
        path = folder / "review.db"
        yield Engine("sqlite", str(path), lambda: None, reused=path.exists())
    if which in ("postgresql", "both"):
        from tests.server.conftest import start_postgres

        server, stop = start_postgres(fsync=True, folder=folder / "pg" if keep else None)
        seeded = keep and (folder / SEEDED_PG).exists()
        if not seeded:  # a seed cut short is started again from nothing
            server.admin("DROP DATABASE IF EXISTS review")
            server.admin("CREATE DATABASE review")
        yield Engine("postgresql", server.url("review"), stop, reused=seeded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--visits", type=int, default=1_000_000)
    parser.add_argument("--meters", type=int, default=None, help="default: visits / 10")
    parser.add_argument("--technicians", type=int, default=200)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also fetch each page once in-process with per-statement times and query plans",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the SQLite file and the PostgreSQL cluster in this folder (measured again "
        "without seeding next time; the schema is migrated to the latest first)",
    )
    args = parser.parse_args()
    meters = args.meters or max(1000, args.visits // 10)
    with tempfile.TemporaryDirectory(prefix="fk-review-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for engine in engines(args.engine, folder, keep=args.keep is not None):
            rng = random.Random(args.seed)
            print(f"{engine.name}: {args.visits} visits, {meters} meters, "
                  f"{args.technicians} technicians")  # fmt: skip
            try:
                database = Database(engine.db)
                began = time.perf_counter()
                upgrade(database)
                print(f"  migrated to the latest schema in {time.perf_counter() - began:.1f} s")
                if engine.reused:
                    hot = HOT_METER
                    print("  reusing the seeded database")
                else:
                    hot = seed(database, args.visits, meters, args.technicians, rng)
                    if engine.name == "postgresql" and args.keep is not None:
                        (folder / SEEDED_PG).write_text(f"{args.visits} visits\n")
                urls = pages(database, hot, rng)
                ensure_admin(database)
                database.dispose()
                if args.profile:
                    profile(engine.db, urls)
                server = ServerProcess(engine.db, folder / f"{engine.name}-server.log")
                server.start(timeout=120)
                try:
                    with (
                        httpx.Client(base_url=server.url, timeout=60) as client,
                        httpx.Client(base_url=server.url, timeout=600) as staff,
                    ):
                        log_in(client)
                        log_in(staff, ADMIN, ADMIN_PASSWORD)
                        first_audit_view(staff)
                        measured = [(client, name, url) for name, url in urls.items()]
                        measured += [(staff, name, url) for name, url in admin_pages().items()]
                        for who, name, url in measured:
                            found = measure(who, url, args.samples)
                            if isinstance(found, str):
                                print(f"  {name:36s} not measured: {found}")
                                continue
                            print(
                                f"  {name:36s} p50 {statistics.median(found):6.1f} ms  "
                                f"p95 {percentile(found, 0.95):6.1f} ms  "
                                f"max {max(found):6.1f} ms  (n={len(found)})",
                                flush=True,
                            )
                finally:
                    server.stop()
            finally:
                engine.stop()


if __name__ == "__main__":
    main()
