"""``fieldkit tui`` (and ``fieldkit`` alone): the technician's app on this laptop.

The app gets the laptop's real services: the visit log with its outbox
(:class:`~fieldkit.tui.visit_store.VisitLogStore`) and the sync commands'
functions (:class:`~fieldkit.tui.sync_adapter.LaptopSync`). Textual is imported inside the
command only: the rest of the CLI starts without it (an import contract keeps everything
below the app free of Textual).
"""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["open_app", "tui"]


def open_app(*, light: bool = False, first_screen_only: bool = False) -> int:
    """Run the app on this laptop's store and sync; its exit status."""
    from fieldkit import paths
    from fieldkit.tui.app import FieldkitApp
    from fieldkit.tui.prefs import Preferences
    from fieldkit.tui.state import MeterLink
    from fieldkit.tui.sync_adapter import LaptopSync
    from fieldkit.tui.visit_store import VisitLogStore

    sync = LaptopSync()
    app = FieldkitApp(
        store=VisitLogStore(),
        sync_client=sync,
        preferences=Preferences.load(paths.home() / "tui.json"),
        theme="textual-light" if light else "textual-dark",
        meter_links=MeterLink.load_all(paths.meter_links_file()),
        quit_after_first_screen=first_screen_only,
        handle_signals=not first_screen_only,
    )
    app.run(headless=first_screen_only)
    if first_screen_only and app.first_screen_text is not None:
        typer.echo(app.first_screen_text)
    return app.return_code or 0


def tui(
    light: Annotated[bool, typer.Option("--light", help="Start in the light theme")] = False,
    first_screen_only: Annotated[
        bool,
        typer.Option(
            "--first-screen-only",
            help="Run headless, print the work-order list and quit (scripts, tests)",
            hidden=True,
        ),
    ] = False,
) -> None:
    """Open the technician's app: work orders, connect, checks, adjust, close."""
    raise typer.Exit(open_app(light=light, first_screen_only=first_screen_only))
