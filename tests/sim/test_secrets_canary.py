"""A planted meter password and a planted token never land in a file under FIELDKIT_HOME.

The database, its WAL, frame captures, exports and anything else the kit writes are
grepped (as text and as the hex frames are stored) after a visit that used the password:
read, check, adjust, a failed read, an export.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from fieldkit import secrets
from tests.e2e.test_check_scenarios import work_order_args
from tests.helpers import CliResult, run_cli

pytestmark = pytest.mark.sim

PASSWORD = "MASTER0001"  # secured-2s's level-3 password
TOKEN = "fk_dev_7_canary0123456789abcdefCANARY"
PASSPHRASE = "field laptop passphrase"


def forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, raw.hex().encode(), raw.hex().upper().encode(), raw.lower(), raw.upper()]


def test_planted_password_and_token_appear_in_no_file(
    sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('[secrets]\nbackend = "file"\n')
    env = {
        "FIELDKIT_HOME": str(home),
        secrets.PASSPHRASE_ENV: PASSPHRASE,
        "FIELDKIT_TECHNICIAN": "ann",
    }
    monkeypatch.setenv("FIELDKIT_HOME", str(home))
    monkeypatch.setenv(secrets.PASSPHRASE_ENV, PASSPHRASE)
    secrets.set_device_token(TOKEN)

    def fk(*args: str, stdin: str | None = None) -> CliResult:
        return run_cli(*args, env=env) if stdin is None else _with_stdin(args, env, stdin)

    kept = fk("secrets", "set-password", "--level", "3", stdin=PASSWORD + "\n")
    assert kept.code == 0, kept.stderr
    assert PASSWORD not in kept.stdout
    listed = fk("secrets", "list")
    assert "the fleet  level 3" in listed.stdout
    assert PASSWORD not in listed.stdout

    # A reader holding a snapshot keeps every commit in the -wal file (no checkpoint can
    # fold it back), so the WAL itself is grepped below, not only the main file.
    assert fk("visits", "list").code == 0
    reader = sqlite3.connect(home / "fieldkit.db", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM visits").fetchone()

    simulator = sim("secured-2s")
    args = list(work_order_args("secured-2s"))
    # No --password on the command line: the kit uses the one it keeps.
    at = args.index("--password")
    del args[at : at + 2]
    capture = home / "capture.json"
    checked = fk("check", "--port", simulator.url, *args, "-q", "--json", "--capture", str(capture))
    assert checked.code == 0, checked.stderr
    assert json.loads(checked.stdout)["verdict"] == "pass"  # the password got it all read
    adjusted = fk("adjust", "demand-reset", "--port", simulator.url, "--yes", "-q")
    assert adjusted.code == 0, adjusted.stderr
    failed = fk("check", "--port", "socket://127.0.0.1:9", *args, "-q",
                "--capture", str(home / "failed-capture.json"))  # fmt: skip
    assert failed.code == 1
    for fmt in ("json", "csv"):
        out = home / f"export.{fmt}"
        assert fk("visits", "export", "--format", fmt, "--out", str(out)).code == 0
    shown = fk("visits", "list", "--json")
    for result in (checked, adjusted, failed, shown):
        for form in forms(PASSWORD) + forms(TOKEN):
            assert form.decode() not in result.stdout + result.stderr

    files = [p for p in home.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"fieldkit.db", "capture.json", "export.json", "export.csv", "secrets.enc"} <= names
    assert (home / "fieldkit.db-wal").stat().st_size > 0
    hits = [
        f"{p.name}: {form!r}"
        for p in files
        for form in forms(PASSWORD) + forms(TOKEN)
        if form in p.read_bytes()
    ]
    reader.close()
    assert hits == []
    # The planted secrets are really there to be found: the vault still opens them.
    assert secrets.meter_password(None, 3) == PASSWORD
    assert secrets.device_token() == TOKEN


def _with_stdin(args: tuple[str, ...], env: dict[str, str], stdin: str) -> CliResult:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "fieldkit", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
