"""Shared fixtures: the public vectors (copied into tests/vectors/) and simulated meters."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from simulators.c1218.options import SimOptions
from simulators.c1218.server import RunningSimulator, start
from tests.isolation import ProcessState, running_loop_problem, shuffled

# CI shares two cores with simulators and subprocesses: a slow example is not a failure.
settings.register_profile(
    "fieldkit", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("fieldkit")

VECTORS = Path(__file__).resolve().parent / "vectors"


def _test_order() -> tuple[str, str]:
    """``(how, seed)`` from ``FIELDKIT_TEST_ORDER``: ``file`` (pytest's), ``reverse`` or
    ``shuffle[:SEED]`` (a fresh seed when none is given; the header prints it)."""
    how, _, seed = os.environ.get("FIELDKIT_TEST_ORDER", "file").partition(":")
    if how not in {"file", "reverse", "shuffle"}:
        raise pytest.UsageError(
            f"FIELDKIT_TEST_ORDER={how!r}: use file, reverse, shuffle or shuffle:SEED"
        )
    # xdist workers must agree on the order: without a seed they share the run's id.
    return how, seed or os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:8] or secrets.token_hex(4)


_ORDER = pytest.StashKey[tuple[str, str]]()


def pytest_configure(config: pytest.Config) -> None:
    """Read the test order once (a bad value stops the run with a one-line error)."""
    config.stash[_ORDER] = _test_order()


def pytest_report_header(config: pytest.Config) -> str | None:
    """Name the order, so that a failure in a shuffled run can be replayed."""
    how, seed = config.stash[_ORDER]
    if how == "shuffle":
        return f"test order: FIELDKIT_TEST_ORDER=shuffle:{seed}"
    return "test order: reverse" if how == "reverse" else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the tests in the order ``FIELDKIT_TEST_ORDER`` asks for (see tests/isolation.py)."""
    how, seed = config.stash[_ORDER]
    if how == "reverse":
        items.reverse()
    elif how == "shuffle":
        items[:] = shuffled(items, seed)


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
