"""``fieldkit tui`` (and ``fieldkit`` alone): the technician's app on this laptop.

The app gets the laptop's real services: the visit log with its outbox
(:class:`~fieldkit.tui.visit_store.VisitLogStore`) and the sync commands'
functions (:class:`~fieldkit.tui.sync_adapter.LaptopSync`). Textual is imported inside the
command only: the rest of the CLI starts without it (an import contract keeps everything
below the app free of Textual).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

__all__ = ["laptop_app", "open_app", "tui"]

if TYPE_CHECKING:
    from fieldkit.tui.app import FieldkitApp


def laptop_app(*, light: bool = False) -> FieldkitApp:
    """The app on this laptop (``FIELDKIT_HOME``): see :func:`fieldkit.tui.laptop.laptop_app`."""
    from fieldkit.tui.laptop import laptop_app as build

    return build(light=light)


def open_app(*, light: bool = False) -> int:
    """Run the app on this laptop's store and sync; its exit status."""
    app = laptop_app(light=light)
    app.run()
    return app.return_code or 0


def tui(
    light: Annotated[bool, typer.Option("--light", help="Start in the light theme")] = False,
) -> None:
    """Open the technician's app: work orders, connect, checks, adjust, close."""
    raise typer.Exit(open_app(light=light))
