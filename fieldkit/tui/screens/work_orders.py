"""Work orders: today's assigned orders, filter and search, or an ad-hoc visit."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static

from fieldkit.model import WorkOrder
from fieldkit.tui.screens.base import FieldkitScreen
from fieldkit.tui.services import ServiceError
from fieldkit.tui.state import VisitDraft

__all__ = ["WorkOrdersScreen", "due_label"]

COLUMNS = ("Due", "Kind", "Address", "Meter", "Type", "Account", "Order", "Status")


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
        "ad-hoc visit to a meter no order names."
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

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="search: account, address, meter, order…", id="wo-filter")
        table: DataTable[str] = DataTable(id="wo-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("Loading work orders…", id="wo-status")

    def on_mount(self) -> None:
        table = self.query_one("#wo-table", DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column.lower())
        table.focus()
        self.reload()

    def reload(self) -> None:
        """Read the orders again (a thread: the store is SQLite)."""
        self._load()

    @work(thread=True, exclusive=True, group="db", exit_on_error=False)
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

    def _show_orders(self, orders: list[WorkOrder]) -> None:
        self._orders = orders
        self._fill()
        self.call_after_refresh(self.fk.first_screen_shown)

    def _fill(self) -> None:
        table = self.query_one("#wo-table", DataTable)
        text = self.query_one("#wo-filter", Input).value
        today = self.fk.clock().date().isoformat()
        shown = [o for o in self._orders if matches(o, text)]
        with self.app.batch_update():
            table.clear()
            for order in shown:
                table.add_row(
                    due_label(order, today),
                    (order.kind or "-").replace("_", " "),
                    order.service_address or "-",
                    order.meter_number,
                    order.service_type.value,
                    order.account_number or "-",
                    order.work_order_id,
                    order.status,
                    key=order.work_order_id,
                )
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
