"""service_voltage and voltage_imbalance: element voltages against ANSI C84.1 and each other.

Voltages are read at the meter terminals (secondary) and compared as voltage × PT ratio
against each element's own nominal, which follows from the service (a 240 V 4-wire delta
has 120 / 208 / 120 V elements).
"""

from __future__ import annotations

from fieldkit.checks import fmt
from fieldkit.checks.causes import lost_phase_causes, voltage_level_causes
from fieldkit.checks.policy import ServiceVoltagePolicy
from fieldkit.checks.quantities import quantity
from fieldkit.checks.site import CheckInput, Element, Site, settled
from fieldkit.model import CheckResult, CheckStatus, Quantity

__all__ = ["check_service_voltage", "check_voltage_imbalance"]

SERVICE_VOLTAGE = "service_voltage"
VOLTAGE_IMBALANCE = "voltage_imbalance"

_RANK = {CheckStatus.PASS: 0, CheckStatus.WARN: 1, CheckStatus.FAIL: 2}


def _measured(site: Site) -> str:
    shown = [e for e in site.elements if e.primary_voltage is not None]
    text = fmt.joined((e.name, fmt.volts(e.primary_voltage or 0.0)) for e in shown)
    if site.pt_ratio != 1.0 and shown:
        text += f" (secondary × PT {site.pt_ratio:g})"
    return text


def _expected(site: Site, range_a: float) -> str | None:
    nominals = [(e.name, e.nominal) for e in site.elements if e.nominal is not None]
    if not nominals:
        return None
    distinct = {round(n, 3) for _, n in nominals}
    if len(distinct) == 1:
        return f"{fmt.nominal(nominals[0][1])} ±{fmt.limit(range_a)} %"
    return f"{fmt.joined((name, fmt.nominal(n)) for name, n in nominals)} ±{fmt.limit(range_a)} %"


def _missing_note(site: Site) -> str:
    notes = []
    if site.missing:
        notes.append(f"{', '.join(site.missing)} not reported")
    if site.high_leg_seen is not None and site.model is not None:
        notes.append(
            f"high leg reads on {site.high_leg_seen}, the work order says {site.model.high_leg}: "
            f"see cross_phase"
        )
    return f" ({'; '.join(notes)})" if notes else ""


def _voltage_values(site: Site, policy: ServiceVoltagePolicy) -> tuple[Quantity, ...]:
    """Each element's primary voltage against its nominal and Range A (the pass band)."""
    if site.ratio_problem is not None:
        return ()  # without a usable PT ratio there is no primary voltage to report
    band = policy.range_a_pct / 100.0
    out = []
    for e in site.elements:
        if e.primary_voltage is None:
            continue
        nominal = None if site.nominal_problem is not None else e.nominal
        out.append(
            quantity(
                "voltage",
                e.primary_voltage,
                element=e.name,
                expected=nominal,
                low=None if nominal is None else nominal * (1.0 - band),
                high=None if nominal is None else nominal * (1.0 + band),
            )
        )
    return tuple(out)


def check_service_voltage(inp: CheckInput) -> CheckResult:
    """Each element inside Range A passes, inside Range B warns, beyond fails; lost fails."""
    site = inp.site
    policy = inp.thresholds.service_voltage
    if site.model is None:
        return CheckResult(SERVICE_VOLTAGE, CheckStatus.SKIP, site.why_no_model or "no service")
    reported = [e for e in site.elements if e.voltage is not None]
    if not reported:
        return CheckResult(
            SERVICE_VOLTAGE, CheckStatus.SKIP, "the meter reported no element voltages"
        )
    measured = _measured(site)
    values = _voltage_values(site, policy)
    lost = [e for e in reported if e.lost]
    lost_pct = fmt.limit(policy.lost_phase_pct)
    problem = site.nominal_problem or site.ratio_problem
    if problem is not None:
        if lost:
            # Without a usable nominal, "lost" is judged against the other elements.
            names = ", ".join(f"{e.name} {fmt.volts(e.voltage or 0.0)}" for e in lost)
            return CheckResult(
                SERVICE_VOLTAGE,
                CheckStatus.FAIL,
                f"phase lost: {names}, below {lost_pct} % of the other elements ({problem})",
                measured=measured,
                likely_causes=lost_phase_causes(site, lost[0]),
                values=values,
            )
        return CheckResult(
            SERVICE_VOLTAGE,
            CheckStatus.SKIP,
            f"{problem}: voltages not judged",
            measured=measured,
            values=values,
        )

    findings: list[tuple[CheckStatus, str]] = []
    per_unit: dict[str, float] = {}
    causes: list[str] = []
    for e in reported:
        if e.nominal is None or e.primary_voltage is None:
            continue
        volts = fmt.volts(e.primary_voltage)
        nominal = fmt.nominal(e.nominal)
        if e.lost:
            findings.append(
                (CheckStatus.FAIL, f"phase {e.name} lost: {volts}, below {lost_pct} % of {nominal}")
            )
            causes.extend(lost_phase_causes(site, e))
            continue
        deviation = settled((e.primary_voltage - e.nominal) / e.nominal * 100.0)
        per_unit[e.name] = e.primary_voltage / e.nominal
        words = f"{abs(deviation):.1f} % {'above' if deviation > 0 else 'below'} {nominal}"
        if abs(deviation) <= policy.range_a_pct:
            continue
        if -policy.range_b_low_pct <= deviation <= policy.range_b_high_pct:
            findings.append(
                (
                    CheckStatus.WARN,
                    f"phase {e.name} {volts} is {words}: outside ANSI C84.1 Range A, "
                    f"within Range B",
                )
            )
        else:
            findings.append(
                (CheckStatus.FAIL, f"phase {e.name} {volts} is {words}: outside ANSI C84.1 Range B")
            )
    expected = _expected(site, policy.range_a_pct)
    if not findings:
        return CheckResult(
            SERVICE_VOLTAGE,
            CheckStatus.PASS,
            f"every element within ANSI C84.1 Range A (±{fmt.limit(policy.range_a_pct)} %)"
            + _missing_note(site),
            measured=measured,
            expected=expected,
            values=values,
        )
    findings.sort(key=lambda f: -_RANK[f[0]])
    status = findings[0][0]
    if any(abs(v - 1.0) * 100 > policy.range_a_pct for v in per_unit.values()):
        causes.extend(voltage_level_causes(site, per_unit, policy.range_a_pct))
    return CheckResult(
        SERVICE_VOLTAGE,
        status,
        "; ".join(text for _, text in findings) + _missing_note(site),
        measured=measured,
        expected=expected,
        likely_causes=tuple(dict.fromkeys(causes)),
        values=values,
    )


def _per_unit(site: Site, e: Element) -> float | None:
    if e.voltage is None:
        return None
    if e.nominal is not None and e.primary_voltage is not None and site.ratio_problem is None:
        return e.primary_voltage / e.nominal
    return e.voltage / e.voltage_factor


def check_voltage_imbalance(inp: CheckInput) -> CheckResult:
    """Largest deviation from the average over the average, on the element voltages."""
    site = inp.site
    policy = inp.thresholds.voltage_imbalance
    if site.model is None:
        return CheckResult(VOLTAGE_IMBALANCE, CheckStatus.SKIP, site.why_no_model or "no service")
    if len(site.model.elements) == 1:
        return CheckResult(VOLTAGE_IMBALANCE, CheckStatus.SKIP, "one element: no imbalance")
    if site.lost:
        names = ", ".join(e.name for e in site.lost)
        return CheckResult(
            VOLTAGE_IMBALANCE,
            CheckStatus.SKIP,
            f"phase {names} lost: reported by service_voltage",
        )
    values = {e.name: pu for e in site.elements if (pu := _per_unit(site, e)) is not None}
    if len(values) < 2 or min(values.values()) <= 0:
        return CheckResult(
            VOLTAGE_IMBALANCE, CheckStatus.SKIP, "fewer than two element voltages reported"
        )
    average = sum(values.values()) / len(values)
    worst_name, worst = max(values.items(), key=lambda kv: abs(kv[1] - average))
    imbalance = settled(abs(worst - average) / average * 100.0)
    mixed = len({e.voltage_factor for e in site.elements}) > 1
    measured = _measured(site) + f": {fmt.pct(imbalance)}"
    if mixed:
        measured += " (per unit of each element's nominal)"
    expected = f"≤ {fmt.limit(policy.warn_pct)} % (fail above {fmt.limit(policy.fail_pct)} %)"
    # The pass band is up to the warn limit; the fail limit is in ``expected``.
    numbers = (quantity("imbalance", imbalance, expected=0.0, low=0.0, high=policy.warn_pct),)
    if imbalance > policy.fail_pct:
        status = CheckStatus.FAIL
    elif imbalance > policy.warn_pct:
        status = CheckStatus.WARN
    else:
        return CheckResult(
            VOLTAGE_IMBALANCE,
            CheckStatus.PASS,
            f"voltage imbalance {fmt.pct(imbalance)}",
            measured=measured,
            expected=expected,
            values=numbers,
        )
    direction = "low" if worst < average else "high"
    return CheckResult(
        VOLTAGE_IMBALANCE,
        status,
        f"voltage imbalance {fmt.pct(imbalance)}, phase {worst_name} {direction}",
        measured=measured,
        expected=expected,
        likely_causes=(
            f"high-resistance connection on phase {worst_name} (jaw, lug or splice)"
            if direction == "low"
            else f"phase {worst_name} high: a neutral problem or unequal transformer taps",
            "single-phase loads unevenly spread across the phases",
            "a supply transformer problem (open-delta bank, one unit on a different tap)",
        ),
        values=numbers,
    )
