"""``fieldkit`` and ``fieldkit tui``: the app opens, ``--help`` still helps, and the CLI never
imports Textual until the app opens."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.test_demo import Terminal
from tests.helpers import run_cli


def test_the_cli_starts_without_textual() -> None:
    code = (
        "import sys, fieldkit.cli\n"
        "from fieldkit.cli import app\n"
        "assert 'textual' not in sys.modules, sorted(m for m in sys.modules if 'textual' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fieldkit_tui_is_a_command() -> None:
    result = run_cli("tui", "--help")
    assert result.code == 0
    assert "technician's app" in result.stdout
    listed = run_cli("--help")
    assert "tui" in listed.stdout


@pytest.mark.sim
def test_fieldkit_alone_opens_the_app_and_ctrl_q_quits_with_status_0() -> None:
    terminal = Terminal()  # `fieldkit` with no arguments, on a laptop with no orders yet
    try:
        terminal.wait_for("Work orders", "No open work orders on this laptop", timeout=60)
        terminal.send(b"\x11")  # ctrl+q
        assert terminal.exit_status() == 0, terminal.text[-2000:]
    finally:
        terminal.close()


def test_fieldkit_help_still_lists_the_commands() -> None:
    result = run_cli("--help")
    assert result.code == 0
    for command in ("read", "check", "demo", "sync", "tui"):
        assert command in result.stdout
