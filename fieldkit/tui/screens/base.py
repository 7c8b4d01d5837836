"""What every screen of the app shares: the title line, the indicator, the footer, help."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static

from fieldkit.tui.widgets.indicator import StatusIndicator

if TYPE_CHECKING:
    from fieldkit.tui.app import FieldkitApp
    from fieldkit.tui.state import VisitDraft

__all__ = ["FieldkitScreen"]


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
