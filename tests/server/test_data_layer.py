"""The data layer on both engines: migrations, pragmas, the audit chain, CSV imports, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text

from syncserver.core.errors import ImportFileError
from syncserver.db.engine import Database
from syncserver.db.migrate import current_revision, head_revision, upgrade
from syncserver.db.models import AuditLog, Base
from syncserver.services.journal import Actor, AuditChainError, unit_of_work, verify_audit_chain

from .conftest import EXAMPLES, ROOT, add_user, import_file


def test_migrations_build_exactly_the_models(database: Database) -> None:
    assert current_revision(database) == head_revision()
    upgrade(database)  # a second run changes nothing
    with database.write_engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_sqlite_pragmas_make_an_ack_durable(tmp_path: Path) -> None:
    database = Database(str(tmp_path / "p.db"))
    upgrade(database)
    with database.read() as session:
        pragmas = {
            name: session.execute(text(f"PRAGMA {name}")).scalar_one()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": 10000,
    }
    database.dispose()


def test_the_audit_log_is_append_only_and_chained(database: Database) -> None:
    add_user(database, "demo-tech", "technician")
    import_file(database, EXAMPLES / "cis-accounts.csv", "accounts")
    with database.read() as session:
        rows = verify_audit_chain(session)
    assert rows == 1 + 30 * 3
    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"), database.write() as session:
            session.execute(text(statement))
    # With the guard dropped (an attacker with the database), a rewrite is detected.
    drop = (
        ["DROP TRIGGER audit_log_no_update"]
        if database.is_sqlite
        else ["DROP TRIGGER audit_log_append_only ON audit_log"]
    )
    with database.write() as session:
        for statement in drop:
            session.execute(text(statement))
        session.execute(text("UPDATE audit_log SET entity_id = 'forged' WHERE seq = 5"))
    with pytest.raises(AuditChainError, match="row 5"), database.read() as session:
        verify_audit_chain(session)


def test_two_writers_appending_at_once_chain_one_after_the_other(database: Database) -> None:
    # A has appended its entries (not committed) when B appends its own: B must wait and
    # chain onto A's last hash. Without the head's lock B reads the head A has not
    # committed yet, and both chain onto the same previous hash (a fork, or on PostgreSQL
    # B's write failing on A's sequence number).
    appended, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer_a() -> None:
        try:
            with unit_of_work(database, Actor("cli", "a")) as work:
                work.audit("test.a", "thing", "1")
                work.audit("test.a", "thing", "2")
                work.flush()
                appended.set()
                release.wait(10)
        except BaseException as exc:  # reported below
            errors.append(exc)
            appended.set()

    def writer_b() -> None:
        try:
            with unit_of_work(database, Actor("cli", "b")) as work:
                work.audit("test.b", "thing", "3")
        except BaseException as exc:
            errors.append(exc)

    a = threading.Thread(target=writer_a)
    a.start()
    assert appended.wait(10)
    b = threading.Thread(target=writer_b)
    b.start()
    b.join(0.5)  # B is waiting for A's commit, or (unlocked) has written beside it
    release.set()
    a.join(10)
    b.join(10)
    assert errors == []
    with database.read() as session:
        assert verify_audit_chain(session) == 3
        rows = session.execute(
            select(AuditLog.actor_id, AuditLog.prev_hash, AuditLog.row_hash).order_by(AuditLog.seq)
        ).all()
    assert [r.actor_id for r in rows] == ["a", "a", "b"]
    assert rows[2].prev_hash == rows[1].row_hash


def test_many_concurrent_writers_leave_one_unbroken_chain(database: Database) -> None:
    writers, each = 4, 10
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def writer(n: int) -> None:
        try:
            start.wait(10)
            for i in range(each):
                with unit_of_work(database, Actor("cli", f"w{n}")) as work:
                    work.audit("test.write", "thing", f"{n}-{i}")
                    work.audit("test.write", "thing", f"{n}-{i}b")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with database.read() as session:
        assert verify_audit_chain(session) == writers * each * 2


def _write(path: Path, text_: str) -> Path:
    path.write_text(text_, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            ("240,,,,,", "two-forty,,,,,"),
            "row 2, column 12 (nominal_voltage): 'two-forty' is not a number",
        ),
        (("1ph-3w", "1ph-4w"), "column 11 (service_type): '1ph-4w' is not a service type"),
        (("account_number,", "acct_no,"), "row 1, column 1: unknown column 'acct_no'"),
        (
            ("M16-0054321", "M2S-0034567"),
            "row 4, column 7 (meter_number): 'M2S-0034567' is already on row 2",
        ),
        (
            ("CL200,3ph-4w-wye,120,,,ABC,,26850.4", "CL201,3ph-4w-wye,120,,,ABC,,26850.4"),
            "row 3, column 10 (meter_class)",
        ),
    ],
)
def test_a_bad_accounts_file_is_refused_whole(
    database: Database, tmp_path: Path, change: tuple[str, str], says: str
) -> None:
    good = (EXAMPLES / "cis-accounts.csv").read_text()
    bad = _write(tmp_path / "bad.csv", good.replace(*change, 1))
    assert bad.read_text() != good
    with pytest.raises(ImportFileError) as caught:
        import_file(database, bad, "accounts")
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)
    with database.read() as session:
        assert session.execute(text("SELECT count(*) FROM meters")).scalar_one() == 0
        assert session.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == 0


def test_work_order_imports_check_the_database_and_reimport_changes_nothing(
    database: Database, tmp_path: Path
) -> None:
    add_user(database, "demo-tech", "technician")
    orders = (EXAMPLES / "cis-work-orders.csv").read_text()
    with pytest.raises(ImportFileError, match=r"row 2, column 2 \(meter_number\): no meter"):
        import_file(database, EXAMPLES / "cis-work-orders.csv", "work_orders")
    assert import_file(database, EXAMPLES / "cis-accounts.csv", "accounts").new == 30
    unknown = _write(tmp_path / "wo.csv", orders.replace("demo-tech", "nobody", 1))
    with pytest.raises(
        ImportFileError, match=r"column 6 \(technician\): 'nobody' is not a technician"
    ):
        import_file(database, unknown, "work_orders")
    first = import_file(database, EXAMPLES / "cis-work-orders.csv", "work_orders")
    assert (first.new, first.updated, first.unchanged) == (16, 0, 0)
    with database.read() as session:
        audit = session.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
        feed = session.execute(text("SELECT count(*) FROM feed")).scalar_one()
    again = import_file(database, EXAMPLES / "cis-work-orders.csv", "work_orders")
    assert (again.new, again.updated, again.unchanged) == (0, 0, 16)
    accounts_again = import_file(database, EXAMPLES / "cis-accounts.csv", "accounts")
    assert (accounts_again.new, accounts_again.updated, accounts_again.unchanged) == (0, 0, 30)
    with database.read() as session:
        assert session.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == audit
        assert session.execute(text("SELECT count(*) FROM feed")).scalar_one() == feed
    # A completed order cannot be cancelled by a later file; nothing of that file is kept.
    closed = _write(
        tmp_path / "closed.csv",
        orders.replace("demo-tech,dispatched,2026-12-03", "demo-tech,completed,2026-12-03", 1),
    )
    assert import_file(database, closed, "work_orders").updated == 1
    cancel = _write(
        tmp_path / "cancel.csv",
        orders.replace(
            "demo-tech,dispatched,2026-12-03", "demo-tech,cancelled,2026-12-03", 1
        ).replace("Lights dim", "Lights flicker"),
    )
    with pytest.raises(
        ImportFileError, match=r"row 2, column 7 \(status\): WO-2026-10401 is completed"
    ):
        import_file(database, cancel, "work_orders")
    with database.read() as session:
        notes = session.execute(
            text("SELECT notes FROM work_orders WHERE work_order_id = 'WO-2026-10406'")
        ).scalar_one()
    assert notes == "Lights dim in the evening"


def _cli(db: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SYNCSERVER_DB": db}
    return subprocess.run(
        [sys.executable, "-m", "syncserver", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_the_cli_prints_secrets_alone_on_stdout(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    made = _cli(db, "create-user", "olga", "--role", "office", stdin="a long password\n")
    assert (made.returncode, made.stdout) == (0, ""), made.stderr
    assert (
        _cli(
            db, "create-user", "demo-tech", "--role", "technician", stdin="another password\n"
        ).returncode
        == 0
    )
    token = _cli(db, "create-token", "olga")
    assert token.returncode == 0
    assert token.stdout.startswith("fk_pat_")
    assert token.stdout.count("\n") == 1
    assert "shown once" in token.stderr
    code = _cli(db, "enroll-code", "--technician", "demo-tech", "--db", db)
    assert code.returncode == 0
    assert len(code.stdout.strip()) == 14
    assert "15 minutes" in code.stderr
    refused = _cli(db, "enroll-code", "--technician", "olga")
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr == "syncserver: 'olga' is not a technician (role office)\n"
    bad = _cli(db, "import-accounts", str(ROOT / "docs" / "work-orders.example.csv"))
    assert bad.returncode == 1
    assert "row 1, column 1: unknown column 'work_order_id'" in bad.stderr
    ok = _cli(db, "import-accounts", str(EXAMPLES / "cis-accounts.csv"))
    assert "30 new" in ok.stderr
    assert _cli(db, "verify-audit").returncode == 0
    sqlite_workers = _cli(db, "serve", "--workers", "2")
    assert sqlite_workers.returncode == 1
    assert "one writer" in sqlite_workers.stderr
