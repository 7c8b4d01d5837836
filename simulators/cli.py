"""``fieldkit-sim``: run a simulated meter from the command line.

    fieldkit-sim list
    fieldkit-sim c1218 --scenario healthy-2s [--listen 127.0.0.1:0 | --pty] [...]

On start, ``c1218`` prints exactly one line to stdout (the address a client should open),
then serves until SIGINT or SIGTERM and exits 0. Anything that stops it from starting is one
line on stderr and a non-zero exit status. (``modbus`` joins ``c1218`` as a sibling command.)
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Annotated

import typer

from simulators.c1218.options import SimOptions
from simulators.c1218.server import SimulatorError, start
from simulators.scenario import ScenarioError, list_scenarios, load_scenario

__all__ = ["app", "main", "parse_listen"]

app = typer.Typer(
    name="fieldkit-sim",
    help="Simulated meters for testing the field kit without hardware.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"fieldkit-sim: {message}", err=True)
    return typer.Exit(code)


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` → (host, port); raise ValueError with a one-line reason."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"--listen wants HOST:PORT, got {value!r}")
    host = host.strip("[]")  # allow [::1]:PORT
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"--listen port must be a number, got {port_text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"--listen port must be 0–65535, got {port}")
    return host, port


@app.command("list")
def list_command() -> None:
    """List the shipped scenarios and what each one is."""
    for name in list_scenarios():
        try:
            description = load_scenario(name).description
        except ScenarioError as exc:
            description = f"(broken: {exc})"
        typer.echo(f"{name:24} {description}")


@app.command("c1218")
def c1218_command(
    scenario: Annotated[
        str, typer.Option("--scenario", "-s", help="Scenario NAME (see `list`) or PATH.")
    ],
    listen: Annotated[
        str, typer.Option(help="HOST:PORT to listen on; port 0 picks a free one.")
    ] = "127.0.0.1:0",
    pty: Annotated[
        bool, typer.Option("--pty", help="Serve on a new pseudo-terminal instead of TCP.")
    ] = False,
    baud_pace: Annotated[
        bool, typer.Option("--baud-pace", help="Pace bytes at the meter's baud rate.")
    ] = False,
    corrupt_rate: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Chance to corrupt each packet (both ways)."),
    ] = None,
    drop_rate: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Chance to lose each meter packet.")
    ] = None,
    busy: Annotated[
        int | None, typer.Option(min=0, help="Answer `bsy` to the first N reads per session.")
    ] = None,
    slow_ms: Annotated[
        float | None, typer.Option(min=0.0, help="Extra delay before every response (ms).")
    ] = None,
    stop_after: Annotated[
        int | None, typer.Option(min=0, help="Go silent after N table reads.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for the fault dice.")] = None,
    turnaround_ms: Annotated[
        float | None, typer.Option(min=0.0, help="Delay before the meter answers (ms).")
    ] = None,
    procedure_result: Annotated[
        int | None,
        typer.Option(min=0, max=255, help="Answer this ST8 result instead of running procedures."),
    ] = None,
    procedure_pending: Annotated[
        int | None,
        typer.Option(min=0, max=100, help="Answer 'not completed yet' to the first N ST8 reads."),
    ] = None,
) -> None:
    """Serve a simulated ANSI C12.18 meter until SIGINT/SIGTERM."""
    try:
        loaded = load_scenario(scenario)
        host, port = parse_listen(listen)
    except (ScenarioError, ValueError) as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None
    options = SimOptions(
        baud_pace=baud_pace,
        corrupt_rate=corrupt_rate,
        drop_rate=drop_rate,
        busy=busy,
        slow_ms=slow_ms,
        stop_after=stop_after,
        seed=seed,
        turnaround_ms=turnaround_ms,
        procedure_result=procedure_result,
        procedure_pending=procedure_pending,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            sim = start(loaded, host=host, port=port, pty=pty, options=options)
        except SimulatorError as exc:
            raise _fail(str(exc), EXIT_FAILED) from None
        print(f"fieldkit-sim c1218 {loaded.name} listening on {sim.url}", flush=True)  # noqa: T201
        try:
            while not stop.wait(0.2):
                if not sim.alive:
                    break
        finally:
            sim.stop()
        if sim.error is not None:
            raise _fail(f"simulator stopped: {sim.error}", EXIT_FAILED)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        sys.exit(130)
