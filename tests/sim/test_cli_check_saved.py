"""`fieldkit check --from-json`: judge a saved read again, e.g. under another policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_check_scenarios import work_order_args
from tests.helpers import run_cli

pytestmark = pytest.mark.sim


def test_saved_read_gives_the_same_verdicts(sim: Any, tmp_path: Path) -> None:
    simulator = sim("crossed-phase-16s")
    args = work_order_args("crossed-phase-16s")
    read = run_cli("read", "--port", simulator.url, "--json")
    assert read.code == 0, read.stderr
    saved = tmp_path / "visit.json"
    saved.write_text(read.stdout)
    live = run_cli("check", "--port", simulator.url, "--json", *args)
    offline = run_cli("check", "--from-json", str(saved), "--json", *args)
    assert offline.code == 0, offline.stderr
    statuses = [(c["id"], c["status"]) for c in json.loads(offline.stdout)["checks"]]
    assert statuses == [(c["id"], c["status"]) for c in json.loads(live.stdout)["checks"]]
    assert ("cross_phase", "fail") in statuses


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json", "is not JSON"),
        ('{"protocol": "c1218"}', "is not a fieldkit snapshot"),
        (
            '{"protocol": "c1218", "read_at": "yesterday", "identity": {}}',
            "read_at: Input should be a valid datetime or date, input is too short "
            "(got 'yesterday')",
        ),
        ("[1, 2, 3]", "is not a fieldkit document"),
        ('{"schema_version": 9, "document": "read"}', "written by a newer fieldkit (schema 9"),
        (
            '{"schema_version": 1, "document": "capture", "protocol": "c1218", "port": "COM3", '
            '"started_at": "2026-12-01T08:00:00Z", "result": "failed"}',
            "not a meter read",
        ),
        # Hostile files: nested past the parser's recursion limit, a number of 5000 digits.
        ("[" * 100_000 + "]" * 100_000, "is not JSON"),
        ('{"identity": ' + "9" * 5000 + "}", "is not JSON"),
    ],
    ids=lambda v: v[:40] if isinstance(v, str) else v,
)
def test_bad_saved_read_is_one_line(tmp_path: Path, content: str, says: str) -> None:
    saved = tmp_path / "bad.json"
    saved.write_text(content)
    result = run_cli(
        "check", "--from-json", str(saved), "--service-type", "1ph-3w", "--nominal-voltage", "240"
    )
    assert result.code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert says in lines[0]


FIRST_RELEASE = Path(__file__).parents[1] / "fixtures" / "v0.1.0"


def test_files_from_the_first_release_are_judged_again() -> None:
    """read --json and check --json output of 0.1.0 (no schema_version) still reads."""
    args = ["--service-type", "3ph-4w-wye", "--nominal-voltage", "120", "--json"]
    for name in ("read-healthy-16s.json", "check-healthy-16s.json"):
        result = run_cli("check", "--from-json", str(FIRST_RELEASE / name), *args)
        assert result.code == 0, result.stderr
        document = json.loads(result.stdout)
        assert (document["schema_version"], document["document"]) == (1, "check")
        assert document["identity"]["serial_number"] == "SN16S00000054321"
        assert document["verdict"] == "pass"
    reversed_ct = run_cli(
        "check", "--from-json", str(FIRST_RELEASE / "read-reversed-ct-16s.json"), *args
    )
    statuses = {c["id"]: c["status"] for c in json.loads(reversed_ct.stdout)["checks"]}
    assert statuses["polarity"] == "fail"


def test_port_and_from_json_are_exclusive(tmp_path: Path) -> None:
    result = run_cli("check", "--port", "socket://127.0.0.1:9", "--from-json", str(tmp_path))
    assert result.code == 2
    assert "Traceback" not in result.stderr
