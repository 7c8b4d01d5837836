"""Thresholds for the site checks: documented defaults and a utility's policy file (TOML).

A policy file has one ``[section]`` per check (named by check id) plus ``[general]``. Every
key is optional: what the file leaves out keeps its default. Anything the loader cannot
trust — an unknown section or key, a wrong type, a value that makes no sense such as a warn
limit above its fail limit — raises :class:`PolicyError` naming the file and the key, so a
utility finds the typo before a technician relies on the verdicts.

The sources of the defaults are in ``docs/checks.md``; ``docs/policy.example.toml`` lists
every key with its default.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, cast, get_type_hints

from fieldkit.model import STATUS_FLAG_NAMES

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "DEFAULT_POLICY",
    "EVENT_CATEGORIES",
    "ClockDriftPolicy",
    "CrossPhasePolicy",
    "CurrentImbalancePolicy",
    "EventsPolicy",
    "FrequencyPolicy",
    "GeneralPolicy",
    "InactivePhaseCurrentPolicy",
    "MeterIdentityPolicy",
    "MeterTemperaturePolicy",
    "PhaseAnglePolicy",
    "PolarityPolicy",
    "PolicyError",
    "RegisterReadPolicy",
    "ReverseEnergyPolicy",
    "ServiceTypePolicy",
    "ServiceVoltagePolicy",
    "StatusFlagsPolicy",
    "Thresholds",
    "VoltageImbalancePolicy",
    "load_policy",
    "parse_policy",
]

# Categories the events check counts; a policy may make any of them warn.
EVENT_CATEGORIES: tuple[str, ...] = (
    "power_outage",
    "tamper",
    "demand_reset",
    "time_change",
    "test_mode",
)


class PolicyError(ValueError):
    """A policy file the checks cannot use; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class GeneralPolicy:
    """Settings shared by several checks."""

    # Secondary amps below which an element's angles are noise (SiteScan low-current floor).
    low_current_floor_a: float = 0.1


@dataclass(frozen=True, slots=True)
class MeterIdentityPolicy:
    """meter_identity: the meter on the wall is the one on the work order."""

    enabled: bool = True


@dataclass(frozen=True, slots=True)
class ClockDriftPolicy:
    """clock_drift: |meter time - laptop time|."""

    enabled: bool = True
    warn_seconds: float = 60.0
    fail_seconds: float = 240.0


@dataclass(frozen=True, slots=True)
class StatusFlagsPolicy:
    """status_flags: ST3 standard status flags that fail or warn."""

    enabled: bool = True
    fail_flags: tuple[str, ...] = (
        "unprogrammed",
        "configuration_error",
        "self_check_error",
        "ram_failure",
        "rom_failure",
        "nonvolatile_memory_failure",
        "measurement_error",
        "tamper_detect",
        "reverse_rotation",
    )
    warn_flags: tuple[str, ...] = (
        "clock_error",
        "low_battery",
        "low_loss_potential",
        "demand_overload",
        "power_failure",
    )
    # A meter left in test / shop / factory mode is not registering the customer's energy.
    warn_on_test_mode: bool = True


@dataclass(frozen=True, slots=True)
class ServiceVoltagePolicy:
    """service_voltage: ANSI C84.1 ranges around each element's nominal."""

    enabled: bool = True
    range_a_pct: float = 5.0
    # Range B is 110-127 V on a 120 V base: -8.333 % and +5.833 %, to the nearest 1e-6 %
    # so that 110.0 V and 127.0 V sit on the limits (the checks compare to 1e-6).
    range_b_low_pct: float = 8.333333
    range_b_high_pct: float = 5.833333
    lost_phase_pct: float = 61.0


@dataclass(frozen=True, slots=True)
class VoltageImbalancePolicy:
    """voltage_imbalance: max deviation from the average over the average."""

    enabled: bool = True
    warn_pct: float = 2.0
    fail_pct: float = 3.0


@dataclass(frozen=True, slots=True)
class InactivePhaseCurrentPolicy:
    """inactive_phase_current: one element without current while another carries load."""

    enabled: bool = True
    # Secondary amps the busiest element must carry for an idle element to fail; below it
    # the whole site is lightly loaded and an idle phase is as likely nothing switched on.
    light_load_a: float = 1.0


@dataclass(frozen=True, slots=True)
class CurrentImbalancePolicy:
    """current_imbalance: a loaded element far from the average current."""

    enabled: bool = True
    warn_pct: float = 20.0


@dataclass(frozen=True, slots=True)
class ServiceTypePolicy:
    """service_type: how closely the voltages must fit a service's diagram to detect it."""

    enabled: bool = True
    angle_tolerance_deg: float = 20.0
    magnitude_tolerance_pct: float = 30.0


@dataclass(frozen=True, slots=True)
class CrossPhasePolicy:
    """cross_phase: voltage angles against the service's diagram."""

    enabled: bool = True
    tolerance_deg: float = 10.0


@dataclass(frozen=True, slots=True)
class PolarityPolicy:
    """polarity: a current further than this from its unity-PF position is reversed/crossed."""

    enabled: bool = True
    tolerance_deg: float = 90.0


@dataclass(frozen=True, slots=True)
class PhaseAnglePolicy:
    """phase_angle: power-factor angle envelope around unity."""

    enabled: bool = True
    envelope_deg: float = 45.0


@dataclass(frozen=True, slots=True)
class ReverseEnergyPolicy:
    """reverse_energy: energy flowing to the grid on an account without net metering."""

    enabled: bool = True
    received_kwh_tolerance: float = 1.0


@dataclass(frozen=True, slots=True)
class FrequencyPolicy:
    """frequency: line frequency around the nominal."""

    enabled: bool = True
    nominal_hz: float = 60.0
    pass_hz: float = 0.1
    warn_hz: float = 0.5


@dataclass(frozen=True, slots=True)
class RegisterReadPolicy:
    """register_read: present kWh against the last billed read."""

    enabled: bool = True
    max_kwh_per_day: float = 300.0


@dataclass(frozen=True, slots=True)
class EventsPolicy:
    """events: summary of the event log since the last visit."""

    enabled: bool = True
    warn_categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MeterTemperaturePolicy:
    """meter_temperature: hot socket."""

    enabled: bool = True
    warn_c: float = 70.0
    fail_c: float = 90.0


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Every threshold the checks use; one section per check id, plus ``general``."""

    general: GeneralPolicy = GeneralPolicy()
    meter_identity: MeterIdentityPolicy = MeterIdentityPolicy()
    clock_drift: ClockDriftPolicy = ClockDriftPolicy()
    status_flags: StatusFlagsPolicy = StatusFlagsPolicy()
    service_voltage: ServiceVoltagePolicy = ServiceVoltagePolicy()
    voltage_imbalance: VoltageImbalancePolicy = VoltageImbalancePolicy()
    inactive_phase_current: InactivePhaseCurrentPolicy = InactivePhaseCurrentPolicy()
    current_imbalance: CurrentImbalancePolicy = CurrentImbalancePolicy()
    service_type: ServiceTypePolicy = ServiceTypePolicy()
    cross_phase: CrossPhasePolicy = CrossPhasePolicy()
    polarity: PolarityPolicy = PolarityPolicy()
    phase_angle: PhaseAnglePolicy = PhaseAnglePolicy()
    reverse_energy: ReverseEnergyPolicy = ReverseEnergyPolicy()
    frequency: FrequencyPolicy = FrequencyPolicy()
    register_read: RegisterReadPolicy = RegisterReadPolicy()
    events: EventsPolicy = EventsPolicy()
    meter_temperature: MeterTemperaturePolicy = MeterTemperaturePolicy()

    def is_enabled(self, check_id: str) -> bool:
        """Whether the check ``check_id`` runs (unknown ids count as disabled)."""
        section = getattr(self, check_id, None)
        return bool(getattr(section, "enabled", False))


DEFAULT_POLICY = Thresholds()


def load_policy(path: str | os.PathLike[str]) -> Thresholds:
    """Read a policy file (TOML) over the defaults; raise PolicyError naming the bad key."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise PolicyError(f"{source}: cannot read the policy file ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML (not UTF-8 text)") from exc
    return parse_policy(data, source=source)


def parse_policy(data: Mapping[str, Any], *, source: str = "policy") -> Thresholds:
    """Build Thresholds from an already-parsed TOML document (defaults for missing keys)."""
    sections: dict[str, Any] = {}  # section name -> section dataclass, checked below
    known = {f.name for f in fields(Thresholds)}
    for name, table in data.items():
        if name not in known:
            if isinstance(table, Mapping):
                raise PolicyError(
                    f"{source}: unknown section [{name}] (known: {', '.join(sorted(known))})"
                )
            raise PolicyError(
                f"{source}: unknown key {name!r} at the top level (keys go under a [section])"
            )
        if not isinstance(table, Mapping):
            raise PolicyError(f"{source}: {name} must be a table [{name}], got {table!r}")
        default = cast("DataclassInstance", getattr(DEFAULT_POLICY, name))
        sections[name] = _parse_section(default, name, table, source)
    thresholds = replace(DEFAULT_POLICY, **sections)
    _validate(thresholds, source)
    return thresholds


def _parse_section(
    default: DataclassInstance, name: str, table: Mapping[str, Any], source: str
) -> DataclassInstance:
    hints = get_type_hints(type(default))
    allowed = {f.name for f in fields(default)}
    values: dict[str, object] = {}
    for key, value in table.items():
        where = f"{source}: [{name}] {key}"
        if key not in allowed:
            raise PolicyError(
                f"{source}: [{name}] unknown key {key!r} (known: {', '.join(sorted(allowed))})"
            )
        expected = hints[key]
        if expected is bool:
            if not isinstance(value, bool):
                raise PolicyError(f"{where} must be true or false, got {value!r}")
            values[key] = value
        elif expected is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise PolicyError(f"{where} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise PolicyError(f"{where} must be a finite number, got {value!r}")
            values[key] = float(value)
        else:  # tuple[str, ...]: a list of names
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise PolicyError(f"{where} must be a list of names, got {value!r}")
            values[key] = tuple(value)
    return replace(default, **values)


def _validate(t: Thresholds, source: str) -> None:
    def bad(section: str, key: str, why: str) -> PolicyError:
        return PolicyError(f"{source}: [{section}] {key} {why}")

    def positive(section: str, key: str, value: float) -> None:
        if value <= 0:
            raise bad(section, key, f"must be greater than 0, got {value:g}")

    def not_above(section: str, low_key: str, low: float, high_key: str, high: float) -> None:
        if low > high:
            raise bad(section, low_key, f"({low:g}) must not exceed {high_key} ({high:g})")

    positive("general", "low_current_floor_a", t.general.low_current_floor_a)

    c = t.clock_drift
    positive("clock_drift", "warn_seconds", c.warn_seconds)
    positive("clock_drift", "fail_seconds", c.fail_seconds)
    not_above("clock_drift", "warn_seconds", c.warn_seconds, "fail_seconds", c.fail_seconds)

    s = t.status_flags
    for key, names in (("fail_flags", s.fail_flags), ("warn_flags", s.warn_flags)):
        for flag in names:
            if flag not in STATUS_FLAG_NAMES:
                raise bad("status_flags", key, f"has an unknown flag {flag!r}")
    both = sorted(set(s.fail_flags) & set(s.warn_flags))
    if both:
        raise bad("status_flags", "warn_flags", f"repeats {both[0]!r}, already in fail_flags")

    v = t.service_voltage
    positive("service_voltage", "range_a_pct", v.range_a_pct)
    not_above("service_voltage", "range_a_pct", v.range_a_pct, "range_b_low_pct", v.range_b_low_pct)
    not_above(
        "service_voltage", "range_a_pct", v.range_a_pct, "range_b_high_pct", v.range_b_high_pct
    )
    if v.range_b_low_pct >= 100:
        raise bad(
            "service_voltage", "range_b_low_pct", f"must be below 100, got {v.range_b_low_pct:g}"
        )
    positive("service_voltage", "lost_phase_pct", v.lost_phase_pct)
    if v.lost_phase_pct >= 100 - v.range_b_low_pct:
        raise bad(
            "service_voltage",
            "lost_phase_pct",
            f"({v.lost_phase_pct:g}) must be below the bottom of Range B "
            f"({100 - v.range_b_low_pct:g} % of nominal)",
        )

    i = t.voltage_imbalance
    positive("voltage_imbalance", "warn_pct", i.warn_pct)
    not_above("voltage_imbalance", "warn_pct", i.warn_pct, "fail_pct", i.fail_pct)
    positive("current_imbalance", "warn_pct", t.current_imbalance.warn_pct)
    light = t.inactive_phase_current.light_load_a
    if light < 0:
        raise bad("inactive_phase_current", "light_load_a", f"must not be negative, got {light:g}")

    st = t.service_type
    if not 0 < st.angle_tolerance_deg < 30:
        # Two service diagrams differ by 30° at the closest (wye B 120° vs 4-wire delta B 90°).
        raise bad(
            "service_type",
            "angle_tolerance_deg",
            f"must be above 0 and below 30, got {st.angle_tolerance_deg:g}",
        )
    if not 0 < st.magnitude_tolerance_pct < 40:
        # A 4-wire delta's elements differ by 42 % (120 V vs 208 V); a wider window confuses it
        # with a wye.
        raise bad(
            "service_type",
            "magnitude_tolerance_pct",
            f"must be above 0 and below 40, got {st.magnitude_tolerance_pct:g}",
        )

    if not 0 < t.cross_phase.tolerance_deg < 60:
        raise bad(
            "cross_phase",
            "tolerance_deg",
            f"must be above 0 and below 60, got {t.cross_phase.tolerance_deg:g}",
        )
    pol = t.polarity.tolerance_deg
    if not 0 < pol <= 180:
        raise bad("polarity", "tolerance_deg", f"must be above 0 and at most 180, got {pol:g}")
    env = t.phase_angle.envelope_deg
    positive("phase_angle", "envelope_deg", env)
    if env > pol:
        raise bad(
            "phase_angle",
            "envelope_deg",
            f"({env:g}) must not exceed [polarity] tolerance_deg ({pol:g})",
        )

    if t.reverse_energy.received_kwh_tolerance < 0:
        raise bad(
            "reverse_energy",
            "received_kwh_tolerance",
            f"must not be negative, got {t.reverse_energy.received_kwh_tolerance:g}",
        )

    f = t.frequency
    positive("frequency", "nominal_hz", f.nominal_hz)
    positive("frequency", "pass_hz", f.pass_hz)
    not_above("frequency", "pass_hz", f.pass_hz, "warn_hz", f.warn_hz)

    positive("register_read", "max_kwh_per_day", t.register_read.max_kwh_per_day)

    for category in t.events.warn_categories:
        if category not in EVENT_CATEGORIES:
            raise bad(
                "events",
                "warn_categories",
                f"has an unknown category {category!r} (known: {', '.join(EVENT_CATEGORIES)})",
            )

    m = t.meter_temperature
    not_above("meter_temperature", "warn_c", m.warn_c, "fail_c", m.fail_c)
