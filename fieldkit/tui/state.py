"""The visit in progress, as the screens share it (no Textual here)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from fieldkit.drivers.base import MeterDriver
from fieldkit.model import SiteExpectation, WorkOrder
from fieldkit.tui.services import Adjustment

if TYPE_CHECKING:
    from fieldkit.visit import VisitResult

__all__ = ["Clock", "DriverFactory", "LinkChoice", "VisitDraft"]

Clock = Callable[[], datetime]


class DriverFactory(Protocol):
    """What builds a driver: :func:`fieldkit.drivers.base.create_driver` or a test's own."""

    def __call__(
        self,
        protocol: str,
        port: str,
        settings: Mapping[str, Any] | None = None,
        **runtime: Any,
    ) -> MeterDriver: ...


@dataclass(frozen=True, slots=True)
class LinkChoice:
    """How the technician chose to reach the meter; the password stays in memory only."""

    protocol: str
    port: str
    password: str | None = None

    def settings(self) -> dict[str, Any]:
        """Driver settings by name (only what was given: the driver holds the defaults)."""
        return {} if not self.password else {"password": self.password}


@dataclass
class VisitDraft:
    """One visit from picking the order to closing it."""

    meter_number: str
    expectation: SiteExpectation
    started_at: datetime
    order: WorkOrder | None = None
    link: LinkChoice | None = None
    result: VisitResult | None = None
    adjustments: list[Adjustment] = field(default_factory=list)
    saved_id: str | None = None

    @classmethod
    def for_order(cls, order: WorkOrder, now: datetime) -> VisitDraft:
        """A visit to a work order's meter."""
        return cls(
            meter_number=order.meter_number,
            expectation=order.expectation(),
            started_at=now,
            order=order,
        )

    @property
    def work_order_id(self) -> str | None:
        """The order's id, or None for an ad-hoc visit."""
        return None if self.order is None else self.order.work_order_id

    @property
    def title(self) -> str:
        """One line naming the visit."""
        where = self.order.service_address if self.order and self.order.service_address else ""
        what = self.work_order_id or "ad-hoc visit"
        return f"{what} · meter {self.meter_number}" + (f" · {where}" if where else "")
