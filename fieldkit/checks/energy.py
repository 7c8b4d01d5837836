"""reverse_energy and register_read: which way energy flows, and whether the register adds up."""

from __future__ import annotations

from fieldkit.checks import fmt
from fieldkit.checks.causes import measured_power, reverse_energy_causes
from fieldkit.checks.quantities import quantity
from fieldkit.checks.site import CheckInput, aware, finite, settled
from fieldkit.model import CheckResult, CheckStatus, Quantity

__all__ = ["check_register_read", "check_reverse_energy"]

REVERSE_ENERGY = "reverse_energy"
REGISTER_READ = "register_read"

DELIVERED = "kwh_delivered"
RECEIVED = "kwh_received"


def _total_power(inp: CheckInput) -> tuple[float | None, str]:
    """Total active power and where it came from; only its sign is relied on."""
    total = finite(inp.snapshot.total_active_power)
    if total is not None:
        return total, fmt.watts(total)
    elements = inp.site.elements
    per_element = [e.active_power for e in elements]
    if elements and all(p is not None for p in per_element):
        value = sum(p or 0.0 for p in per_element)
        return value, f"{fmt.watts(value)} (sum of elements)"
    computed = measured_power(elements) if elements else None
    if computed is not None:
        real, apparent = computed
        if apparent > 0 and abs(real) < 0.05 * apparent:
            sign = "near zero"
        else:
            sign = "negative" if real < 0 else "positive"
        return real, f"{sign} (from V·I·cos φ)"
    return None, ""


def check_reverse_energy(inp: CheckInput) -> CheckResult:
    """Fail when energy flows to the grid (negative kW or received kWh) without net metering."""
    policy = inp.thresholds.reverse_energy
    power, power_text = _total_power(inp)
    register = inp.snapshot.register(RECEIVED)
    received = None if register is None else finite(register.value)
    if power is None and received is None:
        return CheckResult(
            REVERSE_ENERGY,
            CheckStatus.SKIP,
            "the meter reported neither active power nor received energy",
        )
    parts = []
    if power is not None:
        parts.append(f"total {power_text}")
    if received is not None:
        parts.append(f"received {received:.1f} kWh")
    measured = ", ".join(parts)
    tolerance = fmt.limit(policy.received_kwh_tolerance)
    net = inp.expectation.net_metering
    values: list[Quantity] = []
    if power is not None:
        values.append(quantity("active_power", power, low=None if net else 0.0))
    if received is not None:
        high = None if net else policy.received_kwh_tolerance
        values.append(quantity("received_energy", received, high=high))
    if net:
        return CheckResult(
            REVERSE_ENERGY,
            CheckStatus.PASS,
            "net-metering account: energy to the grid is allowed",
            measured=measured,
            expected="either direction (net metering)",
            values=tuple(values),
        )
    expected = f"total ≥ 0, received ≤ {tolerance} kWh (no net metering)"
    currents_known = [e for e in inp.site.elements if e.current is not None]
    no_load = bool(currents_known) and not any(e.loaded for e in currents_known)
    # kW near zero with current flowing is a wiring symptom (A<->C CT swap on a 3-wire
    # delta), not energy going to the grid: judged by polarity, not here.
    phasors = measured_power(inp.site.elements) if inp.site.elements else None
    near_zero = phasors is not None and phasors[1] > 0 and abs(phasors[0]) < 0.05 * phasors[1]
    negative = power is not None and power < 0 and not no_load and not near_zero
    received_over = received is not None and settled(received) > policy.received_kwh_tolerance
    if not negative and not received_over:
        note = ""
        if power is not None and power < 0:
            note = " (kW near zero: see polarity)" if near_zero else " (no load: sign ignored)"
        return CheckResult(
            REVERSE_ENERGY,
            CheckStatus.PASS,
            f"energy flows to the customer{note}",
            measured=measured,
            expected=expected,
            values=tuple(values),
        )
    if negative:
        message = "energy flowing to the grid now on an account without net metering"
    else:
        message = f"{received:.1f} kWh received on an account without net metering"
    return CheckResult(
        REVERSE_ENERGY,
        CheckStatus.FAIL,
        message,
        measured=measured,
        expected=expected,
        likely_causes=reverse_energy_causes(inp.site, negative),
        values=tuple(values),
    )


def check_register_read(inp: CheckInput) -> CheckResult:
    """Present kWh delivered ≥ the last billed read, at a plausible rate per day since."""
    exp = inp.expectation
    policy = inp.thresholds.register_read
    last = finite(exp.last_read_kwh)
    if last is None:
        return CheckResult(REGISTER_READ, CheckStatus.SKIP, "no last billed read on the work order")
    register = inp.snapshot.register(DELIVERED)
    present = None if register is None else finite(register.value)
    if present is None:
        return CheckResult(REGISTER_READ, CheckStatus.SKIP, f"the meter did not report {DELIVERED}")
    measured = f"{present:.1f} kWh now, {present - last:+.1f} kWh since the last read"
    expected = f"≥ {last:.1f} kWh (last billed read)"
    days = None
    if exp.last_read_at is not None:
        days = (aware(inp.snapshot.read_at) - aware(exp.last_read_at)).total_seconds() / 86400.0
    values: tuple[Quantity, ...] = (quantity("energy", present, expected=last, low=last),)
    if days is not None and days >= 0:
        rate = (present - last) / max(days, 1.0)
        values += (quantity("energy_per_day", rate, low=0.0, high=policy.max_kwh_per_day),)
    if present < last:
        wrapped = _rolled_over(present, last, days, policy.max_kwh_per_day)
        if wrapped is not None:
            wrap, used, per_day = wrapped
            return CheckResult(
                REGISTER_READ,
                CheckStatus.WARN,
                f"register rolled over at {wrap:,} kWh: {used:.1f} kWh since the last read "
                f"({per_day:.1f} kWh/day)",
                measured=measured,
                expected=expected,
                likely_causes=(
                    "the register wrapped past its last dial: normal, but tell billing so the "
                    "read is not taken for a meter exchange",
                    "or a different meter than the one billed whose register happens to fit",
                ),
                values=(
                    values[0],
                    quantity("energy_per_day", per_day, low=0.0, high=policy.max_kwh_per_day),
                ),
            )
        return CheckResult(
            REGISTER_READ,
            CheckStatus.FAIL,
            f"register reads {present:.1f} kWh, below the last billed {last:.1f} kWh",
            measured=measured,
            expected=expected,
            values=values,
            likely_causes=(
                "a different meter than the one billed (exchange not recorded)",
                "the register rolled over (check the number of dials)",
                "the last read was estimated or misread",
            ),
        )
    if days is None:
        return CheckResult(
            REGISTER_READ,
            CheckStatus.PASS,
            "register at or above the last billed read (no read date: rate not checked)",
            measured=measured,
            expected=expected,
            values=values,
        )
    if days < 0:
        return CheckResult(
            REGISTER_READ,
            CheckStatus.PASS,
            "register at or above the last billed read (read date is in the future: rate "
            "not checked)",
            measured=measured,
            expected=expected,
            values=values,
        )
    # Under a day the per-day figure would magnify one busy hour; count it as a day.
    per_day = (present - last) / max(days, 1.0)
    measured += f" over {days:.1f} days ({per_day:.1f} kWh/day)"
    expected += f", ≤ {fmt.limit(policy.max_kwh_per_day)} kWh/day"
    if settled(per_day) > policy.max_kwh_per_day:
        return CheckResult(
            REGISTER_READ,
            CheckStatus.WARN,
            f"{per_day:.0f} kWh/day since the last read is more than this policy expects",
            measured=measured,
            expected=expected,
            values=values,
            likely_causes=(
                "the last read was estimated low or misread",
                "a register multiplier (CT/PT) applied on one read and not the other",
                "a large new load, or a different meter than the one billed",
            ),
        )
    return CheckResult(
        REGISTER_READ,
        CheckStatus.PASS,
        f"register consistent with the last read ({per_day:.1f} kWh/day)",
        measured=measured,
        expected=expected,
        values=values,
    )


_MAX_DIAL_READ = 1e10


def _rolled_over(
    present: float, last: float, days: float | None, max_per_day: float
) -> tuple[int, float, float] | None:
    """(wrap, kWh used, kWh/day) when a register below the last read is explained by its dials
    wrapping at the next power of ten at a rate the policy finds plausible; else None.

    A 5-dial register that read 99,950 and now reads 120 has used 170 kWh. Without a read
    date the rate cannot tell a rollover from a meter exchange, so none is assumed.
    """
    # Register displays have at most ten dials: a larger read cannot be a dial wrap (and its
    # power of ten would not even fit a float).
    if days is None or days < 0 or last < 1 or present < 0 or last >= _MAX_DIAL_READ:
        return None
    wrap = 10 ** len(str(int(last)))
    used = present + wrap - last
    per_day = used / max(days, 1.0)
    if settled(per_day) > max_per_day:
        return None
    return wrap, used, per_day
