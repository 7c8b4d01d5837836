"""The app as ``fieldkit tui`` opens it on this laptop: its real store, sync and settings.

Apart from the command line so that building it costs only the app's own imports (the
benchmark measures exactly this path, and ``fieldkit tui`` calls it).
"""

from __future__ import annotations

from fieldkit import paths
from fieldkit.tui.app import FieldkitApp
from fieldkit.tui.prefs import Preferences
from fieldkit.tui.state import MeterLink
from fieldkit.tui.sync_adapter import LaptopSync
from fieldkit.tui.visit_store import VisitLogStore

__all__ = ["laptop_app"]


def laptop_app(*, light: bool = False) -> FieldkitApp:
    """The app on this laptop (``FIELDKIT_HOME``): its store, sync, preferences, known meters."""
    return FieldkitApp(
        store=VisitLogStore(),
        sync_client=LaptopSync(),
        preferences=Preferences.load(paths.home() / "tui.json"),
        theme="textual-light" if light else "textual-dark",
        meter_links=MeterLink.load_all(paths.meter_links_file()),
        handle_signals=True,
    )
