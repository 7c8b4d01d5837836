"""Work orders from a CSV export of the utility's CIS or service-order system.

The first row names the columns (see :data:`COLUMNS`, ``docs/work-orders.md``); names are
matched ignoring case, with spaces or hyphens read as ``_``, and may come in any order. Only
:data:`REQUIRED` must be present. The file is UTF-8 (a BOM is fine) with LF or CRLF lines.

The whole file is checked before anything is returned: the first problem raises
:class:`WorkOrderImportError` with one line naming the file, the row and the column, e.g.
``orders.csv row 7, nominal_voltage: 'two-forty' is not a number``. Rows are numbered as a
spreadsheet shows them: the header is row 1.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NoReturn, cast, get_args

from fieldkit.model import HighLeg, Rotation, ServiceType, WorkOrder, as_utc
from fieldkit.model import meter_class as model_meter_class

__all__ = [
    "COLUMNS",
    "NOMINAL_VOLTAGE_RANGE",
    "REQUIRED",
    "WorkOrderImportError",
    "last_read_problem",
    "nominal_voltage_problem",
    "parse_work_orders_csv",
]

COLUMNS: tuple[str, ...] = (
    "work_order_id",
    "kind",
    "status",
    "account_number",
    "premise_id",
    "service_address",
    "meter_number",
    "meter_serial",
    "form",
    "meter_class",
    "service_type",
    "nominal_voltage",
    "ct_ratio",
    "pt_ratio",
    "rotation",
    "high_leg",
    "last_read_kwh",
    "last_read_at",
    "last_visit_at",
    "net_metering",
    "scheduled_for",
    "notes",
)

REQUIRED: tuple[str, ...] = ("work_order_id", "meter_number", "service_type", "nominal_voltage")

# Columns of the table that the kit writes itself: a file must not set them.
_KIT_COLUMNS: tuple[str, ...] = ("source", "updated_at")

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_SEPARATORS = re.compile(r"[\s-]+")
_YES = frozenset({"1", "yes", "y", "true", "t", "x"})
_NO = frozenset({"", "0", "no", "n", "false", "f"})
_SERVICE_TYPES = ", ".join(t.value for t in ServiceType)
_ISO_HINT = "use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"


class WorkOrderImportError(ValueError):
    """A work-order file that cannot be imported; the message is one line naming the place."""


# Rules the work-order import and the command line share (fieldkit check): the same
# value is refused in the same words wherever it is typed.
NOMINAL_VOLTAGE_RANGE = (50.0, 35_000.0)


def nominal_voltage_problem(volts: float) -> str | None:
    """Why ``volts`` cannot be a service's nominal voltage, or None."""
    low, high = NOMINAL_VOLTAGE_RANGE
    if not math.isfinite(volts):
        return f"{volts} is not a voltage"
    if not low <= volts <= high:
        return (
            f"{volts:g} V is not a plausible service voltage "
            f"({low:g}-{high:g} V: 120, 240, 208, 480 ...)"
        )
    return None


def last_read_problem(kwh: float) -> str | None:
    """Why ``kwh`` cannot be a last billed register read, or None."""
    if not math.isfinite(kwh):
        return f"{kwh} is not a register read"
    if kwh < 0:
        return f"a register read is never negative, not {kwh:g}"
    return None


def parse_work_orders_csv(path: Path) -> list[WorkOrder]:
    """Every work order in the CSV file at ``path``, or :class:`WorkOrderImportError`."""
    name = "".join(c if c.isprintable() else "?" for c in path.name)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WorkOrderImportError(f"cannot read {path}: {exc.strerror}") from exc
    text = _decode(name, raw)
    if not text.strip():
        raise WorkOrderImportError(
            f"{name}: the file is empty; its first row must name the columns "
            f"({', '.join(REQUIRED)}, ...)"
        )
    records = _records(name, text)
    header = _header(name, records[0])
    orders: list[WorkOrder] = []
    first_row_of: dict[str, int] = {}
    for index, cells in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # blank lines and rows of empty cells, as spreadsheets leave at the end
        if len(cells) != len(header):
            raise WorkOrderImportError(
                f"{name} row {index}: {len(cells)} values, but the header names "
                f"{len(header)} columns (a stray comma, or a quote not closed?)"
            )
        row = _Row(name, index, _named(header, cells, name, index))
        order = row.work_order()
        earlier = first_row_of.get(order.work_order_id)
        if earlier is not None:
            row.fail("work_order_id", f"{_shown(order.work_order_id)} is already on row {earlier}")
        first_row_of[order.work_order_id] = index
        orders.append(order)
    if not orders:
        raise WorkOrderImportError(f"{name}: no work orders below the header row")
    return orders


def _as_code(text: str) -> str:
    """Lower case with runs of spaces and hyphens as '_': column names, kinds and statuses."""
    return _SEPARATORS.sub("_", text.strip().lower())


def _shown(value: str) -> str:
    """A value from the file as a message quotes it: escaped onto one line, and short."""
    return repr(value if len(value) <= 40 else value[:39] + "…")


def _decode(name: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = raw[: exc.start].count(b"\n") + 1
        raise WorkOrderImportError(
            f"{name} row {row}: not UTF-8 text; save the file as 'CSV UTF-8'"
        ) from exc


def _records(name: str, text: str) -> list[list[str]]:
    records: list[list[str]] = []
    try:
        # newline="" hands line endings to the csv module: CRLF, and newlines in quoted cells.
        for record in csv.reader(io.StringIO(text, newline=""), strict=True):
            records.append(record)
    except csv.Error as exc:
        raise WorkOrderImportError(f"{name} row {len(records) + 1}: {exc}") from exc
    return records


def _header(name: str, cells: list[str]) -> list[str | None]:
    """Column names in file order; None for a nameless column (allowed only if left blank)."""
    where = f"{name} row 1 (header)"
    header: list[str | None] = []
    for cell in cells:
        column = _as_code(cell)
        if column in header:
            raise WorkOrderImportError(f"{where}: column {_shown(column)} appears twice")
        header.append(column or None)
    for kit_column in _KIT_COLUMNS:
        if kit_column in header:
            raise WorkOrderImportError(
                f"{where}: column '{kit_column}' is written by fieldkit itself; remove it"
            )
    unknown = [c for c in header if c is not None and c not in COLUMNS]
    if unknown:
        raise WorkOrderImportError(f"{where}: {_unknown_message(unknown)}")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        listed = ", ".join(f"'{c}'" for c in missing)
        raise WorkOrderImportError(f"{where}: missing required column{plural} {listed}")
    return header


def _unknown_message(unknown: list[str]) -> str:
    listed = ", ".join(_shown(c) for c in unknown)
    plural = "s" if len(unknown) > 1 else ""
    close = {u: m[0] for u in unknown if (m := difflib.get_close_matches(u, COLUMNS, n=1))}
    if len(unknown) == 1 and close:
        advice = f" (did you mean '{close[unknown[0]]}'?)"
    elif close:
        pairs = ", ".join(f"'{match}' for {_shown(u)}" for u, match in close.items())
        advice = f" (did you mean {pairs}?)"
    else:
        advice = " (see docs/work-orders.md for the column names)"
    return f"unknown column{plural} {listed}{advice}"


def _named(header: list[str | None], cells: list[str], name: str, index: int) -> dict[str, str]:
    named: dict[str, str] = {}
    for position, (column, cell) in enumerate(zip(header, cells, strict=True), start=1):
        if column is None:
            if cell.strip():
                raise WorkOrderImportError(
                    f"{name} row {index}: column {position} has a value but no name in the header"
                )
            continue
        named[column] = cell
    return named


class _Row:
    """One data row, read column by column; every problem names the row and the column."""

    def __init__(self, file_name: str, index: int, cells: Mapping[str, str]) -> None:
        self.file_name = file_name
        self.index = index
        self.cells = cells

    def checked(self, column: str, value: float | None, rule: Callable[[float], str | None]) -> Any:
        """``value`` when ``rule`` finds nothing wrong with it; else this cell's error."""
        if value is not None and (problem := rule(value)) is not None:
            self.fail(column, problem)
        return value

    def fail(self, column: str, problem: str) -> NoReturn:
        """Raise the one-line error for this cell."""
        raise WorkOrderImportError(f"{self.file_name} row {self.index}, {column}: {problem}")

    def work_order(self) -> WorkOrder:
        """The row as a work order."""
        return WorkOrder(
            work_order_id=self.required("work_order_id"),
            kind=self.word("kind"),
            status=self.word("status") or "open",
            account_number=self.text("account_number"),
            premise_id=self.text("premise_id"),
            service_address=self.text("service_address"),
            meter_number=self.required("meter_number"),
            meter_serial=self.text("meter_serial"),
            form=self.text("form"),
            meter_class=self.meter_class(),
            service_type=self.service_type(),
            nominal_voltage=self.checked(
                "nominal_voltage",
                self.required_number("nominal_voltage", above=0.0),
                nominal_voltage_problem,
            ),
            ct_ratio=self.number("ct_ratio", above=0.0),
            pt_ratio=self.number("pt_ratio", above=0.0),
            rotation=cast("Rotation | None", self.choice("rotation", get_args(Rotation))),
            high_leg=cast("HighLeg | None", self.choice("high_leg", get_args(HighLeg))),
            last_read_kwh=self.checked(
                "last_read_kwh", self.number("last_read_kwh"), last_read_problem
            ),
            last_read_at=self.time("last_read_at"),
            last_visit_at=self.time("last_visit_at"),
            net_metering=self.yes_no("net_metering"),
            scheduled_for=self.schedule("scheduled_for"),
            notes=self.text("notes"),
        )

    def raw(self, column: str) -> str:
        """The cell without surrounding spaces ('' when the column is absent)."""
        return self.cells.get(column, "").strip()

    def text(self, column: str) -> str | None:
        """Free text; an empty cell is None."""
        return self.raw(column) or None

    def required(self, column: str) -> str:
        """Text that must be there."""
        value = self.raw(column)
        if not value:
            self.fail(column, "required, but the cell is empty")
        return value

    def word(self, column: str) -> str | None:
        """A code such as a kind or status: lower case, spaces and hyphens as '_'."""
        return _as_code(self.raw(column)) or None

    def choice(self, column: str, allowed: tuple[str, ...]) -> str | None:
        """One of a few upper-case codes, or None."""
        value = self.raw(column).upper()
        if not value:
            return None
        if value not in allowed:
            self.fail(column, f"{_shown(self.raw(column))} is not one of {', '.join(allowed)}")
        return value

    def meter_class(self) -> str | None:
        """A nameplate current class such as CL200, or None."""
        value = self.raw("meter_class")
        if not value:
            return None
        try:
            return model_meter_class(value)
        except ValueError as exc:
            self.fail("meter_class", str(exc))

    def service_type(self) -> ServiceType:
        """A service type by the design's name."""
        value = self.required("service_type").lower()
        try:
            return ServiceType(value)
        except ValueError:
            self.fail(
                "service_type", f"{_shown(self.raw('service_type'))} is not one of {_SERVICE_TYPES}"
            )

    def number(
        self, column: str, *, above: float | None = None, at_least: float | None = None
    ) -> float | None:
        """A plain decimal number, or None for an empty cell."""
        value = self.raw(column)
        if not value:
            return None
        if not _NUMBER.fullmatch(value):
            hint = " (write it without thousands separators)" if "," in value else ""
            self.fail(column, f"{_shown(value)} is not a number{hint}")
        number = float(value)
        if not math.isfinite(number):
            self.fail(column, f"{_shown(value)} is too large")
        if above is not None and not number > above:
            self.fail(column, f"must be more than {above:g}, not {value}")
        if at_least is not None and number < at_least:
            self.fail(column, f"must be at least {at_least:g}, not {value}")
        return number

    def required_number(self, column: str, *, above: float) -> float:
        """A number that must be there."""
        self.required(column)
        number = self.number(column, above=above)
        assert number is not None  # required() has seen a value
        return number

    def time(self, column: str) -> datetime | None:
        """An ISO 8601 date or date-time, as UTC (a time without a zone is taken as UTC)."""
        value = self.raw(column)
        if not value:
            return None
        try:
            return as_utc(datetime.fromisoformat(value)).astimezone(UTC)
        except (ValueError, OverflowError):
            self.fail(column, f"{_shown(value)} is not an ISO 8601 date ({_ISO_HINT})")

    def schedule(self, column: str) -> str | None:
        """A planned visit: an ISO 8601 date kept as a date, or a date-time as UTC."""
        value = self.raw(column)
        if not value:
            return None
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
        when = self.time(column)
        return None if when is None else when.isoformat()

    def yes_no(self, column: str) -> bool:
        """A flag: 1/0, yes/no, true/false (empty is no)."""
        value = self.raw(column).lower()
        if value in _YES:
            return True
        if value in _NO:
            return False
        self.fail(
            column, f"{_shown(self.raw(column))} is not yes or no (use 1/0, yes/no or true/false)"
        )
