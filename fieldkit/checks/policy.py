"""Thresholds for the site checks: documented defaults and a utility's policy file (TOML).

A policy file has one ``[section]`` per check id plus ``[general]`` and ``[light_load]``.
Every key is optional: what the file leaves out keeps its default. The file is validated by
the pydantic models below (``extra="forbid"``, frozen), the same way meter profiles and
simulator scenarios are. Anything the loader cannot trust — an unknown section or key, a
wrong type, a value that makes no sense such as a warn limit above its fail limit — raises
:class:`PolicyError` with one line naming the file, the section and the key, so a utility
finds the typo before a technician relies on the verdicts.

The sources of the defaults are in ``docs/checks.md``; ``docs/policy.example.toml`` lists
every key with its default.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from fieldkit.model import STATUS_FLAG_NAMES

__all__ = [
    "DEFAULT_POLICY",
    "EVENT_CATEGORIES",
    "ClassFloors",
    "ClockDriftPolicy",
    "CrossPhasePolicy",
    "CurrentImbalancePolicy",
    "EventsPolicy",
    "FrequencyPolicy",
    "GeneralPolicy",
    "InactivePhaseCurrentPolicy",
    "LightLoadPolicy",
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


class _Bad(ValueError):
    """A value that makes no sense, raised by a validator for the key it names.

    A model validator's error is located at its model, not at the key; carrying the key
    here lets the message name it.
    """

    def __init__(self, key: str, why: str, section: str | None = None) -> None:
        super().__init__(why)
        self.key = key
        self.why = why
        self.section = section


# --- value types: TOML is typed, so nothing is coerced (1 is not true, "5" is not 5) -----------


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError(
            "policy_number", "must be a number, got {got}", {"got": repr(value)}
        )
    if not math.isfinite(value):
        raise PydanticCustomError(
            "policy_number", "must be a finite number, got {got}", {"got": repr(value)}
        )
    return float(value)


def _positive(value: object) -> float:
    number = _number(value)
    if number <= 0:
        raise PydanticCustomError(
            "policy_positive", "must be greater than 0, got {got}", {"got": f"{number:g}"}
        )
    return number


def _not_negative(value: object) -> float:
    number = _number(value)
    if number < 0:
        raise PydanticCustomError(
            "policy_not_negative", "must not be negative, got {got}", {"got": f"{number:g}"}
        )
    return number


def _optional_positive(value: object) -> float | None:
    return None if value is None else _positive(value)


def _optional_not_negative(value: object) -> float | None:
    return None if value is None else _not_negative(value)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise PydanticCustomError(
            "policy_flag", "must be true or false, got {got}", {"got": repr(value)}
        )
    return value


def _names(value: object) -> tuple[str, ...]:
    if isinstance(value, tuple):  # the defaults, and models built in code
        value = list(value)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PydanticCustomError(
            "policy_names", "must be a list of names, got {got}", {"got": repr(value)}
        )
    return tuple(value)


Number = Annotated[float, PlainValidator(_number)]
Positive = Annotated[float, PlainValidator(_positive)]
NotNegative = Annotated[float, PlainValidator(_not_negative)]
OptionalPositive = Annotated[float | None, PlainValidator(_optional_positive)]
OptionalNotNegative = Annotated[float | None, PlainValidator(_optional_not_negative)]
Flag = Annotated[bool, PlainValidator(_flag)]
Names = Annotated[tuple[str, ...], PlainValidator(_names)]


def _not_above(low_key: str, low: float, high_key: str, high: float) -> None:
    if low > high:
        raise _Bad(low_key, f"must not exceed {high_key} ({low:g} > {high:g})")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- sections ---------------------------------------------------------------------------------


class GeneralPolicy(_Section):
    """Settings shared by several checks."""

    # One floor for every meter, whatever its class: the setting policy files had before the
    # floor followed the meter's class ([light_load]). Unset, [light_load] decides.
    low_current_floor_a: OptionalPositive = None


class ClassFloors(_Section):
    """Secondary amps per ANSI current class below which an element's current is too small
    for its angle to mean anything: 0.5 % of the class (SiteScan's lowest setting)."""

    CL2: Positive = 0.01
    CL10: Positive = 0.05
    CL20: Positive = 0.1
    CL100: Positive = 0.5
    CL150: Positive = 0.75
    CL200: Positive = 1.0
    CL320: Positive = 1.6
    CL480: Positive = 2.4

    def of(self, meter_class: str) -> float:
        """The floor of a class named as ``model.meter_class`` writes it ('CL200')."""
        value: float = getattr(self, meter_class)
        return value


class LightLoadPolicy(_Section):
    """How much current the angle and imbalance checks need, by the meter's class."""

    floor_a: ClassFloors = ClassFloors()
    # Up to this share of the class a judged current is light load: passes say so and a
    # power-factor angle outside the envelope only warns (SiteScan's floor range tops out
    # at 5 % of class).
    light_pct: Positive = 5.0

    @model_validator(mode="after")
    def _light_below_class(self) -> LightLoadPolicy:
        if self.light_pct >= 100:
            raise _Bad("light_pct", f"must be below 100, got {self.light_pct:g}")
        return self


class MeterIdentityPolicy(_Section):
    """meter_identity: the meter on the wall is the one on the work order."""

    enabled: Flag = True


class ClockDriftPolicy(_Section):
    """clock_drift: |meter time - laptop time|."""

    enabled: Flag = True
    warn_seconds: Positive = 60.0
    fail_seconds: Positive = 240.0

    @model_validator(mode="after")
    def _ordered(self) -> ClockDriftPolicy:
        _not_above("warn_seconds", self.warn_seconds, "fail_seconds", self.fail_seconds)
        return self


class StatusFlagsPolicy(_Section):
    """status_flags: ST3 standard status flags that fail or warn."""

    enabled: Flag = True
    fail_flags: Names = (
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
    warn_flags: Names = (
        "clock_error",
        "low_battery",
        "low_loss_potential",
        "demand_overload",
        "power_failure",
    )
    # A meter left in test / shop / factory mode is not registering the customer's energy.
    warn_on_test_mode: Flag = True

    @model_validator(mode="after")
    def _known_flags(self) -> StatusFlagsPolicy:
        for key, names in (("fail_flags", self.fail_flags), ("warn_flags", self.warn_flags)):
            for flag in names:
                if flag not in STATUS_FLAG_NAMES:
                    raise _Bad(key, f"has an unknown flag {flag!r}")
        both = sorted(set(self.fail_flags) & set(self.warn_flags))
        if both:
            raise _Bad("warn_flags", f"repeats {both[0]!r}, already in fail_flags")
        return self


class ServiceVoltagePolicy(_Section):
    """service_voltage: ANSI C84.1 ranges around each element's nominal."""

    enabled: Flag = True
    range_a_pct: Positive = 5.0
    # Range B is 110-127 V on a 120 V base: -8.333 % and +5.833 %, to the nearest 1e-6 %
    # so that 110.0 V and 127.0 V sit on the limits (the checks compare to 1e-6).
    range_b_low_pct: Positive = 8.333333
    range_b_high_pct: Positive = 5.833333
    lost_phase_pct: Positive = 61.0

    @model_validator(mode="after")
    def _ranges_nest(self) -> ServiceVoltagePolicy:
        _not_above("range_a_pct", self.range_a_pct, "range_b_low_pct", self.range_b_low_pct)
        _not_above("range_a_pct", self.range_a_pct, "range_b_high_pct", self.range_b_high_pct)
        if self.range_b_low_pct >= 100:
            raise _Bad("range_b_low_pct", f"must be below 100, got {self.range_b_low_pct:g}")
        bottom = 100 - self.range_b_low_pct
        if self.lost_phase_pct >= bottom:
            raise _Bad(
                "lost_phase_pct",
                f"must be below the bottom of Range B ({self.lost_phase_pct:g} >= "
                f"{bottom:g} % of nominal)",
            )
        return self


class VoltageImbalancePolicy(_Section):
    """voltage_imbalance: max deviation from the average over the average."""

    enabled: Flag = True
    warn_pct: Positive = 2.0
    fail_pct: Positive = 3.0

    @model_validator(mode="after")
    def _ordered(self) -> VoltageImbalancePolicy:
        _not_above("warn_pct", self.warn_pct, "fail_pct", self.fail_pct)
        return self


class InactivePhaseCurrentPolicy(_Section):
    """inactive_phase_current: one element without current while another carries load."""

    enabled: Flag = True
    # One light-load limit for every meter, in secondary amps: the setting policy files had
    # before it followed the class ([light_load] light_pct). Unset, the class decides.
    light_load_a: OptionalNotNegative = None


class CurrentImbalancePolicy(_Section):
    """current_imbalance: a loaded element far from the average current."""

    enabled: Flag = True
    warn_pct: Positive = 20.0


class ServiceTypePolicy(_Section):
    """service_type: how closely the voltages must fit a service's diagram to detect it."""

    enabled: Flag = True
    angle_tolerance_deg: Number = 20.0
    magnitude_tolerance_pct: Number = 30.0

    @model_validator(mode="after")
    def _inside_the_gaps(self) -> ServiceTypePolicy:
        if not 0 < self.angle_tolerance_deg < 30:
            # Two service diagrams differ by 30° at the closest (wye B 120° vs 4-wire delta
            # B 90°).
            raise _Bad(
                "angle_tolerance_deg",
                f"must be above 0 and below 30, got {self.angle_tolerance_deg:g}",
            )
        if not 0 < self.magnitude_tolerance_pct < 40:
            # A 4-wire delta's elements differ by 42 % (120 V vs 208 V); a wider window
            # confuses it with a wye.
            raise _Bad(
                "magnitude_tolerance_pct",
                f"must be above 0 and below 40, got {self.magnitude_tolerance_pct:g}",
            )
        return self


class CrossPhasePolicy(_Section):
    """cross_phase: voltage angles against the service's diagram."""

    enabled: Flag = True
    tolerance_deg: Number = 10.0

    @model_validator(mode="after")
    def _below_a_crossed_phase(self) -> CrossPhasePolicy:
        if not 0 < self.tolerance_deg < 60:
            raise _Bad("tolerance_deg", f"must be above 0 and below 60, got {self.tolerance_deg:g}")
        return self


class PolarityPolicy(_Section):
    """polarity: a current further than this from its unity-PF place is reversed/crossed."""

    enabled: Flag = True
    tolerance_deg: Number = 90.0

    @model_validator(mode="after")
    def _half_turn_at_most(self) -> PolarityPolicy:
        if not 0 < self.tolerance_deg <= 180:
            raise _Bad(
                "tolerance_deg", f"must be above 0 and at most 180, got {self.tolerance_deg:g}"
            )
        return self


class PhaseAnglePolicy(_Section):
    """phase_angle: power-factor angle envelope around unity."""

    enabled: Flag = True
    envelope_deg: Positive = 45.0


class ReverseEnergyPolicy(_Section):
    """reverse_energy: energy flowing to the grid on an account without net metering."""

    enabled: Flag = True
    received_kwh_tolerance: NotNegative = 1.0


class FrequencyPolicy(_Section):
    """frequency: line frequency around the nominal."""

    enabled: Flag = True
    nominal_hz: Positive = 60.0
    pass_hz: Positive = 0.1
    warn_hz: Positive = 0.5

    @model_validator(mode="after")
    def _ordered(self) -> FrequencyPolicy:
        _not_above("pass_hz", self.pass_hz, "warn_hz", self.warn_hz)
        return self


class RegisterReadPolicy(_Section):
    """register_read: present kWh against the last billed read."""

    enabled: Flag = True
    max_kwh_per_day: Positive = 300.0


class EventsPolicy(_Section):
    """events: summary of the event log since the last visit."""

    enabled: Flag = True
    warn_categories: Names = ()

    @model_validator(mode="after")
    def _known_categories(self) -> EventsPolicy:
        for category in self.warn_categories:
            if category not in EVENT_CATEGORIES:
                raise _Bad(
                    "warn_categories",
                    f"has an unknown category {category!r} (known: {', '.join(EVENT_CATEGORIES)})",
                )
        return self


class MeterTemperaturePolicy(_Section):
    """meter_temperature: hot socket."""

    enabled: Flag = True
    warn_c: Number = 70.0
    fail_c: Number = 90.0

    @model_validator(mode="after")
    def _ordered(self) -> MeterTemperaturePolicy:
        _not_above("warn_c", self.warn_c, "fail_c", self.fail_c)
        return self


class Thresholds(_Section):
    """Every threshold the checks use; one section per check id, plus ``general`` and
    ``light_load``."""

    general: GeneralPolicy = GeneralPolicy()
    light_load: LightLoadPolicy = LightLoadPolicy()
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

    @model_validator(mode="after")
    def _across_sections(self) -> Thresholds:
        if self.phase_angle.envelope_deg > self.polarity.tolerance_deg:
            raise _Bad(
                "envelope_deg",
                f"must not exceed [polarity] tolerance_deg "
                f"({self.phase_angle.envelope_deg:g} > {self.polarity.tolerance_deg:g})",
                section="phase_angle",
            )
        if (
            self.general.low_current_floor_a is not None
            and "floor_a" in self.light_load.model_fields_set
        ):
            # Two floors for the same meter would leave the user guessing which one applies.
            raise _Bad(
                "low_current_floor_a",
                "set together with [light_load] floor_a: keep one (low_current_floor_a "
                "replaces the floor of every class)",
                section="general",
            )
        return self

    def is_enabled(self, check_id: str) -> bool:
        """Whether the check ``check_id`` runs (unknown ids count as disabled)."""
        section = getattr(self, check_id, None) if check_id in type(self).model_fields else None
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
    try:
        return Thresholds.model_validate(dict(data))
    except ValidationError as exc:
        raise PolicyError(f"{source}: {_one_line(exc)}") from None


# --- one line per error -------------------------------------------------------------------------


def _model_at(path: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The section model a location inside the file points into, or None."""
    model: type[BaseModel] = Thresholds
    for part in path:
        field = model.model_fields.get(str(part))
        annotation = None if field is None else field.annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _known(model: type[BaseModel] | None) -> str:
    return "" if model is None else f" (known: {', '.join(sorted(model.model_fields))})"


def _one_line(error: ValidationError) -> str:
    """The first problem as '[section] key: why' (the file name is added by the caller)."""
    first = error.errors()[0]
    loc = tuple(first.get("loc", ()))
    kind = first.get("type", "")
    value = first.get("input")
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, _Bad):
        section = cause.section or (str(loc[0]) if loc else "?")
        return f"[{section}] {cause.key}: {cause.why}"
    name = str(loc[-1]) if loc else ""
    if kind == "extra_forbidden":
        if len(loc) == 1:
            if isinstance(value, Mapping):
                return f"unknown section [{name}]{_known(Thresholds)}"
            return f"unknown key {name!r} at the top level (keys go under a [section])"
        where = ".".join(str(p) for p in loc[1:-1])
        prefix = f"{where}: " if where else ""
        return f"[{loc[0]}] {prefix}unknown key {name!r}{_known(_model_at(loc[:-1]))}"
    if kind in ("model_type", "model_attributes_type"):
        if len(loc) == 1:
            return f"{name} must be a table [{name}], got {value!r}"
        return f"[{loc[0]}] {'.'.join(str(p) for p in loc[1:])}: must be a table, got {value!r}"
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if not loc:
        return message
    key = ".".join(str(p) for p in loc[1:])
    return f"[{loc[0]}] {key}: {message}" if key else f"[{loc[0]}] {message}"
