"""``fieldkit tui``: registered, and the CLI never imports Textual until the app opens."""

from __future__ import annotations

import subprocess
import sys

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
