"""`fieldkit work-orders` and `fieldkit check --work-order` as a technician runs them."""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_check_scenarios import work_order_args
from tests.helpers import CliResult, run_cli, scenario_data

pytestmark = pytest.mark.sim

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "work-orders.example.csv"
NO_METER = "socket://127.0.0.1:9"  # nothing listens: a test that reaches it has failed


def fk(home: Path, *args: str) -> CliResult:
    """The CLI with this test's own FIELDKIT_HOME."""
    return run_cli(*args, env={"FIELDKIT_HOME": str(home)})


def one_line_error(result: CliResult) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fieldkit: ")
    return lines[0]


def stored_rows(home: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(home / "fieldkit.db")
    try:
        return conn.execute("SELECT * FROM work_orders ORDER BY work_order_id").fetchall()
    finally:
        conn.close()


def scenario_csv(path: Path, scenario: str, work_order_id: str) -> Path:
    """The scenario's [work_order] as the utility's CIS would export it."""
    wo = scenario_data(scenario)["work_order"]
    now = datetime.now(UTC)
    row = {
        "work_order_id": work_order_id,
        "kind": "investigate",
        "meter_number": wo["meter_number"],
        "service_type": wo["service_type"],
        "nominal_voltage": str(wo["nominal_voltage"]),
        "form": wo.get("form", ""),
        "last_read_kwh": str(wo.get("last_read_kwh", "")),
        "net_metering": "yes" if wo.get("net_metering") else "no",
    }
    ages = {"last_read_at": "last_read_days_ago", "last_visit_at": "last_visit_days_ago"}
    for column, key in ages.items():
        if key in wo:
            when = now - timedelta(days=wo[key])
            row[column] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    return path


def statuses(result: CliResult) -> dict[str, str]:
    assert result.code == 0, result.stderr
    return {c["id"]: c["status"] for c in json.loads(result.stdout)["checks"]}


def test_check_with_the_work_order_gives_the_verdicts_of_the_typed_options(
    sim: Any, tmp_path: Path
) -> None:
    scenario = "reversed-ct-16s"
    orders = scenario_csv(tmp_path / "orders.csv", scenario, "WO-65432")
    imported = fk(tmp_path, "work-orders", "import", str(orders))
    assert imported.code == 0, imported.stderr
    assert imported.stdout.strip() == "imported 1 work order (1 new, 0 updated)"

    by_order = fk(tmp_path, "check", "--port", sim(scenario).url, "--json",
                  "--work-order", "WO-65432")  # fmt: skip
    by_options = fk(tmp_path, "check", "--port", sim(scenario).url, "--json",
                    *work_order_args(scenario))  # fmt: skip

    checks = statuses(by_order)
    assert checks == statuses(by_options)
    assert {cid for cid, status in checks.items() if status == "fail"} == {"polarity"}
    assert set(checks.values()) <= {"pass", "skip", "fail"}
    assert checks["register_read"] == "pass"  # the stored last read reached the checks
    report = json.loads(by_order.stdout)
    assert report["work_order"] == "WO-65432"
    assert report["verdict"] == "fail"
    assert json.loads(by_options.stdout)["work_order"] is None


def test_check_human_output_names_the_work_order(sim: Any, tmp_path: Path) -> None:
    orders = scenario_csv(tmp_path / "orders.csv", "healthy-16s", "WO-16")
    assert fk(tmp_path, "work-orders", "import", str(orders)).code == 0
    result = fk(tmp_path, "check", "--port", sim("healthy-16s").url, "--work-order", "WO-16")
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("work order WO-16")
    assert "Overall verdict: PASS" in result.stdout


@pytest.mark.parametrize(
    "typed",
    [
        ["--service-type", "3ph-4w-wye"],
        ["--nominal-voltage", "120"],
        ["--meter-number", "M16-0065432"],
        ["--ct-ratio", "400"],
    ],
)
def test_work_order_with_an_expectation_option_is_a_usage_error(
    tmp_path: Path, typed: list[str]
) -> None:
    result = fk(tmp_path, "check", "--port", NO_METER, "--work-order", "WO-1", *typed)
    assert result.code == 2
    line = one_line_error(result)
    assert typed[0] in line
    assert "--work-order" in line


def test_unknown_work_order_says_how_to_get_it(tmp_path: Path) -> None:
    expected = (
        "fieldkit: no work order WO-404 on this laptop: "
        "import it (fieldkit work-orders import) or sync"
    )
    result = fk(tmp_path, "check", "--port", NO_METER, "--work-order", "WO-404")
    assert result.code == 1
    assert one_line_error(result) == expected  # never reached the (absent) meter
    shown = fk(tmp_path, "work-orders", "show", "WO-404")
    assert shown.code == 1
    assert one_line_error(shown) == expected


def test_import_list_show_and_reimport(tmp_path: Path) -> None:
    first = fk(tmp_path, "work-orders", "import", str(EXAMPLE))
    assert first.code == 0, first.stderr
    assert first.stdout.strip() == "imported 4 work orders (4 new, 0 updated)"
    assert (tmp_path / "fieldkit.db").is_file()

    listed = fk(tmp_path, "work-orders", "list", "--json")
    ids = [o["work_order_id"] for o in json.loads(listed.stdout)["work_orders"]]
    assert ids == ["WO-2026-10411", "WO-2026-10412", "WO-2026-10413"]  # the completed one is not

    # Piped, with no COLUMNS: one row a line, whole, for grep.
    table = run_cli(
        "work-orders", "list", env={"FIELDKIT_HOME": str(tmp_path), "COLUMNS": ""}
    ).stdout
    assert "WO-2026-10412" in table
    assert "900 Mill Road, Unit B, Springfield" in table
    assert "WO-2026-10399" not in table

    # The office re-exports: one order changed, one new; the rest come again unchanged.
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    lines = [line.replace(",3ph-4w-wye,120,", ",3ph-4w-wye,277,") for line in lines]
    lines.append("WO-2026-10500,read,open,,,,M2S-7,,2S,CL200,1ph-3w,240,,,,,,,,no,,")
    changed = tmp_path / "orders-2.csv"
    changed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    again = fk(tmp_path, "work-orders", "import", str(changed))
    assert again.code == 0, again.stderr
    assert again.stdout.strip() == "imported 5 work orders (1 new, 4 updated)"

    shown = json.loads(fk(tmp_path, "work-orders", "show", "WO-2026-10412", "--json").stdout)
    assert shown["nominal_voltage"] == 277.0
    assert shown["meter_number"] == "M16-0065432"
    assert shown["source"] == "csv"
    assert shown["meter_class"] == "CL20"
    human = fk(tmp_path, "work-orders", "show", "WO-2026-10412").stdout
    assert "3ph-4w-wye" in human
    assert "200-0193-11" in human


def test_empty_laptop_lists_nothing_and_says_what_to_do(tmp_path: Path) -> None:
    result = fk(tmp_path, "work-orders", "list")
    assert result.code == 0, result.stderr
    assert "fieldkit work-orders import" in result.stdout
    listed = json.loads(fk(tmp_path, "work-orders", "list", "--json").stdout)
    assert listed == {"schema_version": 1, "document": "work_orders", "work_orders": []}


BAD_FILES: dict[str, tuple[str, str]] = {
    "missing required column": (
        "work_order_id,meter_number,service_type\nWO-1,M-1,1ph-3w\n",
        "row 1 (header): missing required column 'nominal_voltage'",
    ),
    "bad number": (
        "work_order_id,meter_number,service_type,nominal_voltage\n"
        "WO-2026-10412,M-1,1ph-3w,240\nWO-9,M-9,1ph-3w,two-forty\n",
        "row 3, nominal_voltage: 'two-forty' is not a number",
    ),
    "bad service type": (
        "work_order_id,meter_number,service_type,nominal_voltage\nWO-1,M-1,wye,120\n",
        "row 2, service_type: 'wye' is not one of",
    ),
    "bad date": (
        "work_order_id,meter_number,service_type,nominal_voltage,last_read_at\n"
        "WO-1,M-1,1ph-3w,240,yesterday\n",
        "row 2, last_read_at: 'yesterday' is not an ISO 8601 date",
    ),
    "unknown column": (
        "work_order_id,meter_number,service_type,nominal_voltage,badge\nWO-1,M-1,1ph-3w,240,7\n",
        "row 1 (header): unknown column 'badge'",
    ),
    "duplicate id": (
        "work_order_id,meter_number,service_type,nominal_voltage\n"
        "WO-1,M-1,1ph-3w,240\nWO-1,M-2,1ph-3w,240\n",
        "row 3, work_order_id: 'WO-1' is already on row 2",
    ),
    "empty file": ("", ": the file is empty"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_file_is_one_line_and_leaves_the_database_as_it_was(tmp_path: Path, kind: str) -> None:
    assert fk(tmp_path, "work-orders", "import", str(EXAMPLE)).code == 0
    before = stored_rows(tmp_path)
    text, expected = BAD_FILES[kind]
    bad = tmp_path / "orders.csv"
    bad.write_text(text, encoding="utf-8")
    result = fk(tmp_path, "work-orders", "import", str(bad))
    assert result.code == 1
    line = one_line_error(result)
    assert line.startswith("fieldkit: orders.csv")
    assert expected in line
    assert result.stdout == ""
    assert stored_rows(tmp_path) == before


@pytest.mark.parametrize("columns", [120, 80, 60])
def test_list_follows_the_terminal_width(tmp_path: Path, columns: int) -> None:
    assert fk(tmp_path, "work-orders", "import", str(EXAMPLE)).code == 0
    result = run_cli(
        "work-orders", "list", env={"FIELDKIT_HOME": str(tmp_path), "COLUMNS": str(columns)}
    )
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    text = result.stdout
    # Ids and meter numbers are whole on every width; the address wraps, never the ids.
    for order_id in ("WO-2026-10411", "WO-2026-10412", "WO-2026-10413"):
        assert order_id in text
    assert "M16-0065432" in text
    assert "Springfield" in text
    if columns == 60:
        assert "status" not in lines[0]  # given up first on a narrow screen
