"""The app's :class:`~fieldkit.tui.services.SyncClient` on the laptop's sync.

:class:`LaptopSync` calls :func:`fieldkit.sync.laptop.sync_laptop` and
:func:`~fieldkit.sync.laptop.sync_status` — what ``fieldkit sync`` and ``fieldkit sync
status`` run — imported on first use so the app's first screen does not wait for httpx.
Every method may block (HTTP, SQLite): the app calls them from thread workers. A sync that
cannot run (not enrolled, no network, a refusal) comes back as a
:class:`~fieldkit.tui.services.SyncReport` whose ``error`` is the one line the sync module
raised, never as an exception. Rejected ops (and why) are in the outbox itself, where
:class:`~fieldkit.tui.visit_store.VisitLogStore` reads them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from fieldkit.tui.services import SyncReport

if TYPE_CHECKING:
    from fieldkit.sync.laptop import SyncStatus

__all__ = ["LaptopSync"]


class LaptopSync:
    """Sync now, last sync and pending count for the laptop in ``FIELDKIT_HOME``.

    ``timeout`` is each HTTP request's, in seconds; ``attempts`` how often each request is
    tried on a bad link (as ``fieldkit sync --attempts``).
    """

    def __init__(self, *, timeout: float = 10.0, attempts: int = 5) -> None:
        self._timeout = timeout
        self._attempts = attempts

    def status(self) -> SyncStatus | None:
        """Where the laptop's sync stands, or None when its store cannot be read."""
        from fieldkit.sync import laptop

        try:
            return laptop.sync_status()
        except laptop.SyncError:
            return None

    def last_sync(self) -> datetime | None:
        """When the last sync attempt ended, or None (never)."""
        status = self.status()
        return None if status is None else status.last_sync_at

    def pending(self) -> int:
        """Outbox ops waiting to be pushed (0 when the store cannot be read)."""
        status = self.status()
        return 0 if status is None else status.pending

    def sync_now(self) -> SyncReport:
        """Push the outbox and pull the feed; a failure is ``error``, one line, never raised."""
        from fieldkit.sync import laptop

        try:
            result = laptop.sync_laptop(timeout=self._timeout, attempts=self._attempts)
        except laptop.SyncError as exc:
            # What got through before the failure is in the store already; say what failed.
            return SyncReport(error=_one_line(exc))
        return SyncReport(
            pushed=result.acknowledged + result.duplicates,
            pulled=result.work_orders,
            rejected=len(result.rejected),
            error=None,
        )


def _one_line(problem: object) -> str:
    text = str(problem).strip() or type(problem).__name__
    return text.splitlines()[0]
