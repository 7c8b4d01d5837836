"""Work orders: today's assigned orders, filter and search, or an ad-hoc visit.

The ids a technician reads out or compares (order, account) come first. When every field
fits one line it is one line per order; in a narrow terminal (80 columns) each order takes
two lines, fields paired (order over account, address over kind, meter over type, due over
status), so nothing has to be scrolled to sideways. The address is the one field that
gives way: cut short with "…" in the table, shown whole under it for the highlighted order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static
from textual.worker import Worker

from fieldkit.model import WorkOrder
from fieldkit.tui.screens.base import FieldkitScreen
from fieldkit.tui.services import ServiceError
from fieldkit.tui.state import VisitDraft
from fieldkit.tui.text import verbatim

__all__ = ["WorkOrdersScreen", "due_label", "plan_columns"]

Field = Callable[[WorkOrder, str], str]  # (order, today) -> the cell's text

# Every field of a row, in the order a technician reads them; "address" gives way.
FIELDS: tuple[tuple[str, Field], ...] = (
    ("Order", lambda o, _t: o.work_order_id),
    ("Account", lambda o, _t: o.account_number or "-"),
    ("Address", lambda o, _t: o.service_address or "-"),
    ("Kind", lambda o, _t: (o.kind or "-").replace("_", " ")),
    ("Meter", lambda o, _t: o.meter_number),
    ("Type", lambda o, _t: o.service_type.value),
    ("Due", lambda o, today: due_label(o, today)),
    ("Status", lambda o, _t: o.status),
)
# Two lines an order: the fields stacked in pairs (top, bottom).
PAIRS: tuple[tuple[str, str], ...] = (
    ("Order", "Account"),
    ("Address", "Kind"),
    ("Meter", "Type"),
    ("Due", "Status"),
)
ADDRESS = "Address"
# Below this many cells for the address on one line, an order takes two lines.
MIN_ADDRESS_ONE_LINE = 24
MIN_ADDRESS = 8
CELL_PADDING = 1  # the table's, each side of every column


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """How the list is laid out for a width: the columns (each 1 or 2 fields), the
    address's width, and the row height."""

    columns: tuple[tuple[str, ...], ...]
    address_width: int

    @property
    def height(self) -> int:
        """Lines per order."""
        return max(len(c) for c in self.columns)


def plan_columns(cells: Sequence[dict[str, str]], width: int) -> ColumnPlan:
    """The layout for rows ``cells`` (field name -> text) in ``width`` terminal cells.

    One line per order when every field fits with at least ``MIN_ADDRESS_ONE_LINE`` cells
    for the address; otherwise two lines per order. The address takes what is left (all
    it needs at most), never less than ``MIN_ADDRESS``.
    """

    def need(name: str) -> int:
        return max([len(name)] + [len(c[name]) for c in cells])

    pad = 2 * CELL_PADDING
    for columns in (tuple((name,) for name, _ in FIELDS), PAIRS):
        fixed = sum(max(need(f) for f in col) + pad for col in columns if ADDRESS not in col)
        address_col = next(col for col in columns if ADDRESS in col)
        others = max((need(f) for f in address_col if f != ADDRESS), default=0)
        room = width - fixed - pad
        if len(columns[0]) == 1 and room < min(MIN_ADDRESS_ONE_LINE, need(ADDRESS)):
            continue
        return ColumnPlan(columns, max(min(need(ADDRESS), room), others, MIN_ADDRESS))
    raise AssertionError("unreachable: the two-line plan always returns")


def due_label(order: WorkOrder, today: str) -> str:
    """'today', 'overdue', the date, or '-' for an unscheduled order (dates as ISO text)."""
    if not order.scheduled_for:
        return "-"
    day = order.scheduled_for[:10]
    if day == today:
        return "today"
    return "overdue" if day < today else day


def matches(order: WorkOrder, text: str) -> bool:
    """True when every word of ``text`` is somewhere in the order's listed fields."""
    haystack = " ".join(
        str(v)
        for v in (
            order.work_order_id,
            order.kind,
            order.account_number,
            order.service_address,
            order.meter_number,
            order.meter_serial,
            order.service_type.value,
            order.status,
            order.premise_id,
        )
        if v
    ).lower()
    return all(word in haystack for word in text.lower().split())


class WorkOrdersScreen(FieldkitScreen):
    """The list the technician picks the next visit from."""

    TITLE_TEXT = "Work orders"
    HELP = (
        "The orders the office assigned to this laptop that are still open, soonest first. "
        "Pick one with the arrow keys and **Enter** (or **o**) to see the site. **/** searches "
        "(account, address, meter, order, type: every word must match). **n** starts an "
        "ad-hoc visit to a meter no order names. The line under the list shows the "
        "highlighted order's whole address, its kind and the office's note."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o,enter", "open_order", "Open", id="wo-open"),
        Binding("slash", "search", "Search", id="wo-search"),
        Binding("n", "ad_hoc", "Ad-hoc visit", id="wo-adhoc"),
        Binding("r", "reload", "Reload", id="wo-reload"),
        Binding("escape", "clear_search", "Clear search", show=False, id="wo-clear"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._orders: list[WorkOrder] = []
        self._shown: list[WorkOrder] = []
        self._plan: ColumnPlan | None = None

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="search: account, address, meter, order…", id="wo-filter")
        table: DataTable[str | Text] = DataTable(
            id="wo-table", cursor_type="row", zebra_stripes=True, cell_padding=CELL_PADDING
        )
        yield table
        yield Static("", id="wo-detail", markup=False)
        # The search typed and a store error are shown in it: never read as markup.
        yield Static("Loading work orders…", id="wo-status", markup=False)

    def on_mount(self) -> None:
        self.query_one("#wo-table", DataTable).focus()
        self.reload()

    def on_resize(self, event: events.Resize) -> None:
        if self._orders:
            self._fill()

    def reload(self) -> None:
        """Read the orders again (a thread: the store is SQLite)."""
        self._load()

    @work(
        thread=True,
        exclusive=True,
        group="db",
        exit_on_error=False,
        description="load the work orders",
    )
    def _load(self) -> None:
        try:
            orders = self.fk.store.open_work_orders()
        except ServiceError as exc:
            self.app.call_from_thread(self._show_error, str(exc))
            return
        self.app.call_from_thread(self._show_orders, orders)

    def _show_error(self, message: str) -> None:
        self.query_one("#wo-status", Static).update(f"Cannot read the work orders: {message}")
        self.call_after_refresh(self.fk.first_screen_shown)

    def worker_failed(self, worker: Worker[object], failure: str) -> None:
        self.query_one("#wo-status", Static).update(f"{failure}; r tries again.")
        self.call_after_refresh(self.fk.first_screen_shown)

    def _show_orders(self, orders: list[WorkOrder]) -> None:
        self._orders = orders
        self._fill()
        self.call_after_refresh(self.fk.first_screen_shown)

    def _fill(self) -> None:
        table = self.query_one("#wo-table", DataTable)
        text = self.query_one("#wo-filter", Input).value
        today = self.fk.clock().date().isoformat()
        shown = [o for o in self._orders if matches(o, text)]
        cells = [{name: value(o, today) for name, value in FIELDS} for o in shown]
        # The vertical scrollbar's cells are kept free so a long list does not reflow.
        width = table.size.width or self.app.size.width
        plan = plan_columns(cells, width - table.styles.scrollbar_size_vertical)
        highlighted = self._highlighted_id()
        with self.app.batch_update():
            if plan != self._plan:
                table.clear(columns=True)
                for column in plan.columns:
                    table.add_column(
                        "\n".join(column),
                        key="/".join(column).lower(),
                        width=plan.address_width if ADDRESS in column else None,
                    )
                table.header_height = plan.height
                self._plan = plan
            else:
                table.clear()
            for order, row in zip(shown, cells, strict=True):
                table.add_row(
                    *(self._cell(row, column, plan) for column in plan.columns),
                    key=order.work_order_id,
                    height=plan.height,
                )
            self._shown = shown
            keys = [o.work_order_id for o in shown]
            if highlighted in keys:
                table.move_cursor(row=keys.index(highlighted), animate=False)
        self._show_detail()
        status = self.query_one("#wo-status", Static)
        if not self._orders:
            status.update(
                "No open work orders on this laptop: sync, import a CIS file "
                "(fieldkit work-orders import), or press n for an ad-hoc visit."
            )
        elif text and not shown:
            status.update(f"No order matches '{text}' (of {len(self._orders)} open).")
        else:
            due_today = sum(1 for o in shown if due_label(o, today) == "today")
            status.update(
                f"{len(shown)} of {len(self._orders)} open orders, {due_today} due today. "
                "Enter opens the highlighted order."
            )

    @staticmethod
    def _cell(row: dict[str, str], column: tuple[str, ...], plan: ColumnPlan) -> str | Text:
        lines = []
        for name in column:
            value = verbatim(row[name])
            if name == ADDRESS:
                value.truncate(plan.address_width, overflow="ellipsis")
            lines.append(value)
        return lines[0] if len(lines) == 1 else Text("\n").join(lines)

    def _highlighted_id(self) -> str | None:
        table = self.query_one("#wo-table", DataTable)
        if not self._shown or not 0 <= table.cursor_row < len(self._shown):
            return None
        return self._shown[table.cursor_row].work_order_id

    def _show_detail(self) -> None:
        """The highlighted order's whole address, kind and note, under the table."""
        detail = self.query_one("#wo-detail", Static)
        order_id = self._highlighted_id()
        order = next((o for o in self._shown if o.work_order_id == order_id), None)
        if order is None:
            detail.update("")
            return
        words = [order.work_order_id, order.service_address or "no address"]
        if order.kind:
            words.append(order.kind.replace("_", " "))
        line = " · ".join(words)
        detail.update(f"{line}: {order.notes}" if order.notes else line)

    @on(DataTable.RowHighlighted, "#wo-table")
    def _row_highlighted(self) -> None:
        self._show_detail()

    @on(Input.Changed, "#wo-filter")
    def _filter_changed(self) -> None:
        self._fill()

    @on(Input.Submitted, "#wo-filter")
    def _filter_done(self) -> None:
        self.query_one("#wo-table", DataTable).focus()

    @on(DataTable.RowSelected, "#wo-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self._open(event.row_key.value)

    def action_open_order(self) -> None:
        """Enter: the highlighted order's site."""
        table = self.query_one("#wo-table", DataTable)
        if table.row_count == 0:
            return
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        self._open(row_key.value)

    def _open(self, work_order_id: str | None) -> None:
        order = next((o for o in self._orders if o.work_order_id == work_order_id), None)
        if order is not None:
            self.fk.start_visit(VisitDraft.for_order(order, self.fk.clock()))

    def action_search(self) -> None:
        """/: type to filter the list."""
        self.query_one("#wo-filter", Input).focus()

    def action_clear_search(self) -> None:
        """Esc: clear the search and go back to the list."""
        self.query_one("#wo-filter", Input).value = ""
        self.query_one("#wo-table", DataTable).focus()

    def action_reload(self) -> None:
        """r: read the orders again."""
        self.reload()

    def action_ad_hoc(self) -> None:
        """n: a visit to a meter no order names."""
        from fieldkit.tui.screens.dialogs import AdHocDialog

        def started(draft: VisitDraft | None) -> None:
            if draft is not None:
                self.fk.start_visit(draft)

        self.app.push_screen(AdHocDialog(self.fk.clock()), started)
