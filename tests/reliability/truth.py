"""What the simulated meter was told to say, and how far a snapshot strays from it."""

from __future__ import annotations

import math
from typing import Any

from fieldkit.model import MeterSnapshot
from simulators.c1218.physics import MeterClock, instruments, registers_at
from simulators.scenario import load_scenario
from tests.helpers import scenario_data

__all__ = ["wrong_values"]


def _differs(got: float | None, want: float, tolerance: float) -> bool:
    return got is None or not math.isfinite(got) or abs(got - want) > tolerance


def _kwh_delivered_between(
    scenario: str, started_at: float, before: float, after: float
) -> tuple[float, float]:
    """The delivered-energy register's lowest and highest kWh while a read ran.

    The meter counts energy from its start (the simulator's physics), so a long campaign
    sees it climb: a session 20 minutes in reads kilowatt-hours more than the start value.
    """
    model = load_scenario(scenario)
    meter, clock = instruments(model), MeterClock(model.clock)
    low, high = (
        registers_at(model, meter, clock, started_at=started_at, now=t).wh_delivered
        for t in (before, after)
    )
    # The meter shows whole Wh, floored.
    return math.floor(low + 1e-6) / 1000.0, math.floor(high + 1e-6) / 1000.0


def wrong_values(
    snapshot: MeterSnapshot,
    scenario: str,
    *,
    started_at: float,
    before: float,
    after: float,
) -> list[str]:
    """Every value in ``snapshot`` that disagrees with the scenario, in words.

    A value the snapshot leaves out is fine only when the snapshot says why (an
    ``unavailable`` item, or the read is marked incomplete); a value it carries must be
    the scenario's, within the meter's own resolution. ``started_at`` is the simulator's
    start and ``before``/``after`` bracket the read (POSIX times), for the registers that
    grow while the meter runs.
    """
    data: dict[str, Any] = scenario_data(scenario)
    meter = data["meter"]
    wrong: list[str] = []
    explained = {u.item for u in snapshot.unavailable}
    partial = snapshot.incomplete is not None
    ident = snapshot.identity
    for name, want in (
        ("manufacturer", meter["manufacturer"]),
        ("model", meter["model"]),
        ("serial_number", meter["serial"]),
    ):
        if getattr(ident, name) != want:
            wrong.append(f"identity.{name} {getattr(ident, name)!r} != {want!r}")
    if ident.meter_id is not None and ident.meter_id != meter["meter_id"]:
        wrong.append(f"meter_id {ident.meter_id!r} != {meter['meter_id']!r}")
    if ident.meter_id is None and not ({"meter_id"} & explained or partial):
        wrong.append("meter_id missing without a reason")
    for expected in data.get("phase", []):
        got = snapshot.phase(expected["name"])
        if got is None:
            if not ({"phases"} & explained or partial):
                wrong.append(f"phase {expected['name']} missing without a reason")
            continue
        for quantity, tolerance in (
            ("voltage", 0.01),
            ("current", 0.001),
            ("voltage_angle", 0.01),
            ("current_angle", 0.01),
        ):
            value = getattr(got, quantity)
            if value is None:
                continue
            if _differs(value, expected[quantity], tolerance):
                wrong.append(f"phase {expected['name']} {quantity} {value} != {expected[quantity]}")
    if snapshot.frequency is not None and _differs(
        snapshot.frequency, data.get("site", {}).get("frequency", 60.0), 0.001
    ):
        wrong.append(f"frequency {snapshot.frequency}")
    kwh = snapshot.register("kwh_delivered")
    low, high = _kwh_delivered_between(scenario, started_at, before, after)
    if kwh is not None and not low - 1e-6 <= kwh.value <= high + 1e-6:
        wrong.append(f"kwh_delivered {kwh.value} outside [{low}, {high}]")
    if snapshot.clock is not None:
        drift = data.get("clock", {}).get("drift_seconds", 0.0)
        if abs(snapshot.clock.drift_seconds - drift) > 2.0:
            wrong.append(f"drift {snapshot.clock.drift_seconds} != {drift}")
    known = {e["code"] for e in data.get("event", [])}
    for event in snapshot.events:
        if known and event.code not in known and event.suspect is None:
            wrong.append(f"event code {event.code} the scenario never logged")
    return wrong
