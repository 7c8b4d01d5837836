"""Expected phasor diagrams per service type, angle arithmetic, and service detection.

Conventions (design.md): degrees in [0, 360), element A voltage = 0°, positive = lagging.
The diagrams are not typed in by hand: each service is described by which terminals its
elements measure, the element phasors are computed from an ideal three-phase source, and
the whole picture is turned so element A's voltage sits at 0°. Rotation (ABC/ACB) and the
4-wire delta's high leg therefore come out of the same arithmetic as the defaults, and the
table in design.md is what the model reproduces (tests pin it).

Currents at unity power factor sit on the wye-equivalent line-to-neutral voltage of their
line; on a delta element that is 30° away from the element's own (line-to-line or
centre-tap) voltage, and :attr:`ElementModel.pf_offset` is that difference.

Where a service's ordinary loads put a line's current somewhere else, the element also has an
``alt_current_angle``: a 4-wire delta's low legs feed the single-phase loads of the
centre-tapped winding (their current sits on the element's own voltage, 30° from the
three-phase place), and a network's 208 V loads run from A to C (30° the other way). A
healthy current then sits anywhere on the arc between the two places, by the load mix.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from fieldkit.model import ServiceType, lag_of, lagging, normalize_angle

__all__ = [
    "HIGH_LEGS",
    "ROTATIONS",
    "Detection",
    "DiagramError",
    "ElementModel",
    "ServiceModel",
    "all_models",
    "angle_distance",
    "detect_service",
    "service_model",
    "signed_difference",
]

ROTATIONS: tuple[str, ...] = ("ABC", "ACB")
HIGH_LEGS: tuple[str, ...] = ("A", "B", "C")


class DiagramError(ValueError):
    """A service diagram was asked for with a rotation or high leg that does not exist."""


def signed_difference(a: float, b: float) -> float:
    """Shortest signed angle from ``b`` to ``a`` in degrees, in (-180, 180]."""
    d = math.fmod(a - b, 360.0)
    if d <= -180.0:
        d += 360.0
    elif d > 180.0:
        d -= 360.0
    return d


def angle_distance(a: float, b: float) -> float:
    """Unsigned shortest distance between two angles, in [0, 180]."""
    return abs(signed_difference(a, b))


@dataclass(frozen=True, slots=True)
class ElementModel:
    """Where one element's phasors sit on a healthy site at unity power factor."""

    name: str
    voltage_factor: float  # element nominal / the service's stated nominal voltage
    voltage_angle: float
    current_angle: float  # unity-PF place of a balanced three-phase (or line-to-neutral) load
    # Unity-PF place of the other load class this line ordinarily carries, when it differs.
    alt_current_angle: float | None = None

    @property
    def pf_offset(self) -> float:
        """Unity-PF current angle minus voltage angle (±30° on delta elements, else 0)."""
        return signed_difference(self.current_angle, self.voltage_angle)

    def deviation(self, angle: float, *, reversed_: bool = False) -> float:
        """Signed distance (lagging positive) of a current at ``angle`` from its unity-PF
        places: 0 anywhere on the arc between ``current_angle`` and ``alt_current_angle``,
        else the distance to the nearer end. ``reversed_`` turns both places 180° (export)."""
        turn = 180.0 if reversed_ else 0.0
        main = signed_difference(angle, self.current_angle + turn)
        if self.alt_current_angle is None:
            return main
        alt = signed_difference(angle, self.alt_current_angle + turn)
        width = angle_distance(self.alt_current_angle, self.current_angle)
        if abs(abs(main) + abs(alt) - width) < 1e-9:
            return 0.0
        return main if abs(main) <= abs(alt) else alt

    def pf_angles(self, angle: float, *, reversed_: bool = False) -> tuple[float, float]:
        """The power-factor angles a current at ``angle`` reads against each unity-PF place
        (three-phase place first; both equal when the element has one place)."""
        turn = 180.0 if reversed_ else 0.0
        main = signed_difference(angle, self.current_angle + turn)
        if self.alt_current_angle is None:
            return main, main
        return main, signed_difference(angle, self.alt_current_angle + turn)


@dataclass(frozen=True, slots=True)
class ServiceModel:
    """The healthy diagram of one service type, rotation and (4-wire delta) high leg."""

    service: ServiceType
    rotation: str
    high_leg: str | None
    elements: tuple[ElementModel, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Element names in meter order."""
        return tuple(e.name for e in self.elements)

    def element(self, name: str) -> ElementModel | None:
        """The element called ``name``, or None if this service has no such element."""
        for e in self.elements:
            if e.name == name:
                return e
        return None

    def describe(self) -> str:
        """Short name with the details that matter: '3ph-4w-delta (high leg B, ACB)'."""
        extra = []
        if self.high_leg is not None:
            extra.append(f"high leg {self.high_leg}")
        if len(self.elements) > 1 and self.rotation != "ABC":
            extra.append(self.rotation)
        return f"{self.service.value} ({', '.join(extra)})" if extra else self.service.value

    def diagram(self) -> str:
        """Voltage angles as text: 'A 0°, B 120°, C 240°'."""
        return ", ".join(f"{e.name} {e.voltage_angle:.0f}°" for e in self.elements)


def _line_voltages(rotation: str) -> dict[str, complex]:
    """Wye-equivalent line-to-neutral voltages of a balanced source, 1 per unit."""
    b, c = (120.0, 240.0) if rotation == "ABC" else (240.0, 120.0)
    return {"A": lagging(0.0), "B": lagging(b), "C": lagging(c)}


def service_model(
    service: ServiceType | str, rotation: str = "ABC", high_leg: str = "B"
) -> ServiceModel:
    """The expected diagram for ``service`` (raises DiagramError on a bad rotation/high leg)."""
    try:
        kind = ServiceType(service)
    except ValueError as exc:
        raise DiagramError(f"unknown service type {service!r}") from exc
    rot = rotation.upper()
    if rot not in ROTATIONS:
        raise DiagramError(f"rotation must be ABC or ACB, got {rotation!r}")
    leg = high_leg.upper()
    if kind is ServiceType.DELTA_4W and leg not in HIGH_LEGS:
        raise DiagramError(f"high leg must be A, B or C, got {high_leg!r}")

    line = _line_voltages(rot)
    # (name, element voltage, unity-PF current direction, the other load class's direction)
    # in per-unit of line-to-neutral.
    raw: list[tuple[str, complex, complex, complex | None]]
    if kind in (ServiceType.ONE_PHASE_2W, ServiceType.ONE_PHASE_3W):
        raw = [("A", line["A"], line["A"], None)]
    elif kind is ServiceType.NETWORK:
        # 208 V loads connect A to C: their current is on VAC in line A, on VCA in line C.
        other = {"A": "C", "C": "A"}
        raw = [(n, line[n], line[n], line[n] - line[other[n]]) for n in ("A", "C")]
    elif kind is ServiceType.WYE:
        raw = [(n, line[n], line[n], None) for n in ("A", "B", "C")]
    elif kind is ServiceType.DELTA_3W:
        raw = [(n, line[n] - line["B"], line[n], None) for n in ("A", "C")]
    else:
        # The centre tap is the midpoint of the winding between the two low legs; the low
        # legs' single-phase loads (120 V to the tap, 240 V across the winding) draw current
        # on the element's own voltage.
        low = [n for n in ("A", "B", "C") if n != leg]
        tap = (line[low[0]] + line[low[1]]) / 2
        raw = [
            (n, line[n] - tap, line[n], None if n == leg else line[n] - tap)
            for n in ("A", "B", "C")
        ]

    # Delta nominals are line-to-line, √3 per unit of the wye-equivalent source; a 1ph-3w
    # nominal is its own single element.
    base = math.sqrt(3.0) if kind in (ServiceType.DELTA_3W, ServiceType.DELTA_4W) else 1.0
    reference = lag_of(raw[0][1])
    elements = tuple(
        ElementModel(
            name=name,
            voltage_factor=round(abs(volts) / base, 12),
            voltage_angle=_tidy(normalize_angle(lag_of(volts) - reference)),
            current_angle=_tidy(normalize_angle(lag_of(amps) - reference)),
            alt_current_angle=None
            if alt is None
            else _tidy(normalize_angle(lag_of(alt) - reference)),
        )
        for name, volts, amps, alt in raw
    )
    return ServiceModel(
        service=kind,
        rotation=rot if len(elements) > 1 else "ABC",
        high_leg=leg if kind is ServiceType.DELTA_4W else None,
        elements=elements,
    )


def _tidy(angle: float) -> float:
    # Complex arithmetic leaves 299.99999999999994 where the diagram says 300.
    rounded = round(angle, 9)
    return 0.0 if rounded >= 360.0 else rounded


# The diagrams never change, and one check run detects the service several times (the
# service_type check and the likely causes of cross_phase and service_voltage).
@functools.cache
def all_models() -> tuple[ServiceModel, ...]:
    """Every diagram detection considers: each service, rotation and high leg."""
    models: list[ServiceModel] = []
    for kind in ServiceType:
        if kind in (ServiceType.ONE_PHASE_2W, ServiceType.ONE_PHASE_3W):
            models.append(service_model(kind))
            continue
        for rot in ROTATIONS:
            legs = HIGH_LEGS if kind is ServiceType.DELTA_4W else ("B",)
            models.extend(service_model(kind, rot, leg) for leg in legs)
    return tuple(models)


@dataclass(frozen=True, slots=True)
class Detection:
    """Which diagrams the measured voltages fit.

    ``exact`` fit with every element live; ``partial`` fit only once lost (dead) elements
    are set aside. A phase lost makes several services look alike, which is why both are
    kept and the caller decides.
    """

    exact: tuple[ServiceModel, ...]
    partial: tuple[ServiceModel, ...]
    partial_lost: tuple[int, ...]  # how many elements each partial fit sets aside

    def likeliest(self) -> tuple[ServiceModel, ...]:
        """The exact fits; failing those, the partial fits that set the fewest elements aside
        (a 120 V leg is not "lost" just because another diagram wants 208 V there)."""
        if self.exact or not self.partial:
            return self.exact
        fewest = min(self.partial_lost)
        return tuple(m for m, n in zip(self.partial, self.partial_lost, strict=True) if n == fewest)

    def services(self, *, include_partial: bool = True) -> tuple[ServiceType, ...]:
        """Distinct service types that fit, in detection order."""
        pool = self.exact + (self.partial if include_partial else ())
        out: list[ServiceType] = []
        for m in pool:
            if m.service not in out:
                out.append(m.service)
        return tuple(out)

    def best(self, service: ServiceType) -> ServiceModel | None:
        """The fitting diagram of ``service`` (exact preferred), or None."""
        for m in self.exact + self.partial:
            if m.service is service:
                return m
        return None


def detect_service(
    voltages: Mapping[str, tuple[float | None, float | None]],
    *,
    dead: Iterable[str] | None = None,
    loaded: Iterable[str] = (),
    angle_tolerance: float = 20.0,
    magnitude_tolerance_pct: float = 30.0,
    lost_pct: float = 61.0,
) -> Detection:
    """Fit the measured element voltages ``{name: (magnitude, angle)}`` to every diagram.

    Magnitudes only matter as ratios (PT ratio and nominal do not enter). ``dead`` names the
    elements known to be lost (below ``lost_pct`` of their nominal); without it an element is
    taken as lost when it is below ``lost_pct`` of the strongest element, scaled per diagram.
    A diagram fits when every one of its elements is reported, every reported element it
    does not have is dead and carries no current (``loaded`` names the elements with current
    above the floor: a network's meter never sees current on B), the live elements' per-unit
    magnitudes agree within ``magnitude_tolerance_pct`` and their angles (relative to the
    first live one) sit within ``angle_tolerance`` of the diagram.
    """
    reported = {
        name: (v, a)
        for name, (v, a) in voltages.items()
        if v is not None and math.isfinite(v) and v >= 0
    }
    known_dead = None if dead is None else frozenset(dead)
    carrying = frozenset(loaded)
    exact: list[ServiceModel] = []
    partial: list[tuple[ServiceModel, int]] = []
    for model in all_models():
        if any(model.element(name) is None for name in carrying):
            continue
        lost_count = _fit(
            model, reported, known_dead, angle_tolerance, magnitude_tolerance_pct, lost_pct
        )
        if lost_count is None:
            continue
        if lost_count:
            partial.append((model, lost_count))
        else:
            exact.append(model)
    return Detection(
        exact=tuple(exact),
        partial=tuple(m for m, _ in partial),
        partial_lost=tuple(n for _, n in partial),
    )


def _fit(
    model: ServiceModel,
    reported: Mapping[str, tuple[float, float | None]],
    known_dead: frozenset[str] | None,
    angle_tolerance: float,
    magnitude_tolerance_pct: float,
    lost_pct: float,
) -> int | None:
    """How many elements are lost if the readings fit ``model``, else None."""
    if any(name not in reported for name in model.names):
        return None
    per_unit = {e.name: reported[e.name][0] / e.voltage_factor for e in model.elements}
    strongest = max(per_unit.values())
    if strongest <= 0:
        return None
    smallest_factor = min(e.voltage_factor for e in model.elements)
    lost_fraction = lost_pct / 100.0

    def is_dead(name: str) -> bool:
        if known_dead is not None:
            return name in known_dead
        if name in per_unit:
            return per_unit[name] < lost_fraction * strongest
        return reported[name][0] < lost_fraction * strongest * smallest_factor

    extras = [name for name in reported if model.element(name) is None]
    if any(not is_dead(name) for name in extras):
        return None
    live = [e for e in model.elements if not is_dead(e.name)]
    if not live:
        return None
    lost_count = len(model.elements) - len(live)

    live_pu = [per_unit[e.name] for e in live]
    if min(live_pu) < (1.0 - magnitude_tolerance_pct / 100.0) * max(live_pu):
        return None

    with_angle = [(e, a) for e in live if (a := reported[e.name][1]) is not None]
    if len(with_angle) < 2:
        return lost_count  # the magnitudes alone decide
    ref, ref_measured = with_angle[0]
    for e, measured in with_angle[1:]:
        error = signed_difference(measured - ref_measured, e.voltage_angle - ref.voltage_angle)
        if abs(error) > angle_tolerance:
            return None
    return lost_count
