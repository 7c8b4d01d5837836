"""The guard that keeps the suite passing serially names what a leaky test changed."""

from __future__ import annotations

import asyncio
import itertools
import signal
from pathlib import Path

import pytest

from tests.isolation import ProcessState, running_loop_problem, shuffled


def _a_handler(_signum: int, _frame: object) -> None:
    """Never installed: only what the patched ``signal.getsignal`` answers."""


def test_a_changed_variable_and_directory_are_named_and_put_back(tmp_path: Path) -> None:
    before = ProcessState.take()
    # A monkeypatch of its own: the test's one also holds the autouse FIELDKIT_HOME.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FIELDKIT_GUARD_PROBE", "1")
        patch.chdir(tmp_path)
        # A handler no process starts with (a shell gives a background job SIGINT as
        # SIG_IGN, so that would be no change there).
        patch.setattr(signal, "getsignal", lambda _s: _a_handler)
        changes = ProcessState.take().changes_since(before)
    assert any(c.startswith("environment variable FIELDKIT_GUARD_PROBE") for c in changes)
    assert any(c.startswith("working directory") for c in changes)
    assert any(c.startswith("SIGINT handler") for c in changes)
    assert ProcessState.take().changes_since(before) == []


def test_a_loop_left_running_in_the_main_thread_is_reported() -> None:
    assert running_loop_problem() is None

    async def inside() -> str | None:
        return running_loop_problem()

    problem = asyncio.run(inside())
    assert problem is not None
    assert "Playwright" in problem


def test_a_shuffle_keeps_modules_together_and_repeats_with_its_seed() -> None:
    items = [f"tests/{d}/test_{m}.py::t{i}" for d in "ab" for m in "xyz" for i in range(4)]
    order = shuffled(items, "7")
    assert sorted(order) == sorted(items)
    assert order == shuffled(items, "7")
    modules = [i.split("::")[0] for i in order]
    # Each module's tests are contiguous: the module changes exactly 5 times for 6 modules.
    assert sum(a != b for a, b in itertools.pairwise(modules)) == 5
