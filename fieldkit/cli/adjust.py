"""``fieldkit adjust clock|demand-reset``: change the customer's meter, with an audit trail.

Each asks for confirmation unless ``--yes``, then in one session reads the meter, runs the
procedure, and reads it back; the adjustment (who, when, before, after, the meter's result
code, the frames) is recorded against the open visit to that meter (``--visit ID``, or the
newest open one, or a new visit). The workflow itself is :mod:`fieldkit.adjust`.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from fieldkit import paths
from fieldkit.adjust import (
    KIND_WORDS,
    AdjustmentOutcome,
    AdjustRefused,
    ClockTrust,
    clock_trust,
    demand_reset_lockout,
)
from fieldkit.cli.common import fail, usage_error
from fieldkit.cli.meter import (
    PasswordHexOpt,
    PasswordOpt,
    PortOpt,
    ProtocolOpt,
    QuietOpt,
    UserIdOpt,
    UserOpt,
)
from fieldkit.cli.secrets import stored_password
from fieldkit.cli.visits import short_id
from fieldkit.cli.work_orders import stored_work_order
from fieldkit.config import ConfigError, Settings, load_settings, technician
from fieldkit.drivers.base import CancelToken, MeterDriver, create_driver
from fieldkit.drivers.errors import DriverSettingsError
from fieldkit.model import MeterSnapshot, WorkOrder
from fieldkit.report import ProgressLine
from fieldkit.sync.schema import (
    AdjustmentDoc,
    AdjustmentKind,
    CaptureDocument,
    ExpectationDoc,
    FrameDoc,
    SnapshotDoc,
    VisitDocument,
)

__all__ = ["adjust_app"]

adjust_app = typer.Typer(
    help="Change the customer's meter: set its clock, reset demand (recorded in the visit).",
    no_args_is_help=True,
)

WorkOrderOpt = Annotated[
    str | None, typer.Option("--work-order", help="The work order this adjustment is for")
]
VisitOpt = Annotated[
    str | None,
    typer.Option("--visit", help="Record it on this open visit (default: the newest open one)"),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")]


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc))


def _driver(protocol: str, port: str, settings: dict[str, Any]) -> MeterDriver:
    given = {name: value for name, value in settings.items() if value is not None}
    if protocol.lower() == "c1218" and paths.profiles_dir().is_dir():
        given["profiles_dir"] = paths.profiles_dir()
    try:
        return create_driver(
            protocol,
            port,
            given,
            on_warning=lambda m: typer.echo(f"fieldkit: warning: {m}", err=True),
        )
    except DriverSettingsError as exc:
        usage_error(f"--{exc.setting.replace('_', '-')}: {exc.problem}")


def _confirm(yes: bool, question: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        usage_error("this changes the customer's meter: confirm with --yes when not at a terminal")
    if not typer.confirm(question, default=False):
        fail("cancelled: nothing was changed on the meter")


def _find_visit(
    db: Any, visit: str | None, before: MeterSnapshot, order: WorkOrder | None, settings: Settings
) -> VisitDocument | None:
    from fieldkit.store import visits

    if visit is not None:
        found = visits.get(db, visits.resolve_id(db, visit))
        if found is None:
            fail(f"no visit {visit} on this laptop (fieldkit visits list)")
        serial = before.identity.serial_number
        if found.meter_serial not in (None, serial):
            fail(
                f"visit {short_id(found.visit_id)} is at meter {found.meter_serial}, "
                f"not {serial}: the adjustment was made but give the right --visit"
            )
        return found
    return visits.latest_open(
        db,
        meter_serial=before.identity.serial_number,
        meter_number=None if order is None else order.meter_number,
        within=timedelta(hours=settings.adjust.open_visit_hours),
    )


def _capture(driver: MeterDriver, outcome: AdjustmentOutcome) -> CaptureDocument:
    return CaptureDocument(
        protocol=str(driver.protocol),
        port=driver.port,
        started_at=outcome.started_at,
        result="complete" if outcome.error is None else "incomplete",
        error=None if outcome.error is None else str(outcome.error),
        error_kind=None if outcome.error is None else type(outcome.error).__name__,
        frames=[FrameDoc.from_model(f) for f in outcome.frames],
    )


def _record(
    driver: MeterDriver,
    outcome: AdjustmentOutcome,
    record: AdjustmentDoc,
    *,
    visit: str | None,
    order: WorkOrder | None,
    settings: Settings,
    who: str,
) -> VisitDocument:
    """The adjustment on its visit, saved with its outbox op; exits 1 when it cannot be."""
    from fieldkit import store
    from fieldkit.store import visits

    before = outcome.before
    assert before is not None
    record = record.model_copy(update={"capture": _capture(driver, outcome)})
    now = datetime.now(UTC)
    try:
        with store.database() as db:
            found = _find_visit(db, visit, before, order, settings)
            if found is not None:
                return visits.add_adjustment(db, found.visit_id, record, now=now)
            fresh = VisitDocument(
                visit_id=visits.new_id(),
                op_id=visits.new_id(),
                revision=1,
                status="open",
                technician=who,
                started_at=outcome.started_at,
                saved_at=now,
                work_order=None if order is None else order.work_order_id,
                account_number=None if order is None else order.account_number,
                premise_id=None if order is None else order.premise_id,
                meter_number=order.meter_number if order else before.identity.meter_id,
                meter_serial=before.identity.serial_number,
                read_result="complete",
                expectation=None
                if order is None
                else ExpectationDoc.from_model(order.expectation()),
                snapshot=SnapshotDoc.from_model(before),
                adjustments=[record],
            )
            return visits.save(db, fresh)
    except store.StoreError as exc:
        fail(f"{exc} (the meter WAS changed: {record.result}; note it by hand)")


def _lockout_check(settings: Settings, order: WorkOrder | None) -> Any:
    from fieldkit import store
    from fieldkit.store import visits

    def check(before: MeterSnapshot) -> str | None:
        try:
            with store.database() as db:
                last = visits.last_adjustment(
                    db,
                    "demand_reset",
                    meter_serial=before.identity.serial_number,
                    meter_number=None if order is None else order.meter_number,
                )
        except store.StoreError:
            last = None
        return demand_reset_lockout(
            before,
            last_by_this_laptop=None if last is None else last[0],
            lockout=timedelta(days=settings.adjust.demand_reset_lockout_days),
            now=datetime.now(UTC),
        )

    return check


def _trust(settings: Settings, trust_system_clock: bool) -> ClockTrust:
    from fieldkit import store
    from fieldkit.store import visits

    last = None
    if not trust_system_clock and settings.clock.source != "ntp":
        try:
            with store.database() as db:
                last = visits.last_trusted_time(db)
        except store.StoreError as exc:
            fail(str(exc))
    return clock_trust(
        settings.clock.source,
        max_server_age=timedelta(hours=settings.clock.max_server_age_hours),
        last_sync=None if last is None else (last.trusted_time, last.laptop_time),
        now=datetime.now(UTC),
        trust_system_clock=trust_system_clock,
    )


def _adjust(
    kind: AdjustmentKind,
    *,
    port: str,
    protocol: str,
    password: str | None,
    password_hex: str | None,
    user_id: int | None,
    user: str | None,
    work_order: str | None,
    visit: str | None,
    yes: bool,
    quiet: bool,
    trust_system_clock: bool = False,
    override_lockout: str | None = None,
) -> None:
    from fieldkit.adjust import run_adjustment

    if override_lockout is not None and not override_lockout.strip():
        usage_error("--override-lockout needs the reason the utility wants another reset")
    settings = _settings()
    who = technician(settings)
    order = None if work_order is None else stored_work_order(work_order)
    trust = _trust(settings, trust_system_clock) if kind == "set_clock" else None
    if trust is not None and not trust.trusted:
        fail(
            f"{trust.source}: sync with the office server, or say the laptop's own clock is "
            "the reference with --trust-system-clock"
        )
    level = (
        settings.adjust.set_clock_level
        if kind == "set_clock"
        else settings.adjust.demand_reset_level
    )
    if password is None and password_hex is None:
        password = _stored_password(order, level)
    driver = _driver(
        protocol,
        port,
        {"password": password, "password_hex": password_hex, "user_id": user_id, "user": user},
    )
    target = f"meter {order.meter_number}" if order else f"the meter on {port}"
    question = {
        "set_clock": f"Set the clock of {target} to {trust.source if trust else ''}?",
        "demand_reset": f"Reset demand on {target}? This closes its billing period.",
    }[kind]
    _confirm(yes, question)
    with ProgressLine(quiet=quiet) as progress:
        try:
            outcome = run_adjustment(
                driver,
                kind,
                technician=who,
                trust=trust,
                required_level=level,
                lockout=_lockout_check(settings, order) if kind == "demand_reset" else None,
                lockout_override=None if override_lockout is None else override_lockout.strip(),
                progress=progress,
                cancel=CancelToken(),
            )
        except AdjustRefused as exc:
            fail(str(exc))
    if outcome.refusal is not None:
        fail(f"{outcome.refusal}; nothing was changed on the meter")
    record = outcome.record
    if record is None:
        fail(f"{outcome.error}; nothing was changed on the meter")
    saved = _record(driver, outcome, record, visit=visit, order=order, settings=settings, who=who)
    where = f"recorded on visit {short_id(saved.visit_id)}"
    if record.result != "done":
        fail(f"{record.error} ({where})")
    typer.echo(f"{_change_line(record)}; {where}")
    if record.error:
        typer.echo(f"fieldkit: warning: {record.error}", err=True)


def _stored_password(order: WorkOrder | None, level: int) -> str | None:
    """The password this laptop keeps for the meter (or the fleet) at the level needed."""
    return stored_password(None if order is None else order.meter_number, level)


def _change_line(record: AdjustmentDoc) -> str:
    before, after = record.before, record.after
    code = f"result {record.result_code} {record.result_message}"
    if record.kind == "set_clock":
        if (
            before
            and after
            and before.drift_seconds is not None
            and after.drift_seconds is not None
        ):
            change = f"drift {before.drift_seconds:+.1f} s -> {after.drift_seconds:+.1f} s"
        else:
            change = "clock set"
        return f"clock set ({code}): {change}, reference {record.clock_source}"
    change = "demand reset"
    if before and after:
        change = (
            f"maximum demand {before.demand_kw} kW -> {after.demand_kw} kW, "
            f"resets {before.demand_resets} -> {after.demand_resets}"
        )
    return f"{KIND_WORDS['demand_reset'].capitalize()} done ({code}): {change}"


@adjust_app.command("clock")
def adjust_clock(
    port: PortOpt,
    protocol: ProtocolOpt = "c1218",
    password: PasswordOpt = None,
    password_hex: PasswordHexOpt = None,
    user_id: UserIdOpt = None,
    user: UserOpt = None,
    work_order: WorkOrderOpt = None,
    visit: VisitOpt = None,
    yes: YesOpt = False,
    trust_system_clock: Annotated[
        bool,
        typer.Option(
            "--trust-system-clock",
            help="The laptop's own clock is the reference (recorded with the adjustment)",
        ),
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Set the meter's clock to the laptop's reference time (standard procedure 10)."""
    _adjust(
        "set_clock",
        port=port,
        protocol=protocol,
        password=password,
        password_hex=password_hex,
        user_id=user_id,
        user=user,
        work_order=work_order,
        visit=visit,
        yes=yes,
        quiet=quiet,
        trust_system_clock=trust_system_clock,
    )


@adjust_app.command("demand-reset")
def adjust_demand_reset(
    port: PortOpt,
    protocol: ProtocolOpt = "c1218",
    password: PasswordOpt = None,
    password_hex: PasswordHexOpt = None,
    user_id: UserIdOpt = None,
    user: UserOpt = None,
    work_order: WorkOrderOpt = None,
    visit: VisitOpt = None,
    yes: YesOpt = False,
    override_lockout: Annotated[
        str | None,
        typer.Option(
            "--override-lockout",
            metavar="REASON",
            help="Reset again this billing period, for this reason (recorded)",
        ),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Reset maximum demand (standard procedure 9): closes the meter's billing period."""
    _adjust(
        "demand_reset",
        port=port,
        protocol=protocol,
        password=password,
        password_hex=password_hex,
        user_id=user_id,
        user=user,
        work_order=work_order,
        visit=visit,
        yes=yes,
        quiet=quiet,
        override_lockout=override_lockout,
    )
