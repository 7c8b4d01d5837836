"""Server fixtures: a database on each engine, an app on it, and a populated world.

PostgreSQL is a throwaway cluster started from the machine's server binaries
(``/usr/lib/postgresql/*/bin``: initdb + pg_ctl) on a temporary directory and a 127.0.0.1
port, once per test session (per xdist worker); every test gets its own database, copied
from a migrated template. Without the binaries the PostgreSQL tests are skipped — unless
``FIELDKIT_REQUIRE_POSTGRES=1`` (``.ci/run`` sets it), when they fail.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from syncserver.core.config import Settings
from syncserver.db.engine import Database
from syncserver.db.migrate import upgrade
from syncserver.main import create_app
from syncserver.services import imports, users
from syncserver.services.journal import Actor, unit_of_work

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PASSWORD = "correct horse battery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """A running throwaway cluster."""

    port: int
    user: str

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(sql)


def _pg_bin() -> Path | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


def start_postgres(
    *, fsync: bool = False, folder: Path | None = None
) -> tuple[PostgresServer, Callable[[], None]]:
    """Start a cluster; its server and a function that stops it and removes its files.

    With ``folder`` the cluster lives there and is kept: a cluster already in it is started
    again (a benchmark seeds once and measures after each change), and stopping leaves it.
    """
    bindir = _pg_bin()
    if bindir is None:
        raise FileNotFoundError("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
    kept = folder is not None
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="fieldkit-pg-"))
    folder.mkdir(parents=True, exist_ok=True)
    preexec: Callable[[], None] | None = None
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        account = pwd.getpwnam("postgres")
        os.chown(folder, account.pw_uid, account.pw_gid)

        def preexec() -> None:
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)

    data = folder / "data"
    port = _free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "preexec_fn": preexec}
    if not (data / "PG_VERSION").exists():
        subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "fieldkit",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            ],
            check=True,
            **quiet,
        )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=100"
    if not fsync:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(folder / "log"),
            "-w",
            "-t",
            "600" if kept else "60",
            "start",
        ],
        check=True,
        **quiet,
    )

    def stop() -> None:
        # A kept cluster is shut down cleanly, so it starts again without a recovery.
        mode = "fast" if kept else "immediate"
        subprocess.run(
            [str(bindir / "pg_ctl"), "-D", str(data), "-m", mode, "-w", "-t", "600", "stop"],
            check=False,
            **quiet,
        )
        if not kept:
            shutil.rmtree(folder, ignore_errors=True)

    return PostgresServer(port, "fieldkit"), stop


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the session, with a migrated template database."""
    try:
        server, stop = start_postgres()
    except (FileNotFoundError, subprocess.CalledProcessError, KeyError) as exc:
        if os.environ.get("FIELDKIT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here and did not start: {exc}")
        pytest.skip(f"no PostgreSQL to test on: {exc}")
    try:
        server.admin("CREATE DATABASE fk_template")
        template = Database(server.url("fk_template"))
        upgrade(template)
        template.dispose()
        yield server
    finally:
        stop()


_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database on each engine: a path or a URL."""
    if request.param == "sqlite":
        return str(tmp_path / "server.db")
    server: PostgresServer = request.getfixturevalue("postgres")
    name = f"t_{os.getpid()}_{next(_names)}"
    server.admin(f"CREATE DATABASE {name} TEMPLATE fk_template")
    return server.url(name)


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """The database of ``db_url``, migrated."""
    database = Database(db_url)
    upgrade(database)
    yield database
    database.dispose()


def add_user(database: Database, name: str, role: str) -> None:
    """Create a user (as the CLI would)."""
    with unit_of_work(database, Actor("cli", "test")) as work:
        users.create_user(work, name, role, PASSWORD)


def import_file(database: Database, path: Path, kind: str) -> imports.ImportCounts:
    """Import a CSV file (``accounts`` or ``work_orders``)."""
    function = imports.import_accounts if kind == "accounts" else imports.import_work_orders
    with unit_of_work(database, Actor("cli", "test")) as work:
        return function(work, path)


def staff_token(database: Database, name: str) -> str:
    """A personal token of an office or admin user."""
    with unit_of_work(database, Actor("cli", "test")) as work:
        return users.create_token(work, name)


def enroll_code(database: Database, technician: str, minutes: int = 15) -> str:
    """A one-time code for a technician's device."""
    with unit_of_work(database, Actor("cli", "test")) as work:
        return users.create_enroll_code(work, technician, minutes)


@dataclass
class World:
    """An app on the example CIS data: demo-tech and bob (technicians), olga (office),
    ada (admin), one enrolled device each for demo-tech and bob."""

    client: TestClient
    database: Database
    office: dict[str, str]
    admin: dict[str, str]
    tech: dict[str, str]
    tech_device: str
    bob: dict[str, str]
    bob_device: str

    def enroll(self, technician: str, name: str = "laptop") -> tuple[str, dict[str, str]]:
        code = enroll_code(self.database, technician)
        answer = self.client.post(
            "/api/v1/devices/enroll",
            json={
                "schema_version": 1,
                "document": "enroll_request",
                "code": code,
                "device_name": name,
            },
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return body["device_id"], {"Authorization": f"Bearer {body['token']}"}

    def push(self, headers: dict[str, str], device: str, ops: list[dict[str, Any]]) -> Any:
        return self.client.post(
            "/api/v1/sync/push",
            json={"schema_version": 1, "document": "sync_push", "device_id": device, "ops": ops},
            headers=headers,
        )

    def pull(self, headers: dict[str, str], cursor: int = 0) -> dict[str, Any]:
        answer = self.client.get("/api/v1/sync/pull", params={"cursor": cursor}, headers=headers)
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        return data

    def count(self, table: str) -> int:
        from sqlalchemy import text

        with self.database.read() as session:
            return int(session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608


@dataclass(frozen=True)
class Seed:
    """A populated database to copy, and the secrets made while populating it."""

    source: str
    office: str
    admin: str
    devices: dict[str, tuple[str, str]]


def _populate(db: str) -> Seed:
    app = create_app(Settings(db=db, push_helpers=0))
    with TestClient(app) as client:
        database: Database = app.state.database
        for name, role in (
            ("demo-tech", "technician"),
            ("bob", "technician"),
            ("olga", "office"),
            ("ada", "admin"),
        ):
            add_user(database, name, role)
        import_file(database, EXAMPLES / "cis-accounts.csv", "accounts")
        import_file(database, EXAMPLES / "cis-work-orders.csv", "work_orders")
        office, admin = staff_token(database, "olga"), staff_token(database, "ada")
        devices = {}
        for technician in ("demo-tech", "bob"):
            code = enroll_code(database, technician)
            body = client.post(
                "/api/v1/devices/enroll",
                json={
                    "schema_version": 1,
                    "document": "enroll_request",
                    "code": code,
                    "device_name": "laptop",
                },
            ).json()
            devices[technician] = (body["device_id"], body["token"])
    return Seed(db, office, admin, devices)


@pytest.fixture(scope="session")
def sqlite_seed(tmp_path_factory: pytest.TempPathFactory) -> Seed:
    """The example world on SQLite, built once per session."""
    return _populate(str(tmp_path_factory.mktemp("seed") / "seed.db"))


@pytest.fixture(scope="session")
def postgres_seed(postgres: PostgresServer) -> Seed:
    """The example world on PostgreSQL, built once per session (a template database)."""
    postgres.admin("CREATE DATABASE fk_world TEMPLATE fk_template")
    seed = _populate(postgres.url("fk_world"))
    return Seed("fk_world", seed.office, seed.admin, seed.devices)


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """The app on a copy of the example world, in-process (lifespan run), preparing pushes
    in its own threads (``test_push_helpers`` runs the same with helper processes)."""
    yield from open_world(request, tmp_path, request.param, push_helpers=0)


def open_world(
    request: pytest.FixtureRequest, folder: Path, engine: str, *, push_helpers: int
) -> Iterator[World]:
    """A :class:`World` on ``engine`` (a fixture's body: ``yield from`` it)."""
    if engine == "sqlite":
        seed: Seed = request.getfixturevalue("sqlite_seed")
        db = str(folder / "server.db")
        shutil.copyfile(seed.source, db)
    else:
        seed = request.getfixturevalue("postgres_seed")
        server: PostgresServer = request.getfixturevalue("postgres")
        name = f"w_{os.getpid()}_{next(_names)}"
        server.admin(f"CREATE DATABASE {name} TEMPLATE {seed.source}")
        db = server.url(name)
    app = create_app(Settings(db=db, push_helpers=push_helpers))
    with TestClient(app) as client:
        tech_device, tech_token = seed.devices["demo-tech"]
        bob_device, bob_token = seed.devices["bob"]
        yield World(
            client,
            app.state.database,
            {"Authorization": f"Bearer {seed.office}"},
            {"Authorization": f"Bearer {seed.admin}"},
            {"Authorization": f"Bearer {tech_token}"},
            tech_device,
            {"Authorization": f"Bearer {bob_token}"},
            bob_device,
        )


def visit(visit_id: str, work_order: str | None = "WO-2026-10404", **extra: Any) -> dict[str, Any]:
    """A visit document (``VisitDocument``) as the laptop pushes it: revision 1, final."""
    document: dict[str, Any] = {
        "schema_version": 1,
        "document": "visit",
        "visit_id": visit_id,
        "op_id": f"op-of-{visit_id}",
        "revision": 1,
        "status": "final",
        "outcome": "resolved",
        "technician": "demo-tech",
        "started_at": "2026-12-03T09:00:00Z",
        "ended_at": "2026-12-03T09:20:00Z",
        "saved_at": "2026-12-03T09:20:00Z",
        "meter_number": "M2S-0012345",
        "verdict": "pass",
        "notes": [{"at": "2026-12-03T09:10:00Z", "technician": "demo-tech", "text": "ok"}],
        **extra,
    }
    if work_order is not None:
        document["work_order"] = work_order
    return document


def op(op_id: str, document: dict[str, Any], kind: str = "visit") -> dict[str, Any]:
    """One op of a push."""
    return {"op_id": op_id, "kind": kind, "document": document}
