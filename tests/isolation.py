"""What one test may not leave behind for the next one in the same process.

``make test`` runs the suite on two xdist workers, so a leak there only shows when a
victim happens to share a worker with its cause; a developer's plain ``pytest`` runs every
test in one process and meets all of them. ``tests/conftest.py`` takes a ``ProcessState``
before each test and compares it after: a test that changed one of these fails (its
teardown errors, naming what changed) and the state is put back, so the tests after it
still run on a clean process.

``FIELDKIT_TEST_ORDER=shuffle`` (or ``shuffle:SEED``) runs the tests in a random order
(see ``shuffled``); ``FIELDKIT_TEST_ORDER=reverse`` runs them last to first. Either shows
a test that passes only after another one, in one process: ``pytest -p no:xdist``.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from hypothesis import settings

T = TypeVar("T")

# The handlers a test may install for the length of a command (the CLI's Ctrl+C, the
# demo's SIGTERM) and must put back.
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# pytest itself names the running test and its phase here.
OWN_VARIABLES = frozenset({"PYTEST_CURRENT_TEST"})


class _Unknown:
    """A signal handler Python cannot name (set from C): compared by identity only."""


def _handler(signum: int) -> object:
    handler = signal.getsignal(signum)
    return _Unknown if handler is None else handler


@dataclass(frozen=True)
class ProcessState:
    """The parts of the test process that outlive a test unless it puts them back."""

    environ: dict[str, str]
    cwd: str
    path: list[str]
    handlers: dict[int, object]
    policy: asyncio.AbstractEventLoopPolicy
    hypothesis_profile: str

    @classmethod
    def take(cls) -> ProcessState:
        """The state now."""
        return cls(
            environ=dict(os.environ),
            cwd=os.getcwd(),
            path=list(sys.path),
            handlers={s: _handler(s) for s in SIGNALS},
            policy=asyncio.get_event_loop_policy(),
            hypothesis_profile=settings.get_current_profile_name(),
        )

    def changes_since(self, before: ProcessState) -> list[str]:
        """One line per thing that differs from ``before``, saying what a fix would touch."""
        changes: list[str] = []
        for key in sorted((before.environ.keys() | self.environ.keys()) - OWN_VARIABLES):
            old, new = before.environ.get(key), self.environ.get(key)
            if old != new:
                changes.append(
                    f"environment variable {key}: {old!r} -> {new!r} (use monkeypatch.setenv)"
                )
        if self.cwd != before.cwd:
            changes.append(f"working directory: {before.cwd} -> {self.cwd} (use monkeypatch.chdir)")
        if self.path != before.path:
            changes.append("sys.path changed (use monkeypatch.syspath_prepend)")
        for signum in SIGNALS:
            if self.handlers[signum] is not before.handlers[signum]:
                changes.append(
                    f"{signal.Signals(signum).name} handler: {before.handlers[signum]!r} -> "
                    f"{self.handlers[signum]!r} (restore the previous handler)"
                )
        if self.policy is not before.policy:
            changes.append("asyncio event loop policy replaced (restore it in a finally)")
        if self.hypothesis_profile != before.hypothesis_profile:
            changes.append(
                f"Hypothesis profile: {before.hypothesis_profile} -> {self.hypothesis_profile}"
                " (use @settings on the test instead)"
            )
        return changes

    def restore(self) -> None:
        """Put the process back as it was when this state was taken."""
        for key in set(os.environ) - set(self.environ) - OWN_VARIABLES:
            del os.environ[key]
        os.environ.update({k: v for k, v in self.environ.items() if k not in OWN_VARIABLES})
        os.chdir(self.cwd)
        sys.path[:] = self.path
        for signum, handler in self.handlers.items():
            if handler is not _Unknown:
                signal.signal(signum, handler)  # type: ignore[arg-type]
        asyncio.set_event_loop_policy(self.policy)
        settings.load_profile(self.hypothesis_profile)


def running_loop_problem() -> str | None:
    """Why a test cannot start its own event loop in the main thread, or None if it can."""
    loop = asyncio._get_running_loop()
    if loop is None:
        return None
    return (
        f"an asyncio loop is still marked as running in the main thread ({loop!r}): "
        "asyncio.run() and the app's Pilot tests would fail with 'Cannot run the event loop "
        "while another loop is running'. Playwright's sync API does this while it is alive: "
        "keep its fixture scoped to the tests that use it."
    )


def shuffled(items: list[T], seed: str) -> list[T]:
    """``items`` (pytest's test items) in a random order that keeps each module's tests
    together and each directory's modules together, so module- and package-scoped fixtures
    (chromium, the office server) still start once; the same ``seed`` gives the same order.
    """
    chance = random.Random(seed)

    def groups(things: list[T], key: Callable[[T], str]) -> list[list[T]]:
        grouped: dict[str, list[T]] = {}
        for thing in things:
            grouped.setdefault(key(thing), []).append(thing)
        parts = list(grouped.values())
        chance.shuffle(parts)
        return parts

    def node(item: T) -> str:
        return str(getattr(item, "nodeid", item))

    order: list[T] = []
    for folder in groups(items, lambda i: node(i).split("::")[0].rpartition("/")[0]):
        for module in groups(folder, lambda i: node(i).split("::")[0]):
            chance.shuffle(module)
            order.extend(module)
    return order
