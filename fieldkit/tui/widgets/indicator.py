"""The small line on every screen: the probe's state and the sync state."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.widgets import Static

if TYPE_CHECKING:
    from fieldkit.tui.app import FieldkitApp

__all__ = ["StatusIndicator"]


class StatusIndicator(Static):
    """``probe: … │ sync: …``, following the app's ``probe_state`` and ``sync_state``."""

    DEFAULT_CSS = """
    StatusIndicator {
        height: 1;
        width: 1fr;
        padding: 0 1;
        background: $boost;
        color: $text-muted;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        # The line quotes the typed port and the sync's error: never read as markup.
        super().__init__(id=id, markup=False)

    def on_mount(self) -> None:
        app = cast("FieldkitApp", self.app)
        self.watch(app, "probe_state", self._refresh_text)
        self.watch(app, "sync_state", self._refresh_text)

    def _refresh_text(self, _value: str = "") -> None:
        app = cast("FieldkitApp", self.app)
        # One line whatever it says: no relayout of the screen (it changes mid-read).
        self.update(f"probe: {app.probe_state}  │  sync: {app.sync_state}", layout=False)
