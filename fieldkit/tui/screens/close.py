"""Close visit: the outcome code and notes; "saved" only once the store returned an id."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Label, Select, Static, TextArea
from textual.worker import Worker

from fieldkit.tui.screens.base import FieldkitScreen
from fieldkit.tui.screens.checks import verdict_word
from fieldkit.tui.services import OUTCOME_CODES, OutcomeCode, ServiceError, VisitRecord

__all__ = ["OUTCOME_WORDS", "CloseScreen"]

OUTCOME_WORDS: dict[OutcomeCode, str] = {
    "resolved": "resolved: the site is right (or was put right)",
    "follow_up": "follow up: another visit or the office must act",
    "replace_meter": "replace meter: the meter itself is faulty",
    "customer_side": "customer side: the fault is past the meter",
    "no_access": "no access: could not reach the meter",
    "no_comms": "no comms: the meter would not talk",
}


class CloseScreen(FieldkitScreen):
    """The end of the visit."""

    TITLE_TEXT = "Close visit"
    HELP = (
        "Choose the outcome and write what you found or did. **Ctrl+S** saves the visit "
        "with the read, the checks and the adjustments; the screen says *saved* only once "
        "the store has returned the visit's id. If saving fails nothing is lost: fix the "
        "problem and save again. After saving, **Enter** goes back to the work orders."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save visit", id="close-save"),
        Binding("escape", "back", "Back", id="close-back"),
        Binding("enter", "done", "Work orders", id="close-done"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._saving = False

    def heading(self) -> str:
        return f"Close visit · {self.draft.title}"

    def compose_body(self) -> ComposeResult:
        draft = self.draft
        default: OutcomeCode | None = draft.outcome
        if default is None and (draft.result is None or draft.result.snapshot is None):
            default = "no_comms" if draft.link is not None else None
        with Vertical(id="close-body"):
            yield Static(self._summary(), id="close-summary", markup=False)
            yield Label("Outcome")
            yield Select(
                [(OUTCOME_WORDS[c], c) for c in OUTCOME_CODES],
                prompt="choose the outcome",
                value=default if default is not None else Select.NULL,
                id="close-outcome",
            )
            yield Label("Notes")
            yield TextArea(draft.notes, id="close-notes", soft_wrap=True, show_line_numbers=False)
            yield Static("Ctrl+S saves the visit.", id="close-status", markup=False)

    def _summary(self) -> str:
        draft = self.draft
        result = draft.result
        if result is None:
            read = "not read"
        elif result.snapshot is None:
            read = f"no read ({result.outcome.result if result.outcome else 'failed'})"
        else:
            verdict = verdict_word(result) if result.verdict else "-"
            state = "incomplete read" if result.snapshot.incomplete else "read complete"
            read = f"{state}, verdict {verdict}"
        done = sum(1 for a in draft.adjustments if a.ok)
        return (
            f"Meter {draft.meter_number} · {read} · "
            f"{len(draft.adjustments)} adjustment(s) tried, {done} done"
        )

    def on_mount(self) -> None:
        self.query_one("#close-outcome", Select).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        saved = self.draft.saved_id is not None
        if action == "save":
            return not saved and not self._saving
        if action == "done":
            return saved
        if action == "back":
            return not self._saving
        return True

    def _status(self, text: str) -> None:
        self.query_one("#close-status", Static).update(text)

    def action_save(self) -> None:
        """Ctrl+S: save the visit (a thread: the store commits to disk)."""
        if self._saving or self.draft.saved_id is not None:
            return
        value = self.query_one("#close-outcome", Select).value
        if value not in OUTCOME_CODES:
            self._status("Choose the outcome first.")
            self.query_one("#close-outcome", Select).focus()
            return
        outcome: OutcomeCode = value
        draft = self.draft
        record = VisitRecord(
            meter_number=draft.meter_number,
            work_order_id=draft.work_order_id,
            started_at=draft.started_at,
            closed_at=self.fk.clock(),
            outcome=outcome,
            notes=self.query_one("#close-notes", TextArea).text.strip(),
            result=draft.result,
            adjustments=tuple(draft.adjustments),
        )
        self._saving = True
        self.refresh_bindings()
        self._status("Saving…")
        self._save(record)

    @work(
        thread=True, exclusive=True, group="db", exit_on_error=False, description="save the visit"
    )
    def _save(self, record: VisitRecord) -> None:
        try:
            visit_id = self.fk.store.save_visit(record)
        except ServiceError as exc:
            self.app.call_from_thread(self._save_failed, str(exc))
            return
        self.app.call_from_thread(self._saved, visit_id)

    def worker_failed(self, worker: Worker[object], failure: str) -> None:
        self._save_failed(failure.removeprefix("Could not save the visit: "))

    def _save_failed(self, message: str) -> None:
        self._saving = False
        self.refresh_bindings()
        self._status(f"NOT SAVED: {message}. Nothing is lost here; Ctrl+S tries again.")

    def _saved(self, visit_id: str) -> None:
        self._saving = False
        self.draft.saved_id = visit_id
        self.refresh_bindings()
        short = visit_id[:8]  # what `fieldkit visits show` takes
        self._status(
            f"SAVED as {short} in the visit log (fieldkit visits show {short}). "
            "Enter: back to the work orders."
        )
        self.query_one("#close-status", Static).add_class("saved")
        self.set_focus(None)  # Enter now answers the screen, not the notes
        self.fk.refresh_sync_state()

    def action_back(self) -> None:
        """Esc: back (to change something before saving)."""
        if self.draft.saved_id is not None:
            self.fk.end_visit()
            return
        # Kept for coming back: a glove on Esc mid-note dropped what was typed.
        value = self.query_one("#close-outcome", Select).value
        self.draft.outcome = value if value in OUTCOME_CODES else None
        self.draft.notes = self.query_one("#close-notes", TextArea).text
        self.app.pop_screen()

    def action_done(self) -> None:
        """Enter (after saving): back to the work orders."""
        if self.draft.saved_id is not None:
            self.fk.end_visit()

    @on(Select.Changed, "#close-outcome")
    def _chosen(self) -> None:
        if self.draft.saved_id is None:
            self._status("Ctrl+S saves the visit.")
