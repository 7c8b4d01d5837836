"""The visit in progress, as the screens share it (no Textual here)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fieldkit.drivers.base import MeterDriver
from fieldkit.model import SiteExpectation, WorkOrder
from fieldkit.tui.services import Adjustment, OutcomeCode

if TYPE_CHECKING:
    from fieldkit.visit import VisitResult

__all__ = ["Clock", "DriverFactory", "LinkChoice", "MeterLink", "VisitDraft"]

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
    extra: tuple[tuple[str, Any], ...] = ()  # e.g. a Modbus map, from a known meter link

    def settings(self) -> dict[str, Any]:
        """Driver settings by name (only what was given: the driver holds the defaults)."""
        given = dict(self.extra)
        if self.password:
            given["password"] = self.password
        return given


@dataclass(frozen=True, slots=True)
class MeterLink:
    """How a known meter is reached (the demo's simulators): protocol, URL, settings.

    Passwords are never here: they are in the laptop's secrets (:mod:`fieldkit.secrets`).
    """

    protocol: str
    port: str
    settings: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def load_all(cls, path: Path) -> dict[str, MeterLink]:
        """``{meter number: link}`` from a JSON file; missing or unreadable: empty."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        links: dict[str, MeterLink] = {}
        if not isinstance(data, dict):
            return links
        for meter, entry in data.items():
            if not isinstance(entry, dict):
                continue
            protocol, port = entry.get("protocol"), entry.get("port")
            settings = entry.get("settings") or {}
            if isinstance(protocol, str) and isinstance(port, str) and isinstance(settings, dict):
                links[str(meter).strip().upper()] = cls(
                    protocol, port, tuple(sorted(settings.items()))
                )
        return links


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
    # What the close screen held when it was left unsaved (Esc), given back on return.
    outcome: OutcomeCode | None = None
    notes: str = ""

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
