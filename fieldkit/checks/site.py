"""What the checks share: the snapshot's elements read against the service's diagram.

Built once per run by :func:`analyse`. It settles the questions several checks ask the same
way: which diagram applies (the work order's service type, or the detected one when the
work order has none), each element's nominal, which elements are lost (below the
lost-phase limit) and which carry current above the low-current floor. Bad numbers in the
snapshot (NaN, infinities) count as not reported; bad numbers in the expectation are kept
as a reason the affected checks give when they skip.

On a 4-wire delta the element nominals follow where the 208 V high leg actually reads: a high
leg on C where the work order says B is a wiring or records question (cross_phase names it),
not a 120 V phase "lost" and a 208 V phase "73 % high".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from fieldkit.checks import fmt
from fieldkit.checks.load import LoadScale, load_scale
from fieldkit.checks.phasors import (
    DiagramError,
    ElementModel,
    ServiceModel,
    detect_service,
    service_model,
)
from fieldkit.checks.policy import Thresholds
from fieldkit.model import (
    MeterSnapshot,
    PhaseQuantities,
    ServiceType,
    SiteExpectation,
    as_utc,
)

__all__ = ["CheckInput", "Element", "Site", "analyse", "aware", "finite", "settled"]


def finite(value: float | None) -> float | None:
    """The value if it is a real finite number, else None (NaN/inf read as 'not reported')."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def settled(value: float) -> float:
    """A computed figure rounded to 1e-6, so a value exactly on a limit compares as on it.

    (126 V against 120 V is 5.000000000000004 % in floating point; a technician reads 5 %.)
    """
    return round(value, 6)


aware = as_utc  # any two times the checks compare are timezone-aware


@dataclass(frozen=True, slots=True)
class Element:
    """One element of the diagram with what the meter measured on it."""

    name: str
    model: ElementModel
    voltage: float | None  # at the meter terminals (secondary)
    primary_voltage: float | None  # voltage × PT ratio
    nominal: float | None  # this element's nominal, primary side
    voltage_factor: float  # nominal / the service's nominal (high leg where it reads)
    voltage_angle: float | None
    current: float | None  # secondary amps
    current_angle: float | None
    power_factor: float | None
    active_power: float | None
    lost: bool
    loaded: bool  # current at or above the low-current floor

    @property
    def live(self) -> bool:
        """Voltage reported and not lost."""
        return self.voltage is not None and not self.lost


@dataclass(frozen=True, slots=True)
class Site:
    """The snapshot's elements against the applicable diagram."""

    model: ServiceModel | None
    model_source: str  # "work order" or "detected"
    why_no_model: str | None
    elements: tuple[Element, ...]  # the diagram's elements the meter reported, diagram order
    missing: tuple[str, ...]  # diagram elements with no voltage reported
    extras_dead: frozenset[str]  # reported elements outside the diagram that read ~0 V
    nominal: float | None  # the work order's nominal if usable
    nominal_problem: str | None
    pt_ratio: float  # 1.0 when the work order's is not usable (then ratio_problem says so)
    ratio_problem: str | None
    floor: float  # secondary amps: ``load.floor``, kept for the messages that name it
    reported: tuple[tuple[str, tuple[float | None, float | None]], ...]  # every element's V, angle
    # Elements with a voltage reading and current at or above the floor: evidence that the
    # service has that element (a 2S reporting its second line current has no element B).
    loaded_names: frozenset[str] = frozenset()
    high_leg_seen: str | None = None  # 4-wire delta: the high leg reads here, not on the model's
    load: LoadScale | None = None  # the meter's floor and light-load limit (set by analyse)

    @property
    def scale(self) -> LoadScale:
        """The light-load scale; a Site built by hand without one gets the plain floor."""
        if self.load is not None:
            return self.load
        return LoadScale(self.floor, self.floor, None, None, "meter class unknown")

    @property
    def too_light(self) -> bool:
        """Every reported element current is below the floor (and at least one was reported)."""
        currents = [e for e in self.elements if e.current is not None]
        return bool(currents) and not any(e.loaded for e in currents)

    def too_light_message(self, what: str) -> str:
        """Why a check judged nothing at a site where every current is below the floor."""
        currents = fmt.joined(
            (e.name, fmt.amps(abs(e.current))) for e in self.elements if e.current is not None
        )
        return (
            f"load too light to judge {what}: {currents}, all below {self.scale.floor_words()}: "
            f"apply a known load and re-run"
        )

    def light(self, e: Element) -> bool:
        """The element carries current above the floor but below the light-load limit."""
        return e.loaded and e.current is not None and abs(e.current) < self.scale.light

    @property
    def lost(self) -> tuple[Element, ...]:
        """Elements whose voltage is below the lost-phase limit."""
        return tuple(e for e in self.elements if e.lost)

    @property
    def voltages(self) -> dict[str, tuple[float | None, float | None]]:
        """Every reported element (diagram or not) as {name: (volts, angle)} for detection."""
        return dict(self.reported)


@dataclass(frozen=True, slots=True)
class CheckInput:
    """Everything a check function reads."""

    snapshot: MeterSnapshot
    expectation: SiteExpectation
    thresholds: Thresholds
    site: Site


def _phases(snapshot: MeterSnapshot) -> dict[str, PhaseQuantities]:
    out: dict[str, PhaseQuantities] = {}
    for ph in snapshot.phases:
        name = " ".join(str(ph.phase).split()).upper()
        out.setdefault(name, ph)
    return out


def _positive(value: float | None) -> float | None:
    number = finite(value)
    return number if number is not None and number > 0 else None


def _expected_service(expectation: SiteExpectation) -> tuple[ServiceType | None, str | None]:
    if expectation.service_type is None:
        return None, None
    try:
        return ServiceType(expectation.service_type), None
    except ValueError:
        return None, f"service type {expectation.service_type!r} on the work order is not known"


def analyse(snapshot: MeterSnapshot, expectation: SiteExpectation, thresholds: Thresholds) -> Site:
    """Read the snapshot against the diagram the checks should use."""
    phases = _phases(snapshot)
    all_voltages = tuple(
        (name, (finite(ph.voltage), finite(ph.voltage_angle))) for name, ph in phases.items()
    )
    lost_fraction = thresholds.service_voltage.lost_phase_pct / 100.0

    pt = _positive(expectation.pt_ratio)
    ratio_problem = None
    if pt is None:
        ratio_problem = f"PT ratio {expectation.pt_ratio!r} on the work order is not usable"
    nominal = _positive(expectation.nominal_voltage)
    nominal_problem = None
    if expectation.nominal_voltage is None:
        nominal_problem = "no nominal voltage on the work order"
    elif nominal is None:
        nominal_problem = (
            f"nominal voltage {expectation.nominal_voltage!r} on the work order is not usable"
        )

    scale = load_scale(expectation, thresholds)
    floor = scale.floor
    loaded_names = frozenset(
        name
        for name, ph in phases.items()
        if (amps := finite(ph.current)) is not None
        and abs(amps) >= floor
        and finite(ph.voltage) is not None
    )
    model, source, why = _choose_model(expectation, all_voltages, loaded_names, thresholds)
    base = Site(
        model=None,
        model_source=source,
        why_no_model=why,
        elements=(),
        missing=(),
        extras_dead=frozenset(),
        nominal=nominal,
        nominal_problem=nominal_problem,
        pt_ratio=pt or 1.0,
        ratio_problem=ratio_problem,
        floor=floor,
        reported=all_voltages,
        loaded_names=loaded_names,
        load=scale,
    )
    if model is None:
        return base

    absolute = nominal is not None and pt is not None
    readings: list[tuple[ElementModel, PhaseQuantities]] = [
        (em, phases[em.name]) for em in model.elements if em.name in phases
    ]
    high_leg_seen = _high_leg_seen(model, readings)
    factors = {em.name: em.voltage_factor for em, _ in readings}
    if high_leg_seen is not None:
        seen = service_model(model.service, model.rotation, high_leg_seen)
        factors = {em.name: em.voltage_factor for em in seen.elements}
    per_unit = [
        v / factors[em.name] for em, ph in readings if (v := finite(ph.voltage)) is not None
    ]
    strongest = max(per_unit, default=0.0)

    def lost_against_nominal(em: ElementModel, volts: float) -> bool:
        # Only called when the nominal is usable (``absolute``).
        return volts * base.pt_ratio < lost_fraction * (nominal or 0.0) * factors[em.name]

    def lost_against_others(em: ElementModel, volts: float) -> bool:
        return strongest <= 0 or volts / factors[em.name] < lost_fraction * strongest

    reported = [(em, v) for em, ph in readings if (v := finite(ph.voltage)) is not None]
    if absolute and reported and all(lost_against_nominal(em, v) for em, v in reported):
        # Every element "lost" at once while the meter is talking is a wrong nominal or PT
        # ratio far more often than a dead service; judge lost against the other elements
        # and let service_voltage report the whole service as out of range.
        absolute = False

    elements: list[Element] = []
    for em, ph in readings:
        volts = finite(ph.voltage)
        primary = None if volts is None else volts * base.pt_ratio
        element_nominal = None if nominal is None else nominal * factors[em.name]
        if volts is None:
            lost = False
        elif absolute:
            lost = lost_against_nominal(em, volts)
        else:
            lost = lost_against_others(em, volts)
        amps = finite(ph.current)
        elements.append(
            Element(
                name=em.name,
                model=em,
                voltage=volts,
                primary_voltage=primary,
                nominal=element_nominal,
                voltage_factor=factors[em.name],
                voltage_angle=finite(ph.voltage_angle),
                current=amps,
                current_angle=finite(ph.current_angle),
                power_factor=finite(ph.power_factor),
                active_power=finite(ph.active_power),
                lost=lost,
                loaded=amps is not None and abs(amps) >= base.floor,
            )
        )
    missing = tuple(
        em.name for em in model.elements if finite(_voltage_of(phases, em.name)) is None
    )

    # An element the diagram does not have (B on a 3-element meter at a network site) is
    # "dead" when it reads below the lost limit of the smallest element of the diagram.
    smallest = min(em.voltage_factor for em in model.elements)
    if absolute and nominal is not None:
        dead_below = lost_fraction * nominal * smallest / base.pt_ratio
    else:
        dead_below = lost_fraction * strongest * smallest
    extras_dead = frozenset(
        name
        for name, (v, _a) in all_voltages
        if model.element(name) is None and v is not None and (v < dead_below or strongest <= 0)
    )
    return replace(
        base,
        model=model,
        elements=tuple(elements),
        missing=missing,
        extras_dead=extras_dead,
        high_leg_seen=high_leg_seen,
    )


# The high leg reads √3 (1.73) times the low legs; anything above this ratio to both of them
# is the high leg, anything below is not (a sagging 120 V leg never reaches it).
_HIGH_LEG_RATIO = 1.4


def _high_leg_seen(
    model: ServiceModel, readings: list[tuple[ElementModel, PhaseQuantities]]
) -> str | None:
    """On a 4-wire delta, the element whose voltage is clearly the high leg when that is not
    the diagram's; None when it is the diagram's, or when the voltages do not say."""
    if model.service is not ServiceType.DELTA_4W:
        return None
    volts = {em.name: v for em, ph in readings if (v := finite(ph.voltage)) is not None}
    if len(volts) != len(model.elements):
        return None
    for name, v in volts.items():
        others = [w for n, w in volts.items() if n != name]
        if all(w > 0 and v > _HIGH_LEG_RATIO * w for w in others):
            return None if name == model.high_leg else name
    return None


def _voltage_of(phases: dict[str, PhaseQuantities], name: str) -> float | None:
    ph = phases.get(name)
    return None if ph is None else ph.voltage


def _choose_model(
    expectation: SiteExpectation,
    voltages: tuple[tuple[str, tuple[float | None, float | None]], ...],
    loaded: frozenset[str],
    thresholds: Thresholds,
) -> tuple[ServiceModel | None, str, str | None]:
    service, problem = _expected_service(expectation)
    if problem is not None:
        return None, "work order", problem
    rotation = str(expectation.rotation)
    high_leg = str(expectation.high_leg)
    if service is not None:
        try:
            return service_model(service, rotation, high_leg), "work order", None
        except DiagramError as exc:
            return None, "work order", f"work order: {exc}"

    policy = thresholds.service_type
    detection = detect_service(
        dict(voltages),
        loaded=loaded,
        angle_tolerance=policy.angle_tolerance_deg,
        magnitude_tolerance_pct=policy.magnitude_tolerance_pct,
        lost_pct=thresholds.service_voltage.lost_phase_pct,
    )
    pool = detection.likeliest()
    shapes = {tuple((e.name, e.voltage_angle, e.voltage_factor) for e in m.elements) for m in pool}
    services = {m.service for m in pool}
    if not pool:
        return None, "detected", "no service type on the work order and the voltages fit none"
    if len(shapes) > 1 and len(services) > 1:
        names = " or ".join(sorted(s.value for s in services))
        return (
            None,
            "detected",
            f"no service type on the work order and the voltages fit {names}",
        )
    # Both single-phase diagrams are one element at 0°; 1ph-3w (2S) is the common meter.
    chosen = ServiceType.ONE_PHASE_3W if ServiceType.ONE_PHASE_3W in services else pool[0].service
    # The high leg shows in the magnitudes alone, and the work order said nothing about the
    # service, so its high leg (the field's default) does not overrule what the meter reads.
    legs = {m.high_leg for m in pool if m.service is chosen and m.high_leg is not None}
    if len(legs) == 1:
        high_leg = legs.pop()
    # Build the diagram with the work order's rotation so a crossed phase still shows.
    try:
        return service_model(chosen, rotation, high_leg), "detected", None
    except DiagramError as exc:
        return None, "detected", f"work order: {exc}"
