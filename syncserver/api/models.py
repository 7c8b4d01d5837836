"""The office API's response bodies, built around the wire documents of fieldkit.sync.schema."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from fieldkit.sync.schema import AccountDoc, MeterDoc, WorkOrderDoc

__all__ = [
    "AccountOut",
    "ApiErrorOut",
    "PremiseOut",
    "VisitOut",
    "WorkOrderCommandIn",
    "WorkOrderOut",
]


class ApiErrorOut(BaseModel):
    """Every 4xx: a stable ``code`` and one line for a person."""

    detail: str
    code: str


class WorkOrderOut(BaseModel):
    """A work order as the office sees it."""

    work_order: WorkOrderDoc
    technician: str | None
    priority: str
    contact_customer: bool


class WorkOrderCommandIn(BaseModel):
    """An office command on a work order (the state machine decides if it applies)."""

    model_config = ConfigDict(extra="forbid")

    command: Literal["assign", "unassign", "cancel", "close", "reopen"]
    technician: str | None = Field(default=None, max_length=100)


class PremiseOut(BaseModel):
    """A premise of an account, with its meters."""

    premise_id: str
    service_address: str
    meters: list[MeterDoc]


class AccountOut(BaseModel):
    """An account, its premises and meters."""

    account: AccountDoc
    premises: list[PremiseOut]


class VisitOut(BaseModel):
    """A visit tied to its account, meter and work order, with its review status."""

    visit_id: str
    device_id: str
    technician: str
    work_order_id: str | None
    claimed_work_order: str | None
    account_number: str | None
    meter_number: str | None
    started_at: datetime | None
    received_at: datetime
    flags: list[str]
    review_status: str
    document: dict[str, JsonValue] | None = None
