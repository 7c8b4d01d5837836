"""Sync: what has not reached the office (pending, and rejected with the reason), sync now."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static
from textual.worker import Worker

from fieldkit.tui.screens.base import FieldkitScreen
from fieldkit.tui.services import ServiceError, SyncItem, SyncReport
from fieldkit.tui.text import moment, verbatim

__all__ = ["SyncScreen"]


class SyncScreen(FieldkitScreen):
    """The outbox as the technician sees it."""

    TITLE_TEXT = "Sync"
    HELP = (
        "Visits waiting to go to the office (pending) and any the office refused "
        "(rejected, with its reason). **s** syncs now when this laptop is enrolled; "
        "**Esc** goes back, and the sync goes on: the indicator says how it ended, and a "
        "failure pops up on whatever screen is showing."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "sync_now", "Sync now", id="sync-now"),
        Binding("escape", "back", "Back", id="sync-back"),
    ]

    # Each read of the outbox is numbered; only the newest may paint. A read started on
    # mount can finish after the one a sync's end started (a slow disk, a busy laptop), and
    # would otherwise put the rows from before the sync back over the office's answer.
    _reads = 0

    def compose_body(self) -> ComposeResult:
        yield Static("", id="sync-summary", markup=False)
        table: DataTable[Text] = DataTable(id="sync-items", cursor_type="row")
        yield table
        yield Static("", id="sync-message", markup=False)

    def on_mount(self) -> None:
        self._columns([])
        if self.fk.syncing:
            self._load(None)
            self.query_one("#sync-message", Static).update("Syncing…")
        else:
            # Back on the screen after a sync ended elsewhere: how it ended, not a blank.
            self._load(self.fk.sync_report)
        self.watch(self.fk, "syncing", self._busy_changed, init=False)
        self.watch(self.fk, "sync_report", self._synced, init=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "sync_now":
            return self.fk.sync_client is not None and not self.fk.syncing
        return True

    def _busy_changed(self, _syncing: bool) -> None:
        self.refresh_bindings()

    def _load(self, report: SyncReport | None) -> None:
        self._reads += 1
        self._read(report, self._reads)

    @work(
        thread=True,
        group="sync",
        exit_on_error=False,
        description="read the outbox and the last sync",
    )
    def _read(self, report: SyncReport | None, number: int) -> None:
        try:
            items = self.fk.store.sync_items()
        except ServiceError as exc:
            self.app.call_from_thread(self._unreadable, str(exc), number)
            return
        client = self.fk.sync_client
        last = None if client is None else client.last_sync()
        state = self.fk.describe_sync(report)
        self.app.call_from_thread(self._show, items, last, report, state, number)

    def worker_failed(self, worker: Worker[object], failure: str) -> None:
        self.query_one("#sync-message", Static).update(f"{failure}; Esc, then F2, reads it again.")

    def _unreadable(self, error: str, number: int) -> None:
        if number == self._reads:
            self.query_one("#sync-message", Static).update(error)

    def _show(
        self,
        items: list[SyncItem],
        last: datetime | None,
        report: SyncReport | None,
        state: str,
        number: int,
    ) -> None:
        if number != self._reads:
            return
        # Through the app's setter: a read made while a sync runs must not put the idle
        # state over "syncing…" (re-opening this screen mid-sync did).
        self.fk.show_sync_state(state)
        table = self._columns(items)
        for item in items:
            table.add_row(
                *(verbatim(cell) for cell in (item.state, item.reason or "-", item.summary)),
                key=item.item_id,
            )
        if self.fk.sync_client is None:
            summary = "This app runs without a sync client: visits stay on the laptop."
        else:
            summary = (
                "Last sync: never (enrol this laptop once: fieldkit enroll --server URL "
                "--code CODE)"
                if last is None
                else f"Last sync: {moment(last)}"
            )
        self.query_one("#sync-summary", Static).update(summary)
        if report is not None:
            self.query_one("#sync-message", Static).update(
                f"Sync failed: {report.error}"
                if report.error
                else f"Synced: {report.pushed} sent, {report.pulled} received, "
                f"{report.rejected} rejected."
            )

    def _columns(self, items: list[SyncItem]) -> DataTable[Text]:
        """Empty the table and size its columns to ``items``, the reason before the item.

        The widths are set here, not left to the table's own measuring: that runs when the
        table next goes idle, and a refill soon after an earlier one (the rows from before a
        sync, then the office's answer) could keep the earlier rows' widths, cutting the
        office's reason to "invali" (CI caught it on a loaded machine).
        """
        table: DataTable[Text] = self.query_one("#sync-items", DataTable)
        table.clear(columns=True)
        cells: dict[str, list[str]] = {
            "State": [item.state for item in items],
            "Reason": [item.reason or "-" for item in items],
            "Item": [item.summary for item in items],
        }
        for label, values in cells.items():
            width = max((cell_len(value) for value in values), default=0)
            table.add_column(label, key=label.lower(), width=max(width, cell_len(label)))
        return table

    def action_sync_now(self) -> None:
        """s: push the outbox and pull the feed now (it goes on if this screen is left)."""
        if self.fk.sync_now():
            self.query_one("#sync-message", Static).update("Syncing…")

    def _synced(self, report: SyncReport | None) -> None:
        if report is not None:
            self._load(report)

    def action_back(self) -> None:
        """Esc: back."""
        self.app.pop_screen()
