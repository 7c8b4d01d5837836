"""``fieldkit read`` and ``fieldkit check``: a meter read through the driver factory.

Options that set the driver (password, baud, ...) are passed on only when given, as
settings by name: the driver holds the defaults and refuses what its protocol has not.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar, get_args

import typer

from fieldkit.checks import DEFAULT_POLICY, PolicyError, Thresholds, load_policy
from fieldkit.cli.common import JsonOpt, as_utc_or_none, fail, given, print_document, usage_error
from fieldkit.cli.secrets import stored_password
from fieldkit.cli.visits import (
    NoSaveOpt,
    NoteOpt,
    OutcomeOpt,
    check_notes,
    check_outcome,
    save_check,
    saved_line,
)
from fieldkit.cli.work_orders import stored_work_order, work_order_line
from fieldkit.drivers.base import PROTOCOLS, CancelToken, ReadOutcome, create_driver, read_once
from fieldkit.drivers.errors import DriverSettingsError
from fieldkit.model import (
    HighLeg,
    MeterSnapshot,
    Rotation,
    ServiceType,
    SiteExpectation,
    WorkOrder,
    meter_class,
)
from fieldkit.report import ProgressLine, render_checks, render_snapshot
from fieldkit.store.csv_import import last_read_problem, nominal_voltage_problem
from fieldkit.sync.schema import (
    CheckDocument,
    ReadDocument,
    SchemaError,
    dump_json,
    load_document,
)
from fieldkit.visit import VisitResult, capture_document, judge, run_visit

__all__ = ["check", "read"]

R = TypeVar("R")

PortOpt = Annotated[
    str,
    typer.Option(
        "--port", "-p", help="Serial device or URL: /dev/ttyUSB0, COM3, socket://HOST:PORT, spy://"
    ),
]
ProtocolOpt = Annotated[
    str, typer.Option("--protocol", help=f"Meter protocol: {', '.join(PROTOCOLS)}")
]
PasswordOpt = Annotated[
    str | None, typer.Option("--password", help="Meter password as text (space-padded to 20)")
]
PasswordHexOpt = Annotated[
    str | None, typer.Option("--password-hex", help="Meter password as raw hex bytes (≤ 20)")
]
UserIdOpt = Annotated[
    int | None, typer.Option("--user-id", help="Logon user id (C12.18: 2)", show_default=False)
]
UserOpt = Annotated[
    str | None, typer.Option("--user", help="Logon user name, ≤ 10 characters (FIELDKIT)")
]
CaptureOpt = Annotated[
    Path | None,
    typer.Option(
        "--capture", help="Save the frames of the exchange as JSON, even when the read fails"
    ),
]
BaudOpt = Annotated[int | None, typer.Option("--baud", help="Baud rate to negotiate (9600)")]
PacketOpt = Annotated[
    int | None, typer.Option("--packet-size", help="Packet size to ask for, 64-8192 (1024)")
]
PacketsOpt = Annotated[
    int | None, typer.Option("--packets", help="Packets per message to ask for, 1-255 (8)")
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option("--response-timeout", help="Seconds to wait for each ACK (C12.18: 2)"),
]
RtsOpt = Annotated[
    bool | None,
    typer.Option("--rts/--no-rts", help="Assert RTS: powers most ANSI optical probes (on)"),
]
DtrOpt = Annotated[bool | None, typer.Option("--dtr/--no-dtr", help="Assert DTR (off)")]
IgnoreToggleOpt = Annotated[
    bool | None,
    typer.Option(
        "--ignore-toggle",
        help="Accept every packet even with a repeated toggle bit (meters that never flip it)",
    ),
]
MeterTzOpt = Annotated[
    str | None,
    typer.Option("--meter-tz", help="Time zone the meter keeps when it is not on UTC"),
]
MapOpt = Annotated[
    str | None, typer.Option("--map", help="Modbus register map (fieldkit maps list)")
]
DeviceIdOpt = Annotated[
    int | None, typer.Option("--device-id", help="Modbus device (slave) id, 1-247 (1)")
]
ParityOpt = Annotated[
    str | None, typer.Option("--parity", help="Modbus RTU parity N, E or O (the map's)")
]
StopBitsOpt = Annotated[
    int | None, typer.Option("--stop-bits", help="Modbus RTU stop bits 1 or 2 (the map's)")
]
RetriesOpt = Annotated[
    int | None, typer.Option("--retries", help="Modbus requests asked again, 0-5 (2)")
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress line on stderr during the read")
]

# The driver settings the command line sets, by option. Only options the user gave are
# passed on: the driver holds the defaults, and refuses a setting its protocol has not.
_SETTING_FLAGS: dict[str, str] = {
    "protocol": "--protocol",
    "port": "--port",
    "password": "--password",
    "password_hex": "--password-hex",
    "user_id": "--user-id",
    "user": "--user",
    "baud": "--baud",
    "packet_size": "--packet-size",
    "packets": "--packets",
    "response_timeout": "--response-timeout",
    "rts": "--rts",
    "dtr": "--dtr",
    "ignore_toggle": "--ignore-toggle",
    "meter_tz": "--meter-tz",
    "map": "--map",
    "device_id": "--device-id",
    "parity": "--parity",
    "stop_bits": "--stop-bits",
    "retries": "--retries",
}


@dataclass(frozen=True, slots=True)
class MeterLink:
    """How to reach the meter: what ``read`` and ``check`` share."""

    protocol: str
    port: str
    settings: dict[str, Any]
    capture: Path | None
    quiet: bool


# Command parameters named differently from the driver setting they carry.
_PARAMETER_OF = {"map": "map_name"}


def _driver_options(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The driver settings among a command's parameters, by setting name (given or not)."""
    return {
        setting: parameters[_PARAMETER_OF.get(setting, setting)]
        for setting in _SETTING_FLAGS
        if setting not in ("protocol", "port")
    }


def _link(
    protocol: str,
    port: str,
    capture: Path | None,
    quiet: bool,
    meter: str | None = None,
    **options: Any,
) -> MeterLink:
    settings = {name: value for name, value in options.items() if value is not None}
    if "password" not in settings and "password_hex" not in settings:
        kept = stored_password(meter)  # the laptop's own, for this meter or the fleet
        if kept is not None:
            settings["password"] = kept
    return MeterLink(protocol, port, settings, capture, quiet)


def _setting_error(exc: DriverSettingsError) -> NoReturn:
    flag = _SETTING_FLAGS.get(exc.setting, exc.setting.replace("_", "-"))
    usage_error(f"{flag}: {exc.problem}")


def _warn(message: str) -> None:
    typer.echo(f"fieldkit: warning: {message}", err=True)


def _check_capture_path(path: Path | None) -> None:
    """A capture that cannot be written is said before the meter is touched."""
    if path is None:
        return
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        usage_error(f"--capture: {path} is a folder; give a file name")
    if not folder.is_dir():
        usage_error(f"--capture: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        usage_error(f"--capture: cannot write {path} (permission denied)")


@contextmanager
def _cancel_on_interrupt() -> Iterator[CancelToken]:
    """Ctrl-C cancels the read cleanly (the capture is still written); a second one quits."""
    token = CancelToken()

    def interrupt(signum: int, frame: object) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel("the read was cancelled (Ctrl-C)")

    try:
        previous = signal.signal(signal.SIGINT, interrupt)
    except ValueError:  # not the main thread: no signal handling to take over
        yield token
        return
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, previous)


def _meter_session(
    link: MeterLink,
    run: Callable[..., R],
) -> R:
    """Build the driver, run ``run(driver, progress=..., cancel=...)``, keep the capture."""
    _check_capture_path(link.capture)
    try:
        driver = create_driver(link.protocol, link.port, link.settings, on_warning=_warn)
    except DriverSettingsError as exc:
        _setting_error(exc)
    with _cancel_on_interrupt() as cancel, ProgressLine(quiet=link.quiet) as progress:
        return run(driver, progress=progress, cancel=cancel)


def _write_capture(path: Path | None, outcome: ReadOutcome) -> None:
    if path is None:
        return
    try:
        path.write_text(dump_json(capture_document(outcome)), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write capture file {path}: {exc.strerror}")


def _load_snapshot(path: Path) -> MeterSnapshot:
    """A snapshot saved with ``fieldkit read --json`` or ``check --json``, any release."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except (ValueError, RecursionError) as exc:
        # Not UTF-8, not JSON, nested past the parser's limit, a number of 4300+ digits.
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        fail(f"{path} is not JSON: {reason}")
    try:
        document = load_document(data, source=str(path))
    except SchemaError as exc:
        fail(str(exc))
    if not isinstance(document, ReadDocument | CheckDocument):
        fail(f"{path} holds a {document.document} document, not a meter read")
    return document.to_snapshot()


def read(
    port: PortOpt,
    protocol: ProtocolOpt = "c1218",
    password: PasswordOpt = None,
    password_hex: PasswordHexOpt = None,
    user_id: UserIdOpt = None,
    user: UserOpt = None,
    as_json: JsonOpt = False,
    capture: CaptureOpt = None,
    baud: BaudOpt = None,
    packet_size: PacketOpt = None,
    packets: PacketsOpt = None,
    meter_tz: MeterTzOpt = None,
    response_timeout: TimeoutOpt = None,
    rts: RtsOpt = None,
    dtr: DtrOpt = None,
    ignore_toggle: IgnoreToggleOpt = None,
    map_name: MapOpt = None,
    device_id: DeviceIdOpt = None,
    parity: ParityOpt = None,
    stop_bits: StopBitsOpt = None,
    retries: RetriesOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Read a meter once and print the snapshot."""
    link = _link(protocol, port, capture, quiet, **_driver_options(locals()))
    outcome = _meter_session(link, read_once)
    _write_capture(link.capture, outcome)
    if outcome.snapshot is not None:
        if as_json:
            print_document(ReadDocument.build(outcome.snapshot))
        else:
            render_snapshot(outcome.snapshot)
    if outcome.error is not None:
        fail(str(outcome.error))


# The check options that state the expectation, which --work-order supplies instead.
EXPECTATION_OPTIONS: dict[str, str] = {
    "service_type": "--service-type",
    "nominal_voltage": "--nominal-voltage",
    "meter_number": "--meter-number",
    "form": "--form",
    "meter_class": "--meter-class",
    "ct_ratio": "--ct-ratio",
    "pt_ratio": "--pt-ratio",
    "last_read_kwh": "--last-read-kwh",
    "last_read_date": "--last-read-date",
    "last_visit": "--last-visit",
    "net_metering": "--net-metering",
    "rotation": "--rotation",
    "high_leg": "--high-leg",
}


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
        str | None,
        typer.Option(
            "--service-type",
            help=f"Service on the work order: {', '.join(s.value for s in ServiceType)}",
        ),
    ] = None,
    nominal_voltage: Annotated[
        float | None,
        typer.Option(
            "--nominal-voltage",
            help="Line-to-neutral for wye/network, line-to-line for delta and 1ph-3w",
        ),
    ] = None,
    meter_number: Annotated[
        str | None, typer.Option("--meter-number", help="Meter number on the work order")
    ] = None,
    form: Annotated[str | None, typer.Option("--form", help="Meter form, e.g. 2S, 16S")] = None,
    meter_class: Annotated[
        str | None, typer.Option("--meter-class", help="Nameplate class, e.g. CL200, CL20")
    ] = None,
    ct_ratio: Annotated[float, typer.Option("--ct-ratio", min=0.001)] = 1.0,
    pt_ratio: Annotated[float, typer.Option("--pt-ratio", min=0.001)] = 1.0,
    last_read_kwh: Annotated[
        float | None, typer.Option("--last-read-kwh", help="Last billed kWh read")
    ] = None,
    last_read_date: Annotated[
        str | None,
        typer.Option("--last-read-date", help="Date of the last billed read (YYYY-MM-DD)"),
    ] = None,
    last_visit: Annotated[
        str | None, typer.Option("--last-visit", help="Date of the last site visit (YYYY-MM-DD)")
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
    user_id: UserIdOpt = None,
    user: UserOpt = None,
    as_json: JsonOpt = False,
    capture: CaptureOpt = None,
    baud: BaudOpt = None,
    packet_size: PacketOpt = None,
    packets: PacketsOpt = None,
    meter_tz: MeterTzOpt = None,
    response_timeout: TimeoutOpt = None,
    rts: RtsOpt = None,
    dtr: DtrOpt = None,
    ignore_toggle: IgnoreToggleOpt = None,
    map_name: MapOpt = None,
    device_id: DeviceIdOpt = None,
    parity: ParityOpt = None,
    stop_bits: StopBitsOpt = None,
    retries: RetriesOpt = None,
    quiet: QuietOpt = False,
    detail: Annotated[
        bool, typer.Option("--detail", help="Show what each check measured and expected")
    ] = False,
    outcome: OutcomeOpt = None,
    note: NoteOpt = None,
    no_save: NoSaveOpt = False,
) -> None:
    """Read the meter, run the site checks, and save the visit in the log."""
    if work_order is not None:
        typed = [flag for name, flag in EXPECTATION_OPTIONS.items() if given(ctx, name)]
        if typed:
            usage_error(
                f"--work-order already gives the expectation: drop {', '.join(typed)} "
                "(or drop --work-order)"
            )
    if (port is None) == (from_json is None):
        usage_error("give --port (read the meter) or --from-json (a saved read)")
    thresholds = _thresholds(policy)
    closing, notes = check_outcome(outcome), check_notes(note)
    if no_save and (closing is not None or notes):
        usage_error("--no-save keeps no visit: drop --outcome and --note (or --no-save)")
    # The work order is looked up before the port is touched: a wrong id costs no meter read.
    order = None if work_order is None else stored_work_order(work_order)
    if order is not None:
        expectation = order.expectation()
    else:
        expectation = SiteExpectation(
            meter_number=meter_number,
            form=form,
            meter_class=_meter_class(meter_class),
            service_type=_service_type(service_type),
            nominal_voltage=_checked("--nominal-voltage", nominal_voltage, nominal_voltage_problem),
            ct_ratio=ct_ratio,
            pt_ratio=pt_ratio,
            last_read_kwh=_checked("--last-read-kwh", last_read_kwh, last_read_problem),
            last_read_at=as_utc_or_none(_date("--last-read-date", last_read_date)),
            net_metering=net_metering,
            last_visit_at=as_utc_or_none(_date("--last-visit", last_visit)),
            rotation=_choice("--rotation", rotation, get_args(Rotation)),
            high_leg=_choice("--high-leg", high_leg, get_args(HighLeg)),
        )
    if from_json is not None:
        result = judge(_load_snapshot(from_json), expectation, thresholds, work_order_id=work_order)
    else:
        assert port is not None
        link = _link(
            protocol,
            port,
            capture,
            quiet,
            meter=order.meter_number if order is not None else meter_number,
            **_driver_options(locals()),
        )

        def visit(driver: Any, **kw: Any) -> VisitResult:
            return run_visit(driver, expectation, thresholds, work_order_id=work_order, **kw)

        result = _meter_session(link, visit)
        if result.outcome is not None:
            _write_capture(link.capture, result.outcome)
    # Saved (COMMIT) before anything is shown: "saved" and visit_id are then true.
    saved = None if no_save else save_check(result, order, closing, notes)
    kept = None if isinstance(saved, str) else saved
    _show_visit(
        result,
        order,
        as_json=as_json,
        detail=detail,
        visit_id=None if kept is None else kept.visit_id,
    )
    if kept is not None and not as_json:
        typer.echo(saved_line(kept))
    if result.outcome is not None and result.outcome.error is not None:
        where = "" if kept is None else f" (visit {kept.visit_id[:8]} saved: {kept.outcome})"
        if isinstance(saved, str):
            where = f"; {saved}"
        fail(f"{result.outcome.error}{where}")
    if isinstance(saved, str):
        fail(saved)


def _show_visit(
    result: VisitResult,
    order: WorkOrder | None,
    *,
    as_json: bool,
    detail: bool = False,
    visit_id: str | None = None,
) -> None:
    document = result.document()
    if document is None:
        return
    if as_json:
        print_document(document.model_copy(update={"visit_id": visit_id}))
        return
    if order is not None:
        typer.echo(work_order_line(order))
    assert result.snapshot is not None
    assert result.verdict is not None
    render_snapshot(result.snapshot)
    render_checks(result.results, result.verdict, detail=detail)


def _thresholds(policy: Path | None) -> Thresholds:
    try:
        return DEFAULT_POLICY if policy is None else load_policy(policy)
    except PolicyError as exc:
        fail(str(exc))


def _meter_class(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return meter_class(text)
    except ValueError as exc:
        usage_error(f"--meter-class: {exc}")


def _service_type(text: str | None) -> ServiceType | None:
    """A service type in any case ('1PH-3W' is 1ph-3w)."""
    if text is None:
        return None
    try:
        return ServiceType(text.strip().lower())
    except ValueError:
        known = ", ".join(s.value for s in ServiceType)
        usage_error(f"--service-type: {text!r} is not a service type ({known})")


def _checked(flag: str, value: float | None, rule: Callable[[float], str | None]) -> float | None:
    """The same rules as the work-order import (fieldkit.store.csv_import)."""
    if value is not None and (problem := rule(value)) is not None:
        usage_error(f"{flag}: {problem}")
    return value


def _date(flag: str, text: str | None) -> datetime | None:
    """An ISO 8601 date or date-time; anything else is said with the format to use."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        usage_error(
            f"{flag}: {text!r} is not a date: write it as YYYY-MM-DD (2025-03-14), "
            "or YYYY-MM-DDTHH:MM with a time"
        )


def _choice(flag: str, value: str, allowed: tuple[str, ...]) -> Any:
    if value.upper() not in allowed:
        usage_error(f"{flag} is {' or '.join(allowed)}, not {value!r}")
    return value.upper()
