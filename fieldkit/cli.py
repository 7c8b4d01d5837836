"""The ``fieldkit`` command: read a meter, check a site, manage work orders, list ports, demo.

Exit status: 0 when the command did its job (whatever the verdicts); 1 with one line on
stderr when it could not (no answer from the meter, bad password, bad file); 2 for a
usage error. Users script these commands: keep names and options stable.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from fieldkit import paths
from fieldkit.checks import DEFAULT_POLICY, PolicyError, load_policy, run, verdict
from fieldkit.drivers.c1218.client import SessionConfig
from fieldkit.drivers.c1218.driver import C1218Driver, C1218Options
from fieldkit.drivers.c1218.link import LinkConfig
from fieldkit.drivers.c1218.profile import ProfileError, ProfileRegistry
from fieldkit.drivers.c1218.services import PASSWORD_SIZE, USER_SIZE, pad_password
from fieldkit.drivers.errors import DriverError
from fieldkit.drivers.ports import list_ports
from fieldkit.model import (
    MeterSnapshot,
    ServiceType,
    SiteExpectation,
    as_utc,
    snapshot_from_dict,
    snapshot_to_dict,
)
from fieldkit.report import render_checks, render_snapshot

if TYPE_CHECKING:
    # The store is imported where a command uses it: sqlite-utils costs a tenth of a second
    # at start-up, and read, ports and a check without --work-order never open the database.
    from fieldkit import store

app = typer.Typer(
    name="fieldkit",
    help="Field kit for electricity meters: read, check, and log site visits.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str) -> NoReturn:
    """Print one line on stderr and exit 1."""
    typer.echo(f"fieldkit: {message}", err=True)
    raise typer.Exit(1)


def usage_error(message: str) -> NoReturn:
    """Print one line on stderr and exit 2 (click's own usage errors print a boxed panel)."""
    typer.echo(f"fieldkit: {message}", err=True)
    raise typer.Exit(2)


PortOpt = Annotated[
    str,
    typer.Option(
        "--port", "-p", help="Serial device or URL: /dev/ttyUSB0, COM3, socket://HOST:PORT, spy://"
    ),
]
ProtocolOpt = Annotated[str, typer.Option("--protocol", help="Meter protocol: c1218")]
PasswordOpt = Annotated[
    str | None, typer.Option("--password", help="Meter password as text (space-padded to 20)")
]
PasswordHexOpt = Annotated[
    str | None, typer.Option("--password-hex", help="Meter password as raw hex bytes (≤ 20)")
]
UserIdOpt = Annotated[int, typer.Option("--user-id", min=0, max=0xFFFF, help="Logon user id")]
UserOpt = Annotated[str, typer.Option("--user", help="Logon user name (≤ 10 characters)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")]
CaptureOpt = Annotated[
    Path | None,
    typer.Option("--capture", help="Save the raw frames of the exchange (passwords redacted)"),
]
BaudOpt = Annotated[int, typer.Option("--baud", help="Baud rate to negotiate after 9600")]
PacketOpt = Annotated[int, typer.Option("--packet-size", min=64, max=8192)]
PacketsOpt = Annotated[int, typer.Option("--packets", min=1, max=255)]
TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--response-timeout", min=0.1, max=30.0, help="Seconds to wait for each ACK (C12.18: 2)"
    ),
]
RtsOpt = Annotated[
    bool, typer.Option("--rts/--no-rts", help="Assert RTS: powers most ANSI optical probes")
]
DtrOpt = Annotated[bool, typer.Option("--dtr/--no-dtr", help="Assert DTR (some probes)")]
IgnoreToggleOpt = Annotated[
    bool,
    typer.Option(
        "--ignore-toggle",
        help="Accept every packet even with a repeated toggle bit (meters that never flip it)",
    ),
]
MeterTzOpt = Annotated[
    str | None,
    typer.Option("--meter-tz", help="Time zone the meter keeps when it is not on UTC"),
]


def _session(
    password: str | None,
    password_hex: str | None,
    user_id: int,
    user: str,
    baud: int,
    packet_size: int,
    packets: int,
) -> SessionConfig:
    if password is not None and password_hex is not None:
        raise typer.BadParameter("give --password or --password-hex, not both")
    secret: bytes | None = None
    try:
        if password is not None:
            secret = pad_password(password)
        elif password_hex is not None:
            secret = bytes.fromhex(password_hex)
            if len(secret) > PASSWORD_SIZE:
                raise typer.BadParameter(f"--password-hex is at most {PASSWORD_SIZE} bytes")
    except (ValueError, DriverError) as exc:  # pad_password raises RequestError
        raise typer.BadParameter(str(exc)) from exc
    if len(user) > USER_SIZE:
        raise typer.BadParameter(f"--user is at most {USER_SIZE} characters")
    return SessionConfig(
        user_id=user_id,
        user=user,
        password=secret,
        packet_size=packet_size,
        max_packets=packets,
        baud=baud,
    )


@dataclass(frozen=True, slots=True)
class Link:
    """How to reach the meter: the options ``read`` and ``check`` share."""

    port: str
    protocol: str
    meter_tz: str | None
    capture: Path | None
    response_timeout: float
    rts: bool
    dtr: bool
    ignore_toggle: bool = False


def _read(link: Link, session: SessionConfig) -> MeterSnapshot:
    if link.protocol != "c1218":
        fail(f"protocol '{link.protocol}' is not supported here yet (supported: c1218)")
    tz = None
    if link.meter_tz:
        try:
            tz = ZoneInfo(link.meter_tz)
        except (ZoneInfoNotFoundError, ValueError):
            fail(f"unknown time zone '{link.meter_tz}' (use a name like America/Chicago)")
    try:
        profiles = ProfileRegistry.default(paths.profiles_dir())
    except ProfileError as exc:
        fail(str(exc))
    options = C1218Options(
        link=LinkConfig(
            response_timeout=link.response_timeout,
            duplicate_detection=not link.ignore_toggle,
        ),
        session=session,
        meter_tz=tz,
        rts=link.rts,
        dtr=link.dtr,
    )
    driver = C1218Driver(link.port, options, profiles=profiles)
    try:
        snapshot = driver.read_snapshot()
    except DriverError as exc:
        fail(str(exc))
    if link.capture is not None:
        _write_capture(link.capture, snapshot)
    return snapshot


def _load_snapshot(path: Path) -> MeterSnapshot:
    """A snapshot saved with ``fieldkit read --json`` (or ``check --json``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{path} is not JSON: {exc}")
    try:
        return snapshot_from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        fail(f"{path} is not a fieldkit snapshot: {type(exc).__name__} {exc}")


def _write_capture(path: Path, snapshot: MeterSnapshot) -> None:
    lines = [f"{f.at:+.6f} {f.direction} {f.data.hex()}" for f in snapshot.frames]
    try:
        path.write_text("\n".join(lines) + "\n", encoding="ascii")
    except OSError as exc:
        fail(f"cannot write capture file {path}: {exc.strerror}")


@app.command()
def read(
    port: PortOpt,
    protocol: ProtocolOpt = "c1218",
    password: PasswordOpt = None,
    password_hex: PasswordHexOpt = None,
    user_id: UserIdOpt = 2,
    user: UserOpt = "FIELDKIT",
    as_json: JsonOpt = False,
    capture: CaptureOpt = None,
    baud: BaudOpt = 9600,
    packet_size: PacketOpt = 1024,
    packets: PacketsOpt = 8,
    meter_tz: MeterTzOpt = None,
    response_timeout: TimeoutOpt = 2.0,
    rts: RtsOpt = True,
    dtr: DtrOpt = False,
    ignore_toggle: IgnoreToggleOpt = False,
) -> None:
    """Read a meter once and print the snapshot."""
    session = _session(password, password_hex, user_id, user, baud, packet_size, packets)
    link = Link(port, protocol, meter_tz, capture, response_timeout, rts, dtr, ignore_toggle)
    snapshot = _read(link, session)
    if as_json:
        _print_json(snapshot_to_dict(snapshot))
    else:
        render_snapshot(snapshot)


# The check options that state the expectation, which --work-order supplies instead.
EXPECTATION_OPTIONS: dict[str, str] = {
    "service_type": "--service-type",
    "nominal_voltage": "--nominal-voltage",
    "meter_number": "--meter-number",
    "form": "--form",
    "ct_ratio": "--ct-ratio",
    "pt_ratio": "--pt-ratio",
    "last_read_kwh": "--last-read-kwh",
    "last_read_date": "--last-read-date",
    "last_visit": "--last-visit",
    "net_metering": "--net-metering",
    "rotation": "--rotation",
    "high_leg": "--high-leg",
}


@app.command()
def check(
    ctx: typer.Context,
    port: Annotated[
        str | None,
        typer.Option("--port", "-p", help="Serial device or URL of the meter (or use --from-json)"),
    ] = None,
    from_json: Annotated[
        Path | None,
        typer.Option(
            "--from-json",
            help="Check a snapshot saved by 'fieldkit read --json' instead of reading a meter",
        ),
    ] = None,
    work_order: Annotated[
        str | None,
        typer.Option(
            "--work-order",
            help="Take the expectation from this work order (fieldkit work-orders import)",
        ),
    ] = None,
    service_type: Annotated[
        ServiceType | None, typer.Option("--service-type", help="Service on the work order")
    ] = None,
    nominal_voltage: Annotated[
        float | None,
        typer.Option(
            "--nominal-voltage",
            min=1,
            help="Line-to-neutral for wye/network, line-to-line for delta and 1ph-3w",
        ),
    ] = None,
    meter_number: Annotated[
        str | None, typer.Option("--meter-number", help="Meter number on the work order")
    ] = None,
    form: Annotated[str | None, typer.Option("--form", help="Meter form, e.g. 2S, 16S")] = None,
    ct_ratio: Annotated[float, typer.Option("--ct-ratio", min=0.001)] = 1.0,
    pt_ratio: Annotated[float, typer.Option("--pt-ratio", min=0.001)] = 1.0,
    last_read_kwh: Annotated[
        float | None, typer.Option("--last-read-kwh", help="Last billed kWh read")
    ] = None,
    last_read_date: Annotated[
        datetime | None, typer.Option("--last-read-date", help="Date of the last billed read")
    ] = None,
    last_visit: Annotated[
        datetime | None, typer.Option("--last-visit", help="Date of the last site visit")
    ] = None,
    net_metering: Annotated[
        bool, typer.Option("--net-metering", help="The account has net metering")
    ] = False,
    rotation: Annotated[str, typer.Option("--rotation", help="Phase rotation: ABC or ACB")] = "ABC",
    high_leg: Annotated[
        str, typer.Option("--high-leg", help="High leg of a 4-wire delta: A, B or C")
    ] = "B",
    policy: Annotated[
        Path | None, typer.Option("--policy", help="Utility policy file (TOML) with thresholds")
    ] = None,
    protocol: ProtocolOpt = "c1218",
    password: PasswordOpt = None,
    password_hex: PasswordHexOpt = None,
    user_id: UserIdOpt = 2,
    user: UserOpt = "FIELDKIT",
    as_json: JsonOpt = False,
    capture: CaptureOpt = None,
    baud: BaudOpt = 9600,
    packet_size: PacketOpt = 1024,
    packets: PacketsOpt = 8,
    meter_tz: MeterTzOpt = None,
    response_timeout: TimeoutOpt = 2.0,
    rts: RtsOpt = True,
    dtr: DtrOpt = False,
    ignore_toggle: IgnoreToggleOpt = False,
) -> None:
    """Read the meter and run the site checks against the work order's expectation."""
    if work_order is not None:
        given = [flag for name, flag in EXPECTATION_OPTIONS.items() if _given(ctx, name)]
        if given:
            usage_error(
                f"--work-order already gives the expectation: drop {', '.join(given)} "
                "(or drop --work-order)"
            )
    if rotation.upper() not in ("ABC", "ACB"):
        raise typer.BadParameter("--rotation is ABC or ACB")
    if high_leg.upper() not in ("A", "B", "C"):
        raise typer.BadParameter("--high-leg is A, B or C")
    try:
        thresholds = DEFAULT_POLICY if policy is None else load_policy(policy)
    except PolicyError as exc:
        fail(str(exc))
    # The work order is looked up before the port is touched: a wrong id costs no meter read.
    order = None if work_order is None else _stored_work_order(work_order)
    if order is not None:
        from fieldkit import store

        expectation = store.to_expectation(order)
    else:
        expectation = SiteExpectation(
            meter_number=meter_number,
            form=form,
            service_type=service_type,
            nominal_voltage=nominal_voltage,
            ct_ratio=ct_ratio,
            pt_ratio=pt_ratio,
            last_read_kwh=last_read_kwh,
            last_read_at=_as_utc(last_read_date),
            net_metering=net_metering,
            last_visit_at=_as_utc(last_visit),
            rotation=rotation.upper(),
            high_leg=high_leg.upper(),
        )
    if (port is None) == (from_json is None):
        raise typer.BadParameter("give --port (read the meter) or --from-json (a saved read)")
    if from_json is not None:
        snapshot = _load_snapshot(from_json)
    else:
        assert port is not None
        session = _session(password, password_hex, user_id, user, baud, packet_size, packets)
        link = Link(port, protocol, meter_tz, capture, response_timeout, rts, dtr, ignore_toggle)
        snapshot = _read(link, session)
    results = run(snapshot, expectation, thresholds)
    overall = verdict(results)
    if as_json:
        out = snapshot_to_dict(snapshot)
        out["checks"] = [
            {
                "id": r.id,
                "status": r.status.value,
                "measured": r.measured,
                "expected": r.expected,
                "message": r.message,
                "likely_causes": list(r.likely_causes),
            }
            for r in results
        ]
        out["verdict"] = overall.value
        out["work_order"] = work_order
        _print_json(out)
    else:
        if order is not None:
            typer.echo(_work_order_line(order))
        render_snapshot(snapshot)
        render_checks(results, overall)


def _given(ctx: typer.Context, name: str) -> bool:
    """True when the user typed the option, rather than it keeping its default."""
    source = ctx.get_parameter_source(name)
    # By name: typer ships its own copy of click, so click's enum is not the same class.
    return source is not None and source.name != "DEFAULT"


def _stored_work_order(work_order_id: str) -> store.WorkOrder:
    from fieldkit import store

    try:
        with store.database() as db:
            order = store.get(db, work_order_id)
    except store.StoreError as exc:
        fail(str(exc))
    if order is None:
        fail(
            f"no work order {work_order_id} on this laptop: "
            "import it (fieldkit work-orders import) or sync"
        )
    return order


def _work_order_line(order: store.WorkOrder) -> str:
    parts = [
        f"work order {order.work_order_id}",
        order.kind or "",
        f"meter {order.meter_number}",
        f"{order.service_type.value} {order.nominal_voltage:g} V",
        order.service_address or "",
    ]
    return "  ".join(p for p in parts if p)


work_orders_app = typer.Typer(
    help="Work orders on this laptop: import a CIS export, list them, show one.",
    no_args_is_help=True,
)
app.add_typer(work_orders_app, name="work-orders")


@work_orders_app.command("import")
def work_orders_import(
    file: Annotated[Path, typer.Argument(help="CSV export, header row with the column names")],
) -> None:
    """Import work orders from a CSV file: all of them, or none if any row is bad."""
    from fieldkit import store

    try:
        orders = store.parse_work_orders_csv(file)
        with store.database() as db:
            counts = store.upsert_many(db, orders, "csv")
    except (store.WorkOrderImportError, store.StoreError) as exc:
        fail(str(exc))
    noun = "work order" if counts.total == 1 else "work orders"
    typer.echo(f"imported {counts.total} {noun} ({counts.new} new, {counts.updated} updated)")


@work_orders_app.command("list")
def work_orders_list(as_json: JsonOpt = False) -> None:
    """List the open work orders, soonest scheduled first."""
    from fieldkit import store

    try:
        with store.database() as db:
            orders = store.list_open(db)
    except store.StoreError as exc:
        fail(str(exc))
    if as_json:
        _print_json([store.to_dict(o) for o in orders])
        return
    if not orders:
        typer.echo(
            "no open work orders on this laptop: import them (fieldkit work-orders import FILE)"
            " or sync"
        )
        return
    rows = [("work order", "kind", "status", "meter", "service", "scheduled", "address")]
    rows += [
        (
            o.work_order_id,
            o.kind or "-",
            o.status,
            o.meter_number,
            f"{o.service_type.value} {o.nominal_voltage:g} V",
            o.scheduled_for or "-",
            o.service_address or "-",
        )
        for o in orders
    ]
    # Plain aligned columns, never wrapped or cut: ids must survive grep and narrow terminals.
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        padded = [row[i].ljust(width) for i, width in enumerate(widths)]
        typer.echo("  ".join([*padded, row[-1]]))


@work_orders_app.command("show")
def work_orders_show(
    work_order_id: Annotated[str, typer.Argument(metavar="ID", help="Work order id")],
    as_json: JsonOpt = False,
) -> None:
    """Show everything stored for one work order."""
    from fieldkit import store

    order = _stored_work_order(work_order_id)
    data = store.to_dict(order)
    if as_json:
        _print_json(data)
        return
    width = max(len(key) for key in data)
    for key, value in data.items():
        typer.echo(f"{key.ljust(width)}  {_plain(value)}")


def _plain(value: str | float | bool | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@app.command()
def ports(as_json: JsonOpt = False) -> None:
    """List serial ports, with VID:PID, and mark known optical probes."""
    found = list_ports()
    if as_json:
        _print_json([asdict(p) for p in found])
        return
    if not found:
        typer.echo("no serial ports found: is the probe plugged in?")
        return
    for p in found:
        mark = f"  ← {p.probe}" if p.probe else ""
        vidpid = f"{p.vid:04X}:{p.pid:04X}" if p.vid is not None and p.pid is not None else "-"
        typer.echo(f"{p.device:<20} {vidpid:<10} {p.description}{mark}")


@app.command()
def demo(
    scenario: Annotated[str, typer.Option("--scenario", help="Simulator scenario")] = "healthy-16s",
) -> None:
    """Start a simulated meter, read it and check the site (no hardware needed)."""
    from fieldkit.demo import run_demo  # the demo starts processes; keep it off the import path

    code = run_demo(scenario)
    raise typer.Exit(code)


def _as_utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def main() -> None:
    """Console-script entry point.

    A bug must still end in one line a technician can report; FIELDKIT_DEBUG=1 shows the
    traceback for whoever fixes it.
    """
    try:
        app()
    except Exception as exc:
        if os.environ.get("FIELDKIT_DEBUG"):
            raise
        sys.stderr.write(
            f"fieldkit: unexpected error: {exc!r} (FIELDKIT_DEBUG=1 shows the traceback)\n"
        )
        sys.exit(1)


__all__ = ["app", "main"]
