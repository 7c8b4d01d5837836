"""Symptom -> likely cause rules for the wiring checks.

The rules are the instrument-transformer troubleshooting rules utilities already use
(site-diagnostics.md §1.7 and §2.6), restated as sentences a technician can act on:

- one CT reversed on a 3-element service: kW about 1/3 of the load;
- one line-to-neutral voltage at zero with kW about 2/3: a missing PT input;
- negative kW with a normal lagging power factor: all CTs (or all PTs) reversed;
- balanced voltages and currents but kW near 0 on a 3-wire delta: CT leads swapped A<->C;
- one PT reversed: that voltage sits 180° from its place (kW 1/3, two line-to-line low).

The figures (kW fractions) are computed from the measured phasors, never assumed, so the
sentence only says "1/3" when the meter's own numbers show it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

from fieldkit.checks.phasors import (
    ElementModel,
    angle_distance,
    detect_service,
)
from fieldkit.checks.site import Element, Site
from fieldkit.model import ServiceType

__all__ = [
    "CROSS_MATCH_DEG",
    "REVERSED_MATCH_DEG",
    "cross_phase_causes",
    "inactive_current_causes",
    "lost_phase_causes",
    "measured_power",
    "polarity_causes",
    "reverse_energy_causes",
    "service_mismatch_cause",
    "voltage_level_causes",
]

# A current within this of 180° from its place reads as "reversed"; within this of another
# element's place as "crossed". Wide on purpose: the load's own PF angle shifts every current.
REVERSED_MATCH_DEG = 45.0
CROSS_MATCH_DEG = 45.0

# 240:120, the smallest ratio PTs are made in (a little under it allows for a sagging
# supply); a whole service at 1/√3 is a line-to-line/line-to-neutral mix-up, not a PT.
_SMALLEST_PT_RATIO = 1.9

_STANDARD_NOMINALS = (
    120.0, 208.0, 240.0, 277.0, 347.0, 416.0, 480.0, 600.0,
    2400.0, 4160.0, 4800.0, 6900.0, 7200.0, 7620.0, 12470.0, 13200.0, 13800.0,
    14400.0, 19920.0, 24940.0, 34500.0,
)  # fmt: skip


def _fraction(value: float) -> str:
    for text, target in (("0", 0.0), ("1/3", 1 / 3), ("1/2", 0.5), ("2/3", 2 / 3)):
        if abs(value - target) <= 0.08:
            return f"about {text}"
    return f"{value * 100:.0f} %"


def _phasor(e: Element) -> tuple[float, float, float, float] | None:
    """(V, |I|, V angle, I angle) when the meter reported all four."""
    if e.voltage is None or e.current is None:
        return None
    if e.voltage_angle is None or e.current_angle is None:
        return None
    return e.voltage, abs(e.current), e.voltage_angle, e.current_angle


def measured_power(
    elements: Sequence[Element], *, flipped: Collection[str] = ()
) -> tuple[float, float] | None:
    """(Σ V·I·cos(I−V), Σ V·I) over the elements at the meter terminals, or None if any
    element lacks a magnitude or an angle. The ``flipped`` elements' currents are turned back
    180° first: what the load really draws when those CTs are reversed."""
    real = 0.0
    apparent = 0.0
    for e in elements:
        ph = _phasor(e)
        if ph is None:
            return None
        volts, amps, v_angle, i_angle = ph
        if e.name in flipped:
            i_angle += 180.0
        real += volts * amps * math.cos(math.radians(i_angle - v_angle))
        apparent += volts * amps
    return real, apparent


def _off(
    models: dict[str, ElementModel],
    expected: dict[str, float],
    current: float,
    place_of: str,
    *,
    reversed_: bool = False,
) -> float:
    """Distance of a current from the unity-PF places of element ``place_of`` (the whole arc
    where that line's ordinary loads can put it), else from its plain expected angle."""
    model = models.get(place_of)
    if model is None:
        return angle_distance(current, expected[place_of] + (180.0 if reversed_ else 0.0))
    return abs(model.deviation(current, reversed_=reversed_))


def _swapped_pairs(
    models: dict[str, ElementModel],
    currents: dict[str, float],
    expected: dict[str, float],
    names: Sequence[str],
) -> list[tuple[str, str]]:
    """Pairs of elements each carrying the other's current (CT leads crossed between them)."""
    pairs: list[tuple[str, str]] = []
    taken: set[str] = set()
    for name in names:
        for other in names:
            if other <= name or other in taken or name in taken:
                continue
            if (
                _off(models, expected, currents[name], other) <= CROSS_MATCH_DEG
                and _off(models, expected, currents[other], name) <= CROSS_MATCH_DEG
            ):
                taken.update((name, other))
                pairs.append((name, other))
    return pairs


def polarity_causes(
    site: Site,
    currents: dict[str, float],
    expected: dict[str, float],
    failed: Sequence[str],
) -> tuple[str, ...]:
    """Causes for currents far from their unity-PF places.

    ``currents`` and ``expected`` are current angles in the diagram's frame for the loaded
    elements; ``failed`` the elements beyond the polarity window.
    """
    causes: list[str] = []
    models = {e.name: e.model for e in site.elements}

    def off(current: float, place_of: str, *, reversed_: bool = False) -> float:
        return _off(models, expected, current, place_of, reversed_=reversed_)

    pairs = _swapped_pairs(models, currents, expected, failed)
    swapped = {name for pair in pairs for name in pair}
    for name, other in pairs:
        causes.append(
            f"CT leads of phases {name} and {other} swapped ({name}↔{other}): each "
            f"element measures the other phase's current"
        )
    elements = [e for e in site.elements if e.name in currents]
    power = measured_power(elements)
    if swapped and power is not None and power[1] > 0 and abs(power[0]) / power[1] < 0.15:
        service = site.model.service if site.model else None
        if service is ServiceType.DELTA_3W:
            causes.append(
                "balanced voltages and currents but kW near zero: the classic A↔C CT swap "
                "on a 3-wire delta"
            )
        else:
            causes.append("kW reads near zero although every element carries current")

    reversed_ = [
        n
        for n in failed
        if n not in swapped and off(currents[n], n, reversed_=True) <= REVERSED_MATCH_DEG
    ]
    others = [n for n in failed if n not in swapped and n not in reversed_]
    loaded = len(currents)
    if reversed_ and len(reversed_) == loaded and loaded == len(site.elements):
        causes.append(
            "all CTs reversed (or all PTs): kW reads negative with a normal lagging power "
            "factor; usually the CTs"
        )
        causes.append("customer generation (solar PV) exporting on an account without net metering")
    else:
        corrected = measured_power(elements, flipped=reversed_)
        share = None
        if power is not None and corrected is not None and corrected[0] > 0:
            share = power[0] / corrected[0]
        for name in reversed_:
            text = f"phase {name} CT reversed (secondary leads swapped at the CT or test switch)"
            if share is not None and len(reversed_) == 1:
                text += f": kW reads {_fraction(share)} of the load"
            causes.append(text)
    for name in others:
        near = [
            other
            for other in expected
            if other != name and off(currents[name], other) <= CROSS_MATCH_DEG
        ]
        if near:
            causes.append(
                f"phase {name} element carries the current of phase {near[0]}: CTs crossed "
                f"between phases"
            )
        else:
            causes.append(
                f"phase {name} current is {angle_distance(currents[name], expected[name]):.0f}° "
                f"from its place: reversed or crossed CT, or a strongly leading/lagging load"
            )
    return tuple(causes)


def cross_phase_causes(site: Site, measured: dict[str, float]) -> tuple[str, ...]:
    """Causes for voltage angles off the diagram (``measured``: live voltage angles in the
    diagram's frame)."""
    model = site.model
    if model is None:
        return ()
    tolerance = 15.0
    causes: list[str] = []
    # The same service with the other rotation or high leg, judged on every reported voltage
    # (magnitudes too: a high leg on the wrong phase leaves 120 V where 208 V belongs, which
    # the lost-phase rule would otherwise set aside).
    detection = detect_service(site.voltages, loaded=site.loaded_names)
    # Only the likeliest fits: any diagram "fits" once most of its elements are set aside.
    for alt in detection.likeliest():
        if alt.service is not model.service:
            continue
        if alt.rotation != model.rotation:
            causes.append(
                f"rotation reads {alt.rotation}, the work order says {model.rotation}: two "
                f"potential leads crossed at the meter, or the site really is "
                f"{alt.rotation} — confirm before rewiring"
            )
        if alt.high_leg != model.high_leg:
            causes.append(
                f"the high leg is on phase {alt.high_leg}, the work order says "
                f"{model.high_leg}: correct the work order or the meter wiring"
            )
        if causes:
            return tuple(causes)

    expected = {n: e.voltage_angle for n in measured if (e := model.element(n)) is not None}
    off = [n for n in measured if angle_distance(measured[n], expected[n]) > tolerance]
    # Every other voltage 180° out: the reference element's own PT is the reversed one.
    reference = next(iter(measured))
    if (
        off
        and len(off) == len(measured) - 1
        and reference not in off
        and all(angle_distance(measured[n], expected[n] + 180.0) <= tolerance for n in off)
    ):
        causes.append(
            f"phase {reference} PT reversed (potential leads swapped): every other voltage "
            f"reads 180° from its place"
        )
        return tuple(causes)
    crossed: set[str] = set()
    for name in off:
        if angle_distance(measured[name], expected[name] + 180.0) <= tolerance:
            text = f"phase {name} PT reversed (potential leads swapped)"
            if len(model.elements) >= 3:
                text += ": kW reads about 1/3 and two line-to-line voltages read low"
            causes.append(text)
            continue
        for other, angle in expected.items():
            if (
                other != name
                and other not in crossed
                and angle_distance(measured[name], angle) <= tolerance
            ):
                crossed.add(name)
                causes.append(
                    f"phase {name} voltage sits where phase {other} belongs: potential leads "
                    f"crossed between phases"
                )
                break
        else:
            causes.append(
                f"phase {name} voltage angle is "
                f"{angle_distance(measured[name], expected[name]):.0f}° off: wrong service "
                f"type or meter form on the work order, or a PT on the wrong phase"
            )
    return tuple(causes)


def service_mismatch_cause(site: Site) -> str | None:
    """'The voltages fit X, not Y' when every live voltage fits another service outright."""
    if site.model is None:
        return None
    fits = detect_service(site.voltages, loaded=site.loaded_names).services(include_partial=False)
    if not fits or site.model.service in fits:
        return None
    return (
        f"the voltages fit {' or '.join(s.value for s in fits)}, not "
        f"{site.model.service.value}: check the service type on the work order"
    )


def lost_phase_causes(site: Site, element: Element) -> tuple[str, ...]:
    """Why one element's voltage is gone, told apart by whether its load still draws current."""
    n = len(site.elements)
    causes: list[str] = []
    mismatch = service_mismatch_cause(site)
    if mismatch is not None:
        # A healthy 120 V element where the work order's service wants 208 V reads "lost".
        causes.append(mismatch)
    if element.primary_voltage is not None and element.nominal:
        share = element.primary_voltage / element.nominal
        if share >= 0.2:
            # SiteScan's worked example: 119 V on one phase of a 277 V wye.
            causes.append(
                f"phase {element.name} reads {share * 100:.0f} % of nominal, not zero: a PT of "
                f"the wrong ratio or a partly shorted winding"
            )
    return (*causes, *_lost_phase_causes(element, n))


def _lost_phase_causes(element: Element, n: int) -> tuple[str, ...]:
    if n == 1:
        return (
            "no voltage on the meter's element: supply off at the transformer or cut-out, "
            "or the meter's potential link is open",
        )
    if element.loaded:
        share = _fraction((n - 1) / n)
        return (
            f"missing PT input on phase {element.name} (blown PT fuse, open potential lead or "
            f"test switch): the load still draws current on {element.name}, so kW reads "
            f"{share} of the load",
        )
    return (
        f"phase {element.name} lost on the supply side (blown fuse or cut-out, open conductor)",
        f"or the PT input of phase {element.name} is missing while its load is off",
    )


def voltage_level_causes(
    site: Site, per_unit: dict[str, float], range_a_pct: float
) -> tuple[str, ...]:
    """Causes for live voltages outside Range A (``per_unit``: measured / element nominal of
    every live element, in range or not)."""
    if not per_unit or site.model is None or site.nominal is None:
        return ()
    causes: list[str] = []
    mismatch = service_mismatch_cause(site)
    if mismatch is not None:
        causes.append(mismatch)
    values = list(per_unit.values())
    mean = sum(values) / len(values)
    spread = max(values) - min(values)
    all_off = all(abs(v - 1.0) * 100 > range_a_pct for v in values)
    if all_off and spread <= 0.03:
        implied = site.nominal * mean
        # A wrong nominal is a different standard voltage (208 vs 240 is 13 %); a service
        # sagging 10 % is just sagging, so only large offsets onto a standard value count.
        near = [s for s in _STANDARD_NOMINALS if abs(implied - s) / s <= 0.02]
        if near and abs(mean - 1.0) > 0.12:
            causes.append(
                f"the voltages fit a {near[0]:.0f} V service, not {site.nominal:g} V: check "
                f"the nominal voltage and service type on the work order"
            )
        if min(abs(mean - math.sqrt(3)), abs(mean - 1 / math.sqrt(3))) <= 0.03:
            causes.append(
                "the voltages are √3 off the nominal: line-to-line and line-to-neutral mixed "
                "up (wye and network take line-to-neutral, delta and 1ph-3w line-to-line)"
            )
        if abs(mean - 1.0) > 0.12 and mean > 0:
            # Whole-service offsets this large are records, not supply: the ratio the
            # voltages imply is the work order's ratio over the measured per-unit level.
            implied = site.pt_ratio / mean
            if site.pt_ratio == 1.0 and implied >= _SMALLEST_PT_RATIO:
                causes.append(
                    f"transformer-rated site with no PT ratio on the work order: the voltages "
                    f"fit a PT ratio of about {implied:.3g}:1"
                )
            elif site.pt_ratio != 1.0:
                causes.append(
                    f"check the PT ratio (work order: {site.pt_ratio:g}:1; the voltages fit "
                    f"about {implied:.3g}:1)"
                )
        if site.model.service is ServiceType.ONE_PHASE_3W and 0.4 <= mean <= 0.6:
            causes.insert(
                0,
                "one leg of the 120/240 V service open (blown transformer fuse, open service "
                "conductor): the 240 V element reads about half through the customer's 120 V "
                "loads on the dead leg",
            )
        if not causes:
            causes.append(
                "supply voltage "
                + (
                    "low: transformer tap, long or undersized service conductors, heavy load"
                    if mean < 1
                    else "high: transformer tap set high, or light load near a regulator"
                )
            )
        return tuple(causes)
    for name, value in per_unit.items():
        if abs(value - 1.0) * 100 <= range_a_pct:
            continue
        if value < 1.0:
            causes.append(
                f"phase {name} low: high-resistance connection (loose or corroded jaw, lug or "
                f"splice), or heavy load on long conductors"
            )
        else:
            causes.append(
                f"phase {name} high: transformer tap set high, or a neutral problem shifting "
                f"voltage between phases"
            )
    return tuple(causes)


def inactive_current_causes(site: Site, idle: Sequence[Element]) -> tuple[str, ...]:
    """Causes for elements without current while another element carries load."""
    causes: list[str] = []
    model = site.model
    for e in idle:
        if e.lost:
            causes.append(f"phase {e.name} supply lost (no voltage either): see service_voltage")
            continue
        if model is not None and model.service is ServiceType.DELTA_3W and len(idle) == 1:
            # A 2-element meter does not see line B: a single-phase load from B to the other
            # line shows on that line's element only.
            busy = next(n for n in ("A", "C") if n != e.name)
            causes.append(
                f"only single-phase load between {busy} and B running: a 3-wire delta's meter "
                f"sees it on element {busy} alone"
            )
        causes.append(
            f"phase {e.name} CT secondary open or shorted (a shorting block or test-switch "
            f"jumper left closed)"
        )
        causes.append(f"current diverted around the meter on phase {e.name} (bypass or tamper)")
    causes.append("no load on that phase, or load under ~2 % of the CT rating (reads as zero)")
    return tuple(causes)


def reverse_energy_causes(site: Site, negative_now: bool) -> tuple[str, ...]:
    """Causes for energy flowing to the grid on an account without net metering."""
    if not negative_now:
        return (
            "energy was exported in the past: customer generation not enrolled in net "
            "metering, or CTs reversed earlier (check the event log for reverse rotation)",
        )
    loaded = [e for e in site.elements if e.loaded]
    # Each loaded current against its own voltage, placed in the diagram's frame: reversed
    # when it sits nearer its place turned 180° than its place.
    own = {
        e.name: e.current_angle - e.voltage_angle + e.model.voltage_angle
        for e in loaded
        if e.current_angle is not None and e.voltage_angle is not None
    }
    models = {e.name: e.model for e in loaded}
    reversed_ = [n for n, a in own.items() if abs(models[n].deviation(a, reversed_=True)) < 90.0]
    places = {n: m.current_angle for n, m in models.items()}
    pairs = _swapped_pairs(models, own, places, list(own))
    if own and len(own) == len(loaded) and (pairs or len(reversed_) < len(own)):
        # Only some currents turned round, yet the total is negative: crossed CTs (or one
        # reversed on the element carrying most of the load) make the meter run backwards
        # while the customer imports. polarity names the elements.
        if pairs:
            wiring = "CT leads crossed between " + ", ".join(f"{a}↔{b}" for a, b in pairs)
        else:
            forward = ", ".join(n for n in own if n not in reversed_)
            wiring = f"CTs reversed on some elements only (phase {forward} reads forward)"
        return (
            f"{wiring} (see polarity): the meter registers received energy while the "
            f"customer imports",
            "customer generation exporting on some phases only (a single-phase inverter on a "
            "polyphase service) without a net-metering agreement",
        )
    lagging = bool(loaded) and len(own) == len(loaded)
    for name, angle in own.items():
        pf = models[name].deviation(angle, reversed_=True)
        lagging = lagging and -5.0 <= pf <= 60.0
    ct_text = "all CTs reversed (or all PTs), usually the CTs"
    if lagging:
        ct_text += ": kW is negative with a normal lagging power factor"
    return (ct_text, "customer generation (solar PV) exporting without a net-metering agreement")
