"""What the app needs from the laptop's services, as small Protocols, and today's adapters.

The app receives its services (``FieldkitApp(store=..., sync_client=...)``) and knows them
only through :class:`FieldStore` and :class:`SyncClient`. Nothing here imports Textual, so
the adapters are tested without the app and the real store and sync client (issues 8 and
10) can be checked against the same Protocols when they land.

Today's adapters:

- :class:`StoreWithInMemoryVisits` reads work orders from the laptop database
  (:mod:`fieldkit.store`) and keeps visits in an :class:`InMemoryVisitLog`: **visits are
  lost when the app quits** (``durable`` is False, and the close screen says so). It is
  the stand-in until the visit log and outbox of issue 8 land.
- :class:`InMemoryWorkOrders` holds a fixed list of orders (tests, the demo, screenshots).

Every method may block (SQLite, HTTP): the app calls them from thread workers only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
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
    "FieldStore",
    "InMemoryVisitLog",
    "InMemoryWorkOrders",
    "OutcomeCode",
    "ServiceError",
    "StoreWithInMemoryVisits",
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

    ``result`` is None when the meter was never read (no access, no comms).
    """

    meter_number: str
    work_order_id: str | None
    started_at: datetime
    closed_at: datetime
    outcome: OutcomeCode
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

    @property
    def durable(self) -> bool:
        """True when a saved visit survives the app quitting (committed to disk)."""
        ...

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


class InMemoryWorkOrders:
    """A fixed list of work orders (tests, the demo, screenshots)."""

    def __init__(self, orders: Iterable[WorkOrder]) -> None:
        self._orders = tuple(orders)

    def open_work_orders(self) -> list[WorkOrder]:
        """The open orders in their given order."""
        return [o for o in self._orders if o.is_open]

    def work_order(self, work_order_id: str) -> WorkOrder | None:
        """One order by id, or None."""
        return next((o for o in self._orders if o.work_order_id == work_order_id), None)


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


@dataclass
class InMemoryVisitLog:
    """Visits kept in this process only: the stand-in until issue 8's visit log lands.

    Thread-safe. Every saved visit stays "pending" (nothing syncs it); ids are
    ``memory-1``, ``memory-2``, ...
    """

    _visits: list[tuple[str, VisitRecord]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def save(self, visit: VisitRecord) -> str:
        """Keep the visit; its id."""
        with self._lock:
            visit_id = f"memory-{len(self._visits) + 1}"
            self._visits.append((visit_id, visit))
            return visit_id

    def visits(self) -> list[tuple[str, VisitRecord]]:
        """Every visit kept, oldest first."""
        with self._lock:
            return list(self._visits)

    def for_meter(self, meter_number: str) -> list[VisitSummary]:
        """This meter's visits, newest first."""
        wanted = meter_number.strip().upper()
        return [
            _summary(visit_id, visit)
            for visit_id, visit in reversed(self.visits())
            if visit.meter_number.strip().upper() == wanted
        ]

    def pending(self) -> list[SyncItem]:
        """Every visit kept, as a pending item (nothing pushes them)."""
        return [
            SyncItem(
                item_id=visit_id,
                summary=_item_summary(visit),
                state="pending",
                reason=None,
            )
            for visit_id, visit in self.visits()
        ]


class StoreWithInMemoryVisits:
    """Work orders from a :class:`WorkOrderSource`, visits in an :class:`InMemoryVisitLog`.

    The interim :class:`FieldStore`: ``durable`` is False because a visit saved here is
    gone when the app quits. Replace with issue 8's store, which commits the visit and its
    outbox row in one transaction.
    """

    def __init__(
        self, work_orders: WorkOrderSource, visits: InMemoryVisitLog | None = None
    ) -> None:
        self._work_orders = work_orders
        self.visits = visits if visits is not None else InMemoryVisitLog()

    @classmethod
    def on_database(cls, path: Path | None = None) -> StoreWithInMemoryVisits:
        """Work orders from the laptop database at ``path`` (default: FIELDKIT_HOME)."""
        return cls(DatabaseWorkOrders(path))

    @classmethod
    def with_orders(cls, orders: Sequence[WorkOrder]) -> StoreWithInMemoryVisits:
        """Work orders from a fixed list (tests, the demo)."""
        return cls(InMemoryWorkOrders(orders))

    @property
    def durable(self) -> bool:
        """False: visits live in memory only."""
        return False

    def open_work_orders(self) -> list[WorkOrder]:
        """The open orders from the source."""
        return self._work_orders.open_work_orders()

    def work_order(self, work_order_id: str) -> WorkOrder | None:
        """One order by id, or None."""
        return self._work_orders.work_order(work_order_id)

    def save_visit(self, visit: VisitRecord) -> str:
        """Keep the visit in memory; its id."""
        return self.visits.save(visit)

    def previous_visits(self, meter_number: str) -> list[VisitSummary]:
        """This meter's visits kept in memory, newest first."""
        return self.visits.for_meter(meter_number)

    def sync_items(self) -> list[SyncItem]:
        """Every visit kept (none is ever pushed from memory)."""
        return self.visits.pending()


def _summary(visit_id: str, visit: VisitRecord) -> VisitSummary:
    return VisitSummary(
        visit_id=visit_id,
        meter_number=visit.meter_number,
        work_order_id=visit.work_order_id,
        closed_at=visit.closed_at,
        outcome=visit.outcome,
        verdict=visit.verdict,
        notes=visit.notes,
    )


def _item_summary(visit: VisitRecord) -> str:
    order = visit.work_order_id or "ad-hoc"
    return f"visit {order} at meter {visit.meter_number}: {visit.outcome.replace('_', ' ')}"
