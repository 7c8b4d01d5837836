"""meter_temperature: a hot socket shows as a hot meter."""

from __future__ import annotations

from fieldkit.checks import fmt
from fieldkit.checks.quantities import quantity
from fieldkit.checks.site import CheckInput, finite
from fieldkit.model import CheckResult, CheckStatus

__all__ = ["check_meter_temperature"]

ID = "meter_temperature"


def check_meter_temperature(inp: CheckInput) -> CheckResult:
    """Meter temperature against the hot-socket warn and fail limits."""
    temp = finite(inp.snapshot.temperature_c)
    if temp is None:
        return CheckResult(ID, CheckStatus.SKIP, "this meter does not report its temperature")
    policy = inp.thresholds.meter_temperature
    measured = f"{temp:.1f} °C"
    # The pass band ends below the warn limit: a meter at warn_c already warns.
    values = (quantity("temperature", temp, high=policy.warn_c),)
    expected = f"below {fmt.limit(policy.warn_c)} °C (fail at {fmt.limit(policy.fail_c)} °C)"
    if temp >= policy.fail_c:
        status, message = CheckStatus.FAIL, f"meter at {temp:.1f} °C: hot socket, act now"
    elif temp >= policy.warn_c:
        status, message = CheckStatus.WARN, f"meter at {temp:.1f} °C: socket running hot"
    else:
        return CheckResult(
            ID,
            CheckStatus.PASS,
            f"meter at {temp:.1f} °C",
            measured=measured,
            expected=expected,
            values=values,
        )
    return CheckResult(
        ID,
        status,
        message,
        measured=measured,
        expected=expected,
        likely_causes=(
            "loose or worn socket jaw (lost spring tension): inspect blades and jaws for "
            "pitting, discoloration or melted plastic; replace the socket if in doubt",
            "corroded or loose line/load lugs in the meter base",
            "sustained load near the meter's class rating, or direct sun on the meter",
        ),
        values=values,
    )
