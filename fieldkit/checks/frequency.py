"""frequency: line frequency around the nominal."""

from __future__ import annotations

from fieldkit.checks import fmt
from fieldkit.checks.quantities import quantity
from fieldkit.checks.site import CheckInput, finite, settled
from fieldkit.model import CheckResult, CheckStatus

__all__ = ["check_frequency"]

ID = "frequency"


def check_frequency(inp: CheckInput) -> CheckResult:
    """|frequency − nominal| against the pass and warn bands."""
    freq = finite(inp.snapshot.frequency)
    if freq is None:
        return CheckResult(ID, CheckStatus.SKIP, "the meter did not report frequency")
    policy = inp.thresholds.frequency
    off = settled(abs(freq - policy.nominal_hz))
    measured = fmt.hz(freq)
    values = (
        quantity(
            "frequency",
            freq,
            expected=policy.nominal_hz,
            low=policy.nominal_hz - policy.pass_hz,
            high=policy.nominal_hz + policy.pass_hz,
        ),
    )
    expected = (
        f"{fmt.limit(policy.nominal_hz)} Hz ±{fmt.limit(policy.pass_hz)} "
        f"(warn to ±{fmt.limit(policy.warn_hz)})"
    )
    if off <= policy.pass_hz:
        return CheckResult(
            ID,
            CheckStatus.PASS,
            f"{fmt.hz(freq)} is nominal",
            measured=measured,
            expected=expected,
            values=values,
        )
    if off <= policy.warn_hz:
        return CheckResult(
            ID,
            CheckStatus.WARN,
            f"{fmt.hz(freq)} is {off:.2f} Hz off nominal",
            measured=measured,
            expected=expected,
            likely_causes=("supply on standby generation or a weak/islanded source",),
            values=values,
        )
    causes: list[str] = []
    if off > 5:
        causes.append(
            "PT neutral not grounded: the meter reads an erratic frequency (10–275 Hz seen)"
        )
        other = 50.0 if policy.nominal_hz >= 55 else 60.0
        if abs(freq - other) <= 0.5:
            causes.insert(
                0, f"the site runs at {other:g} Hz: meter or policy set for the wrong system"
            )
    else:
        causes.append("supply on standby generation or islanded: check with the control room")
    return CheckResult(
        ID,
        CheckStatus.FAIL,
        f"{fmt.hz(freq)} is {off:.2f} Hz off nominal",
        measured=measured,
        expected=expected,
        likely_causes=tuple(causes),
        values=values,
    )
