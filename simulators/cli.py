"""``fieldkit-sim``: run a simulated meter from the command line.

    fieldkit-sim list
    fieldkit-sim c1218 --scenario healthy-2s [--listen 127.0.0.1:0 | --pty] [...]
    fieldkit-sim modbus --map eastron-sdm630 --scenario healthy-16s [--framer rtu|socket] [...]

On start, ``c1218`` prints exactly one line to stdout (the address a client should open),
then serves until SIGINT or SIGTERM and exits 0. Anything that stops it from starting is one
line on stderr and a non-zero exit status. ``modbus`` does the same for a Modbus meter.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Annotated

import typer

from simulators.c1218.options import INCONSISTENT_TABLES, MALFORMED_KINDS, SimOptions
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
INCONSISTENT_LIST = ", ".join(str(t) for t in INCONSISTENT_TABLES)


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
    traffic_timeout: Annotated[
        float | None,
        typer.Option(min=0.001, help="Seconds of silence before the meter drops the session."),
    ] = None,
    malformed_table: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Spoil this table's read answers (CRC still valid)."),
    ] = None,
    malformed_kind: Annotated[
        str, typer.Option(help=f"How they are spoiled: {', '.join(MALFORMED_KINDS)}.")
    ] = "checksum",
    malformed_times: Annotated[
        int | None, typer.Option(min=0, help="Spoil only the first N answers (default: all).")
    ] = None,
    late_table: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Answer the first read of this table late."),
    ] = None,
    late_ms: Annotated[
        float, typer.Option(min=0.0, help="How late, in ms (the ACK goes at once).")
    ] = 0.0,
    decline_negotiate: Annotated[
        bool,
        typer.Option("--decline-negotiate", help="Answer Negotiate with 64-byte single packets."),
    ] = False,
    mfg_tables: Annotated[
        int, typer.Option(min=0, max=2040, help="List N manufacturer tables in ST0 (a long ST0).")
    ] = 0,
    inconsistent: Annotated[
        int | None,
        typer.Option(help=f"Make this table disagree with the rest: {INCONSISTENT_LIST}."),
    ] = None,
) -> None:
    """Serve a simulated ANSI C12.18 meter until SIGINT/SIGTERM."""
    try:
        loaded = load_scenario(scenario)
        host, port = parse_listen(listen)
        options = SimOptions(
            baud_pace=baud_pace,
            corrupt_rate=corrupt_rate,
            drop_rate=drop_rate,
            busy=busy,
            slow_ms=slow_ms,
            stop_after=stop_after,
            seed=seed,
            turnaround_ms=turnaround_ms,
            traffic_timeout=traffic_timeout,
            malformed_table=malformed_table,
            malformed_kind=malformed_kind,
            malformed_times=malformed_times,
            late_table=late_table,
            late_ms=late_ms,
            decline_negotiate=decline_negotiate,
            mfg_tables=mfg_tables,
            inconsistent=inconsistent,
            procedure_result=procedure_result,
            procedure_pending=procedure_pending,
        )
    except (ScenarioError, ValueError) as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None
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


def _ranges(text: str | None) -> tuple[tuple[int, int], ...]:
    """``"3000-3100,40"`` → ((3000, 3101), (40, 41)): wire addresses, ends included."""
    if not text:
        return ()
    out = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        try:
            low = int(first, 0)
            high = int(last, 0) if last else low
        except ValueError:
            raise ValueError(f"--refuse wants START-END register ranges, got {part!r}") from None
        if not 0 <= low <= high <= 0xFFFF:
            raise ValueError(f"--refuse range {part!r} is not within 0-65535")
        out.append((low, high + 1))
    return tuple(out)


@app.command("modbus")
def modbus_command(
    map_name: Annotated[
        str, typer.Option("--map", "-m", help="Register map NAME (shipped or ~/maps) or PATH.")
    ],
    scenario: Annotated[
        str, typer.Option("--scenario", "-s", help="Scenario NAME (see `list`) or PATH.")
    ],
    listen: Annotated[
        str, typer.Option(help="HOST:PORT to listen on; port 0 picks a free one.")
    ] = "127.0.0.1:0",
    pty: Annotated[
        bool, typer.Option("--pty", help="Serve RTU on a new pseudo-terminal instead of TCP.")
    ] = False,
    framer: Annotated[
        str, typer.Option(help="rtu (RTU frames: socket:// or a pty) or socket (Modbus TCP).")
    ] = "rtu",
    device_id: Annotated[
        int | None, typer.Option(min=1, max=247, help="The meter's device id (scenario's).")
    ] = None,
    baud: Annotated[int | None, typer.Option(help="Line speed for --baud-pace (map's).")] = None,
    baud_pace: Annotated[
        bool, typer.Option("--baud-pace", help="Pace RTU bytes at the baud rate (11 bits each).")
    ] = False,
    silent: Annotated[bool, typer.Option("--silent", help="Never answer.")] = False,
    stop_after: Annotated[
        int | None, typer.Option(min=0, help="Go silent after N answers.")
    ] = None,
    busy: Annotated[int, typer.Option(min=0, help="Answer 'device busy' to the first N.")] = 0,
    refuse: Annotated[
        str | None,
        typer.Option(help="Answer 'illegal data address' for these wire registers: 3000-3100,40"),
    ] = None,
    answer_as: Annotated[
        int | None, typer.Option(min=0, max=255, help="Answer under this device id instead.")
    ] = None,
    slow_ms: Annotated[float, typer.Option(min=0.0, help="Extra delay before answers (ms).")] = 0.0,
    still: Annotated[bool, typer.Option("--still", help="Values do not move over time.")] = False,
    turnaround_ms: Annotated[
        float | None, typer.Option(min=0.0, help="Delay before the meter answers (ms).")
    ] = None,
) -> None:
    """Serve a simulated Modbus meter (a scenario through a register map) until SIGINT/SIGTERM."""
    from simulators.modbus.device import ModbusFaults
    from simulators.modbus.registers import MapFileError
    from simulators.modbus.server import ModbusSimOptions
    from simulators.modbus.server import SimulatorError as ModbusSimulatorError
    from simulators.modbus.server import start as start_modbus

    try:
        loaded = load_scenario(scenario)
        host, port = parse_listen(listen)
        if framer not in ("rtu", "socket"):
            raise ValueError(f"--framer is rtu or socket, got {framer!r}")
        if pty and framer != "rtu":
            raise ValueError("--pty carries RTU frames: drop --framer socket")
        faults = ModbusFaults(
            silent=silent,
            stop_after=stop_after,
            busy=busy,
            illegal=_ranges(refuse),
            answer_as=answer_as,
            slow_ms=slow_ms,
        )
    except (ScenarioError, ValueError) as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None
    options = ModbusSimOptions(
        framer="rtu" if framer == "rtu" else "socket",
        baud=baud,
        baud_pace=baud_pace,
        device_id=device_id,
        faults=faults,
        wobble=False if still else None,
        turnaround_ms=turnaround_ms,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            sim = start_modbus(
                loaded, map_name=map_name, host=host, port=port, pty=pty, options=options
            )
        except MapFileError as exc:
            raise _fail(str(exc), EXIT_BAD_INPUT) from None
        except ModbusSimulatorError as exc:
            raise _fail(str(exc), EXIT_FAILED) from None
        print(  # noqa: T201
            f"fieldkit-sim modbus {loaded.name} ({sim.map_name}, device {sim.device_id}) "
            f"listening on {sim.url}",
            flush=True,
        )
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
