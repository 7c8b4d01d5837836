"""Builders the test_checks_* modules share: snapshots of healthy and miswired sites.

The healthy diagrams are typed in from design.md's table (not computed by the code under
test), so the checks are held to the design, not to themselves.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from fieldkit.checks import run
from fieldkit.model import (
    CheckResult,
    CheckStatus,
    ClockReading,
    MeterEvent,
    MeterIdentity,
    MeterSnapshot,
    PhaseQuantities,
    Register,
    ServiceType,
    SiteExpectation,
    StatusFlags,
    normalize_angle,
)

READ_AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
PF_09_LAG = math.degrees(math.acos(0.9))  # 25.84°

# design.md "Conventions for the site checks", ABC rotation, high leg B:
# service -> (nominal on the work order, [(element, volts, voltage angle, unity-PF current angle)])
DESIGN: dict[ServiceType, tuple[float, list[tuple[str, float, float, float]]]] = {
    ServiceType.ONE_PHASE_3W: (240.0, [("A", 240.0, 0.0, 0.0)]),
    ServiceType.NETWORK: (120.0, [("A", 120.0, 0.0, 0.0), ("C", 120.0, 240.0, 240.0)]),
    ServiceType.WYE: (
        120.0,
        [("A", 120.0, 0.0, 0.0), ("B", 120.0, 120.0, 120.0), ("C", 120.0, 240.0, 240.0)],
    ),
    ServiceType.DELTA_3W: (240.0, [("A", 240.0, 0.0, 30.0), ("C", 240.0, 300.0, 270.0)]),
    # 240 V winding: VAN = 120 V at 0°, VBN = 240·√3/2 = 207.8 V at 90°, VCN = 120 V at 180°;
    # currents on the wye-equivalent positions (VA, VB, VC of the source seen from VAN).
    ServiceType.DELTA_4W: (
        240.0,
        [
            ("A", 120.0, 0.0, 330.0),
            ("B", 240.0 * math.sqrt(3) / 2, 90.0, 90.0),
            ("C", 120.0, 180.0, 210.0),
        ],
    ),
}

POLYPHASE = [s for s in DESIGN if s is not ServiceType.ONE_PHASE_3W]


def phase(
    name: str,
    volts: float | None,
    v_angle: float | None,
    amps: float | None = None,
    i_angle: float | None = None,
) -> PhaseQuantities:
    """One element as a driver would report it."""
    return PhaseQuantities(
        phase=name,
        voltage=volts,
        voltage_angle=None if v_angle is None else normalize_angle(v_angle),
        current=amps,
        current_angle=None if i_angle is None else normalize_angle(i_angle),
    )


def healthy_phases(
    service: ServiceType,
    *,
    pf_deg: float = 0.0,
    amps: float = 10.0,
    rotation: str = "ABC",
    scale: float = 1.0,
) -> list[PhaseQuantities]:
    """The design diagram with every current lagging ``pf_deg``; ACB mirrors the angles."""
    _nominal, rows = DESIGN[service]
    sign = 1.0 if rotation == "ABC" else -1.0
    return [
        phase(name, volts * scale, sign * v, amps, sign * i + pf_deg) for name, volts, v, i in rows
    ]


def snapshot(
    phases: Iterable[PhaseQuantities] = (),
    *,
    drift_s: float = 5.0,
    flags: Iterable[str] = (),
    registers: Sequence[Register] = (
        Register("kwh_delivered", 15000.0, "kWh"),
        Register("kwh_received", 0.0, "kWh"),
    ),
    events: Sequence[MeterEvent] = (),
    **kwargs: Any,
) -> MeterSnapshot:
    """A complete, healthy-looking snapshot around the given elements."""
    base = MeterSnapshot(
        protocol="c1218",
        identity=MeterIdentity("FKIT", "SIM-16S", "98765432", meter_id="0012345678"),
        read_at=READ_AT,
        clock=ClockReading(READ_AT + timedelta(seconds=drift_s), READ_AT),
        status=StatusFlags(active=frozenset(flags), metering_mode=True),
        registers=tuple(registers),
        phases=tuple(phases),
        frequency=60.0,
        temperature_c=35.0,
        events=tuple(events),
    )
    return replace(base, **kwargs)


def expect(service: ServiceType | None = None, **kwargs: Any) -> SiteExpectation:
    """A work order for ``service`` with the design's nominal voltage unless given."""
    nominal = DESIGN[service][0] if service in DESIGN else None
    base = SiteExpectation(service_type=service, nominal_voltage=nominal)
    return replace(base, **kwargs)


def result(results: Sequence[CheckResult], check_id: str) -> CheckResult:
    """The result of one check from a run."""
    for r in results:
        if r.id == check_id:
            return r
    raise AssertionError(f"no result for {check_id}")


def check(
    check_id: str,
    phases: Iterable[PhaseQuantities] = (),
    expectation: SiteExpectation | None = None,
    **snapshot_kwargs: Any,
) -> CheckResult:
    """Run everything on a snapshot built from ``phases`` and return one check's result."""
    snap = snapshot(phases, **snapshot_kwargs)
    return result(run(snap, expectation or SiteExpectation()), check_id)


def causes_text(r: CheckResult) -> str:
    """All likely causes of a result as one lower-case string, for 'in' assertions."""
    return " | ".join(r.likely_causes).lower()


PASS, WARN, FAIL, SKIP = CheckStatus.PASS, CheckStatus.WARN, CheckStatus.FAIL, CheckStatus.SKIP
