"""The ``syncserver`` command: serve, migrate, import CIS files, users, tokens, devices.

Every command takes ``--db PATH|URL`` (or ``SYNCSERVER_DB``). Secrets (tokens, enrolment
codes) are printed alone on standard output, what they are for on standard error, so a
script can capture them with ``$(...)``. A command that cannot do its job prints one line on
standard error and exits 1.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from syncserver.core.config import Settings, database_url
from syncserver.core.errors import ServerError
from syncserver.db.engine import Database
from syncserver.db.migrate import upgrade

app = typer.Typer(
    name="syncserver",
    help="The ami-fieldkit office server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="SYNCSERVER_DB",
        help="SQLite file or postgresql+psycopg:// URL",
        show_default=True,
    ),
]
DEFAULT_DB = Settings.model_fields["db"].default

T = TypeVar("T")


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")


def _fail(message: str) -> typer.Exit:
    _say(f"syncserver: {message}")
    return typer.Exit(1)


def _run(db: str, action: Callable[[Database], T]) -> T:
    """Open and migrate the database, run ``action``; a refusal is one line and exit 1."""
    try:
        database = Database(db)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    try:
        upgrade(database)
        return action(database)
    except ServerError as exc:
        raise _fail(str(exc)) from None
    except Exception as exc:  # the database itself: unreachable, locked, ...
        from sqlalchemy.exc import SQLAlchemyError

        if isinstance(exc, SQLAlchemyError):
            first = (str(getattr(exc, "orig", None) or exc).splitlines() or ["?"])[0]
            raise _fail(f"database error: {first}") from None
        raise
    finally:
        database.dispose()


@app.callback()
def _root() -> None:
    """The ami-fieldkit office server."""


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8400,
    db: DbOption = DEFAULT_DB,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64)] = 1,
) -> None:
    """Run the server (HTTP; put it behind the utility's TLS proxy). Migrates first."""
    import uvicorn

    from syncserver.main import create_app

    if database_url(db).startswith("sqlite") and workers > 1:
        raise _fail("SQLite has one writer: run one worker, or use PostgreSQL for several")
    _run(db, lambda _d: None)
    if workers == 1:
        uvicorn.run(create_app(Settings(db=db)), host=host, port=port, log_level="info")
        return
    # uvicorn's workers are fresh processes that build the app from an import string: the
    # environment they inherit is the only way this --db reaches them (this process only
    # supervises them from here on, so nothing else reads the changed variable).
    os.environ["SYNCSERVER_DB"] = db
    uvicorn.run(
        "syncserver.main:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )


@app.command()
def migrate(db: DbOption = DEFAULT_DB) -> None:
    """Bring the database to the current schema (serve does it too)."""
    from syncserver.db.migrate import head_revision

    _run(db, lambda _d: None)
    _say(f"database at schema {head_revision()}")


def _import(db: str, path: Path, what: str) -> None:
    from syncserver.services import imports
    from syncserver.services.journal import Actor, unit_of_work

    function = imports.import_accounts if what == "meters" else imports.import_work_orders

    def action(database: Database) -> imports.ImportCounts:
        with unit_of_work(database, Actor("cli", f"import {path.name}")) as work:
            return function(work, path)

    counts = _run(db, action)
    _say(
        f"imported {path.name}: {counts.new} new, {counts.updated} updated, "
        f"{counts.unchanged} unchanged {what}"
    )


@app.command("import-accounts")
def import_accounts(
    file: Annotated[Path, typer.Argument(help="CIS export: one row per meter")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Import accounts, premises and meters from CSV (all or nothing)."""
    _import(db, file, "meters")


@app.command("import-work-orders")
def import_work_orders(
    file: Annotated[Path, typer.Argument(help="CIS export: one row per work order")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Import work orders from CSV and assign them to technicians (all or nothing)."""
    _import(db, file, "work orders")


def _read_password() -> str:
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise _fail("the two passwords differ")
    return first


@app.command("create-user")
def create_user(
    name: Annotated[str, typer.Argument(help="user name (technicians: the CSV's technician)")],
    role: Annotated[str, typer.Option("--role", help="technician, office or admin")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Create a user; the password comes from standard input or a prompt."""
    from syncserver.services import users
    from syncserver.services.journal import Actor, unit_of_work

    password = _read_password()

    def action(database: Database) -> None:
        with unit_of_work(database, Actor("cli", "create-user")) as work:
            users.create_user(work, name, role, password)

    _run(db, action)
    _say(f"created {role} {name!r}")


@app.command("create-token")
def create_token(
    name: Annotated[str, typer.Argument(help="an office or admin user")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Print a new personal API token (stdout); it is shown only once."""
    from syncserver.services import users
    from syncserver.services.journal import Actor, unit_of_work

    def action(database: Database) -> str:
        with unit_of_work(database, Actor("cli", "create-token")) as work:
            return users.create_token(work, name)

    token = _run(db, action)
    _say(f"API token for {name!r} (send it as 'Authorization: Bearer ...'; shown once):")
    sys.stdout.write(token + "\n")


@app.command("enroll-code")
def enroll_code(
    technician: Annotated[str, typer.Option("--technician", help="whose device enrols")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Print a one-time code (stdout) that enrols one device of a technician."""
    from syncserver.services import users
    from syncserver.services.journal import Actor, unit_of_work

    minutes = Settings.model_fields["enroll_code_minutes"].default

    def action(database: Database) -> str:
        with unit_of_work(database, Actor("cli", "enroll-code")) as work:
            return users.create_enroll_code(work, technician, minutes)

    code = _run(db, action)
    _say(
        f"one-time enrolment code for {technician!r}, valid {minutes} minutes "
        "(fieldkit enroll --server URL --code CODE):"
    )
    sys.stdout.write(code + "\n")


@app.command("revoke-device")
def revoke_device(
    device_id: Annotated[str, typer.Argument(help="dev_… as the enrolment gave it")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Revoke a device at once: its token is refused from the next request."""
    from syncserver.services import users
    from syncserver.services.journal import Actor, unit_of_work

    def action(database: Database) -> None:
        with unit_of_work(database, Actor("cli", "revoke-device")) as work:
            users.revoke_device(work, device_id)

    _run(db, action)
    _say(f"revoked {device_id}")


@app.command("verify-audit")
def verify_audit(db: DbOption = DEFAULT_DB) -> None:
    """Check the audit log's hash chain; prints the head hash (to keep off the server)."""
    from sqlalchemy import select

    from syncserver.db.models import AuditHead
    from syncserver.services.journal import AuditChainError, verify_audit_chain

    def action(database: Database) -> tuple[int, str]:
        with database.read() as session:
            try:
                count = verify_audit_chain(session)
            except AuditChainError as exc:
                raise ServerError(str(exc)) from None
            head = session.execute(select(AuditHead.last_hash)).scalar_one()
            return count, head

    count, head = _run(db, action)
    _say(f"audit log intact: {count} rows; head:")
    sys.stdout.write(head + "\n")


def main() -> None:
    """Console-script entry point."""
    app()
