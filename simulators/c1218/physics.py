"""What the simulated meter measures: load, energy, clock and its logged events.

Pure functions of the scenario and of time. Time is always passed in as POSIX seconds
(``now``, ``started_at``); nothing here reads a clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from fieldkit.model import normalize_angle
from simulators.scenario import ClockSection, EventSection, Scenario

__all__ = [
    "ElementReading",
    "Instruments",
    "LoggedEvent",
    "MeterClock",
    "RegisterValues",
    "event_log",
    "instruments",
    "registers_at",
]


@dataclass(frozen=True, slots=True)
class ElementReading:
    """One element's phasors and powers, in engineering units."""

    name: str
    voltage: float
    current: float
    voltage_angle: float
    current_angle: float
    power_factor: float
    active_power: float
    reactive_power: float


@dataclass(frozen=True, slots=True)
class Instruments:
    """Everything the meter's present values (ST28) report."""

    elements: tuple[ElementReading, ...]
    frequency: float
    temperature_c: float
    total_active_power: float
    total_reactive_power: float


def instruments(scenario: Scenario) -> Instruments:
    """Per-element powers from the phasors: P = V·I·cos(θI − θV), Q = V·I·sin(θI − θV).

    Angles lag positive, so a lagging (inductive) load has positive reactive power.
    """
    elements = []
    for phase in scenario.phase:
        shift = math.radians(phase.current_angle - phase.voltage_angle)
        apparent = phase.voltage * phase.current
        pf = math.cos(shift) if phase.power_factor is None else phase.power_factor
        elements.append(
            ElementReading(
                name=phase.name,
                voltage=phase.voltage,
                current=phase.current,
                voltage_angle=normalize_angle(phase.voltage_angle),
                current_angle=normalize_angle(phase.current_angle),
                power_factor=pf,
                active_power=apparent * math.cos(shift),
                reactive_power=apparent * math.sin(shift),
            )
        )
    return Instruments(
        elements=tuple(elements),
        frequency=scenario.site.frequency,
        temperature_c=scenario.site.temperature_c,
        total_active_power=sum(e.active_power for e in elements),
        total_reactive_power=sum(e.reactive_power for e in elements),
    )


class MeterClock:
    """The meter's idea of the time: real UTC plus drift, optionally in a local zone."""

    def __init__(self, clock: ClockSection) -> None:
        self.drift_seconds = clock.drift_seconds
        self.utc = clock.utc
        self._zone: tzinfo = (
            UTC if clock.utc or clock.timezone is None else ZoneInfo(clock.timezone)
        )

    def at(self, now: float) -> datetime:
        """Meter time (timezone-aware, in the meter's zone) at POSIX time ``now``."""
        real = datetime.fromtimestamp(now, UTC)
        return (real + timedelta(seconds=self.drift_seconds)).astimezone(self._zone)

    @property
    def zone(self) -> tzinfo:
        """The zone the meter keeps its time in (UTC for a GMT meter)."""
        return self._zone

    def in_dst(self, moment: datetime) -> bool:
        """True when ``moment`` falls in daylight saving time in the meter's zone."""
        if self.utc:
            return False
        offset = moment.dst()
        return bool(offset)


@dataclass(frozen=True, slots=True)
class RegisterValues:
    """ST23 contents: raw Wh/varh summations and the one demand, in W."""

    wh_delivered: float
    wh_received: float
    varh_delivered: float
    varh_received: float
    demand_w: float
    demand_time: datetime
    demand_resets: int


def registers_at(
    scenario: Scenario, meter: Instruments, clock: MeterClock, *, started_at: float, now: float
) -> RegisterValues:
    """Registers at ``now``: the scenario's start values plus energy since ``started_at``.

    Positive total power adds to the delivered registers, negative power to the received ones.
    """
    hours = max(0.0, now - started_at) / 3600.0
    regs = scenario.registers
    p = meter.total_active_power
    q = meter.total_reactive_power
    return RegisterValues(
        wh_delivered=regs.kwh_delivered * 1000.0 + max(p, 0.0) * hours,
        wh_received=regs.kwh_received * 1000.0 + max(-p, 0.0) * hours,
        varh_delivered=regs.kvarh_delivered * 1000.0 + max(q, 0.0) * hours,
        varh_received=regs.kvarh_received * 1000.0 + max(-q, 0.0) * hours,
        demand_w=regs.demand_kw * 1000.0,
        demand_time=clock.at(started_at - regs.demand_age_hours * 3600.0),
        demand_resets=regs.demand_resets,
    )


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One entry of a log, numbered in the order it happened (1 = oldest)."""

    time: datetime
    code: int
    manufacturer: bool
    user_id: int
    argument: bytes
    sequence: int


def event_log(
    events: tuple[EventSection, ...], clock: MeterClock, *, log: str, started_at: float
) -> list[LoggedEvent]:
    """The events of one log (``"event"`` or ``"history"``), oldest first, numbered from 1."""
    chosen = sorted(
        (e for e in events if e.log == log),
        key=lambda e: -e.age_hours,  # oldest first; ties keep file order
    )
    return [
        LoggedEvent(
            time=clock.at(started_at - e.age_hours * 3600.0),
            code=e.code,
            manufacturer=e.manufacturer,
            user_id=e.user_id,
            argument=e.argument_bytes,
            sequence=n,
        )
        for n, e in enumerate(chosen, start=1)
    ]
