"""CSV imports from the utility's CIS: accounts (with premises and meters) and work orders.

The layouts are in ``docs/server.md``. The first row names the columns (any order; case,
spaces and hyphens do not matter). The whole file is read and checked — every cell, the rows
against each other and against the database — before anything is written, and then written
in one transaction: a bad file is refused with ``FILE row R, column C (name): problem`` and
nothing is imported. Importing the same file again changes nothing (not even the audit log).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from fieldkit.model import ServiceType
from fieldkit.model import meter_class as parse_meter_class
from syncserver.core.errors import ImportFileError
from syncserver.db.models import Account, Meter, Premise, User, WorkOrder
from syncserver.services.journal import Work
from syncserver.services.search import index_accounts
from syncserver.services.users import TECHNICIAN
from syncserver.services.work_orders import (
    KINDS,
    LIVE,
    PRIORITIES,
    apply_command,
    assign,
    check_command,
    set_technician,
)

__all__ = [
    "ACCOUNT_COLUMNS",
    "WORK_ORDER_COLUMNS",
    "ImportCounts",
    "import_accounts",
    "import_work_orders",
    "read_csv",
]

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_YES = frozenset({"1", "yes", "y", "true", "t", "x"})
_NO = frozenset({"", "0", "no", "n", "false", "f"})
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:/#-]*$")
CSV_STATUSES = ("open", "dispatched", "completed", "cancelled")


class _CellError(ValueError):
    pass


def _text(limit: int) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if len(value) > limit:
            raise _CellError(f"longer than {limit} characters")
        if not value.isprintable():
            raise _CellError("has control characters")
        return value

    return parse


def _ident(value: str) -> str:
    if len(value) > 64 or not _ID.match(value):
        raise _CellError(f"{value[:40]!r} is not an id (letters, digits, . _ : / # - and spaces)")
    return value


def _number(low: float | None = None, *, above: bool = False) -> Callable[[str], float]:
    def parse(value: str) -> float:
        if not _NUMBER.fullmatch(value):
            raise _CellError(f"{value[:40]!r} is not a number")
        number = float(value)
        if not math.isfinite(number):
            raise _CellError(f"{value[:40]!r} is not a number")
        if low is not None and (number <= low if above else number < low):
            raise _CellError(f"{value} must be {'more than' if above else 'at least'} {low:g}")
        return number

    return parse


def _service_type(value: str) -> str:
    try:
        return ServiceType(value.lower()).value
    except ValueError:
        known = ", ".join(t.value for t in ServiceType)
        raise _CellError(f"{value[:40]!r} is not a service type ({known})") from None


def _meter_class(value: str) -> str:
    try:
        return parse_meter_class(value)
    except ValueError as exc:
        raise _CellError(str(exc)) from None


def _choice(*choices: str, upper: bool = False) -> Callable[[str], str]:
    def parse(value: str) -> str:
        value = value.upper() if upper else value.lower()
        if value not in choices:
            raise _CellError(f"{value[:40]!r} is not one of {', '.join(choices)}")
        return value

    return parse


def _flag(value: str) -> bool:
    lowered = value.lower()
    if lowered in _YES:
        return True
    if lowered in _NO:
        return False
    raise _CellError(f"{value[:40]!r} is not yes or no")


def _moment(value: str) -> datetime:
    try:
        if "T" not in value and " " not in value:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except ValueError:
        raise _CellError(f"{value[:40]!r} is not a date (YYYY-MM-DD or ISO 8601)") from None
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the calendar begins, in UTC
        raise _CellError(f"{value[:40]!r} is out of range once in UTC") from None


def _schedule(value: str) -> str:
    return (
        _moment(value).isoformat()
        if ("T" in value or " " in value)
        else _moment(value).date().isoformat()
    )


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a layout: its name, whether it is required, how a cell is read."""

    name: str
    required: bool
    parse: Callable[[str], Any]
    help: str


ACCOUNT_COLUMNS: tuple[Column, ...] = (
    Column("account_number", True, _ident, "CIS account number"),
    Column("customer_name", True, _text(200), "name on the account"),
    Column("phone", False, _text(40), "sent to a laptop only for a work order that says so"),
    Column("net_metering", False, _flag, "yes/no"),
    Column("premise_id", True, _ident, "premise / service point id"),
    Column("service_address", True, _text(300), "street address of the premise"),
    Column("meter_number", True, _ident, "the utility's meter (badge) number"),
    Column("meter_serial", False, _text(64), "manufacturer's serial number"),
    Column("form", False, _text(16), "meter form, e.g. 2S, 16S"),
    Column("meter_class", False, _meter_class, "e.g. CL200"),
    Column("service_type", True, _service_type, "1ph-2w, 1ph-3w, network, 3ph-4w-wye, ..."),
    Column("nominal_voltage", True, _number(0, above=True), "volts (see docs/work-orders.md)"),
    Column("ct_ratio", False, _number(0, above=True), "e.g. 400 for 2000:5"),
    Column("pt_ratio", False, _number(0, above=True), "e.g. 60 for 7200:120"),
    Column("rotation", False, _choice("ABC", "ACB", upper=True), "ABC or ACB"),
    Column("high_leg", False, _choice("A", "B", "C", upper=True), "4-wire delta only"),
    Column("last_read_kwh", False, _number(0), "last billed kWh delivered"),
    Column("last_read_at", False, _moment, "date of that read"),
    Column("meter_password_ref", False, _text(200), "where the password is kept, never it"),
)

WORK_ORDER_COLUMNS: tuple[Column, ...] = (
    Column("work_order_id", True, _ident, "service order id"),
    Column("meter_number", True, _ident, "a meter imported with import-accounts"),
    Column("account_number", False, _ident, "must be the meter's account if given"),
    Column(
        "kind",
        True,
        _choice(*KINDS),
        "what the visit is for",
    ),
    Column("priority", False, _choice(*PRIORITIES), "low, normal (default), high, emergency"),
    Column("technician", False, _text(100), "a technician's user name; empty: unassigned"),
    Column(
        "status", False, _choice(*CSV_STATUSES), "open (default), dispatched, completed, cancelled"
    ),
    Column("scheduled_for", False, _schedule, "date or date-time of the planned visit"),
    Column("contact_customer", False, _flag, "yes: the laptop gets the customer's phone"),
    Column("notes", False, _text(2000), "free text for the technician"),
)


@dataclass(frozen=True, slots=True)
class Row:
    """One data row: its number as a spreadsheet shows it, and its values by column name."""

    number: int
    values: Mapping[str, Any]
    columns: Mapping[str, int]

    def where(self, column: str) -> str:
        """``row R, column C (name)`` of a cell, for an error message.

        A column the file leaves out is empty on every row, and can be what is wrong (a
        closed order re-imported from a file without ``technician`` is being unassigned).
        """
        if column not in self.columns:
            return f"row {self.number} (no {column} column: taken as empty)"
        return f"row {self.number}, column {self.columns[column]} ({column})"


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """What an import did."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0


def _header(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lower())


def read_csv(path: Path, layout: tuple[Column, ...]) -> list[Row]:
    """Every row of the file, each cell read; :class:`ImportFileError` at the first problem."""
    label = path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"{label}: not UTF-8 (byte {exc.start}); save it as CSV UTF-8"
        ) from None
    lines: list[list[str]] = []
    try:
        lines.extend(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:  # lines holds the rows read before the bad one
        raise ImportFileError(f"{label} row {len(lines) + 1}: not a CSV file ({exc})") from None
    if not lines:
        raise ImportFileError(f"{label}: the file is empty")
    by_name = {c.name: c for c in layout}
    columns: dict[str, int] = {}
    for index, name in enumerate(lines[0], start=1):
        key = _header(name)
        if key not in by_name:
            raise ImportFileError(f"{label} row 1, column {index}: unknown column {name[:40]!r}")
        if key in columns:
            raise ImportFileError(f"{label} row 1, column {index}: column {key!r} is twice")
        columns[key] = index
    for column in layout:
        if column.required and column.name not in columns:
            raise ImportFileError(f"{label} row 1: the required column {column.name!r} is missing")
    rows = []
    for number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(columns):
            raise ImportFileError(
                f"{label} row {number}: {len(cells)} cells for {len(columns)} columns"
            )
        values: dict[str, Any] = {}
        for name, index in columns.items():
            cell = cells[index - 1].strip() if index <= len(cells) else ""
            column = by_name[name]
            if not cell:
                if column.required:
                    raise ImportFileError(
                        f"{label} row {number}, column {index} ({name}): required, but empty"
                    )
                values[name] = None
                continue
            try:
                values[name] = column.parse(cell)
            except _CellError as exc:
                raise ImportFileError(
                    f"{label} row {number}, column {index} ({name}): {exc}"
                ) from None
        for column in layout:
            values.setdefault(column.name, None)
        rows.append(Row(number, values, columns))
    if not rows:
        raise ImportFileError(f"{label}: no data rows under the header")
    return rows


def _refuse(label: str, row: Row, column: str, message: str) -> ImportFileError:
    return ImportFileError(f"{label} {row.where(column)}: {message}")


def _changed(entity: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``values`` that differ from ``entity`` (and sets them)."""
    changes = {}
    for key, value in values.items():
        if getattr(entity, key) != value:
            changes[key] = value
            setattr(entity, key, value)
    return changes


def import_accounts(work: Work, path: Path) -> ImportCounts:
    """Accounts, premises and meters from a CIS export (one row per meter)."""
    label = path.name
    rows = read_csv(path, ACCOUNT_COLUMNS)
    accounts: dict[str, tuple[Row, dict[str, Any]]] = {}
    premises: dict[str, tuple[Row, dict[str, Any]]] = {}
    meters: dict[str, Row] = {}
    for row in rows:
        v = row.values
        account = {
            "customer_name": v["customer_name"],
            "phone": v["phone"],
            "net_metering": bool(v["net_metering"]),
        }
        seen = accounts.setdefault(v["account_number"], (row, account))
        for key, value in account.items():
            if seen[1][key] != value:
                raise _refuse(
                    label,
                    row,
                    key,
                    f"differs from row {seen[0].number} for account {v['account_number']!r}",
                )
        premise = {"account": v["account_number"], "service_address": v["service_address"]}
        seen_p = premises.setdefault(v["premise_id"], (row, premise))
        if seen_p[1] != premise:
            column = (
                "account_number"
                if seen_p[1]["account"] != premise["account"]
                else "service_address"
            )
            raise _refuse(
                label,
                row,
                column,
                f"differs from row {seen_p[0].number} for premise {v['premise_id']!r}",
            )
        if v["meter_number"] in meters:
            raise _refuse(
                label,
                row,
                "meter_number",
                f"{v['meter_number']!r} is already on row {meters[v['meter_number']].number}",
            )
        meters[v["meter_number"]] = row
    session = work.session
    new = updated = unchanged = 0
    account_rows: dict[str, Account] = {}
    searched: set[int] = set()  # accounts whose name or addresses the search must learn again
    for number, (_, values) in accounts.items():
        found = session.execute(
            select(Account).where(Account.account_number == number)
        ).scalar_one_or_none()
        if found is None:
            found = Account(account_number=number, **values)
            session.add(found)
            session.flush()
            work.audit("account.create", "account", number)
            searched.add(found.id)
        elif changes := _changed(found, values):
            work.audit("account.update", "account", number, fields=sorted(changes))
            _refeed(work, WorkOrder.account_id == found.id)
            if "customer_name" in changes:
                searched.add(found.id)
        account_rows[number] = found
    premise_rows: dict[str, Premise] = {}
    for pid, (_, values) in premises.items():
        wanted = {
            "account_id": account_rows[values["account"]].id,
            "service_address": values["service_address"],
        }
        found_p = session.execute(
            select(Premise).where(Premise.premise_id == pid)
        ).scalar_one_or_none()
        if found_p is None:
            found_p = Premise(premise_id=pid, **wanted)
            session.add(found_p)
            session.flush()
            work.audit("premise.create", "premise", pid)
            searched.add(found_p.account_id)
        else:
            before = found_p.account_id
            if changes := _changed(found_p, wanted):
                work.audit("premise.update", "premise", pid, fields=sorted(changes))
                searched.update((before, found_p.account_id))
        premise_rows[pid] = found_p
    session.flush()
    index_accounts(session, searched)
    for meter_number, row in meters.items():
        v = row.values
        wanted = {
            "premise_pk": premise_rows[v["premise_id"]].id,
            "meter_serial": v["meter_serial"],
            "form": v["form"],
            "meter_class": v["meter_class"],
            "service_type": v["service_type"],
            "nominal_voltage": v["nominal_voltage"],
            "ct_ratio": v["ct_ratio"],
            "pt_ratio": v["pt_ratio"],
            "rotation": v["rotation"],
            "high_leg": v["high_leg"],
            "last_read_kwh": v["last_read_kwh"],
            "last_read_at": v["last_read_at"],
            "password_ref": v["meter_password_ref"],
        }
        found_m = session.execute(
            select(Meter).where(Meter.meter_number == meter_number)
        ).scalar_one_or_none()
        if found_m is None:
            session.add(Meter(meter_number=meter_number, **wanted))
            work.audit("meter.create", "meter", meter_number)
            new += 1
        elif changes := _changed(found_m, wanted):
            work.audit("meter.update", "meter", meter_number, fields=sorted(changes))
            _refeed(work, WorkOrder.meter_id == found_m.id)
            updated += 1
        else:
            unchanged += 1
    session.flush()
    return ImportCounts(new, updated, unchanged)


def _refeed(work: Work, condition: Any) -> None:
    """Send the live work orders matching ``condition`` to their technicians again."""
    for order in work.session.execute(
        select(WorkOrder).where(
            condition, WorkOrder.technician_id.is_not(None), WorkOrder.status.in_(LIVE)
        )
    ).scalars():
        assert order.technician_id is not None
        work.feed(order.technician_id, order.id, "upsert")


def import_work_orders(work: Work, path: Path) -> ImportCounts:
    """Work orders from a CIS export, assigned to technicians by user name.

    ``status`` may open or dispatch a new order, or cancel or close one; a live status never
    undoes a technician's progress on an order the server already has.
    """
    label = path.name
    session = work.session
    rows = read_csv(path, WORK_ORDER_COLUMNS)
    seen: dict[str, int] = {}
    plans: list[tuple[Row, Meter, int | None, WorkOrder | None]] = []
    technicians: dict[str, User] = {}
    for row in rows:
        v = row.values
        if v["work_order_id"] in seen:
            raise _refuse(
                label,
                row,
                "work_order_id",
                f"{v['work_order_id']!r} is already on row {seen[v['work_order_id']]}",
            )
        seen[v["work_order_id"]] = row.number
        meter = session.execute(
            select(Meter).where(Meter.meter_number == v["meter_number"])
        ).scalar_one_or_none()
        if meter is None:
            raise _refuse(
                label,
                row,
                "meter_number",
                f"no meter {v['meter_number']!r} (import the accounts first)",
            )
        premise = session.get(Premise, meter.premise_pk)
        assert premise is not None
        account = session.get(Account, premise.account_id)
        assert account is not None
        if v["account_number"] is not None and v["account_number"] != account.account_number:
            raise _refuse(
                label,
                row,
                "account_number",
                f"meter {v['meter_number']!r} is on account {account.account_number!r}",
            )
        technician_id = None
        if v["technician"] is not None:
            user = technicians.get(v["technician"])
            if user is None:
                user = session.execute(
                    select(User).where(User.name == v["technician"])
                ).scalar_one_or_none()
                if user is None or not user.active or user.role != TECHNICIAN:
                    raise _refuse(
                        label, row, "technician", f"{v['technician']!r} is not a technician"
                    )
                technicians[v["technician"]] = user
            technician_id = user.id
        existing = session.execute(
            select(WorkOrder).where(WorkOrder.work_order_id == v["work_order_id"])
        ).scalar_one_or_none()
        if existing is not None:
            status = v["status"]
            if status in ("completed", "cancelled") and existing.status != status:
                command = "close" if status == "completed" else "cancel"
                transition = check_command(existing.status, command)
                if transition.status is None:
                    raise _refuse(
                        label,
                        row,
                        "status",
                        f"{existing.work_order_id} is {existing.status} here: {transition.reason}",
                    )
            if (
                technician_id != existing.technician_id
                and existing.status not in LIVE
                and status not in ("completed", "cancelled")
            ):
                raise _refuse(
                    label,
                    row,
                    "technician",
                    f"{existing.work_order_id} is {existing.status} and cannot be reassigned",
                )
        plans.append((row, meter, technician_id, existing))
    new = updated = unchanged = 0
    for row, meter, technician_id, existing in plans:
        v = row.values
        premise = session.get(Premise, meter.premise_pk)
        assert premise is not None
        fields = {
            "account_id": premise.account_id,
            "meter_id": meter.id,
            "kind": v["kind"],
            "priority": v["priority"] or "normal",
            "scheduled_for": v["scheduled_for"],
            "contact_customer": bool(v["contact_customer"]),
            "notes": v["notes"],
        }
        status = v["status"]
        if existing is None:
            initial = (
                status
                if status in ("completed", "cancelled")
                else ("dispatched" if technician_id else "open")
            )
            order = WorkOrder(
                work_order_id=v["work_order_id"],
                status=initial,
                technician_id=None,
                updated_at=work.at,
                **fields,
            )
            session.add(order)
            session.flush()
            work.audit("work_order.create", "work_order", order.work_order_id, status=initial)
            if initial in LIVE:
                set_technician(work, order, technician_id)
            else:
                order.technician_id = technician_id
            new += 1
            continue
        order = existing
        changes = _changed(order, fields)
        if changes:
            order.updated_at = work.at
            work.audit(
                "work_order.update", "work_order", order.work_order_id, fields=sorted(changes)
            )
            if order.technician_id is not None and order.status in LIVE:
                work.feed(order.technician_id, order.id, "upsert")
        if status in ("completed", "cancelled") and order.status != status:
            apply_command(work, order, "close" if status == "completed" else "cancel", source="csv")
            changes["status"] = status
        if technician_id != order.technician_id:
            changes["technician"] = v["technician"]
            if order.status in LIVE:
                assign(work, order, technicians.get(v["technician"] or ""), source="csv")
            else:  # a closed order: only the record changes, no feed
                order.technician_id = technician_id
        if changes:
            updated += 1
        else:
            unchanged += 1
    session.flush()
    return ImportCounts(new, updated, unchanged)
