"""CPU-bound work in helper processes, beside the process that holds the database.

One server process runs Python on one core at a time. On SQLite that process is also the
one writer, so a push's parsing and validation (three quarters of its CPU) and the writes
of the batch before it take turns on that core while the machine's others sit idle. A
:class:`CpuPool` runs such pure functions in spawned helper processes instead, and the
writer only writes.

The pool is an optimisation, never a dependency: until its helpers have started (they
import the schema first, a fraction of a second), with no helpers configured, or after a
helper died, the same function runs in the server's thread pool and gives the same
answer. Helpers that hang (stopped, or one stuck in a call) are killed and replaced once
a call has waited ``hung_after`` seconds for them, so the requests waiting on them are
answered from the thread pool rather than never. A helper exits when the server does,
even on ``kill -9`` (it watches its parent), so no orphan holds the database's directory
or a terminal's pipes; one that does not stop when told is killed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import TypeVar, cast

from starlette.concurrency import run_in_threadpool

__all__ = ["CpuPool"]

log = logging.getLogger(__name__)

T = TypeVar("T")

HELPER_NICENESS = 10
"""How much lower a helper's CPU priority is than its server's (``nice``)."""


def _watch_parent() -> None:
    """In a helper: leave at once when the server process is gone (whatever killed it)."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        wait([parent.sentinel])
    os._exit(0)


def _start_helper() -> None:
    # A Ctrl+C in the terminal reaches the whole process group: the server shuts its
    # helpers down itself, so they ignore it rather than print a traceback each.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The writer is the one part that cannot run in parallel: when the cores are contended
    # it runs first, and a helper takes what is left (it only needs to stay a batch ahead;
    # with the cores free, niceness changes nothing).
    os.nice(HELPER_NICENESS)
    threading.Thread(target=_watch_parent, name="watch-parent", daemon=True).start()


def _ready() -> object:
    return os.getpid()


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored for the block, in the main thread (the only one that may change how
    signals are handled; apps run by tests start elsewhere, and keep the default). A
    Ctrl+C in these few milliseconds is lost: press it again."""
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGINT) is None  # set outside Python: not ours to restore
    ):
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Unshipped(Exception):
    """In a helper: the call's result or exception would not cross back whole."""


def _call(function: Callable[..., object], *args: object) -> bytes:
    """In a helper: ``function(*args)`` without the cyclic garbage collector, its result
    pickled here.

    A call's objects (a push's parsed batch: ~200,000 of them) are freed by their
    reference counts as it returns; left on, the collector would walk them several times
    over while they are being built (a fifth of a push's preparation). What cycles a call
    does leave are collected when it re-enables after the call.

    What would not pickle, or not unpickle, is :class:`_Unshipped` instead: sent as it is,
    the executor would answer a pickling error for it, or take the helper for dead.
    """
    gc.disable()
    try:
        try:
            result = function(*args)
        except Exception as exc:
            try:
                pickle.loads(pickle.dumps(exc))  # noqa: S301 - made by this very call
            except Exception:
                raise _Unshipped from None
            raise
        try:
            return pickle.dumps(result, pickle.HIGHEST_PROTOCOL)
        except Exception:
            raise _Unshipped from None
    finally:
        gc.enable()


class CpuPool:
    """Runs pure, picklable functions in ``processes`` spawned helpers (0: in the thread
    pool). :meth:`start` in the app's lifespan, :meth:`close` at its end."""

    def __init__(
        self,
        processes: int,
        warm_up: Callable[[], object] | None = None,
        *,
        hung_after: float = 30.0,
    ) -> None:
        self.processes = processes
        self.hung_after = hung_after
        """Seconds a call may wait for the helpers before they are taken for hung and
        killed (a push is prepared in well under one, and waits only for those queued
        before it: hundreds of pushes at once would be needed to wait this long)."""
        self._warm_up = warm_up
        self._executor: ProcessPoolExecutor | None = None
        self._started: Future[object] | None = None

    def start(self) -> None:
        """Spawn the helpers (without waiting for them: calls run in threads meanwhile)."""
        if self.processes <= 0 or self._executor is not None:
            return
        # spawn, not fork: the server has threads and open database connections, which a
        # forked child would inherit in whatever state they were.
        self._executor = ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_helper,
        )
        # Every helper now (a submit spawns one while none is idle), so that each inherits
        # SIGINT ignored from its very start: a Ctrl+C in the terminal reaches the whole
        # process group, and a helper still importing could not ignore it yet itself.
        warm_up = self._warm_up or _ready
        with _sigint_ignored():
            started = [self._executor.submit(warm_up) for _ in range(self.processes)]
        self._started = started[0]

    @property
    def ready(self) -> bool:
        """Whether calls go to the helpers now."""
        started = self._started
        return started is not None and started.done() and started.exception() is None

    async def wait_ready(self, timeout: float = 30.0) -> bool:
        """Wait until the helpers answer (tests, and a server that wants them from the
        first request); False when there are none or they failed to start."""
        if self._started is None:
            return False
        try:
            await asyncio.wait_for(asyncio.wrap_future(self._started), timeout)
        except Exception as exc:  # a failed start falls back to threads, and is logged
            log.warning("the helper processes did not start: %s", exc)
            return False
        return True

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` in a helper when they are ready, else in the thread pool.

        Exceptions ``function`` raises come back as they were raised. A result or an
        exception that cannot cross back from the helper, a call whose helper died
        (killed, out of memory: it is replaced) and one still waiting when the pool
        closes are run in the thread pool instead, so the request still gets the answer
        it would have had there.
        """
        executor = self._executor
        if executor is None or not self.ready:
            return await run_in_threadpool(function, *args)
        try:
            waiting = asyncio.wrap_future(executor.submit(_call, function, *args))
            try:
                while not (await asyncio.wait({waiting}, timeout=self.hung_after))[0]:
                    # Stuck in a helper that hangs, even if another one goes on
                    # answering: taken for hung by how long this call has waited.
                    log.warning(
                        "a call waited %.0f s for the helper processes: killing them",
                        self.hung_after,
                    )
                    _kill(executor)  # its calls fail with BrokenProcessPool, below
            except asyncio.CancelledError:
                waiting.cancel()  # the request is gone: a call still waiting need not run
                raise
            if not waiting.cancelled():  # cancelled: dropped by close(), not answered
                result: T = pickle.loads(waiting.result())  # noqa: S301 - from our helper
                return result
        except BrokenProcessPool:
            log.warning("a helper process died: starting new ones; this request runs here")
            self._restart(executor)
        except _Unshipped:
            pass  # the thread pool gives the call's own answer, and its traceback
        return await run_in_threadpool(function, *args)

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        if self._executor is not broken:  # another request restarted it already
            return
        self._executor = None
        self._started = None
        broken.shutdown(wait=False, cancel_futures=True)
        self.start()

    def close(self, grace: float = 5.0) -> None:
        """Stop the helpers: what they run is finished, what waits is cancelled; one still
        running ``grace`` seconds later is killed (a server must stop even when a helper
        hangs)."""
        executor, self._executor, self._started = self._executor, None, None
        if executor is None:
            return
        # Watched by their sentinels, not joined: the executor's own thread reaps them, and
        # a second waitpid() racing it would take a helper that has just exited for alive.
        running = {helper.sentinel: helper for helper in _processes(executor)}
        manager = getattr(executor, "_executor_manager_thread", None)
        executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + grace
        while running and (left := deadline - time.monotonic()) > 0:
            for ended in wait(list(running), left):
                del running[cast(int, ended)]
        if running:
            log.warning("a helper process did not stop in %.0f s: killing it", grace)
            for helper in running.values():
                helper.kill()
        if isinstance(manager, threading.Thread):
            # It closes the queues to the helpers (their semaphores): left running at exit,
            # multiprocessing's resource tracker warns of leaked semaphores.
            manager.join(grace)


def _processes(executor: ProcessPoolExecutor) -> list[BaseProcess]:
    # The executor's own record of its processes (private, but stable since 3.8; 3.14 adds
    # terminate_workers() and kill_workers()): None once it is shut down.
    return list((executor._processes or {}).values())


def _kill(executor: ProcessPoolExecutor) -> None:
    for helper in _processes(executor):
        helper.kill()
