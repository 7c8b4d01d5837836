"""Disk full under ``fieldkit check``: one clear line, and every visit saved before is kept.

The database's size limit (``PRAGMA max_page_count``) stands in for a full disk: the
command runs in-process with the store's connection limited to the pages it already has.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database
from typer.testing import CliRunner

from fieldkit import store
from fieldkit.cli import app

ROOT = Path(__file__).resolve().parents[2]
SAVED_READ = ROOT / "tests" / "fixtures" / "v0.1.0" / "read-healthy-16s.json"
EXPECT = ["--service-type", "3ph-4w-wye", "--nominal-voltage", "120"]


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_full_disk_is_one_line_and_loses_nothing_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIELDKIT_HOME", str(tmp_path))
    for n in range(3):
        code, _, err = invoke(
            "check", "--from-json", str(SAVED_READ), *EXPECT, "--outcome", "resolved",
            "--note", f"visit {n}",
        )  # fmt: skip
        assert code == 0, err
    code, out, _ = invoke("visits", "list", "--json")
    before = [v["visit_id"] for v in json.loads(out)["visits"]]
    assert len(before) == 3

    opened = store.database

    @contextlib.contextmanager
    def full_disk(path: Path | None = None) -> Iterator[Database]:
        with opened(path) as db:
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            db.execute(f"PRAGMA max_page_count = {pages}")
            yield db

    monkeypatch.setattr(store, "database", full_disk)
    code, out, err = invoke(
        "check", "--from-json", str(SAVED_READ), *EXPECT, "--json", "--note", "x" * 4000
    )
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("fieldkit: the disk is full: nothing was saved of visit ")
    assert "everything saved before is intact" in lines[0]
    # The results were still shown, honestly without a visit id.
    assert json.loads(out)["visit_id"] is None

    monkeypatch.setattr(store, "database", opened)
    code, out, _ = invoke("visits", "list", "--json")
    assert code == 0
    assert [v["visit_id"] for v in json.loads(out)["visits"]] == before
    with store.database() as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert {r.entity_id for r in store.visits.outbox_rows(db)} == set(before)
