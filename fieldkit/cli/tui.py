"""``fieldkit tui``: the technician's app on this laptop's store and probes.

Textual is imported inside the command only: the rest of the CLI starts without it (an
import contract keeps everything below the app free of Textual).
"""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["tui"]


def tui(
    light: Annotated[bool, typer.Option("--light", help="Start in the light theme")] = False,
) -> None:
    """Open the technician's app: work orders, connect, checks, adjust, close."""
    from fieldkit import paths
    from fieldkit.tui.app import FieldkitApp
    from fieldkit.tui.prefs import Preferences
    from fieldkit.tui.services import StoreWithInMemoryVisits

    app = FieldkitApp(
        store=StoreWithInMemoryVisits.on_database(),
        preferences=Preferences.load(paths.home() / "tui.json"),
        theme="textual-light" if light else "textual-dark",
    )
    app.run()
    raise typer.Exit(app.return_code or 0)
