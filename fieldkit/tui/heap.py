"""When Python's cyclic garbage collector may run, so it never stalls the UI mid-read.

A full (oldest-generation) collection walks every tracked object while holding the
interpreter. With the kit loaded that is ~150,000 objects and 100-200 ms on the UI loop, at
a moment the allocator picks: during a read at 9600 baud that is the longest stall the app
had. Two measures, both measured by ``benchmarks/tui_latency.py``:

- :func:`settle` freezes what start-up built (modules, classes, schemas, the work-order
  list) once it is all loaded, so no later collection walks it again;
- :func:`pause` / :func:`resume` hold the collector off while a meter is read; memory is
  still freed by reference counting, only cycles wait until the read has ended.

Nothing here imports Textual.
"""

from __future__ import annotations

import gc

__all__ = ["pause", "paused", "resume", "settle"]

_held = False
_was_enabled = True


def settle() -> None:
    """Freeze every object alive now: later collections skip them (``gc.freeze``).

    No collection first: that would be the very stall this avoids. What start-up built
    lives as long as the app anyway.
    """
    gc.freeze()


def pause() -> None:
    """Hold automatic collections off until :func:`resume` (idempotent)."""
    global _held, _was_enabled
    if _held:
        return
    _held = True
    _was_enabled = gc.isenabled()
    gc.disable()


def resume() -> None:
    """Let the collector run again as it did before :func:`pause` (idempotent)."""
    global _held
    if not _held:
        return
    _held = False
    if _was_enabled:
        gc.enable()


def paused() -> bool:
    """True between :func:`pause` and :func:`resume`."""
    return _held
