"""Adjustments at the meter: set its clock (SP10) or reset demand (SP9), with an audit trail.

The workflow every front end calls, protocol-neutral (it knows only
:mod:`fieldkit.drivers.base`): one session reads the meter before, runs the procedure and
reads it back after; :func:`run_adjustment` hands back an :class:`AdjustmentOutcome` whose
``record`` (a wire :class:`~fieldkit.sync.schema.AdjustmentDoc`) says who, when, before,
after and the meter's result code, for :func:`fieldkit.store.visits.add_adjustment`.

The kit refuses by itself, before the procedure and with one line (:class:`AdjustRefused`):

- to set a meter's clock from a laptop clock it has no reason to trust
  (:func:`clock_trust`: the OS says NTP is synchronised, or the last sync with the office
  server is recent enough, or the technician says ``--trust-system-clock``, which the audit
  records);
- to reset demand twice in one billing period on the same meter (:func:`demand_reset_lockout`),
  unless an override reason is given, which the audit records too.

The meter refuses the rest: a password whose level is too low (``isc``, said with the level
the utility's settings name) or a procedure it does not complete (its result code).
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from fieldkit.drivers.base import (
    CancelToken,
    DemandReset,
    MeterDriver,
    ProcedureResult,
    ProgressCallback,
    SetClock,
)
from fieldkit.drivers.errors import DriverError, MeterRefused, SecurityDenied
from fieldkit.model import FrameRecord, MeterSnapshot, as_utc
from fieldkit.sync.schema import AdjustmentDoc, AdjustmentKind, MeterStateDoc

__all__ = [
    "KIND_WORDS",
    "AdjustRefused",
    "AdjustmentOutcome",
    "ClockTrust",
    "clock_trust",
    "demand_reset_lockout",
    "meter_state",
    "ntp_synchronized",
    "run_adjustment",
]

KIND_WORDS: dict[str, str] = {"set_clock": "set the meter's clock", "demand_reset": "reset demand"}

# What the office's server time is worth once the laptop has run on its own clock since.
ClockSource = Literal["auto", "ntp", "server"]


class AdjustRefused(Exception):
    """The kit will not make this adjustment; the message is one line saying what to do."""


# --- is the laptop's clock a reference? --------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClockTrust:
    """Whether the laptop's clock may be set into a meter, and why.

    ``correction_seconds`` is subtracted from the laptop's clock to get the reference (the
    laptop's offset from the server at the last sync); 0 for NTP and the system clock.
    """

    trusted: bool
    source: str
    correction_seconds: float = 0.0
    trust_system_clock: bool = False

    def reference(self, now: datetime) -> datetime:
        """The reference time at the laptop's ``now``."""
        return as_utc(now) - timedelta(seconds=self.correction_seconds)


def ntp_synchronized(timeout: float = 2.0) -> bool | None:
    """The OS's word on NTP: True/False from ``timedatectl``, None where it cannot say."""
    tool = shutil.which("timedatectl")
    if tool is None:
        return None
    try:
        done = subprocess.run(  # noqa: S603  # a fixed argument list, no shell
            [tool, "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    answer = done.stdout.strip().lower()
    if done.returncode != 0 or answer not in ("yes", "no"):
        return None
    return answer == "yes"


def clock_trust(
    source: ClockSource,
    *,
    max_server_age: timedelta,
    last_sync: tuple[datetime, datetime] | None,
    now: datetime,
    trust_system_clock: bool = False,
    ntp: Callable[[], bool | None] = ntp_synchronized,
) -> ClockTrust:
    """Decide whether the laptop's clock is a reference to set a meter by.

    ``last_sync`` is (the server's time, the laptop's time then) from the last sync, or None.
    ``source`` ``ntp`` asks the OS, ``server`` uses the last sync, ``auto`` tries both.
    """
    if trust_system_clock:
        return ClockTrust(
            True, "the laptop's own clock (--trust-system-clock)", trust_system_clock=True
        )
    reasons: list[str] = []
    if source in ("auto", "ntp"):
        state = ntp()
        if state:
            return ClockTrust(True, "NTP (the OS reports the clock synchronised)")
        reasons.append(
            "the OS cannot say it is NTP-synchronised"
            if state is None
            else "the OS says it is not NTP-synchronised"
        )
    if source in ("auto", "server"):
        if last_sync is None:
            reasons.append("it has never synced with the office server")
        else:
            server_time, laptop_then = (as_utc(t) for t in last_sync)
            age = as_utc(now) - laptop_then
            offset = (laptop_then - server_time).total_seconds()
            if age < timedelta(0):
                reasons.append("its clock has gone back since the last sync with the server")
            elif age > max_server_age:
                hours = age.total_seconds() / 3600
                limit = max_server_age.total_seconds() / 3600
                reasons.append(
                    f"its last sync with the server was {hours:.0f} h ago "
                    f"(clock.max_server_age_hours is {limit:g})"
                )
            else:
                return ClockTrust(
                    True,
                    f"the office server's time at the sync of {laptop_then:%Y-%m-%d %H:%M} UTC "
                    f"(laptop {offset:+.1f} s)",
                    correction_seconds=offset,
                )
    return ClockTrust(False, "the laptop's clock is not trustworthy: " + " and ".join(reasons))


# --- demand-reset lockout -----------------------------------------------------------------


def demand_reset_lockout(
    before: MeterSnapshot,
    *,
    last_by_this_laptop: datetime | None,
    lockout: timedelta,
    now: datetime,
) -> str | None:
    """Why a demand reset now would be a second one this billing period, or None.

    Looks at this laptop's own log and at the meter's event log (event 20, demand reset).
    """
    if lockout <= timedelta(0):
        return None
    since = as_utc(now) - lockout
    if last_by_this_laptop is not None and as_utc(last_by_this_laptop) > since:
        return f"this laptop reset demand on this meter at {last_by_this_laptop:%Y-%m-%d %H:%M} UTC"
    for event in before.events:
        stamp = event.timestamp
        if event.code == 20 and not event.manufacturer and stamp and as_utc(stamp) > since:
            return f"the meter logged a demand reset at {stamp:%Y-%m-%d %H:%M}"
    return None


# --- the session ---------------------------------------------------------------------------


def _demand(snapshot: MeterSnapshot) -> tuple[float | None, int | None]:
    demand = None
    for reg in snapshot.registers:
        if reg.unit.lower() == "kw" and reg.tier is None:
            demand = reg.value
            break
    resets = snapshot.register("demand_resets")
    return demand, None if resets is None else round(resets.value)


def meter_state(snapshot: MeterSnapshot) -> MeterStateDoc:
    """What an adjustment changes, from a snapshot: the clock and the demand."""
    clock = snapshot.clock
    demand, resets = _demand(snapshot)
    return MeterStateDoc(
        read_at=snapshot.read_at,
        meter_time=None if clock is None else clock.meter_time,
        reference_time=None if clock is None else clock.reference_time,
        drift_seconds=None if clock is None else round(clock.drift_seconds, 3),
        demand_kw=demand,
        demand_resets=resets,
    )


@dataclass(frozen=True, slots=True)
class AdjustmentOutcome:
    """One adjustment session: the record for the visit log, the reads, the frames.

    ``record`` is None only when the kit refused before the procedure (then ``refusal``
    says why) or the meter could not be read at all (then ``error``).
    """

    kind: AdjustmentKind
    before: MeterSnapshot | None
    after: MeterSnapshot | None
    record: AdjustmentDoc | None
    frames: tuple[FrameRecord, ...]
    started_at: datetime
    error: DriverError | None = None
    refusal: str | None = None

    @property
    def done(self) -> bool:
        """True when the meter completed the procedure."""
        return self.record is not None and self.record.result == "done"


def _level_needed(kind: AdjustmentKind, level: int | None, exc: SecurityDenied) -> str:
    what = KIND_WORDS[kind]
    need = "" if level is None else f"; it needs a level-{level} password"
    return (
        f"the meter refused to {what}: the password's access level is too low (isc){need} "
        "(give it with --password, or store it: fieldkit secrets set-password)"
    )


def run_adjustment(
    driver: MeterDriver,
    kind: AdjustmentKind,
    *,
    technician: str,
    trust: ClockTrust | None = None,
    required_level: int | None = None,
    lockout: Callable[[MeterSnapshot], str | None] | None = None,
    lockout_override: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> AdjustmentOutcome:
    """Read before, run the procedure, read back after — all in one session.

    ``trust`` must be given (and trusted) for ``set_clock``; ``lockout`` is asked about the
    snapshot read before a ``demand_reset`` and returns why it is locked out (None: go on),
    which ``lockout_override`` overrides. Never raises a DriverError: the outcome holds it.
    """
    if kind == "set_clock" and (trust is None or not trust.trusted):
        reason = "no clock source" if trust is None else trust.source
        raise AdjustRefused(
            f"{reason}: sync with the office server, or say the laptop's own clock is "
            "the reference with --trust-system-clock"
        )
    started = clock()
    session = driver.session(progress=progress, cancel=cancel)
    before: MeterSnapshot | None = None
    after: MeterSnapshot | None = None
    answer: ProcedureResult | None = None
    problem: str | None = None
    reference: datetime | None = None
    error: DriverError | None = None
    refusal: str | None = None
    override: str | None = None
    try:
        with session:
            before = session.read_snapshot()
            if kind == "demand_reset" and lockout is not None:
                locked = lockout(before)
                if locked is not None and not lockout_override:
                    refusal = (
                        f"demand was already reset this billing period ({locked}): "
                        "give --override-lockout REASON if the utility wants another"
                    )
                elif locked is not None:
                    override = lockout_override
            if refusal is None:
                try:
                    if kind == "set_clock":
                        assert trust is not None
                        # The meter keeps whole seconds and truncates: aim at the nearest.
                        reference = trust.reference(clock()) + timedelta(seconds=0.5)
                        answer = session.run_procedure(SetClock(reference))
                    else:
                        answer = session.run_procedure(DemandReset())
                except SecurityDenied as exc:
                    problem = _level_needed(kind, required_level, exc)
                except MeterRefused as exc:
                    problem = f"the meter refused to {KIND_WORDS[kind]}: {exc}"
                after = session.read_snapshot()
    except DriverError as exc:
        error = exc
    frames = session.frames
    if refusal is not None:
        return AdjustmentOutcome(kind, before, None, None, frames, started, refusal=refusal)
    if before is None or (answer is None and problem is None):
        # The meter could not be read before (nothing was asked of it), or the session
        # broke during the procedure: the record keeps whatever is known.
        if before is None:
            return AdjustmentOutcome(kind, None, None, None, frames, started, error=error)
        problem = f"the session ended during the procedure: {error}"
    if answer is not None and answer.ok:
        result: Literal["done", "failed", "refused"] = "done"
    elif answer is not None:
        result = "failed"
        problem = f"the meter did not {KIND_WORDS[kind]}: result {answer.code} ({answer.message})"
    else:
        result = "refused"
    if error is not None and answer is not None and answer.ok:
        problem = f"done, but the read-back failed: {error}"
    record = AdjustmentDoc(
        adjustment_id=str(uuid.uuid4()),
        kind=kind,
        technician=technician,
        started_at=started,
        finished_at=clock(),
        result=result,
        result_code=None if answer is None else answer.code,
        result_message="" if answer is None else answer.message,
        response=b"" if answer is None else answer.response,
        error=problem,
        before=meter_state(before),
        after=None if after is None else meter_state(after),
        reference_time=reference,
        clock_source=None if trust is None or kind != "set_clock" else trust.source,
        trust_system_clock=trust is not None and trust.trust_system_clock,
        lockout_override=override,
    )
    return AdjustmentOutcome(kind, before, after, record, frames, started, error=error)
