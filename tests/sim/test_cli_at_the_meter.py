"""Issue 7: the command line at the meter, run as a user's machine runs it.

Every command runs as a subprocess with the console encoding and width a field laptop
has (PYTHONIOENCODING, COLUMNS): a Windows console in cp1252, a redirect in ASCII, an
80-column terminal.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli

pytestmark = pytest.mark.sim

# A home of its own for every run: once check saves visits, they land there.
_HOME = Path(tempfile.mkdtemp(prefix="fieldkit-cli-test-"))
LAPTOP = {"COLUMNS": "80", "FIELDKIT_HOME": str(_HOME)}
NOWHERE = "socket://127.0.0.1:9"  # nothing listens: a test that reaches it fails loudly


@pytest.mark.parametrize("encoding", ["cp1252", "ascii"])
def test_check_prints_its_whole_verdict_on_a_console_that_is_not_utf8(
    sim: Any, encoding: str
) -> None:
    simulator = sim("reversed-ct-16s")
    env = {**LAPTOP, "PYTHONIOENCODING": encoding}
    result = run_cli(
        "check", "--port", simulator.url, "--service-type", "3ph-4w-wye",
        "--nominal-voltage", "120", env=env,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "unexpected error" not in result.stderr
    assert "Overall verdict: FAIL (" in result.stdout
    out = result.stdout
    if encoding == "ascii":
        assert out.isascii()
        assert "deg" in out


def test_check_fits_80_columns_without_cutting_names(sim: Any) -> None:
    simulator = sim("healthy-16s")
    result = run_cli(
        "check", "--port", simulator.url, "--service-type", "3ph-4w-wye",
        "--nominal-voltage", "120", env=LAPTOP,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    for name in ("inactive_phase_current", "meter_temperature", "voltage_imbalance"):
        assert any(name in line for line in lines), name  # whole, never "meter_tempera..."
    assert "..." not in result.stdout


def test_a_check_without_expectation_names_what_it_could_not_judge(sim: Any) -> None:
    simulator = sim("healthy-2s")
    result = run_cli("check", "--port", simulator.url, env=LAPTOP)
    assert result.code == 0, result.stderr
    verdict = next(line for line in result.stdout.splitlines() if "Overall verdict" in line)
    skips = int(verdict.split(" skip")[0].rsplit(" ", 1)[1])
    assert skips > 0
    assert "Not judged:" in result.stdout
    assert "service_voltage" in result.stdout.split("Not judged:")[1]


def test_detail_shows_measured_and_expected(sim: Any) -> None:
    simulator = sim("healthy-2s")
    result = run_cli(
        "check", "--port", simulator.url, "--service-type", "1ph-3w",
        "--nominal-voltage", "240", "--detail", env=LAPTOP,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert "measured" in result.stdout
    assert "expected" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["read", "--port", NOWHERE, "--password-hex", "zz"], "--password-hex: not hex"),
        (
            ["check", "--port", NOWHERE, "--service-type", "3-phase", "--nominal-voltage", "240"],
            "--service-type: '3-phase' is not a service type (1ph-2w,",
        ),
        (
            [
                "check", "--port", NOWHERE, "--service-type", "1ph-3w",
                "--nominal-voltage", "240", "--last-read-date", "03/12/2025",
            ],
            "write it as YYYY-MM-DD",
        ),
        (["read", "--port", "socket://127.0.0.1"], "has no port number: write it as socket://HOST:PORT"),
        (
            ["check", "--port", NOWHERE, "--service-type", "1ph-3w", "--nominal-voltage", "nan"],
            "--nominal-voltage: nan is not a voltage",
        ),
        (
            ["check", "--port", NOWHERE, "--service-type", "1ph-3w", "--nominal-voltage", "2"],
            "--nominal-voltage: 2 V is not a plausible service voltage",
        ),
        (
            [
                "check", "--port", NOWHERE, "--service-type", "1ph-3w",
                "--nominal-voltage", "240", "--last-read-kwh", "-5",
            ],
            "--last-read-kwh: a register read is never negative",
        ),
        (["read", "--port", NOWHERE, "--baud", "1234"], "--baud: 1234 baud cannot be negotiated"),
        (["read", "--port", NOWHERE, "--protocol", "dlms"], "is not a protocol this kit speaks"),
        (["demo", "--scenario", "no-such-scenario"], "no scenario called 'no-such-scenario'"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2_in_a_technicians_words(args: list[str], message: str) -> None:
    result = run_cli(*args, env={**LAPTOP, "PYTHONIOENCODING": "cp1252"})
    assert result.code == 2, (result.stdout, result.stderr)
    assert message in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "Invalid value" not in result.stderr  # not click's boxed panel


def test_the_service_type_is_taken_in_any_case(sim: Any) -> None:
    simulator = sim("healthy-2s")
    result = run_cli(
        "check", "--port", simulator.url, "--service-type", "1PH-3W",
        "--nominal-voltage", "240", "--json", env=LAPTOP,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["expectation"]["service_type"] == "1ph-3w"


@pytest.mark.parametrize(
    ("port", "message"),
    [
        ("/etc/hostname", "is not a serial port: give the probe's device ('fieldkit ports')"),
        ("/dev/ttyFIELDKIT-NONE", "there is no device /dev/ttyFIELDKIT-NONE"),
    ],
)
def test_a_port_that_cannot_be_a_probe_is_said_and_exits_1(port: str, message: str) -> None:
    result = run_cli("read", "--port", port, env=LAPTOP)
    assert result.code == 1
    assert message in result.stderr
    assert "fieldkit ports" in result.stderr


def test_a_capture_in_a_missing_folder_is_refused_before_the_meter_is_read(tmp_path: Path) -> None:
    result = run_cli("read", "--port", NOWHERE, "--capture", str(tmp_path / "no" / "c.json"))
    assert result.code == 2
    assert "does not exist" in result.stderr


def test_a_broken_saved_read_names_the_field(tmp_path: Path) -> None:
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "v0.1.0" / "read-healthy-16s.json"
    data = json.loads(fixture.read_text(encoding="utf-8"))
    data["identity"]["serial_number"] = ["not", "text"]
    saved = tmp_path / "read.json"
    saved.write_text(json.dumps(data), encoding="utf-8")
    result = run_cli("check", "--from-json", str(saved), env=LAPTOP)
    assert result.code == 1
    assert "serial_number" in result.stderr
    assert "Traceback" not in result.stderr


def test_one_broken_profile_is_reported_and_the_others_still_load(sim: Any, tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "broken.toml").write_text("this is = not [toml", encoding="utf-8")
    simulator = sim("healthy-2s")
    env = {**LAPTOP, "FIELDKIT_HOME": str(tmp_path)}
    result = run_cli("read", "--port", simulator.url, "--json", env=env)
    assert result.code == 0, result.stderr
    assert "broken.toml" in result.stderr
    assert "skipped" in result.stderr
    # The built-in profile for the simulated meter still names its registers.
    assert json.loads(result.stdout)["unavailable"] == []


def test_a_fieldkit_home_that_is_a_file_is_said_in_those_words(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder", encoding="utf-8")
    result = run_cli("work-orders", "list", env={**LAPTOP, "FIELDKIT_HOME": str(home)})
    assert result.code == 1
    assert f"FIELDKIT_HOME ({home}) is not a writable folder" in result.stderr


def test_demo_with_an_unknown_scenario_is_a_one_line_usage_error() -> None:
    result = run_cli("demo", "--scenario", "no-such-site")
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fieldkit: demo: ")
    assert "no-such-site" in lines[0]
    assert result.stdout == ""
