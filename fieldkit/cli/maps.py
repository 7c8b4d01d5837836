"""``fieldkit maps list|show NAME``: the Modbus register maps the kit can read through."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from fieldkit.cli.common import JsonOpt, fail, print_json
from fieldkit.drivers.modbus.catalog import describe, list_entries, show_lines
from fieldkit.drivers.modbus.maps import MapError

__all__ = ["maps_app"]

maps_app = typer.Typer(
    help="Modbus register maps: the shipped ones and the utility's own ($FIELDKIT_HOME/maps).",
    no_args_is_help=True,
)


@maps_app.command("list")
def maps_list(as_json: JsonOpt = False) -> None:
    """List every map by name; a broken map of the utility's is listed with its problem."""
    entries = list_entries()
    if as_json:
        print_json([dataclasses.asdict(e) for e in entries])
        return
    width = max((len(e.name) for e in entries), default=0)
    for e in entries:
        where = "shipped" if e.shipped else "yours"
        what = e.error or " ".join(p for p in (e.manufacturer, e.model) if p)
        mark = "BROKEN: " if e.error else ""
        typer.echo(f"{e.name.ljust(width)}  {where:<7}  {mark}{what}")


@maps_app.command("show")
def maps_show(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Map name or path to a .toml")],
    as_json: JsonOpt = False,
) -> None:
    """Show one map: the line settings, the blocks read, every register."""
    try:
        if as_json:
            print_json(dataclasses.asdict(describe(name)))
            return
        lines = show_lines(name)
    except MapError as exc:
        fail(str(exc))
    for line in lines:
        typer.echo(line)
