"""Site: what the office says about the customer and the meter, and the previous visits."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static
from textual.worker import Worker

from fieldkit.model import SiteExpectation, WorkOrder
from fieldkit.tui.screens.base import FieldkitScreen
from fieldkit.tui.services import ServiceError, VisitSummary
from fieldkit.tui.state import VisitDraft
from fieldkit.tui.text import day, number, ratio, verbatim

__all__ = ["SiteScreen", "site_rows", "unsaved_work"]


def site_rows(order: WorkOrder | None, expectation: SiteExpectation) -> list[tuple[str, str]]:
    """The site's facts as (label, value) lines; '-' where the office sent nothing."""
    rows: list[tuple[str, str]] = []
    if order is not None:
        rows += [
            ("Order", f"{order.work_order_id} ({(order.kind or '-').replace('_', ' ')})"),
            ("Account", order.account_number or "-"),
            ("Premise", order.premise_id or "-"),
            ("Address", order.service_address or "-"),
            ("Scheduled", order.scheduled_for or "-"),
        ]
    exp = expectation
    rows += [
        ("Meter", exp.meter_number or "-"),
        ("Serial", (order.meter_serial if order else None) or "-"),
        ("Form", exp.form or "-"),
        ("Class", exp.meter_class or "-"),
        ("Service", exp.service_type.value if exp.service_type else "unknown: detected"),
        ("Nominal", "-" if exp.nominal_voltage is None else f"{number(exp.nominal_voltage)} V"),
        ("CT / PT", f"{ratio(exp.ct_ratio)} / {ratio(exp.pt_ratio)}"),
        ("Rotation", exp.rotation + (f", high leg {exp.high_leg}" if _delta4(exp) else "")),
        (
            "Last read",
            "-"
            if exp.last_read_kwh is None
            else f"{number(exp.last_read_kwh)} kWh on {day(exp.last_read_at)}",
        ),
        ("Last visit", day(exp.last_visit_at)),
        ("Net metering", "yes" if exp.net_metering else "no"),
    ]
    if order is not None and order.notes:
        rows.append(("Notes", order.notes))
    return rows


def unsaved_work(draft: VisitDraft) -> str:
    """What the visit holds that saving would keep ('' when nothing): a read, adjustments."""
    from fieldkit.tui.screens.checks import verdict_word

    parts = []
    if draft.result is not None and draft.result.snapshot is not None:
        parts.append(f"a read (verdict {verdict_word(draft.result)})")
    if draft.adjustments:
        done = sum(1 for a in draft.adjustments if a.ok)
        tried = len(draft.adjustments)
        if done:
            parts.append(
                f"{done} adjustment{'s' if done != 1 else ''} done on the meter"
                + (f", {tried - done} not done" if tried != done else "")
            )
        else:
            parts.append(f"{tried} adjustment{'s' if tried != 1 else ''} tried (none done)")
    return " and ".join(parts)


def _delta4(exp: SiteExpectation) -> bool:
    return exp.service_type is not None and exp.service_type.value == "3ph-4w-delta"


class SiteScreen(FieldkitScreen):
    """The site before the probe goes on."""

    TITLE_TEXT = "Site"
    HELP = (
        "What the office sent about this site: the customer, the meter (form, class, "
        "service type, nominal voltage, CT/PT ratio, last read) and the visits saved "
        "for this meter. **c** (or Enter) goes on to connect the probe; **v** closes the "
        "visit without reading (no access); **Esc** goes back to the list (once the meter "
        "was read or adjusted, it asks before dropping the visit unsaved)."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c,enter", "connect", "Connect probe", id="site-connect"),
        Binding("v", "close_visit", "Close visit", id="site-close"),
        Binding("escape", "back", "Back", id="site-back"),
    ]

    def heading(self) -> str:
        return f"Site · {self.draft.title}"

    def compose_body(self) -> ComposeResult:
        draft = self.draft
        with Horizontal(id="site-body"):
            with Vertical(id="site-facts"):
                for label, value in site_rows(draft.order, draft.expectation):
                    with Horizontal(classes="fact"):
                        yield Static(label, classes="fact-label", markup=False)
                        yield Static(value, classes="fact-value", markup=False)
            with Vertical(id="site-history"):
                yield Static("Previous visits to this meter", classes="section-title")
                table: DataTable[Text] = DataTable(id="site-visits", cursor_type="row")
                yield table
                yield Static("Loading…", id="site-visits-status", markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#site-visits", DataTable)
        for column in ("Closed", "Outcome", "Verdict", "Notes"):
            table.add_column(column, key=column.lower())
        self._load_visits()
        self._look_up_password()

    @work(
        thread=True,
        group="secrets-ahead",
        exit_on_error=False,
        description="look up the kept password",
    )
    def _look_up_password(self) -> None:
        """Ahead of Connect: the kept password is ready before a read can start."""
        self.fk.kept_passwords.lookup(self.draft.meter_number)

    @work(
        thread=True,
        exclusive=True,
        group="db",
        exit_on_error=False,
        description="read the previous visits",
    )
    def _load_visits(self) -> None:
        try:
            visits = self.fk.store.previous_visits(self.draft.meter_number)
        except ServiceError as exc:
            self.app.call_from_thread(self._visits_error, str(exc))
            return
        self.app.call_from_thread(self._show_visits, visits)

    def _visits_error(self, message: str) -> None:
        self.query_one("#site-visits-status", Static).update(f"Cannot read visits: {message}")

    def worker_failed(self, worker: Worker[object], failure: str) -> None:
        if worker.group == "db":
            self.query_one("#site-visits-status", Static).update(
                f"{failure}; the visit goes on without them (Esc and Enter read them again)."
            )
        # The kept password is looked up again on Connect, which says what went wrong.

    def _show_visits(self, visits: list[VisitSummary]) -> None:
        table = self.query_one("#site-visits", DataTable)
        table.clear()
        for v in visits:
            cells = (
                day(v.closed_at),
                "still open" if v.outcome is None else v.outcome.replace("_", " "),
                "-" if v.verdict is None else v.verdict.value.upper(),
                v.notes or "-",
            )
            table.add_row(*(verbatim(cell) for cell in cells), key=v.visit_id)
        status = self.query_one("#site-visits-status", Static)
        last = self.draft.expectation.last_visit_at
        if visits:
            status.update(f"{len(visits)} saved on this laptop")
        elif last is not None:
            status.update(f"None saved on this laptop; the office's last visit: {day(last)}")
        else:
            status.update("None saved on this laptop")

    def action_connect(self) -> None:
        """c: choose the probe and read the meter."""
        from fieldkit.tui.screens.connect import ConnectScreen

        self.app.push_screen(ConnectScreen())

    def action_close_visit(self) -> None:
        """v: close without reading (no access, no comms)."""
        from fieldkit.tui.screens.close import CloseScreen

        self.app.push_screen(CloseScreen())

    def action_back(self) -> None:
        """Esc: back to the work orders; a visit with a read or an adjustment asks first.

        Esc on each screen walks back here, and one more dropped the visit: a read and a
        demand reset done on the meter were then missing from the log.
        """
        unsaved = unsaved_work(self.draft)
        if not unsaved:
            self.fk.end_visit()
            return
        from fieldkit.tui.screens.dialogs import ConfirmDialog

        def answered(drop: bool | None) -> None:
            if drop:
                self.fk.end_visit()

        self.app.push_screen(
            ConfirmDialog(
                "Leave this visit without saving it?",
                f"{unsaved}, not saved",
                "nothing of this visit is kept",
                "v closes the visit and keeps it: what was done on the meter belongs in the log.",
                "Drop visit",
            ),
            answered,
        )
