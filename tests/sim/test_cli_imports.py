"""``fieldkit read`` and ``fieldkit check`` load neither the app's UI toolkit nor the server.

A technician at the meter pays for every module the command imports before it can talk to
the meter (``benchmarks/check_wall.py`` measures it: the imports are half of a check's wall
time). The import contracts keep the packages below the app free of Textual; this runs the
real commands against a simulated meter, all the way to the saved visit, and looks at what
was in ``sys.modules`` when the process exited, so a lazy import that fires only during a
read (or one pulled in by a dependency) is caught as well.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.modbus.server import start as start_modbus
from tests.e2e.test_check_scenarios import work_order_args

pytestmark = pytest.mark.sim

# Textual (the app) and the server with its web stack and database layer.
FORBIDDEN = ("textual", "syncserver", "fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic")
FORBIDDEN += ("psycopg", "jinja2")

# Runs the CLI as ``python -m fieldkit`` does, and writes sys.modules at exit (after typer's
# SystemExit, so whatever the command imported on the way is there).
_RUN_AND_DUMP = (
    "import atexit, json, sys\n"
    "out = sys.argv.pop(1)\n"
    "atexit.register(lambda: open(out, 'w').write(json.dumps(sorted(sys.modules))))\n"
    "sys.argv[0] = 'fieldkit'\n"
    "{prelude}\n"
    "from fieldkit.cli import main\n"
    "main()\n"
)


def modules_after(
    tmp_path: Path, *args: str, prelude: str = ""
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``fieldkit ARGS``; what it printed and every module loaded when it exited."""
    dump = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _RUN_AND_DUMP.format(prelude=prelude), str(dump), *args],
        capture_output=True,
        text=True,
        timeout=90,
        env=dict(os.environ),
        check=False,
    )
    assert dump.exists(), done.stderr
    return done, set(json.loads(dump.read_text()))


def forbidden_in(modules: set[str]) -> list[str]:
    """The modules of the app or the server among ``modules``."""
    return sorted(m for m in modules if m.split(".")[0] in FORBIDDEN)


@pytest.fixture
def modbus_meter() -> Iterator[Any]:
    with start_modbus("healthy-16s", map_name="eastron-sdm630") as simulator:
        yield simulator


def test_check_saves_a_visit_without_loading_the_app_or_the_server(
    sim: Any, tmp_path: Path
) -> None:
    meter = sim("healthy-2s")
    done, modules = modules_after(
        tmp_path, "check", "--port", meter.url, *work_order_args("healthy-2s"), "-q", "--json"
    )

    assert done.returncode in (0, 1), done.stderr  # 1: a check failed; the visit is saved
    assert json.loads(done.stdout)["visit_id"]
    assert "fieldkit.drivers.c1218.client" in modules  # it did read the meter
    assert "fieldkit.store.visits" in modules  # ... and saved the visit
    assert forbidden_in(modules) == []


def test_read_loads_neither_the_app_nor_the_server(sim: Any, tmp_path: Path) -> None:
    meter = sim("healthy-16s")
    done, modules = modules_after(tmp_path, "read", "--port", meter.url, "--json")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["identity"]["model"] == "SIM-16S"
    assert forbidden_in(modules) == []


def test_a_modbus_check_loads_neither_the_app_nor_the_server(
    modbus_meter: Any, tmp_path: Path
) -> None:
    done, modules = modules_after(
        tmp_path,
        "check", "--protocol", "modbus", "--map", "eastron-sdm630", "--port", modbus_meter.url,
        "--service-type", "3ph-4w-wye", "--nominal-voltage", "230", "-q", "--json",
    )  # fmt: skip

    assert done.returncode in (0, 1), done.stderr
    assert json.loads(done.stdout)["protocol"] == "modbus"
    assert forbidden_in(modules) == []


def test_the_dump_sees_what_the_process_imported(tmp_path: Path) -> None:
    """Not blind: the same run with Textual and the server imported on the way shows both."""
    _, clean = modules_after(tmp_path, "--help")
    _, loaded = modules_after(tmp_path, "--help", prelude="import textual.app, syncserver.main")

    assert forbidden_in(clean) == []
    assert {"textual.app", "syncserver.main"} <= set(forbidden_in(loaded))
