"""Work orders on the laptop: storing and reading the office's orders (the type is model.WorkOrder).

Work orders are office data, pull-only on the device: the laptop never edits one, it only
replaces it with a newer copy (a CSV import today, the sync pull later; ``source`` says
which wrote the row). A write is a whole batch in one ``BEGIN IMMEDIATE`` transaction, so a
failed import or pull leaves the table exactly as it was.

``kind`` and ``status`` are free text from the utility's CIS, stored in lower case with
spaces and hyphens as ``_``. Usual kinds are listed in :data:`KINDS`; an order is open
unless its status is one of :data:`CLOSED_STATUSES`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from fieldkit.model import CLOSED_WORK_ORDER_STATUSES, ServiceType, WorkOrder, as_utc
from fieldkit.store.db import StoreError
from fieldkit.store.transaction import write_transaction

__all__ = [
    "CLOSED_STATUSES",
    "KINDS",
    "SOURCES",
    "UpsertCounts",
    "delete_many",
    "delete_source",
    "get",
    "list_open",
    "upsert_many",
    "upsert_within",
]

TABLE = "work_orders"

# Documented, not enforced: every CIS names its service-order types its own way.
KINDS: tuple[str, ...] = (
    "install",
    "exchange",
    "remove",
    "investigate",
    "read",
    "high_bill",
    "no_comms",
    "tamper",
    "reconnect",
    "disconnect",
    "other",
)

CLOSED_STATUSES = CLOSED_WORK_ORDER_STATUSES

SOURCES: tuple[str, ...] = ("csv", "sync")


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """What a batch write did: orders new to this laptop, and orders replaced."""

    new: int
    updated: int

    @property
    def total(self) -> int:
        """Every order in the batch."""
        return self.new + self.updated


def get(db: Database, work_order_id: str) -> WorkOrder | None:
    """The stored work order with this id, or None."""
    try:
        rows = list(db.table(TABLE).rows_where("work_order_id = ?", [work_order_id]))
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read work orders: {exc}") from exc
    return _from_row(rows[0]) if rows else None


def list_open(db: Database) -> list[WorkOrder]:
    """Open work orders, soonest scheduled first (unscheduled last), then by id."""
    closed = sorted(CLOSED_STATUSES)
    try:
        rows = list(
            db.table(TABLE).rows_where(
                f"lower(status) NOT IN ({', '.join('?' for _ in closed)})",
                closed,
                order_by="scheduled_for IS NULL, scheduled_for, work_order_id",
            )
        )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read work orders: {exc}") from exc
    return [_from_row(row) for row in rows]


def upsert_many(
    db: Database, orders: Sequence[WorkOrder], source: str, *, now: datetime | None = None
) -> UpsertCounts:
    """Save a batch of work orders, all or nothing; an order already here is replaced whole.

    ``source`` is ``"csv"`` or ``"sync"``; ``now`` (default: the current UTC time) becomes
    every row's ``updated_at``. Raises ValueError for a bad source or an id twice in the
    batch, and :class:`StoreError` when the database refuses the batch (nothing is saved).
    """
    with write_transaction(db, "the work orders"):
        return upsert_within(db, orders, source, now=now)


def upsert_within(
    db: Database, orders: Sequence[WorkOrder], source: str, *, now: datetime | None = None
) -> UpsertCounts:
    """:func:`upsert_many` inside a :func:`write_transaction` the caller holds (the sync
    pull writes a page's orders, its removals and its cursor in one transaction)."""
    if source not in SOURCES:
        raise ValueError(f"work order source must be one of {', '.join(SOURCES)}, not {source!r}")
    seen: set[str] = set()
    for order in orders:
        if order.work_order_id in seen:
            raise ValueError(f"work order {order.work_order_id} is twice in one batch")
        seen.add(order.work_order_id)
    if not orders:
        return UpsertCounts(new=0, updated=0)
    stamp = _iso(now or datetime.now(UTC))
    rows = [_to_row(order, source, stamp) for order in orders]
    table = db.table(TABLE)
    before = table.count
    table.upsert_all(rows, pk="work_order_id")
    added = table.count - before
    return UpsertCounts(new=added, updated=len(rows) - added)


def delete_many(db: Database, work_order_ids: Sequence[str]) -> int:
    """Drop these orders (inside the caller's write transaction); how many were here.

    Visits keep the id of their work order as text, so a dropped order loses no evidence."""
    gone = 0
    for work_order_id in work_order_ids:
        gone += db.execute(
            f"DELETE FROM {TABLE} WHERE work_order_id = ?",  # noqa: S608
            [work_order_id],
        ).rowcount
    return gone


def delete_source(db: Database, source: str) -> int:
    """Drop every order a source wrote (inside the caller's write transaction)."""
    return db.execute(f"DELETE FROM {TABLE} WHERE source = ?", [source]).rowcount  # noqa: S608


def _to_row(order: WorkOrder, source: str, updated_at: str) -> dict[str, Any]:
    return {
        "work_order_id": order.work_order_id,
        "kind": order.kind,
        "status": order.status,
        "account_number": order.account_number,
        "premise_id": order.premise_id,
        "service_address": order.service_address,
        "meter_number": order.meter_number,
        "meter_serial": order.meter_serial,
        "form": order.form,
        "meter_class": order.meter_class,
        "service_type": order.service_type.value,
        "nominal_voltage": order.nominal_voltage,
        "ct_ratio": order.ct_ratio,
        "pt_ratio": order.pt_ratio,
        "rotation": order.rotation,
        "high_leg": order.high_leg,
        "last_read_kwh": order.last_read_kwh,
        "last_read_at": _iso_or_none(order.last_read_at),
        "last_visit_at": _iso_or_none(order.last_visit_at),
        "net_metering": int(order.net_metering),
        "scheduled_for": order.scheduled_for,
        "notes": order.notes,
        "source": source,
        "updated_at": updated_at,
    }


def _from_row(row: Mapping[str, Any]) -> WorkOrder:
    return WorkOrder(
        work_order_id=row["work_order_id"],
        meter_number=row["meter_number"],
        service_type=ServiceType(row["service_type"]),
        nominal_voltage=row["nominal_voltage"],
        kind=row["kind"],
        status=row["status"],
        account_number=row["account_number"],
        premise_id=row["premise_id"],
        service_address=row["service_address"],
        meter_serial=row["meter_serial"],
        form=row["form"],
        meter_class=row["meter_class"],
        ct_ratio=row["ct_ratio"],
        pt_ratio=row["pt_ratio"],
        rotation=row["rotation"],
        high_leg=row["high_leg"],
        last_read_kwh=row["last_read_kwh"],
        last_read_at=_parse_time(row["last_read_at"]),
        last_visit_at=_parse_time(row["last_visit_at"]),
        net_metering=bool(row["net_metering"]),
        scheduled_for=row["scheduled_for"],
        notes=row["notes"],
        source=row["source"],
        updated_at=_parse_time(row["updated_at"]),
    )


def _iso(value: datetime) -> str:
    return as_utc(value).astimezone(UTC).isoformat()


def _iso_or_none(value: datetime | None) -> str | None:
    return None if value is None else _iso(value)


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    return as_utc(datetime.fromisoformat(value))
