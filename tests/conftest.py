"""Shared fixtures: the public vectors (copied into tests/vectors/) and simulated meters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from simulators.c1218.options import SimOptions
from simulators.c1218.server import RunningSimulator, start
from tests.isolation import ProcessState, running_loop_problem

# CI shares two cores with simulators and subprocesses: a slow example is not a failure.
settings.register_profile(
    "fieldkit", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("fieldkit")

VECTORS = Path(__file__).resolve().parent / "vectors"


@pytest.fixture(scope="session")
def c1218_vectors() -> dict[str, Any]:
    """The C12.18 frames made by implementations outside this project (see PROVENANCE.md)."""
    data: dict[str, Any] = json.loads((VECTORS / "c1218_frames.json").read_text())
    return data


@pytest.fixture(autouse=True)
def _process_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test leaves the process as it found it, so the suite passes serially in any order.

    Set up before ``monkeypatch`` (``_fieldkit_home`` asks for it first), so what
    monkeypatch undoes is back before the comparison. See tests/isolation.py.
    """
    if "browser" not in request.fixturenames:
        problem = running_loop_problem()
        if problem is not None:
            pytest.fail(problem, pytrace=False)
    before = ProcessState.take()
    yield
    changes = ProcessState.take().changes_since(before)
    if changes:
        before.restore()
        pytest.fail("the test left the process changed:\n  " + "\n  ".join(changes), pytrace=False)


@pytest.fixture(autouse=True)
def _fieldkit_home(
    _process_state: None, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test (and every CLI it runs) keeps its database, settings and secrets to itself.

    ``fieldkit check`` saves a visit by default: without this, tests would write into the
    developer's own visit log. A test that sets FIELDKIT_HOME itself overrides it.
    """
    monkeypatch.setenv("FIELDKIT_HOME", str(tmp_path_factory.mktemp("fieldkit-home")))
    monkeypatch.setenv("FIELDKIT_TECHNICIAN", "test technician")


@pytest.fixture
def sim() -> Iterator[Any]:
    """Start simulated meters: ``sim("healthy-2s", SimOptions(...), pty=False)``.

    Each listens on 127.0.0.1 (or a pty) and is stopped when the test ends.
    """
    running: list[RunningSimulator] = []

    def _start(scenario: str, options: SimOptions | None = None, pty: bool = False) -> Any:
        simulator = start(scenario, options=options or SimOptions(), pty=pty)
        running.append(simulator)
        return simulator

    yield _start
    for simulator in running:
        simulator.stop()
