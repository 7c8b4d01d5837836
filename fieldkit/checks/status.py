"""status_flags: the meter's own ST3 standard status flags and operating mode."""

from __future__ import annotations

from fieldkit.checks import fmt
from fieldkit.checks.site import CheckInput
from fieldkit.model import (
    STATUS_FLAG_NAMES,
    CheckResult,
    CheckStatus,
    MeterProtocol,
    ordered_flags,
)

__all__ = ["FLAG_ACTIONS", "check_status_flags"]

ID = "status_flags"

# What each flag tells the technician to do.
FLAG_ACTIONS: dict[str, str] = {
    "unprogrammed": "meter has no program: program it with the utility's program",
    "configuration_error": "meter program invalid: reprogram it and re-read",
    "self_check_error": "meter failed its self-check: replace the meter",
    "ram_failure": "meter memory (RAM) failure: replace the meter",
    "rom_failure": "meter memory (ROM) failure: replace the meter",
    "nonvolatile_memory_failure": "meter memory (non-volatile) failure: replace the meter",
    "clock_error": "clock lost time (battery or outage): set the clock, check the battery",
    "measurement_error": "metering front end fault: registers cannot be trusted, replace the meter",
    "low_battery": "replace the battery: the clock will stop on the next outage",
    "low_loss_potential": "a phase voltage dropped: see service_voltage",
    "demand_overload": "demand above the meter's overload limit: check service size vs meter class",
    "power_failure": "the meter saw a power failure: check the event log for outages",
    "tamper_detect": "tamper detected: photograph seals, cover and socket before touching",
    "reverse_rotation": (
        "energy flowed backwards: reversed CTs, or customer generation without net metering"
    ),
}


def _not_read(inp: CheckInput) -> str:
    """Why there are no flags, in the words of the meter's protocol: ST3 is a C12.19 table;
    a Modbus meter's map may simply have no status registers (the driver says so)."""
    reasons = [
        fmt.one_line(u.reason) for u in inp.snapshot.unavailable if "status" in u.item.lower()
    ]
    why = f": {reasons[0]}" if reasons else ""
    if inp.snapshot.protocol == MeterProtocol.C1218:
        return f"the meter's status (ST3) was not read{why}"
    return f"the meter's status flags were not read{why}"


def check_status_flags(inp: CheckInput) -> CheckResult:
    """Fail on flags that mean the registers cannot be trusted; warn on the ones to act on."""
    status = inp.snapshot.status
    if status is None:
        return CheckResult(ID, CheckStatus.SKIP, _not_read(inp))
    policy = inp.thresholds.status_flags
    active = {fmt.one_line(f) for f in status.active}
    standard = active & set(STATUS_FLAG_NAMES)
    other = sorted(active - standard)
    notes: list[str] = []
    if inp.expectation.net_metering and "reverse_rotation" in standard:
        # Export is the point of a net-metering account; the flag is not a fault there.
        standard.discard("reverse_rotation")
        notes.append("reverse_rotation expected on a net-metering account")
    failing = ordered_flags(standard & set(policy.fail_flags))
    warning = ordered_flags(standard & set(policy.warn_flags))
    modes = []
    if policy.warn_on_test_mode:
        for attr, words in (
            ("test_mode", "test mode"),
            ("meter_shop_mode", "meter shop mode"),
            ("factory_mode", "factory mode"),
        ):
            if getattr(status, attr) is True:
                modes.append(words)
    shown = ordered_flags(standard) + other + modes
    measured = ", ".join(shown) if shown else "no flags set"
    expected = "no failure or warning flags, metering mode"
    causes = tuple(FLAG_ACTIONS[f] for f in failing + warning) + tuple(
        f"meter left in {m}: it is not registering the customer's energy; return it to "
        f"metering mode"
        for m in modes
    )
    if failing:
        state = CheckStatus.FAIL
        message = f"meter reports {', '.join(failing)}"
        if warning or modes:
            message += f"; also {', '.join(warning + modes)}"
    elif warning or modes:
        state = CheckStatus.WARN
        message = f"meter reports {', '.join(warning + modes)}"
    else:
        state = CheckStatus.PASS
        message = "no failure or warning flags"
    if notes:
        message += f" ({'; '.join(notes)})"
    if other:
        message += f" (other flags: {', '.join(other)})"
    return CheckResult(
        ID, state, message, measured=measured, expected=expected, likely_causes=causes
    )
