"""What the app needs from the laptop's services, as small Protocols.

The app receives its services (``FieldkitApp(store=..., sync_client=...)``) and knows them
only through :class:`FieldStore` and :class:`SyncClient`. The laptop's are
:class:`~fieldkit.tui.visit_store.VisitLogStore` (work orders, the visit log and its outbox,
on :class:`DatabaseWorkOrders`) and :class:`~fieldkit.tui.sync_adapter.LaptopSync`. Nothing
here imports Textual.

Every method may block (SQLite, HTTP): the app calls them from thread workers only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, get_args

from fieldkit.model import CheckStatus, WorkOrder

if TYPE_CHECKING:
    # The visit workflow (checks, wire schema) loads when the first read runs, not at start.
    from fieldkit.visit import VisitResult

__all__ = [
    "OUTCOME_CODES",
    "Adjustment",
    "DatabaseWorkOrders",
    "FieldStore",
    "OutcomeCode",
    "ServiceError",
    "SyncClient",
    "SyncItem",
    "SyncReport",
    "VisitRecord",
    "VisitSummary",
    "WorkOrderSource",
]

OutcomeCode = Literal[
    "resolved", "follow_up", "replace_meter", "customer_side", "no_access", "no_comms"
]
OUTCOME_CODES: tuple[OutcomeCode, ...] = get_args(OutcomeCode)


class ServiceError(Exception):
    """A service could not do what the app asked; the message is one line for the screen."""


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One adjustment tried at the meter (set clock, demand reset) and what the meter said."""

    procedure: str  # "set_clock", "demand_reset"
    at: datetime
    before: str
    after: str
    ok: bool
    message: str  # the meter's answer, or why it refused, in words


@dataclass(frozen=True, slots=True)
class VisitRecord:
    """A visit as the technician closes it: what was read and judged, what was done, why.

    ``result`` is None when the meter was never read (no access, no comms). ``outcome``
    None: saved open, not closed (the app was shut down before the technician closed it;
    ``fieldkit visits close`` closes it).
    """

    meter_number: str
    work_order_id: str | None
    started_at: datetime
    closed_at: datetime
    outcome: OutcomeCode | None
    notes: str
    result: VisitResult | None = None
    adjustments: tuple[Adjustment, ...] = ()

    @property
    def verdict(self) -> CheckStatus | None:
        """The checks' overall verdict, or None without a read."""
        return None if self.result is None else self.result.verdict


@dataclass(frozen=True, slots=True)
class VisitSummary:
    """One saved visit, as the site screen lists the meter's previous visits."""

    visit_id: str
    meter_number: str
    work_order_id: str | None
    closed_at: datetime
    outcome: OutcomeCode | None  # None: a visit still open (a CLI check saved without one)
    verdict: CheckStatus | None
    notes: str


SyncState = Literal["pending", "rejected"]


@dataclass(frozen=True, slots=True)
class SyncItem:
    """One outbox item that has not reached the office, or that the office refused."""

    item_id: str
    summary: str
    state: SyncState
    reason: str | None = None  # why the office refused it (rejected items)


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one "sync now" did."""

    pushed: int = 0
    pulled: int = 0
    rejected: int = 0
    error: str | None = None  # one line when the sync could not run (no network, ...)


class WorkOrderSource(Protocol):
    """Where the technician's work orders come from."""

    def open_work_orders(self) -> list[WorkOrder]:
        """The open orders, soonest scheduled first."""
        ...

    def work_order(self, work_order_id: str) -> WorkOrder | None:
        """One order by id, or None."""
        ...


class FieldStore(WorkOrderSource, Protocol):
    """The laptop store as the app uses it: work orders in, visits out."""

    def save_visit(self, visit: VisitRecord) -> str:
        """Save the visit and its outbox item; return its id only once committed.

        Raises :class:`ServiceError` when nothing was saved.
        """
        ...

    def previous_visits(self, meter_number: str) -> list[VisitSummary]:
        """Visits saved for this meter, newest first."""
        ...

    def sync_items(self) -> list[SyncItem]:
        """Outbox items not yet accepted by the office: pending first, then rejected."""
        ...


class SyncClient(Protocol):
    """The sync client as the app uses it (issue 10)."""

    def last_sync(self) -> datetime | None:
        """When the last sync finished, or None if this laptop never synced."""
        ...

    def pending(self) -> int:
        """Outbox items waiting to be pushed."""
        ...

    def sync_now(self) -> SyncReport:
        """Push the outbox, pull the feed; never raises for a network problem (see error)."""
        ...


class DatabaseWorkOrders:
    """Work orders from the laptop database (:mod:`fieldkit.store`); one connection per call.

    A connection per call keeps SQLite's one-thread-per-connection rule whichever worker
    thread the app calls from.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path

    def open_work_orders(self) -> list[WorkOrder]:
        """The open orders, soonest scheduled first."""
        from fieldkit import store

        try:
            with store.database(self._path) as db:
                return store.list_open(db)
        except store.StoreError as exc:
            raise ServiceError(str(exc)) from exc

    def work_order(self, work_order_id: str) -> WorkOrder | None:
        """One order by id, or None."""
        from fieldkit import store

        try:
            with store.database(self._path) as db:
                return store.get(db, work_order_id)
        except store.StoreError as exc:
            raise ServiceError(str(exc)) from exc
