"""Helpers shared by the simulator-backed tests: scenario data and running the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "simulators" / "scenarios"


def scenario_data(name: str) -> dict[str, Any]:
    """The scenario file as the utility's side would know it (the work order part)."""
    data: dict[str, Any] = tomllib.loads((SCENARIOS / f"{name}.toml").read_text())
    return data


@dataclass
class CliResult:
    """What a command printed and returned."""

    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, timeout: float = 90.0, env: dict[str, str] | None = None) -> CliResult:
    """Run ``python -m fieldkit ARGS`` as a user would."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "fieldkit", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
