"""The ``fieldkit`` command: read a meter, check a site, manage work orders, list ports, demo.

Exit status: 0 when the command did its job (whatever the verdicts); 1 with one line on
stderr when it could not (no answer from the meter, bad password, bad file); 2 for a
usage error. Users script these commands: keep names and options stable.

One module per group of commands; each is a thin edge over :mod:`fieldkit.visit`, the
driver factory, the store and the wire schema.
"""

from __future__ import annotations

import os
import sys

import typer

from fieldkit.cli import meter, tools, tui
from fieldkit.cli.adjust import adjust_app
from fieldkit.cli.common import ascii_fallback
from fieldkit.cli.maps import maps_app
from fieldkit.cli.secrets import secrets_app
from fieldkit.cli.sync import enroll, sync_app
from fieldkit.cli.visits import visits_app
from fieldkit.cli.work_orders import work_orders_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="fieldkit",
    help="Field kit for electricity meters: read, check, and log site visits.",
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback(invoke_without_command=True)
def _fieldkit(ctx: typer.Context) -> None:
    """Field kit for electricity meters: read, check, and log site visits.

    ``fieldkit`` alone opens the technician's app (as ``fieldkit tui``).
    """
    if ctx.invoked_subcommand is None:
        raise typer.Exit(tui.open_app())


app.command()(meter.read)
app.command()(meter.check)
app.add_typer(work_orders_app, name="work-orders")
app.add_typer(maps_app, name="maps")
app.add_typer(visits_app, name="visits")
app.add_typer(adjust_app, name="adjust")
app.add_typer(secrets_app, name="secrets")
app.command()(enroll)
app.add_typer(sync_app, name="sync")
app.command()(tools.ports)
app.command()(tools.demo)
app.command()(tui.tui)


def main() -> None:
    """Console-script entry point.

    A bug must still end in one line a technician can report; FIELDKIT_DEBUG=1 shows the
    traceback for whoever fixes it. Output never fails on a console or a file that is not
    UTF-8 (a Windows laptop): symbols fall back to plain ASCII.
    """
    sys.stdout = ascii_fallback(sys.stdout)
    sys.stderr = ascii_fallback(sys.stderr)
    try:
        app()
    except Exception as exc:
        if os.environ.get("FIELDKIT_DEBUG"):
            raise
        sys.stderr.write(
            f"fieldkit: unexpected error: {exc!r} (FIELDKIT_DEBUG=1 shows the traceback)\n"
        )
        sys.exit(1)
