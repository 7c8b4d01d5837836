"""``fieldkit ports`` and ``fieldkit demo``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from fieldkit.cli.common import JsonOpt, print_json
from fieldkit.drivers.ports import list_ports

__all__ = ["demo", "ports"]


def ports(as_json: JsonOpt = False) -> None:
    """List serial ports, with VID:PID, and mark known optical probes."""
    found = list_ports()
    if as_json:
        print_json([asdict(p) for p in found])
        return
    if not found:
        typer.echo("no serial ports found: is the probe plugged in?")
        return
    for p in found:
        mark = f"  ← {p.probe}" if p.probe else ""
        vidpid = f"{p.vid:04X}:{p.pid:04X}" if p.vid is not None and p.pid is not None else "-"
        typer.echo(f"{p.device:<20} {vidpid:<10} {p.description}{mark}")


def demo(
    scenario: Annotated[str, typer.Option("--scenario", help="Simulator scenario")] = "healthy-16s",
) -> None:
    """Start a simulated meter, read it and check the site (no hardware needed)."""
    from fieldkit.demo import run_demo  # the demo starts processes; keep it off the import path

    code = run_demo(scenario)
    raise typer.Exit(code)
