"""``fieldkit ports`` and ``fieldkit demo``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from fieldkit.cli.common import JsonOpt, print_json
from fieldkit.drivers.ports import list_ports

__all__ = ["demo", "ports"]


def ports(as_json: JsonOpt = False) -> None:
    """List serial ports, with VID:PID; mark likely optical probes and RS-485 adapters."""
    found = list_ports()
    if as_json:
        print_json([asdict(p) for p in found])
        return
    if not found:
        typer.echo("no serial ports found: is the probe plugged in?")
        return
    for p in found:
        notes = [n for n in (p.probe, p.rs485) if n]
        # A chip in both lists says the same thing twice: say it once.
        if len(notes) == 2 and notes[0].split(":")[0] == notes[1].split(":")[0]:
            notes = [f"{notes[0].split(':')[0]}: optical probe or RS-485 adapter"]
        mark = f"  ← {' / '.join(notes)}" if notes else ""
        vidpid = f"{p.vid:04X}:{p.pid:04X}" if p.vid is not None and p.pid is not None else "-"
        typer.echo(f"{p.device:<20} {vidpid:<10} {p.description}{mark}")


def demo(
    cli: Annotated[
        bool,
        typer.Option("--cli", help="Only read and check one simulated meter with the CLI"),
    ] = False,
    scenario: Annotated[
        str | None,
        typer.Option("--scenario", help="Simulator scenario for --cli (implies it)"),
    ] = None,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help="Keep the demo (office, laptop) in this new or empty directory; "
            "default: a temporary one, removed at the end",
        ),
    ] = None,
) -> None:
    """The whole system on simulators: office server, meters, an enrolled laptop, the app.

    Quit the app (ctrl+q) and everything the demo started stops.
    """
    # The demo starts processes; keep it off the CLI's import path.
    if cli or scenario is not None:
        from fieldkit.demo import run_demo

        raise typer.Exit(run_demo(scenario or "healthy-16s"))
    from fieldkit.demo_system import run_demo_system

    raise typer.Exit(run_demo_system(home))
