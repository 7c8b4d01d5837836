"""Adjust: set the meter's clock or reset demand, each behind a confirmation with before/after.

A procedure runs in its own session (thread worker, group ``meter-io``) with the port and
password of the read. A refusal is explained in words and recorded with the visit; nothing
is retried behind the technician's back.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static
from textual.worker import Worker

from fieldkit.drivers.base import CancelToken, DemandReset, Procedure, SetClock
from fieldkit.drivers.errors import DriverError, MeterRefused, SecurityDenied
from fieldkit.model import MeterSnapshot
from fieldkit.tui.messages import AdjustFinished
from fieldkit.tui.screens.base import FieldkitScreen
from fieldkit.tui.screens.dialogs import ConfirmDialog
from fieldkit.tui.services import Adjustment
from fieldkit.tui.text import moment, number, signed_seconds

__all__ = ["AdjustScreen", "clock_before_after", "demand_before_after", "explain_refusal"]

NAMES = {"set_clock": "Set clock", "demand_reset": "Demand reset"}


def clock_before_after(snapshot: MeterSnapshot | None) -> tuple[str, str]:
    """What the meter's clock is (as read) and what it will be."""
    if snapshot is None or snapshot.clock is None:
        return "the clock was not read", "the laptop's time"
    clock = snapshot.clock
    before = f"{moment(clock.meter_time)}, {signed_seconds(clock.drift_seconds)} at the read"
    return before, "the laptop's time (UTC), drift about 0 s"


def demand_before_after(snapshot: MeterSnapshot | None) -> tuple[str, str]:
    """The maximum demand now and after a reset."""
    reg = None if snapshot is None else snapshot.register("kw_demand_max")
    before = (
        "maximum demand not read"
        if reg is None
        else f"maximum demand {number(reg.value, 2)} {reg.unit}"
    )
    return before, "maximum demand 0; the billing period closes on the meter"


def explain_refusal(procedure: str, exc: DriverError) -> str:
    """A refusal in words: what the meter said, what it means, what to do."""
    name = NAMES.get(procedure, procedure).lower()
    if isinstance(exc, SecurityDenied):
        return (
            f"The meter refused the {name}: {exc}. The password given allows reading only; "
            "a procedure needs a password with write access. Nothing was changed."
        )
    if isinstance(exc, MeterRefused):
        return (
            f"The meter refused the {name}: {exc}. This meter does not run that procedure "
            "from the optical port, so nothing was written to it; use the utility's "
            "head-end or the vendor's tool, and note it on the visit."
        )
    return f"The {name} could not run: {exc}. Nothing is known to have changed on the meter."


class AdjustScreen(FieldkitScreen):
    """Fix what can be fixed on the spot."""

    TITLE_TEXT = "Adjust"
    HELP = (
        "**c** sets the meter's clock to the laptop's time; **d** resets maximum demand "
        "(closes the billing period on the meter). Each asks first, showing the value now "
        "and after; Ctrl+Y confirms, Esc cancels. What the meter answers, including a "
        "refusal, is kept with the visit. **Esc** goes back to the checks."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "set_clock", "Set clock", id="adjust-clock"),
        Binding("d", "demand_reset", "Demand reset", id="adjust-demand"),
        Binding("escape", "back", "Back", id="adjust-back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._busy = False

    def heading(self) -> str:
        return f"Adjust · {self.draft.title}"

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="adjust-body"):
            yield Static("", id="adjust-state", markup=False)
            yield Static("", id="adjust-message", classes="message", markup=False)
            yield Static("", id="adjust-log", markup=False)

    def on_mount(self) -> None:
        self._show_state()
        self._show_log()
        if self.draft.link is None:
            self._say("The meter was not read in this visit: connect first.")

    def _show_state(self) -> None:
        snap = None if self.draft.result is None else self.draft.result.snapshot
        clock_now, _ = clock_before_after(snap)
        demand_now, _ = demand_before_after(snap)
        self.query_one("#adjust-state", Static).update(
            f"Clock:  {clock_now}\nDemand: {demand_now}\n\n"
            "c  set the clock to the laptop's time\nd  reset maximum demand"
        )

    def _show_log(self) -> None:
        lines = [
            f"{moment(a.at)}  {NAMES.get(a.procedure, a.procedure)}: "
            f"{'done' if a.ok else 'not done'} · {a.message}"
            for a in self.draft.adjustments
        ]
        self.query_one("#adjust-log", Static).update(
            "Adjustments in this visit:\n" + ("\n".join(lines) if lines else "none")
        )

    def _say(self, text: str) -> None:
        self.query_one("#adjust-message", Static).update(text)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("set_clock", "demand_reset"):
            return not self._busy and self.draft.link is not None
        return True

    def action_set_clock(self) -> None:
        """c: set the meter's clock to the laptop's time (asks first)."""
        snap = None if self.draft.result is None else self.draft.result.snapshot
        before, after = clock_before_after(snap)
        self._ask(
            "set_clock",
            ConfirmDialog(
                "Set the meter's clock?",
                before,
                after,
                "The laptop's clock is taken as true: check it against a trusted time first.",
                "Set clock",
            ),
            before,
            after,
        )

    def action_demand_reset(self) -> None:
        """d: reset maximum demand (asks first)."""
        snap = None if self.draft.result is None else self.draft.result.snapshot
        before, after = demand_before_after(snap)
        self._ask(
            "demand_reset",
            ConfirmDialog(
                "Reset maximum demand?",
                before,
                after,
                "This closes the billing period on the meter and cannot be undone.",
                "Reset demand",
            ),
            before,
            after,
        )

    def _ask(self, procedure: str, dialog: ConfirmDialog, before: str, after: str) -> None:
        def answered(yes: bool | None) -> None:
            if not yes:
                self._say(f"{NAMES[procedure]}: cancelled, nothing was sent to the meter.")
                return
            self._busy = True
            self.refresh_bindings()
            self._say(f"{NAMES[procedure]}: talking to the meter…")
            self._pending = (before, after)
            self._procedure = procedure
            self._run(procedure)

        self.app.push_screen(dialog, answered)

    @work(
        thread=True,
        exclusive=True,
        group="meter-io",
        exit_on_error=False,
        description="finish talking to the meter",
    )
    def _run(self, procedure_name: str) -> None:
        link = self.draft.link
        assert link is not None
        procedure: Procedure = (
            SetClock(self.fk.clock()) if procedure_name == "set_clock" else DemandReset()
        )
        try:
            driver = self.fk.driver_factory(link.protocol, link.port, link.settings())
            session = driver.session(cancel=CancelToken())
            with session:
                answer = session.run_procedure(procedure)
        except DriverError as exc:
            self.post_message(
                AdjustFinished(procedure_name, None, explain_refusal(procedure_name, exc))
            )
            return
        self.post_message(AdjustFinished(procedure_name, answer, None))

    def worker_failed(self, worker: Worker[object], failure: str) -> None:
        # Kept as an adjustment not known to be done: the meter may have acted before the
        # error, and the log must say it was tried.
        procedure = getattr(self, "_procedure", "")
        name = NAMES.get(procedure, procedure)
        self.post_message(
            AdjustFinished(
                procedure,
                None,
                f"{name}: {failure[0].lower()}{failure[1:]}. Whether the meter did it is not "
                "known: Esc, then r reads the meter again to see.",
            )
        )

    @on(AdjustFinished)
    def _finished(self, event: AdjustFinished) -> None:
        self._busy = False
        self.refresh_bindings()
        before, after = getattr(self, "_pending", ("", ""))
        name = NAMES.get(event.procedure, event.procedure)
        if event.result is not None and event.result.ok:
            text = f"{name}: done, the meter answered '{event.result.message}'."
            ok = True
        elif event.result is not None:
            text = (
                f"{name}: the meter did not complete it (result {event.result.code}: "
                f"{event.result.message}). Nothing is known to have changed."
            )
            ok = False
        else:
            text = event.error or f"{name}: failed"
            ok = False
        self.draft.adjustments.append(
            Adjustment(
                procedure=event.procedure,
                at=self.fk.clock(),
                before=before,
                after=after if ok else before,
                ok=ok,
                message=text,
            )
        )
        self._say(text)
        self._show_log()

    def action_back(self) -> None:
        """Esc: back to the checks, once no procedure is waiting for the meter's answer."""
        if self._busy:
            # Leaving now would drop the answer: a demand reset done on the meter but missing
            # from the visit. The driver's timeouts bound the wait to seconds.
            self._say("Still talking to the meter: wait for its answer, it is kept with the visit.")
            return
        self.app.pop_screen()
