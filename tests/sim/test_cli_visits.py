"""`fieldkit check` saves a visit; `fieldkit visits` lists, shows, exports, notes, closes."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_check_scenarios import work_order_args
from tests.helpers import CliResult, run_cli
from tests.sim.test_cli_work_orders import scenario_csv

pytestmark = pytest.mark.sim

NO_METER = "socket://127.0.0.1:9"


def fk(home: Path, *args: str) -> CliResult:
    return run_cli(*args, env={"FIELDKIT_HOME": str(home), "FIELDKIT_TECHNICIAN": "ann"})


def one_line_error(result: CliResult) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def listed(home: Path, *args: str) -> list[dict[str, Any]]:
    result = fk(home, "visits", "list", "--json", *args)
    assert result.code == 0, result.stderr
    visits: list[dict[str, Any]] = json.loads(result.stdout)["visits"]
    return visits


def outbox_ids(home: Path) -> list[str]:
    conn = sqlite3.connect(home / "fieldkit.db")
    try:
        return [r[0] for r in conn.execute("SELECT entity_id FROM outbox ORDER BY seq")]
    finally:
        conn.close()


def test_check_saves_a_visit_and_json_carries_its_id(sim: Any, tmp_path: Path) -> None:
    simulator = sim("healthy-2s")
    result = fk(
        tmp_path,
        "check", "--port", simulator.url, *work_order_args("healthy-2s"), "-q", "--json",
        "--outcome", "resolved", "--note", "meter reads fine",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    visit_id = document["visit_id"]
    [summary] = listed(tmp_path)
    assert summary["visit_id"] == visit_id
    assert (summary["status"], summary["outcome"]) == ("final", "resolved")
    assert summary["verdict"] == "pass"
    assert summary["technician"] == "ann"
    shown = fk(tmp_path, "visits", "show", visit_id[:8], "--json")
    assert shown.code == 0, shown.stderr
    visit = json.loads(shown.stdout)
    assert visit["visit_id"] == visit_id
    assert visit["document"] == "visit"
    assert visit["notes"][0]["text"] == "meter reads fine"
    assert visit["snapshot"]["identity"]["serial_number"] == "SN2S000000012345"
    assert len(visit["checks"]) == len(document["checks"])
    assert visit["capture"]["frames"]
    assert outbox_ids(tmp_path) == [visit_id]


def test_check_without_outcome_leaves_the_visit_open_to_note_and_close(
    sim: Any, tmp_path: Path
) -> None:
    simulator = sim("healthy-2s")
    result = fk(tmp_path, "check", "--port", simulator.url, *work_order_args("healthy-2s"), "-q")
    assert result.code == 0, result.stderr
    assert "saved, still open" in result.stdout.splitlines()[-3]
    [summary] = listed(tmp_path)
    short = summary["visit_id"][:8]
    assert summary["status"] == "open"
    assert fk(tmp_path, "visits", "note", short, "seal replaced").code == 0
    closed = fk(tmp_path, "visits", "close", short, "--outcome", "follow_up", "--note", "book CT")
    assert closed.code == 0, closed.stderr
    assert "closed: follow_up" in closed.stdout
    again = fk(tmp_path, "visits", "note", short, "too late")
    assert again.code == 1
    assert "record a correction" in one_line_error(again)
    corrected = fk(tmp_path, "visits", "correct", short, "--outcome", "resolved")
    assert corrected.code == 0, corrected.stderr
    visits = listed(tmp_path)
    assert len(visits) == 2
    correction = next(v for v in visits if v["corrects"])
    assert correction["corrects"] == summary["visit_id"]
    assert correction["outcome"] == "resolved"
    original = json.loads(fk(tmp_path, "visits", "show", short, "--json").stdout)
    assert original["outcome"] == "follow_up"
    assert [n["text"] for n in original["notes"]] == ["seal replaced", "book CT"]
    # Each save is an op in the outbox: check, note, close; then the correction.
    assert outbox_ids(tmp_path) == [summary["visit_id"]] * 3 + [correction["visit_id"]]


def test_a_meter_that_does_not_answer_is_a_no_comms_visit(tmp_path: Path) -> None:
    result = fk(
        tmp_path, "check", "--port", NO_METER, "--service-type", "1ph-3w",
        "--nominal-voltage", "240", "--meter-number", "M-404", "-q",
    )  # fmt: skip
    assert result.code == 1
    line = one_line_error(result)
    assert "saved: no_comms" in line
    [summary] = listed(tmp_path)
    assert (summary["outcome"], summary["read_result"], summary["meter_number"]) == (
        "no_comms",
        "failed",
        "M-404",
    )
    visit = json.loads(fk(tmp_path, "visits", "show", summary["visit_id"], "--json").stdout)
    assert visit["error"]
    assert visit["capture"]["result"] == "failed"


def test_no_save_keeps_nothing_and_bad_outcome_is_refused_before_the_meter(
    sim: Any, tmp_path: Path
) -> None:
    simulator = sim("healthy-2s")
    looked = fk(
        tmp_path, "check", "--port", simulator.url, *work_order_args("healthy-2s"), "-q",
        "--json", "--no-save",
    )  # fmt: skip
    assert looked.code == 0, looked.stderr
    assert json.loads(looked.stdout)["visit_id"] is None
    bad = fk(tmp_path, "check", "--port", NO_METER, *work_order_args("healthy-2s"),
             "--outcome", "fixed")  # fmt: skip
    assert bad.code == 2
    assert "--outcome" in one_line_error(bad)
    assert listed(tmp_path) == []


def test_check_with_a_work_order_links_account_and_meter(sim: Any, tmp_path: Path) -> None:
    simulator = sim("healthy-16s")
    orders = scenario_csv(tmp_path / "orders.csv", "healthy-16s", "WO-16")
    assert fk(tmp_path, "work-orders", "import", str(orders)).code == 0
    result = fk(
        tmp_path, "check", "--port", simulator.url, "--work-order", "WO-16", "-q",
        "--outcome", "resolved",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    [summary] = listed(tmp_path, "--meter", "M16-0054321")
    assert listed(tmp_path, "--meter", "SN16S00000054321") == [summary]
    assert summary["work_order"] == "WO-16"
    assert listed(tmp_path, "--meter", "nope") == []
    assert listed(tmp_path, "--since", "2000-01-01")[0]["visit_id"] == summary["visit_id"]
    assert listed(tmp_path, "--since", "2999-01-01") == []


def test_export_json_and_csv(sim: Any, tmp_path: Path) -> None:
    simulator = sim("healthy-2s")
    for outcome in ("resolved", "customer_side"):
        assert (
            fk(
                tmp_path, "check", "--port", simulator.url, *work_order_args("healthy-2s"),
                "-q", "--outcome", outcome, "--note", "a, note",
            ).code
            == 0
        )  # fmt: skip
    out = tmp_path / "visits.json"
    exported = fk(tmp_path, "visits", "export", "--out", str(out))
    assert exported.code == 0, exported.stderr
    assert "exported 2 visits" in exported.stdout
    document = json.loads(out.read_text())
    assert document["document"] == "visit_export"
    assert [v["outcome"] for v in document["visits"]] == ["resolved", "customer_side"]
    as_csv = fk(tmp_path, "visits", "export", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["outcome"] for r in rows] == ["resolved", "customer_side"]
    assert rows[0]["notes"] == "a, note"
    assert rows[0]["meter_serial"] == "SN2S000000012345"
    bad = fk(tmp_path, "visits", "export", "--format", "xml")
    assert bad.code == 2


def test_show_an_unknown_visit_is_one_line(tmp_path: Path) -> None:
    result = fk(tmp_path, "visits", "show", "deadbeef")
    assert result.code == 1
    assert "no visit deadbeef" in one_line_error(result)
    assert fk(tmp_path, "visits", "list").stdout.startswith("no visits")
