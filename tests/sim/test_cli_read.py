"""`fieldkit read` as a technician runs it: exit codes, one-line errors, JSON, captures."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.c1218.options import SimOptions
from tests.helpers import run_cli, scenario_data

pytestmark = pytest.mark.sim


def assert_one_line_error(stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("fieldkit: ")


def test_read_json_has_the_design_names(sim: Any) -> None:
    simulator = sim("healthy-16s")
    result = run_cli("read", "--port", simulator.url, "--json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["protocol"] == "c1218"
    assert data["identity"]["meter_id"] == scenario_data("healthy-16s")["meter"]["meter_id"]
    assert [p["phase"] for p in data["phases"]] == ["A", "B", "C"]
    assert {"drift_seconds", "meter_time", "reference_time"} <= set(data["clock"])
    assert data["status"]["active"] == []
    assert data["unavailable"] == []
    assert "frames" not in data  # raw frames go to --capture, not to stdout


def test_read_human_output_names_the_meter(sim: Any) -> None:
    simulator = sim("healthy-2s")
    result = run_cli("read", "--port", simulator.url)
    assert result.code == 0, result.stderr
    assert scenario_data("healthy-2s")["meter"]["meter_id"] in result.stdout
    assert "kwh_delivered" in result.stdout


def test_capture_keeps_frames_and_redacts_the_password(sim: Any, tmp_path: Path) -> None:
    simulator = sim("secured-2s")
    password = scenario_data("secured-2s")["security"]["passwords"][0]["text"]
    capture = tmp_path / "visit.frames"
    result = run_cli(
        "read", "--port", simulator.url, "--password", password, "--capture", str(capture)
    )
    assert result.code == 0, result.stderr
    text = capture.read_text()
    document = json.loads(text)
    assert (document["document"], document["result"], document["error"]) == (
        "capture",
        "complete",
        None,
    )
    assert len(document["frames"]) > 10
    assert document["stats"]["round_trips"] >= 10
    assert password.encode().hex() not in text
    assert password not in text
    tx = [f["data"] for f in document["frames"] if f["direction"] == "tx"]
    assert any("51" + "2a" * 20 in frame for frame in tx)  # Security, its password starred


def test_wrong_password_still_writes_the_capture(sim: Any, tmp_path: Path) -> None:
    simulator = sim("secured-2s")
    capture = tmp_path / "refused.json"
    result = run_cli(
        "read", "--port", simulator.url, "--password", "WRONG1", "--capture", str(capture)
    )
    assert result.code == 1
    assert_one_line_error(result.stderr)
    document = json.loads(capture.read_text())
    assert document["result"] == "failed"
    assert document["error_kind"] == "SecurityDenied"
    assert "password" in document["error"]
    assert b"WRONG1".hex() not in capture.read_text()
    # Identify, Negotiate, Logon, Security and the meter's answers are all there.
    assert len([f for f in document["frames"] if f["direction"] == "rx"]) >= 4


def test_meter_that_stops_answering_keeps_the_capture_and_what_was_read(
    sim: Any, tmp_path: Path
) -> None:
    simulator = sim("healthy-16s", SimOptions(stop_after=6))
    capture = tmp_path / "stalled.json"
    result = run_cli(
        "read",
        "--port",
        simulator.url,
        "--json",
        "--capture",
        str(capture),
        "--response-timeout",
        "0.3",
    )
    assert result.code == 1
    assert_one_line_error(result.stderr)
    document = json.loads(capture.read_text())
    assert document["result"] == "incomplete"
    assert document["error_kind"] == "SessionLost"
    assert document["frames"]
    # The six tables read before the meter went quiet are printed, marked incomplete.
    partial = json.loads(result.stdout)
    assert partial["incomplete"] == document["error"]
    assert partial["identity"]["meter_id"] == scenario_data("healthy-16s")["meter"]["meter_id"]
    assert partial["clock"] is not None


def test_wrong_password_one_line_and_nonzero(sim: Any) -> None:
    simulator = sim("secured-2s")
    result = run_cli("read", "--port", simulator.url, "--password", "WRONG")
    assert result.code == 1
    assert_one_line_error(result.stderr)
    assert "password" in result.stderr


def test_secured_meter_without_password_tells_what_to_do(sim: Any) -> None:
    simulator = sim("secured-2s")
    result = run_cli("read", "--port", simulator.url)
    assert result.code == 1
    assert_one_line_error(result.stderr)
    assert "--password" in result.stderr


@pytest.fixture
def silent_port() -> Iterator[str]:
    """A TCP peer that accepts the connection and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"socket://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_silent_port_one_line_and_nonzero(silent_port: str) -> None:
    result = run_cli("read", "--port", silent_port, "--response-timeout", "0.3")
    assert result.code == 1
    assert_one_line_error(result.stderr)
    assert "no answer" in result.stderr


def test_meter_dropping_mid_read_one_line_and_nonzero(sim: Any) -> None:
    simulator = sim("healthy-16s", SimOptions(stop_after=4))
    result = run_cli("read", "--port", simulator.url, "--response-timeout", "0.3")
    assert result.code == 1
    assert_one_line_error(result.stderr)


def test_port_that_does_not_exist(tmp_path: Path) -> None:
    result = run_cli("read", "--port", str(tmp_path / "ttyUSB9"))
    assert result.code == 1
    assert_one_line_error(result.stderr)
    assert "there is no device" in result.stderr
    assert "fieldkit ports" in result.stderr


def test_bad_password_hex_is_a_usage_error() -> None:
    result = run_cli("read", "--port", "socket://127.0.0.1:9", "--password-hex", "zz")
    assert result.code == 2
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--protocol", "dlms"), "fieldkit: --protocol: 'dlms' is not a protocol this kit speaks"),
        (("--port", " "), "fieldkit: --port: give the probe's port"),
    ],
)
def test_a_bad_protocol_or_port_is_a_usage_error_naming_the_option(
    args: tuple[str, ...], says: str
) -> None:
    result = run_cli("read", "--port", "socket://127.0.0.1:9", *args)
    assert result.code == 2
    assert_one_line_error(result.stderr)
    assert result.stderr.startswith(says), result.stderr


def test_ignore_toggle_still_reads_a_well_behaved_meter(sim: Any) -> None:
    simulator = sim("healthy-2s")
    result = run_cli("read", "--port", simulator.url, "--ignore-toggle", "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["unavailable"] == []


@pytest.mark.parametrize("password", ["X" * 21, "pässwort"])
def test_a_password_the_meter_cannot_take_is_a_usage_error(password: str) -> None:
    result = run_cli("read", "--port", "socket://127.0.0.1:9", "--password", password)
    assert result.code == 2
    assert "Traceback" not in result.stderr
    assert "unexpected" not in result.stderr


def test_ctrl_c_cancels_the_read_and_keeps_the_capture(sim: Any, tmp_path: Path) -> None:
    simulator = sim("healthy-16s", SimOptions(slow_ms=200))
    capture = tmp_path / "cancelled.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fieldkit",
            "read",
            "--port",
            simulator.url,
            "--capture",
            str(capture),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Into the tables at 200 ms an answer; waiting on the meter, not on the clock, so a slow
    # start (a loaded machine still importing) does not take the Ctrl-C for its own.
    deadline = time.monotonic() + 30.0
    while simulator.stats.requests < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert simulator.stats.requests >= 5, "the read never reached the tables"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 1, err
    line = err.strip()
    assert line.startswith("fieldkit: the read was cancelled (Ctrl-C)")
    # Once the tables are under way, it says where it stopped and how much was in.
    if line != "fieldkit: the read was cancelled (Ctrl-C)":
        assert " after ST" in line
        assert line.endswith("items read")
    document = json.loads(capture.read_text())
    assert document["result"] == "cancelled"
    assert document["error_kind"] == "ReadCancelled"
    assert document["frames"]
    assert "Traceback" not in out + err
