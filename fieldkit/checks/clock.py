"""clock_drift: the meter's clock against the laptop's reference clock."""

from __future__ import annotations

from fieldkit.checks import fmt
from fieldkit.checks.quantities import quantity
from fieldkit.checks.site import CheckInput, aware, settled
from fieldkit.model import CheckResult, CheckStatus

__all__ = ["check_clock_drift"]

ID = "clock_drift"


def _describe(drift: float) -> str:
    if abs(drift) < 0.5:
        return "meter on time"
    return f"meter {abs(drift):.0f} s {'fast' if drift > 0 else 'slow'}"


def check_clock_drift(inp: CheckInput) -> CheckResult:
    """|meter time − reference time| against the warn and fail limits.

    The clock reading's uncertainty (half the round trip of the clock read) counts in the
    meter's favour at each limit: a drift is beyond a limit only when it is beyond it by
    more than the uncertainty.
    """
    clock = inp.snapshot.clock
    if clock is None:
        return CheckResult(ID, CheckStatus.SKIP, "the meter's clock was not read")
    policy = inp.thresholds.clock_drift
    drift = (aware(clock.meter_time) - aware(clock.reference_time)).total_seconds()
    # The read itself blurs the drift by up to ``uncertainty`` either way: a limit is
    # crossed only when the drift is beyond it even at the near end of that band.
    uncertainty = max(clock.uncertainty_seconds or 0.0, 0.0)
    size = settled(max(abs(drift) - uncertainty, 0.0))
    blur = f" ±{uncertainty:.1f} s" if uncertainty >= 0.05 else ""
    measured = f"{_describe(drift)} ({drift:+.0f} s{blur})"
    warn, fail = fmt.limit(policy.warn_seconds), fmt.limit(policy.fail_seconds)
    expected = f"within ±{warn} s (fail beyond {fail} s)"
    values = (
        quantity("drift", drift, expected=0.0, low=-policy.warn_seconds, high=policy.warn_seconds),
    )
    if size <= policy.warn_seconds:
        return CheckResult(
            ID,
            CheckStatus.PASS,
            f"clock within {fmt.limit(policy.warn_seconds)} s",
            measured=measured,
            expected=expected,
            values=values,
        )
    status = CheckStatus.FAIL if size > policy.fail_seconds else CheckStatus.WARN
    causes = ["clock drifted or was set wrong: set it from the kit (procedure 10)"]
    flags = inp.snapshot.status.active if inp.snapshot.status else frozenset()
    if "clock_error" in flags or "low_battery" in flags:
        causes.insert(0, "battery low or failed: the clock stops during outages; replace it")
    hours = round(abs(drift) / 3600)
    if hours >= 1 and abs(abs(drift) - hours * 3600) <= 120:
        causes.insert(
            0,
            f"off by {hours} h: daylight-saving or time-zone setting wrong in the meter",
        )
    return CheckResult(
        ID,
        status,
        f"{_describe(drift)}: beyond {fail if status is CheckStatus.FAIL else warn} s",
        measured=measured,
        expected=expected,
        likely_causes=tuple(causes),
        values=values,
    )
