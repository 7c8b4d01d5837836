"""A read-only laptop database under ``fieldkit check`` and ``fieldkit sync``: one line that
says what to do, exit 1, nothing already saved lost.

Three ways a technician meets it:

- the file is read-only (``chmod 0444``: restored from a backup, copied off a read-only
  medium), checked with the real CLI as a subprocess;
- the folder is not writable (SQLite cannot make its WAL beside the file);
- the database turns read-only underneath a running command, after it opened the file (a
  disk remounted read-only after an error): in process, the store's connection is switched
  to ``PRAGMA query_only`` once open — Linux refuses to remount a filesystem read-only while
  a file on it is open for writing, so a real remount cannot be staged under an open file.

The tests run as root in CI, and root writes through file modes: the subprocesses drop the
two capabilities that let it (``CAP_DAC_OVERRIDE``, ``CAP_DAC_READ_SEARCH``) from their
bounding set before they exec, so they meet file modes as a technician's account does.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database
from typer.testing import CliRunner

from fieldkit import store
from fieldkit.cli import app
from fieldkit.store import visits as log
from fieldkit.store.db import database
from fieldkit.sync import laptop as sync_laptop
from tests.reliability.test_sync_cli_faults import Rig, office, rig
from tests.reliability.test_sync_faults import server_rows

__all__ = ["office", "rig"]  # the fixtures, shared with the sync CLI cases

ROOT = Path(__file__).resolve().parents[2]
SAVED_READ = ROOT / "tests" / "fixtures" / "v0.1.0" / "read-healthy-16s.json"
EXPECT = ["--service-type", "3ph-4w-wye", "--nominal-voltage", "120"]
CHECK = ["check", "--from-json", str(SAVED_READ), *EXPECT, "--outcome", "resolved", "-q"]
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


def _as_a_technician() -> None:
    """In the child before exec: root loses its power to write through file modes."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def fieldkit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m fieldkit ARGS`` as a technician (not root) would run it."""
    return subprocess.run(
        [sys.executable, "-m", "fieldkit", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        cwd=ROOT,
        preexec_fn=_as_a_technician,  # before exec: the child alone, no threads yet
    )


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The command failed as the CLI contract says: exit 1, one line on stderr."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def named(line: str) -> list[Path]:
    """The files a read-only message asks to make writable."""
    found = re.search(r"; make (.+) writable \(or set FIELDKIT_HOME", line)
    assert found is not None, line
    return [Path(p) for p in found.group(1).split(", ")]


def visit_ids(db_path: Path) -> list[str]:
    """The visits in the file, read apart from the kit (a read-only connection)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return [r[0] for r in conn.execute("SELECT visit_id FROM visits ORDER BY started_at")]
    finally:
        conn.close()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], list[str]]]:
    """A laptop home with two visits saved by the real CLI."""
    env = {"FIELDKIT_HOME": str(tmp_path), "FIELDKIT_TECHNICIAN": "ann"}
    for _ in range(2):
        saved = fieldkit(*CHECK, env=env)
        assert saved.returncode == 0, saved.stderr
    before = visit_ids(tmp_path / "fieldkit.db")
    assert len(before) == 2
    yield tmp_path, env, before
    tmp_path.chmod(0o755)
    (tmp_path / "fieldkit.db").chmod(0o644)


def test_a_read_only_file_refuses_the_save_in_one_line_and_keeps_the_log(
    home: tuple[Path, dict[str, str], list[str]],
) -> None:
    folder, env, before = home
    (folder / "fieldkit.db").chmod(0o444)

    refused = fieldkit(*CHECK, "--json", env=env)
    line = one_line(refused)
    db_file = folder / "fieldkit.db"
    assert line.startswith(f"fieldkit: the fieldkit database {db_file} is read-only: ")
    assert "nothing was saved of visit " in line
    assert "everything saved before is intact" in line
    assert named(line)[0] == db_file
    assert json.loads(refused.stdout)["visit_id"] is None  # results shown, no false "saved"

    # The log can still be read, and holds what it held.
    listed = fieldkit("visits", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert sorted(v["visit_id"] for v in json.loads(listed.stdout)["visits"]) == sorted(before)
    assert visit_ids(folder / "fieldkit.db") == before

    # SQLite makes the WAL and shared-memory files with the database's mode, so making only
    # the database writable would not do: the line names those that are read-only too.
    assert set(named(line)) <= {db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm")}
    for path in named(line):  # the technician does what the line says
        path.chmod(0o644)
    again = fieldkit(*CHECK, env=env)
    assert again.returncode == 0, again.stderr
    assert len(visit_ids(folder / "fieldkit.db")) == 3


def test_a_folder_that_is_not_writable_is_one_line(
    home: tuple[Path, dict[str, str], list[str]],
) -> None:
    folder, env, before = home
    folder.chmod(0o555)

    line = one_line(fieldkit(*CHECK, env=env))
    assert line == (
        f"fieldkit: FIELDKIT_HOME ({folder}) is not a writable folder: no permission to write there"
    )
    folder.chmod(0o755)
    assert visit_ids(folder / "fieldkit.db") == before


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@contextlib.contextmanager
def _turning_read_only(path: Path | None = None) -> Iterator[Database]:
    with _opened(path) as db:
        db.execute("PRAGMA query_only = 1")  # the file went read-only after it was opened
        yield db


_opened = store.database


def test_read_only_underneath_a_running_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIELDKIT_HOME", str(tmp_path))
    code, _, err = _invoke(*CHECK)
    assert code == 0, err
    before = visit_ids(tmp_path / "fieldkit.db")

    monkeypatch.setattr(store, "database", _turning_read_only)
    code, out, err = _invoke(*CHECK, "--json")
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "is read-only: nothing was saved of visit " in lines[0]
    assert "make it, its -wal and -shm files, its folder and its disk writable" in lines[0]
    assert json.loads(out)["visit_id"] is None
    monkeypatch.setattr(store, "database", _opened)
    assert visit_ids(tmp_path / "fieldkit.db") == before


def test_sync_with_a_read_only_database_says_so_and_the_next_sync_sends_nothing_twice(
    rig: Rig,
) -> None:
    rig.save_visits(3)
    db_file = rig.home / "fieldkit.db"
    db_file.chmod(0o444)
    try:
        # The push reaches the server, which commits; the laptop cannot record the answers.
        refused = fieldkit("sync", "--timeout", "5", env=rig.env)
    finally:
        db_file.chmod(0o644)
    line = one_line(refused)
    assert line.startswith(f"fieldkit: sync failed: the fieldkit database {db_file} is read-only")
    assert "nothing was saved of the server's answers to the sync" in line
    assert named(line)[0] == db_file
    for path in named(line)[1:]:  # the database itself was made writable above
        path.chmod(0o644)
    assert rig.pending() == 3  # nothing marked: the ops stay queued
    rig.assert_on_server_exactly_once()

    again = fieldkit("sync", "--json", "--timeout", "5", env=rig.env)
    assert again.returncode == 0, again.stderr
    report: dict[str, Any] = json.loads(again.stdout)
    assert (report["acknowledged"], report["duplicates"], report["pending"]) == (3, 3, 0)
    rig.assert_on_server_exactly_once()
    visits, creates, _ = server_rows(rig.server.db)
    assert sorted(creates) == sorted(rig.saved) == sorted(visits)


def test_sync_answers_lost_to_a_database_gone_read_only_underneath(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in rig.env.items():
        monkeypatch.setenv(name, value)
    rig.save_visits(2)
    with database(rig.home / "fieldkit.db") as db:
        tokens = sync_laptop.LaptopTokens(db)
        db.execute("PRAGMA query_only = 1")
        with pytest.raises(store.StoreError, match="is read-only: nothing was saved of the"):
            sync_laptop.sync_database(db, tokens, timeout=5.0)
        db.execute("PRAGMA query_only = 0")
        assert sync_laptop.LaptopOutbox(db).count_pending() == 2
        done = sync_laptop.sync_database(db, tokens, timeout=5.0)
        assert (done.acknowledged, done.duplicates, done.pending) == (2, 2, 0)
        assert len(log.outbox_rows(db)) == 2
    rig.assert_on_server_exactly_once()
