"""run and verdict: every check, in a fixed order, one result each."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from fieldkit.checks.clock import check_clock_drift
from fieldkit.checks.current import check_current_imbalance, check_inactive_phase_current
from fieldkit.checks.energy import check_register_read, check_reverse_energy
from fieldkit.checks.events import check_events
from fieldkit.checks.frequency import check_frequency
from fieldkit.checks.identity import check_meter_identity
from fieldkit.checks.phasor_checks import (
    check_cross_phase,
    check_phase_angle,
    check_polarity,
    check_service_type,
)
from fieldkit.checks.policy import DEFAULT_POLICY, Thresholds
from fieldkit.checks.site import CheckInput, analyse
from fieldkit.checks.status import check_status_flags
from fieldkit.checks.temperature import check_meter_temperature
from fieldkit.checks.voltage import check_service_voltage, check_voltage_imbalance
from fieldkit.model import CheckResult, CheckStatus, MeterSnapshot, SiteExpectation

__all__ = ["CHECK_IDS", "run", "verdict"]

CHECK_IDS: tuple[str, ...] = (
    "meter_identity",
    "clock_drift",
    "status_flags",
    "service_voltage",
    "voltage_imbalance",
    "inactive_phase_current",
    "current_imbalance",
    "service_type",
    "cross_phase",
    "polarity",
    "phase_angle",
    "reverse_energy",
    "frequency",
    "register_read",
    "events",
    "meter_temperature",
)

_INDEPENDENT: dict[str, Callable[[CheckInput], CheckResult]] = {
    "meter_identity": check_meter_identity,
    "clock_drift": check_clock_drift,
    "status_flags": check_status_flags,
    "service_voltage": check_service_voltage,
    "voltage_imbalance": check_voltage_imbalance,
    "inactive_phase_current": check_inactive_phase_current,
    "current_imbalance": check_current_imbalance,
    "service_type": check_service_type,
    "cross_phase": check_cross_phase,
    "reverse_energy": check_reverse_energy,
    "frequency": check_frequency,
    "register_read": check_register_read,
    "events": check_events,
    "meter_temperature": check_meter_temperature,
}

DISABLED = "disabled by policy"


def run(
    snapshot: MeterSnapshot,
    expectation: SiteExpectation,
    thresholds: Thresholds = DEFAULT_POLICY,
) -> list[CheckResult]:
    """Run every site check on one snapshot: one result per id in CHECK_IDS order.

    Pure: reads nothing but its arguments (``snapshot.read_at`` is "now").
    """
    inp = CheckInput(snapshot, expectation, thresholds, analyse(snapshot, expectation, thresholds))
    results: dict[str, CheckResult] = {}
    for check_id, check in _INDEPENDENT.items():
        if thresholds.is_enabled(check_id):
            results[check_id] = check(inp)
    # A disabled cross_phase cannot fail, so it never holds the current checks back.
    cross = results.get("cross_phase")
    cross_failed = cross is not None and cross.status is CheckStatus.FAIL
    if thresholds.is_enabled("polarity"):
        results["polarity"] = check_polarity(inp, cross_failed)
    if thresholds.is_enabled("phase_angle"):
        results["phase_angle"] = check_phase_angle(inp, cross_failed)
    ordered = [
        results.get(check_id) or CheckResult(check_id, CheckStatus.SKIP, DISABLED)
        for check_id in CHECK_IDS
    ]
    return [_relied_on(snapshot, result) for result in ordered]


# What a derived current angle means for the checks that judge angles.
_DERIVED_NOTE = (
    "current angles derived from power factor and the sign of reactive power "
    "(the meter reports no angles)"
)
_DERIVED_CAUSE = (
    "a crossed voltage lead: this meter reports no voltage angles, so cross_phase cannot "
    "tell it from a reversed CT"
)


_PLACED_VOLTAGES = (
    "the meter reports no voltage angles (the kit placed them where the service diagram "
    "puts them): a crossed voltage lead shows in polarity instead"
)


def _relied_on(snapshot: MeterSnapshot, result: CheckResult) -> CheckResult:
    """Say so when an angle check judged angles the driver computed rather than read."""
    placed = any("voltage_angle" in p.derived for p in snapshot.phases)
    if result.id == "cross_phase" and result.status is not CheckStatus.SKIP and placed:
        # Placed angles always agree with the diagram: a pass would claim too much.
        return CheckResult(result.id, CheckStatus.SKIP, _PLACED_VOLTAGES)
    if result.id not in ("polarity", "phase_angle") or result.status is CheckStatus.SKIP:
        return result
    if not any("current_angle" in p.derived for p in snapshot.phases):
        return result
    causes = result.likely_causes
    if result.id == "polarity" and result.status is CheckStatus.FAIL:
        causes = (*causes, _DERIVED_CAUSE)
    return replace(result, message=f"{result.message}; {_DERIVED_NOTE}", likely_causes=causes)


def verdict(results: Sequence[CheckResult]) -> CheckStatus:
    """Fail if any failed, else warn if any warned, else pass; skip when nothing ran."""
    statuses = {r.status for r in results}
    for status in (CheckStatus.FAIL, CheckStatus.WARN, CheckStatus.PASS):
        if status in statuses:
            return status
    return CheckStatus.SKIP
