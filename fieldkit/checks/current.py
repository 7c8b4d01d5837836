"""inactive_phase_current and current_imbalance: element currents against each other.

Currents are secondary amps at the meter terminals; the low-current floor, which follows
from the meter's class (load.py), separates "no load" from "load", and the light-load limit
(5 % of the class) separates a site whose load says something from one where whatever
happens to be switched on decides.

A 4-wire delta's high leg carries only three-phase load while the low legs also carry every
single-phase load of the centre-tapped winding, so the high leg is always the light one:
it only warns when idle and is left out of current imbalance.
"""

from __future__ import annotations

from fieldkit.checks import fmt
from fieldkit.checks.causes import inactive_current_causes
from fieldkit.checks.quantities import quantity
from fieldkit.checks.site import CheckInput, Site, settled
from fieldkit.model import CheckResult, CheckStatus, Quantity, ServiceType

__all__ = ["check_current_imbalance", "check_inactive_phase_current"]

INACTIVE = "inactive_phase_current"
IMBALANCE = "current_imbalance"


def _measured(site: Site) -> str:
    return fmt.joined(
        (e.name, fmt.amps(abs(e.current))) for e in site.elements if e.current is not None
    )


def _current_values(site: Site) -> tuple[Quantity, ...]:
    """Each reported element current (secondary amps), ``low`` the floor it is judged by."""
    return tuple(
        quantity("current", abs(e.current), element=e.name, low=site.floor)
        for e in site.elements
        if e.current is not None
    )


def check_inactive_phase_current(inp: CheckInput) -> CheckResult:
    """Fail when an element is below the floor while another carries current above it."""
    site = inp.site
    if site.model is None:
        return CheckResult(INACTIVE, CheckStatus.SKIP, site.why_no_model or "no service")
    if len(site.model.elements) == 1:
        return CheckResult(INACTIVE, CheckStatus.SKIP, "one element: nothing to compare")
    with_current = [e for e in site.elements if e.current is not None]
    if len(with_current) < 2:
        return CheckResult(INACTIVE, CheckStatus.SKIP, "element currents not reported")
    floor = f"{fmt.limit(site.floor)} A"
    measured = _measured(site)
    values = _current_values(site)
    expected = f"every element ≥ {floor} when any is"
    idle = [e for e in with_current if not e.loaded]
    if not idle:
        return CheckResult(
            INACTIVE,
            CheckStatus.PASS,
            "every element carries current",
            measured=measured,
            expected=expected,
            values=values,
        )
    if len(idle) == len(with_current):
        return CheckResult(
            INACTIVE,
            CheckStatus.PASS,
            f"no load on any element (all below {floor})",
            measured=measured,
            expected=expected,
            values=values,
        )
    names = ", ".join(e.name for e in idle)
    high_leg_only = len(idle) == 1 and idle[0].name == _high_leg(site) and not idle[0].lost
    if high_leg_only:
        # Single-phase loads on a 4-wire delta hang off the centre-tapped winding; the high
        # leg only carries three-phase load, so an idle high leg is often just no motor running.
        return CheckResult(
            INACTIVE,
            CheckStatus.WARN,
            f"no current on the high leg {names} while the other phases carry load",
            measured=measured,
            expected=expected,
            values=values,
            likely_causes=(
                "no three-phase load running right now (normal on a 4-wire delta)",
                *inactive_current_causes(site, idle)[:-1],
            ),
        )
    busiest = max(abs(e.current or 0.0) for e in with_current)
    light = site.scale.light
    if busiest < light and not any(e.lost for e in idle):
        # The whole site is lightly loaded: nothing switched on on one phase is as likely as
        # a fault. The technician confirms by putting load on that phase.
        return CheckResult(
            INACTIVE,
            CheckStatus.WARN,
            f"phase {names} below {floor} at light load (busiest element "
            f"{site.scale.level(busiest)}, under {fmt.limit(round(light, 3))} A): no load on "
            f"that phase, or a CT/bypass problem",
            measured=measured,
            expected=expected,
            values=values,
            likely_causes=(
                f"no load on phase {names} right now: switch a load on there and re-run",
                *inactive_current_causes(site, idle)[:-1],
            ),
        )
    return CheckResult(
        INACTIVE,
        CheckStatus.FAIL,
        f"phase {names} below {floor} while another phase carries load",
        measured=measured,
        expected=expected,
        likely_causes=inactive_current_causes(site, idle),
        values=values,
    )


def _high_leg(site: Site) -> str | None:
    """A 4-wire delta's high leg as the voltages show it (the work order's if they agree)."""
    model = site.model
    if model is None or model.service is not ServiceType.DELTA_4W:
        return None
    return site.high_leg_seen or model.high_leg


def check_current_imbalance(inp: CheckInput) -> CheckResult:
    """Warn when a loaded element's current is further than the limit from the average."""
    site = inp.site
    policy = inp.thresholds.current_imbalance
    if site.model is None:
        return CheckResult(IMBALANCE, CheckStatus.SKIP, site.why_no_model or "no service")
    if len(site.model.elements) == 1:
        return CheckResult(IMBALANCE, CheckStatus.SKIP, "one element: no imbalance")
    high_leg = _high_leg(site)
    loaded = [e for e in site.elements if e.loaded and e.current is not None and e.name != high_leg]
    note = f" (high leg {high_leg} left out: it carries only three-phase load)" if high_leg else ""
    if site.too_light:
        return CheckResult(
            IMBALANCE,
            CheckStatus.SKIP,
            site.too_light_message("current imbalance"),
            measured=_measured(site) or None,
            values=_current_values(site),
        )
    if len(loaded) < 2:
        return CheckResult(
            IMBALANCE,
            CheckStatus.SKIP,
            f"fewer than two elements carry current above {fmt.limit(site.floor)} A{note}",
            measured=_measured(site) or None,
            values=_current_values(site),
        )
    amps = {e.name: abs(e.current or 0.0) for e in loaded}
    average = sum(amps.values()) / len(amps)
    if average < site.scale.light:
        # At light load the split between phases is whatever happens to be switched on (a
        # fridge cycling on one phase is 100 % imbalance): it says nothing about the site.
        return CheckResult(
            IMBALANCE,
            CheckStatus.SKIP,
            f"load too light to judge current imbalance (average {site.scale.level(average)}, "
            f"under {fmt.limit(round(site.scale.light, 3))} A): the split is whatever is "
            f"switched on; judge it under a representative load",
            measured=_measured(site) or None,
            values=_current_values(site),
        )
    deviations = {n: settled(abs(a - average) / average * 100.0) for n, a in amps.items()}
    worst = max(deviations.values())
    measured = f"{_measured(site)}: {fmt.pct(worst)}"
    values = (
        *_current_values(site),
        quantity("imbalance", worst, expected=0.0, low=0.0, high=policy.warn_pct),
    )
    expected = f"each loaded element within {fmt.limit(policy.warn_pct)} % of the average"
    off = [n for n, d in deviations.items() if d > policy.warn_pct]
    if not off:
        return CheckResult(
            IMBALANCE,
            CheckStatus.PASS,
            f"current imbalance {fmt.pct(worst)}{note}",
            measured=measured,
            expected=expected,
            values=values,
        )
    words = ", ".join(
        f"{n} {'above' if amps[n] > average else 'below'} by {deviations[n]:.0f} %" for n in off
    )
    return CheckResult(
        IMBALANCE,
        CheckStatus.WARN,
        f"current imbalance: {words} the {fmt.amps(average)} average{note}",
        measured=measured,
        expected=expected,
        likely_causes=(
            "single-phase loads unevenly spread across the phases: tell the customer's electrician",
            "a partly open conductor or failing CT on the low phase",
        ),
        values=values,
    )
