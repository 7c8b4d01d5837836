"""Modal dialogs: an ad-hoc visit's site, and the confirmation before touching the meter."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Select, Static

from fieldkit.model import ServiceType, SiteExpectation
from fieldkit.tui.state import VisitDraft

__all__ = ["AdHocDialog", "ConfirmDialog", "parse_ad_hoc"]


class AdHocError(ValueError):
    """A field of the ad-hoc form is wrong; the message names it."""


def parse_ad_hoc(meter: str, service: object, voltage: str, form: str, now: datetime) -> VisitDraft:
    """The visit an ad-hoc form describes; raises AdHocError naming the bad field."""
    number = meter.strip()
    if not number:
        raise AdHocError("meter number: type the number on the nameplate")
    kind = service if isinstance(service, ServiceType) else None
    nominal: float | None = None
    if voltage.strip():
        try:
            nominal = float(voltage)
        except ValueError:
            raise AdHocError(f"nominal voltage: '{voltage}' is not a number of volts") from None
        if not 0 < nominal < 100_000:
            raise AdHocError("nominal voltage: give the service's volts, e.g. 120 or 240")
    if kind is not None and nominal is None:
        raise AdHocError("nominal voltage: the service type needs its nominal voltage")
    expectation = SiteExpectation(
        meter_number=number,
        form=form.strip() or None,
        service_type=kind,
        nominal_voltage=nominal,
    )
    return VisitDraft(meter_number=number, expectation=expectation, started_at=now)


class AdHocDialog(ModalScreen[VisitDraft | None]):
    """The few facts the checks need for a meter with no work order."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="adhoc-cancel"),
        Binding("ctrl+s", "start", "Start visit", id="adhoc-start"),
    ]

    def __init__(self, now: datetime) -> None:
        super().__init__()
        self._now = now

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="adhoc"):
            yield Static("Ad-hoc visit: a meter with no work order", classes="dialog-title")
            with Grid(classes="form"):
                yield Label("Meter number")
                yield Input(placeholder="as on the nameplate", id="adhoc-meter")
                yield Label("Service type")
                yield Select(
                    [(s.value, s) for s in ServiceType],
                    prompt="unknown (the checks detect it)",
                    id="adhoc-service",
                )
                yield Label("Nominal voltage")
                yield Input(placeholder="e.g. 120 (wye) or 240 (delta)", id="adhoc-voltage")
                yield Label("Form")
                yield Input(placeholder="e.g. 2S, 16S (optional)", id="adhoc-form")
            # The error quotes what was typed.
            yield Static("", id="adhoc-error", classes="error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="adhoc-no")
                yield Button("Start visit", variant="primary", id="adhoc-yes")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#adhoc-meter", Input).focus()

    def action_cancel(self) -> None:
        """Esc: no visit."""
        self.dismiss(None)

    def action_start(self) -> None:
        """Ctrl+S: start the visit with what the form says."""
        try:
            draft = parse_ad_hoc(
                self.query_one("#adhoc-meter", Input).value,
                self.query_one("#adhoc-service", Select).value,
                self.query_one("#adhoc-voltage", Input).value,
                self.query_one("#adhoc-form", Input).value,
                self._now,
            )
        except AdHocError as exc:
            self.query_one("#adhoc-error", Static).update(str(exc))
            return
        self.dismiss(draft)

    @on(Button.Pressed, "#adhoc-yes")
    def _yes(self) -> None:
        self.action_start()

    @on(Button.Pressed, "#adhoc-no")
    def _no(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_start()


class ConfirmDialog(ModalScreen[bool]):
    """Before anything is written to the meter: what it is now, what it will be.

    Focus starts on Cancel: Enter alone never writes to a meter.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "answer(False)", "Cancel", id="confirm-no"),
        Binding("ctrl+y", "answer(True)", "Confirm", id="confirm-yes"),
    ]

    def __init__(
        self,
        title: str,
        before: str,
        after: str,
        warning: str,
        confirm: str,
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self._title = title
        self._before = before
        self._after = after
        self._warning = warning
        self._confirm = confirm

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm"):
            yield Static(self._title, classes="dialog-title", markup=False)
            with Grid(classes="form"):
                yield Label("Now")
                yield Static(self._before, id="confirm-before", markup=False)
                yield Label("After")
                yield Static(self._after, id="confirm-after", markup=False)
            yield Static(self._warning, classes="warning", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="confirm-cancel")
                yield Button(self._confirm, variant="warning", id="confirm-ok")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#confirm-cancel", Button).focus()

    def action_answer(self, yes: bool) -> None:
        """Esc cancels, Ctrl+Y confirms."""
        self.dismiss(yes)

    @on(Button.Pressed, "#confirm-ok")
    def _ok(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-cancel")
    def _cancel(self) -> None:
        self.dismiss(False)
