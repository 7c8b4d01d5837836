"""What every screen of the app shares: the title line, the indicator, the footer, help."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from fieldkit.tui.widgets.indicator import StatusIndicator

if TYPE_CHECKING:
    from fieldkit.tui.app import FieldkitApp
    from fieldkit.tui.state import VisitDraft

__all__ = ["FieldkitScreen", "worker_failure"]


def worker_failure(event: Worker.StateChanged) -> str | None:
    """'Could not <what the worker does>: <the error's first line>', for a worker that
    raised; None for any other change of state.

    Each worker says what it expects (a ServiceError, a DriverError) on screen itself;
    anything else used to end the worker silently: the list stayed on "Loading…", a save
    on "Saving…" with Ctrl+S refused, the adjust screen busy for good.
    """
    if event.state is not WorkerState.ERROR:
        return None
    error = event.worker.error
    words = (str(error).strip().splitlines() or [""])[0] or type(error).__name__
    return f"Could not {event.worker.description}: {words}"


class FieldkitScreen(Screen[None]):
    """A step of the visit: a title line, the indicator, the body, the footer of keys.

    Subclasses implement :meth:`compose_body` and set ``HELP`` (markdown shown by F1).
    """

    TITLE_TEXT: ClassVar[str] = ""
    HELP: ClassVar[str] = ""

    def compose(self) -> ComposeResult:
        yield Static(self.heading(), id="screen-title", markup=False)
        yield StatusIndicator(id="indicator")
        yield from self.compose_body()
        yield Footer()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        failure = worker_failure(event)
        if failure is not None:
            self.worker_failed(event.worker, failure)

    def worker_failed(self, worker: Worker[object], failure: str) -> None:
        """A worker of this screen raised: undo what it left busy, say ``failure`` and
        what to do next on the screen. Screens with a status line override this."""
        self.notify(failure, severity="error", timeout=10, markup=False)

    def compose_body(self) -> ComposeResult:
        """The screen's own widgets."""
        yield from ()

    def heading(self) -> str:
        """The title line's text."""
        return self.TITLE_TEXT

    @property
    def fk(self) -> FieldkitApp:
        """The app, typed."""
        return cast("FieldkitApp", self.app)

    @property
    def draft(self) -> VisitDraft:
        """The visit in progress (screens past the work-order list always have one)."""
        draft = self.fk.draft
        if draft is None:
            raise RuntimeError("no visit in progress")
        return draft
