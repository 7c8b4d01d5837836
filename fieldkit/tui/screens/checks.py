"""Checks: the verdict at a glance, every check with its likely causes, the phasors, the meter.

A wrong meter (the ``meter_identity`` check failed) is the first thing on the screen, in
a red banner, before the verdict; an incomplete read says so next, and what was read is
still judged and can be closed as a visit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from fieldkit.checks.phasors import DiagramError, ServiceModel, service_model
from fieldkit.model import CheckResult, CheckStatus, MeterSnapshot, SiteExpectation
from fieldkit.tui.screens.base import FieldkitScreen
from fieldkit.tui.text import angle, moment, number, signed_seconds, verbatim
from fieldkit.tui.widgets.phasor import PhasorDiagram
from fieldkit.visit import VisitResult

__all__ = ["ChecksScreen", "expected_model", "meter_details", "verdict_line", "verdict_word"]

STATUS_COLOUR = {
    CheckStatus.PASS: "text-success",
    CheckStatus.WARN: "text-warning",
    CheckStatus.FAIL: "text-error",
    CheckStatus.SKIP: "text-muted",
}


def verdict_line(result: VisitResult) -> str:
    """'FAIL · 2 failed, 1 warning, 11 passed, 2 skipped' (or why there is no verdict)."""
    if result.verdict is None:
        return "NO VERDICT · nothing identifying was read"
    counts = {s: sum(1 for r in result.results if r.status is s) for s in CheckStatus}
    words = [
        f"{counts[CheckStatus.FAIL]} failed",
        f"{counts[CheckStatus.WARN]} warning{'s' if counts[CheckStatus.WARN] != 1 else ''}",
        f"{counts[CheckStatus.PASS]} passed",
        f"{counts[CheckStatus.SKIP]} skipped",
    ]
    return f"{verdict_word(result)} · " + ", ".join(words)


def verdict_word(result: VisitResult) -> str:
    """The verdict's word; a read cut short is never called a pass (what was missing skipped)."""
    if result.verdict is None:
        return "NO VERDICT"
    if result.verdict is CheckStatus.PASS and incomplete(result):
        return "INCOMPLETE"
    return result.verdict.value.upper()


def incomplete(result: VisitResult) -> bool:
    """True when the meter stopped before everything was read."""
    return result.snapshot is not None and bool(result.snapshot.incomplete)


def expected_model(expectation: SiteExpectation) -> ServiceModel | None:
    """The healthy diagram of the order's service type, or None when it is unknown."""
    if expectation.service_type is None:
        return None
    try:
        return service_model(expectation.service_type, expectation.rotation, expectation.high_leg)
    except DiagramError:
        return None


def meter_details(snapshot: MeterSnapshot, events: int = 8) -> str:
    """Identity, clock, flags, registers, recent events and what could not be read."""
    ident = snapshot.identity
    lines = [
        "IDENTITY",
        f"  {ident.manufacturer} {ident.model}, serial {ident.serial_number}, "
        f"meter id {ident.meter_id or '-'}, firmware {ident.firmware_version or '-'}",
        "",
        "CLOCK",
    ]
    if snapshot.clock is None:
        lines.append("  not read")
    else:
        clock = snapshot.clock
        lines += [
            f"  meter     {moment(clock.meter_time)}",
            f"  reference {moment(clock.reference_time)}",
            f"  drift     {signed_seconds(clock.drift_seconds)}",
        ]
    lines += ["", "STATUS FLAGS"]
    if snapshot.status is None:
        lines.append("  not read")
    else:
        from fieldkit.model import ordered_flags

        active = ordered_flags(snapshot.status.active)
        lines.append("  " + (", ".join(a.replace("_", " ") for a in active) or "none set"))
    lines += ["", "REGISTERS"]
    lines += [
        f"  {r.description or r.id:<34} {number(r.value, 2):>12} {r.unit}"
        for r in snapshot.registers
    ] or ["  not read"]
    lines += ["", "RECENT EVENTS"]
    recent = sorted(
        (e for e in snapshot.events if e.timestamp is not None),
        key=lambda e: e.timestamp or snapshot.read_at,
        reverse=True,
    )[:events]
    lines += [
        f"  {moment(e.timestamp)}  {e.name}" + (f" ({e.log})" if e.log != "event" else "")
        for e in recent
    ] or ["  none read"]
    if snapshot.unavailable:
        lines += ["", "NOT READ"]
        lines += [f"  {u.item}: {u.reason}" for u in snapshot.unavailable]
    return "\n".join(lines)


class ChecksScreen(FieldkitScreen):
    """What the read says about the site."""

    TITLE_TEXT = "Checks"
    HELP = (
        "The verdict of every site check on what was read, worst first in the banner. "
        "**1** the checks (highlight one to see its likely causes), **2** the phasor "
        "diagram and the per-phase table (expected positions drawn faintly: `○` marks "
        "where a healthy current sits), **3** the meter's identity, clock, flags, "
        "registers and recent events. **a** adjusts the meter (set clock, demand reset), "
        "**v** closes the visit, **r** reads again."
    )
    # The tab strip reads "1 Checks  2 Phasors  3 Meter": its keys are on screen already,
    # and in the footer they pushed Help, Sync and Quit off an 80-column terminal.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "tab('tab-verdict')", "Checks", show=False, id="checks-tab-1"),
        Binding("2", "tab('tab-phasors')", "Phasors", show=False, id="checks-tab-2"),
        Binding("3", "tab('tab-meter')", "Meter", show=False, id="checks-tab-3"),
        Binding("a", "adjust", "Adjust", id="checks-adjust"),
        Binding("v", "close_visit", "Close visit", id="checks-close"),
        Binding("r", "read_again", "Read again", id="checks-read"),
        Binding("escape", "read_again", "Back", show=False, id="checks-back"),
    ]

    def heading(self) -> str:
        return f"Checks · {self.draft.title}"

    @property
    def result(self) -> VisitResult:
        """The read being shown."""
        result = self.draft.result
        if result is None:
            raise RuntimeError("the checks screen needs a read")
        return result

    def compose_body(self) -> ComposeResult:
        result = self.result
        identity = next((r for r in result.results if r.id == "meter_identity"), None)
        if identity is not None and identity.status is CheckStatus.FAIL:
            yield Static(
                f"WRONG METER? {identity.message}. Compare the nameplate with the work "
                "order before doing anything else.",
                id="checks-wrong-meter",
                classes="banner banner-fail",
                markup=False,
            )
        snapshot = result.snapshot
        if snapshot is not None and snapshot.incomplete:
            yield Static(
                f"INCOMPLETE READ · {snapshot.incomplete}. What was read is judged below "
                "and kept; the visit can still be closed.",
                id="checks-incomplete",
                classes="banner banner-warn",
                markup=False,
            )
        verdict = result.verdict
        tone = "none" if verdict is None else verdict.value
        if verdict_word(result) == "INCOMPLETE":
            tone = CheckStatus.WARN.value
        yield Static(
            verdict_line(result),
            id="checks-verdict",
            classes=f"banner verdict-{tone}",
            markup=False,
        )
        with TabbedContent(id="checks-tabs"):
            with TabPane("1 Checks", id="tab-verdict"), Vertical():
                table: DataTable[str | Text] = DataTable(id="checks-table", cursor_type="row")
                yield table
                yield Static("", id="checks-causes", markup=False)
            with TabPane("2 Phasors", id="tab-phasors"), Horizontal(id="phasor-body"):
                yield PhasorDiagram(id="phasor-diagram")
                with Vertical(id="phasor-side"):
                    phases: DataTable[Text] = DataTable(
                        id="phase-table", cursor_type="none", show_cursor=False
                    )
                    yield phases
                    yield Static("", id="phasor-legend", markup=False)
            with TabPane("3 Meter", id="tab-meter"), VerticalScroll():
                yield Static(
                    "nothing identifying was read" if snapshot is None else meter_details(snapshot),
                    id="meter-details",
                    markup=False,
                )

    def on_mount(self) -> None:
        table = self.query_one("#checks-table", DataTable)
        for label, key in (("Check", "check"), ("Status", "status"), ("Finding", "finding")):
            table.add_column(label, key=key)
        self._fill_checks()
        self._fill_phasors()
        self.watch(self.app, "theme", self._recolour, init=False)
        table.focus()
        if any(
            r.id == "meter_identity" and r.status is CheckStatus.FAIL for r in self.result.results
        ):
            self.app.bell()

    def _recolour(self, _theme: str) -> None:
        # Only the status cells change colour: refilling the table put the cursor back on
        # the first check, so F4 in the sun lost the one the technician was reading.
        table = self.query_one("#checks-table", DataTable)
        for r in self.result.results:
            table.update_cell(r.id, "status", self._status_cell(r))

    def _colours(self) -> Mapping[str, str]:
        return self.app.get_css_variables()

    def _status_cell(self, check: CheckResult) -> Text:
        colour = self._colours().get(STATUS_COLOUR[check.status], "")
        return Text(check.status.value.upper(), style=f"bold {colour}".strip())

    def _fill_checks(self) -> None:
        table = self.query_one("#checks-table", DataTable)
        table.clear()
        for r in self.result.results:
            table.add_row(
                verbatim(r.id.replace("_", " ")),
                self._status_cell(r),
                verbatim(r.message),  # quotes the meter's and the order's own words
                key=r.id,
            )
        if not self.result.results:
            self.query_one("#checks-causes", Static).update(
                "No checks ran: nothing identifying was read."
            )
        else:
            self._show_causes(self.result.results[0])

    def _show_causes(self, check: CheckResult) -> None:
        lines = [f"{check.id.replace('_', ' ')}: {check.message}"]
        if check.measured:
            lines.append(f"measured: {check.measured}")
        if check.expected:
            lines.append(f"expected: {check.expected}")
        if check.likely_causes:
            lines.append("likely causes:")
            lines += [f"  • {cause}" for cause in check.likely_causes]
        self.query_one("#checks-causes", Static).update("\n".join(lines))

    @on(DataTable.RowHighlighted, "#checks-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        check = next((r for r in self.result.results if r.id == event.row_key.value), None)
        if check is not None:
            self._show_causes(check)

    def _fill_phasors(self) -> None:
        snapshot = self.result.snapshot
        model = expected_model(self.draft.expectation)
        phases = () if snapshot is None else snapshot.phases
        self.query_one("#phasor-diagram", PhasorDiagram).show(phases, model)
        table = self.query_one("#phase-table", DataTable)
        for label in ("El", "V", "V∠", "I", "I∠", "PF"):
            table.add_column(label)
        for p in phases:
            cells = (
                p.phase,
                number(p.voltage),
                angle(p.voltage_angle),
                number(p.current, 2),
                angle(p.current_angle),
                "-" if p.power_factor is None else f"{p.power_factor:.3f}",
            )
            table.add_row(*(verbatim(cell) for cell in cells))
        legend = ["─ voltage  • current  · ○ expected"]
        legend.append(
            f"expected {model.describe()}: {model.diagram()}"
            if model
            else "expected: service type unknown"
        )
        if snapshot is not None and snapshot.clock is not None:
            legend.append(f"clock drift {signed_seconds(snapshot.clock.drift_seconds)}")
        if snapshot is not None and snapshot.frequency is not None:
            legend.append(f"frequency {snapshot.frequency:.2f} Hz")
        if not phases:
            legend.append("no per-phase values were read")
        self.query_one("#phasor-legend", Static).update("\n".join(legend))

    def action_tab(self, tab: str) -> None:
        """1, 2, 3: the checks, the phasors, the meter."""
        self.query_one("#checks-tabs", TabbedContent).active = tab

    def action_adjust(self) -> None:
        """a: set the clock or reset demand, behind a confirmation."""
        from fieldkit.tui.screens.adjust import AdjustScreen

        self.app.push_screen(AdjustScreen())

    def action_close_visit(self) -> None:
        """v: the outcome and notes; saved only once the store has it."""
        from fieldkit.tui.screens.close import CloseScreen

        self.app.push_screen(CloseScreen())

    def action_read_again(self) -> None:
        """r: back to connect to read again."""
        self.app.pop_screen()
