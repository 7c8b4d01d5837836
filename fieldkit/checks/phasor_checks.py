"""service_type, cross_phase, polarity and phase_angle: the phasor diagram checks.

They run in SiteScan's order. cross_phase compares the voltage angles with the service's
diagram; when it fails, the current checks skip (a current angle means nothing against a
wrong voltage). polarity then looks for currents further than 90° from their unity-PF place
(reversed or crossed CTs), and phase_angle judges the power-factor angle of the others.

Measured angles are turned into the diagram's frame through a reference element (element A
when it is live), so a meter that does not put VA at exactly 0° is still read correctly,
and a lost element A does not poison the others.

Where a line ordinarily carries two classes of load whose unity-PF places differ (a 4-wire
delta's low legs, a network's elements: see phasors.py), a current anywhere on the arc
between the two places is at unity, and the power-factor angle judged is the one nearest
unity the load mix allows; the measured string shows both readings.
"""

from __future__ import annotations

from dataclasses import dataclass

from fieldkit.checks import fmt
from fieldkit.checks.causes import cross_phase_causes, polarity_causes
from fieldkit.checks.phasors import detect_service, signed_difference
from fieldkit.checks.quantities import quantity
from fieldkit.checks.site import CheckInput, Element, Site, settled
from fieldkit.model import CheckResult, CheckStatus, Quantity, ServiceType, normalize_angle

__all__ = [
    "CurrentView",
    "check_cross_phase",
    "check_phase_angle",
    "check_polarity",
    "check_service_type",
    "current_view",
]

SERVICE_TYPE = "service_type"
CROSS_PHASE = "cross_phase"
POLARITY = "polarity"
PHASE_ANGLE = "phase_angle"

CROSS_PHASE_FIRST = "voltage diagram wrong: fix cross-phase first"


def _reference(site: Site) -> Element | None:
    """The first live element with a voltage angle: the frame's anchor."""
    for e in site.elements:
        if e.live and e.voltage_angle is not None:
            return e
    return None


def _to_frame(ref: Element, angle: float) -> float:
    """A measured angle moved into the diagram's frame (reference at its diagram angle)."""
    anchor = ref.voltage_angle or 0.0  # _reference only returns elements that have one
    return normalize_angle(angle - anchor + ref.model.voltage_angle)


def _single_phase(services: tuple[ServiceType, ...]) -> bool:
    return set(services) <= {ServiceType.ONE_PHASE_2W, ServiceType.ONE_PHASE_3W}


def _names(services: tuple[ServiceType, ...]) -> str:
    if _single_phase(services) and len(services) == 2:
        return "single-phase (1ph-3w or 1ph-2w)"
    return " or ".join(s.value for s in services)


def _voltage_summary(site: Site) -> str:
    parts = []
    for name, (volts, angle) in site.reported:
        if volts is None:
            continue
        text = f"{name} {fmt.volts(volts)}"
        if angle is not None:
            text += f" {angle:.0f}°"
        parts.append(text)
    return ", ".join(parts)


# --- service_type -----------------------------------------------------------------------------


def check_service_type(inp: CheckInput) -> CheckResult:
    """Detect the service from the element voltages and compare it with the work order."""
    site = inp.site
    exp = inp.expectation
    policy = inp.thresholds.service_type
    measured = _voltage_summary(site) or None
    if measured is None:
        return CheckResult(SERVICE_TYPE, CheckStatus.SKIP, "the meter reported no voltages")
    dead: frozenset[str] | None = None
    if site.model is not None and site.model_source == "work order":
        dead = frozenset(e.name for e in site.lost) | site.extras_dead
    detection = detect_service(
        site.voltages,
        dead=dead,
        loaded=site.loaded_names,
        angle_tolerance=policy.angle_tolerance_deg,
        magnitude_tolerance_pct=policy.magnitude_tolerance_pct,
        lost_pct=inp.thresholds.service_voltage.lost_phase_pct,
    )
    exact = detection.services(include_partial=False)
    every = detection.services()
    lost = [e.name for e in site.lost]
    lost_note = f"phase {', '.join(lost)} lost" if lost else "a phase lost"
    with_voltage = [a for _, (v, a) in site.reported if v is not None]
    no_angles = len(with_voltage) > 1 and all(a is None for a in with_voltage)
    angle_note = " (no voltage angles: magnitudes only)" if no_angles else ""

    if exp.service_type is None:
        live_angles = [
            a for _, (v, a) in site.reported if v is not None and v > 0 and a is not None
        ]
        if not every and len(live_angles) >= 2:
            # Nothing to compare with, but a diagram that fits no service at all is a wiring
            # fault far more often than an exotic service: someone has to look.
            return CheckResult(
                SERVICE_TYPE,
                CheckStatus.WARN,
                "no service type on the work order, and the voltages fit no known service "
                "diagram: check the potential wiring before trusting the readings",
                measured=measured,
                likely_causes=(
                    "a PT reversed or two potential leads crossed (a voltage 180° or 120° "
                    "from where any service puts it)",
                    "a service or meter form the kit does not model: confirm it and put it on "
                    "the work order",
                ),
            )
        likely = tuple(dict.fromkeys(m.service for m in detection.likeliest()))
        fits = _names(likely) if likely else "no known service"
        fewest = min(detection.partial_lost, default=0)
        others = [
            m.service
            for m, n in zip(detection.partial, detection.partial_lost, strict=True)
            if n == fewest and m.service not in likely
        ]
        if likely and others:
            # A dead element leaves other readings open: say so rather than guess silently.
            fits += f" (or {_names(tuple(dict.fromkeys(others)))} with a phase lost)"
        return CheckResult(
            SERVICE_TYPE,
            CheckStatus.SKIP,
            f"no service type on the work order; the voltages fit {fits}{angle_note}",
            measured=measured,
        )
    if site.model is None:
        return CheckResult(
            SERVICE_TYPE, CheckStatus.SKIP, site.why_no_model or "no service", measured=measured
        )
    wanted = site.model.service
    expected = site.model.describe()
    if site.elements and all(e.lost for e in site.elements):
        return CheckResult(
            SERVICE_TYPE,
            CheckStatus.SKIP,
            "every element's voltage is lost: nothing to detect the service from",
            measured=measured,
            expected=expected,
        )
    best = detection.best(wanted)
    unreadable = [e.name for e in site.elements if e.voltage is None]
    if unreadable and wanted not in exact:
        # The meter has the element but gave no usable voltage for it: what is left may fit
        # a smaller service, which says nothing about this one.
        return CheckResult(
            SERVICE_TYPE,
            CheckStatus.SKIP,
            f"phase {', '.join(unreadable)} voltage not reported: cannot confirm the service",
            measured=measured,
            expected=expected,
        )

    if wanted in exact or (wanted in every and set(every) <= {wanted}):
        shown = best.describe() if best is not None else wanted.value
        note = f" ({lost_note})" if wanted not in exact else ""
        return CheckResult(
            SERVICE_TYPE,
            CheckStatus.PASS,
            f"voltages fit {shown}, as on the work order{note}{angle_note}",
            measured=measured,
            expected=expected,
        )
    if wanted in every:
        return CheckResult(
            SERVICE_TYPE,
            CheckStatus.SKIP,
            f"{lost_note}: what is left fits {_names(every)}; cannot confirm{angle_note}",
            measured=measured,
            expected=expected,
        )
    if not every:
        return CheckResult(
            SERVICE_TYPE,
            CheckStatus.SKIP,
            "the voltages fit no known service diagram: fix the problems cross_phase and "
            "service_voltage report, then check again",
            measured=measured,
            expected=expected,
        )
    looks = exact or every
    detected = detection.exact[0] if detection.exact else detection.partial[0]
    shown = _names(looks) if len(looks) > 1 else detected.describe()
    causes = [
        f"the work order's service type is wrong: the site looks like {shown}",
        "wrong meter form for this service (the meter measures a different set of elements)",
    ]
    if lost:
        causes.append(f"{lost_note}: recheck after it is restored")
    return CheckResult(
        SERVICE_TYPE,
        CheckStatus.FAIL,
        f"looks like {shown}, the work order says {wanted.value}{angle_note}",
        measured=measured,
        expected=expected,
        likely_causes=tuple(causes),
    )


# --- cross_phase ------------------------------------------------------------------------------


def check_cross_phase(inp: CheckInput) -> CheckResult:
    """Voltage angles of the live elements against the diagram, within the tolerance."""
    site = inp.site
    model = site.model
    tolerance = inp.thresholds.cross_phase.tolerance_deg
    if model is None:
        return CheckResult(CROSS_PHASE, CheckStatus.SKIP, site.why_no_model or "no service")
    expected = f"{model.diagram()} (±{fmt.limit(tolerance)}°)"
    ref = _reference(site)
    with_angle = [e for e in site.elements if e.live and e.voltage_angle is not None]
    if len(model.elements) == 1:
        if ref is None:
            return CheckResult(
                CROSS_PHASE, CheckStatus.SKIP, "voltage angle not reported or voltage lost"
            )
        return CheckResult(
            CROSS_PHASE,
            CheckStatus.PASS,
            "one element: it is the 0° reference",
            measured=f"{ref.name} 0°",
            expected=expected,
            values=(
                quantity(
                    "voltage_angle",
                    ref.model.voltage_angle,
                    element=ref.name,
                    expected=ref.model.voltage_angle,
                    low=ref.model.voltage_angle - tolerance,
                    high=ref.model.voltage_angle + tolerance,
                ),
            ),
        )
    ignored = [e.name for e in site.elements if e.lost]
    ignored_note = f" ({', '.join(ignored)} ignored: voltage lost)" if ignored else ""
    if ref is None or len(with_angle) < 2:
        why = (
            "voltage angles not reported"
            if not any(e.voltage_angle is not None for e in site.elements)
            else "fewer than two live voltages to compare"
        )
        return CheckResult(CROSS_PHASE, CheckStatus.SKIP, why + ignored_note)
    frame = {e.name: _to_frame(ref, e.voltage_angle or 0.0) for e in with_angle}
    errors = {
        e.name: settled(signed_difference(frame[e.name], e.model.voltage_angle)) for e in with_angle
    }
    measured = fmt.joined((n, fmt.degrees(a)) for n, a in frame.items())
    values = tuple(
        quantity(
            "voltage_angle",
            e.model.voltage_angle + errors[e.name],
            element=e.name,
            expected=e.model.voltage_angle,
            low=e.model.voltage_angle - tolerance,
            high=e.model.voltage_angle + tolerance,
        )
        for e in with_angle
    )
    off = [n for n, err in errors.items() if abs(err) > tolerance]
    if not off:
        return CheckResult(
            CROSS_PHASE,
            CheckStatus.PASS,
            f"voltage angles match the {model.describe()} diagram{ignored_note}",
            measured=measured,
            expected=expected,
            values=values,
        )
    words = ", ".join(f"{n} {errors[n]:+.0f}°" for n in off)
    return CheckResult(
        CROSS_PHASE,
        CheckStatus.FAIL,
        f"voltage angles off the {model.describe()} diagram: {words}{ignored_note}",
        measured=measured,
        expected=expected,
        likely_causes=cross_phase_causes(site, frame),
        values=values,
    )


# --- currents: polarity and phase_angle -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CurrentView:
    """Every element's current against its unity-PF place, shared by polarity and phase_angle.

    ``frame`` holds the loaded currents' angles in the diagram's frame and ``deviation`` their
    signed distance from their places; an element left out of both is in ``reason`` with why.
    ``export`` is true on a net-metering account whose every loaded current is reversed: the
    site is exporting, and the places are taken 180° around.
    """

    frame: dict[str, float]
    deviation: dict[str, float]
    reason: dict[str, str]
    export: bool


def current_view(site: Site, tolerance: float, net_metering: bool) -> CurrentView:
    """Where each loaded current sits relative to its place in the diagram."""
    ref = _reference(site)
    frame: dict[str, float] = {}
    deviation: dict[str, float] = {}
    reason: dict[str, str] = {}
    for e in site.elements:
        if e.current is None or e.current_angle is None:
            reason[e.name] = "current not reported"
        elif not e.loaded:
            reason[e.name] = f"below {fmt.limit(site.floor)} A"
        elif ref is None:
            reason[e.name] = "no live voltage to reference"
        else:
            frame[e.name] = _to_frame(ref, e.current_angle)
            deviation[e.name] = settled(e.model.deviation(frame[e.name]))
    export = (
        net_metering and bool(deviation) and all(abs(d) > tolerance for d in deviation.values())
    )
    if export:
        models = {e.name: e.model for e in site.elements}
        deviation = {n: settled(models[n].deviation(frame[n], reversed_=True)) for n in deviation}
    return CurrentView(frame, deviation, reason, export)


def _angle_values(site: Site, view: CurrentView, tolerance: float) -> tuple[Quantity, ...]:
    """Each judged current's angle near its unity-PF place, ``low``/``high`` the window
    (around the whole arc where the element's ordinary loads span two places)."""
    turn = 180.0 if view.export else 0.0
    out = []
    for e in site.elements:
        if e.name not in view.frame:
            continue
        place = e.model.current_angle + turn
        ends = [place]
        if e.model.alt_current_angle is not None:
            ends.append(place + signed_difference(e.model.alt_current_angle + turn, place))
        out.append(
            quantity(
                "current_angle",
                place + signed_difference(view.frame[e.name], place),
                element=e.name,
                expected=place,
                low=min(ends) - tolerance,
                high=max(ends) + tolerance,
            )
        )
    return tuple(out)


def _skips(view: CurrentView, site: Site) -> str:
    return ", ".join(
        f"{e.name} {view.reason[e.name]}" for e in site.elements if e.name in view.reason
    )


def check_polarity(inp: CheckInput, cross_phase_failed: bool) -> CheckResult:
    """Each loaded current within the window of its unity-PF place; beyond it is reversed."""
    site = inp.site
    model = site.model
    tolerance = inp.thresholds.polarity.tolerance_deg
    if cross_phase_failed:
        return CheckResult(POLARITY, CheckStatus.SKIP, CROSS_PHASE_FIRST)
    if model is None:
        return CheckResult(POLARITY, CheckStatus.SKIP, site.why_no_model or "no service")
    if site.too_light:
        return CheckResult(POLARITY, CheckStatus.SKIP, site.too_light_message("polarity"))
    view = current_view(site, tolerance, inp.expectation.net_metering)
    if not view.deviation:
        return CheckResult(POLARITY, CheckStatus.SKIP, f"no current to judge: {_skips(view, site)}")
    places = {e.name: e.model.current_angle for e in site.elements}
    expected = f"{fmt.joined((n, f'{a:.0f}°') for n, a in places.items())} ±{fmt.limit(tolerance)}°"
    measured = fmt.joined((n, fmt.degrees(a)) for n, a in view.frame.items())
    skipped = f" ({_skips(view, site)})" if view.reason else ""
    judged = list(view.deviation)
    light = _light_elements(site, judged)
    values = _angle_values(site, view, tolerance)
    if view.export:
        return CheckResult(
            POLARITY,
            CheckStatus.PASS,
            f"{_level_prefix(site, judged, light)}every loaded current reversed: exporting on a "
            f"net-metering account{skipped}",
            measured=measured,
            expected=expected,
            values=values,
        )
    failed = [n for n, d in view.deviation.items() if abs(d) > tolerance]
    # A light load's own power factor can put its current far from unity (a capacitor bank
    # left on, electronics); only a current that sits where a reversed CT puts an ordinary
    # load is a polarity failure at that level.
    reversed_at = 180.0 - inp.thresholds.phase_angle.envelope_deg
    unsure = [n for n in failed if n in light and abs(view.deviation[n]) < reversed_at]
    if not failed:
        return CheckResult(
            POLARITY,
            CheckStatus.PASS,
            f"{_level_prefix(site, judged, light)}{_list(judged)} within "
            f"±{fmt.limit(tolerance)}° of {'its' if len(judged) == 1 else 'their'} "
            f"place{'' if len(judged) == 1 else 's'}{_light_note(site, judged, light)}{skipped}",
            measured=measured,
            expected=expected,
            values=values,
        )
    words = ", ".join(f"{n} {abs(view.deviation[n]):.0f}° off" for n in failed)
    causes = polarity_causes(site, view.frame, places, failed)
    status = CheckStatus.FAIL
    message = f"current {words} its place: reversed or crossed CT{skipped}"
    if inp.expectation.net_metering:
        # Some phases exporting while others import is possible with single-phase generation.
        status = CheckStatus.WARN
        message = f"current {words}: export on a net-metering account, or a reversed CT"
        causes = (
            f"generation exporting on phase {', '.join(failed)} only (a single-phase inverter "
            f"on a polyphase service) while the rest imports: normal on a net-metering account",
            *causes,
        )
    elif len(unsure) == len(failed):
        status = CheckStatus.WARN
        levels = ", ".join(f"{n} {site.scale.level(_amps(site, n))}" for n in failed)
        message = (
            f"current {words} its place at light load ({levels}): a light load far from unity "
            f"power factor, or a crossed CT: apply a known load and re-run{skipped}"
        )
        causes = (
            "a light load whose own power factor is far from unity (a capacitor bank left on, "
            "electronic power supplies, an idle transformer): normal at this level",
            *causes,
        )
    return CheckResult(
        POLARITY,
        status,
        message,
        measured=measured,
        expected=expected,
        likely_causes=causes,
        values=values,
    )


def _amps(site: Site, name: str) -> float:
    for e in site.elements:
        if e.name == name:
            return abs(e.current or 0.0)
    return 0.0


def _light_elements(site: Site, judged: list[str]) -> list[str]:
    """The judged elements whose current is above the floor but below the light limit."""
    return [e.name for e in site.elements if e.name in judged and site.light(e)]


def _list(names: list[str]) -> str:
    return ", ".join(names)


def _level_prefix(site: Site, judged: list[str], light: list[str]) -> str:
    """'at 2 % of CL200 (light load): ' when every judged element is lightly loaded."""
    if not judged or len(light) < len(judged):
        return ""
    busiest = max(_amps(site, n) for n in judged)
    share = site.scale.share(busiest)
    level = f"{share} ({fmt.amps(busiest)})" if share else fmt.amps(busiest)
    return f"at {level}, light load: "


def _light_note(site: Site, judged: list[str], light: list[str]) -> str:
    """'(B at light load: 1.20 A, 0.6 % of CL200)' for some, not all, judged elements."""
    if not light or len(light) == len(judged):
        return ""
    levels = ", ".join(f"{n} {site.scale.level(_amps(site, n))}" for n in light)
    return f" (at light load: {levels})"


def check_phase_angle(inp: CheckInput, cross_phase_failed: bool) -> CheckResult:
    """Power-factor angle of each loaded element, delta offset removed, inside the envelope."""
    site = inp.site
    model = site.model
    envelope = inp.thresholds.phase_angle.envelope_deg
    tolerance = inp.thresholds.polarity.tolerance_deg
    if cross_phase_failed:
        return CheckResult(PHASE_ANGLE, CheckStatus.SKIP, CROSS_PHASE_FIRST)
    if model is None:
        return CheckResult(PHASE_ANGLE, CheckStatus.SKIP, site.why_no_model or "no service")
    if site.too_light:
        return CheckResult(
            PHASE_ANGLE, CheckStatus.SKIP, site.too_light_message("power-factor angles")
        )
    view = current_view(site, tolerance, inp.expectation.net_metering)
    angles: dict[str, float] = {}
    shown: dict[str, str] = {}
    skipped: dict[str, str] = dict(view.reason)
    for e in site.elements:
        if e.name in skipped:
            continue
        if e.voltage is None:
            skipped[e.name] = "voltage not reported"
        elif e.lost:
            skipped[e.name] = "voltage lost"
        elif e.voltage_angle is None or e.current_angle is None:
            skipped[e.name] = "angles not reported"
        elif abs(view.deviation.get(e.name, 0.0)) > tolerance:
            skipped[e.name] = "polarity failed"
        else:
            # The current against the element's own voltage, placed in the diagram's frame.
            own = e.current_angle - e.voltage_angle + e.model.voltage_angle
            angles[e.name] = settled(e.model.deviation(own, reversed_=view.export))
            main, alt = e.model.pf_angles(own, reversed_=view.export)
            shown[e.name] = fmt.pf_angle(main) if main == alt else fmt.pf_range(alt, main)
    skip_note = ", ".join(f"{n} {why}" for n, why in skipped.items())
    if not angles:
        return CheckResult(PHASE_ANGLE, CheckStatus.SKIP, f"nothing to judge: {skip_note}")
    measured = fmt.joined(shown.items())
    expected = f"within ±{fmt.limit(envelope)}° of unity power factor"
    banded = [e.name for e in site.elements if e.name in angles and e.model.alt_current_angle]
    if banded:
        expected += f" ({', '.join(banded)}: {_band_words(model.service)})"
    suffix = f" ({skip_note})" if skip_note else ""
    judged = list(angles)
    light = _light_elements(site, judged)
    values = tuple(
        quantity("pf_angle", a, element=n, expected=0.0, low=-envelope, high=envelope)
        for n, a in angles.items()
    )
    outside = [n for n, a in angles.items() if abs(a) > envelope]
    if not outside:
        return CheckResult(
            PHASE_ANGLE,
            CheckStatus.PASS,
            f"{_level_prefix(site, judged, light)}power-factor angle"
            f"{'' if len(judged) == 1 else 's'} of {_list(judged)} within ±{fmt.limit(envelope)}°"
            f"{_light_note(site, judged, light)}{suffix}",
            measured=measured,
            expected=expected,
            values=values,
        )
    words = ", ".join(f"{n} {fmt.pf_angle(angles[n])}" for n in outside)
    wiring = [
        "a CT or PT on the wrong element (crossed phases read near 60° off, PF about 0.5)",
    ]
    causes = [
        "a heavily reactive load (idle motors, welders, capacitor bank switched in or out)",
        *wiring,
    ]
    if len(model.elements) == 3 or model.service is ServiceType.DELTA_3W:
        causes.append(
            "large single-phase line-to-line loads (208/240/480 V) put a phase's current up "
            "to 30° from its three-phase place, one element reading worse and another better"
        )
    status = CheckStatus.FAIL
    message = f"power-factor angle outside ±{fmt.limit(envelope)}°: {words}{suffix}"
    if inp.expectation.net_metering:
        # With the generator running, the real power through the meter is the small
        # difference between load and generation while the load's reactive current still
        # flows: the current can sit anywhere near 90°, and that is not a wiring fault.
        status = CheckStatus.WARN
        causes.insert(
            0,
            "net-metering account: generation offsetting the load leaves mostly reactive "
            "current, so the power-factor angle means little while the generator runs",
        )
    elif all(n in light for n in outside):
        # A light load's power factor is the power factor of whatever small load happens to
        # run (a furnace blower, electronics, an idle transformer), not the site's.
        status = CheckStatus.WARN
        levels = ", ".join(f"{n} {site.scale.level(_amps(site, n))}" for n in outside)
        message = (
            f"power-factor angle outside ±{fmt.limit(envelope)}° at light load: {words} "
            f"({levels}): apply a known load and re-run{suffix}"
        )
        causes = [
            "a small load far from unity power factor (electronics, an idle motor or "
            "transformer) is all that runs: normal at this level",
            *wiring,
        ]
    return CheckResult(
        PHASE_ANGLE,
        status,
        message,
        measured=measured,
        expected=expected,
        likely_causes=tuple(causes),
        values=values,
    )


def _band_words(service: ServiceType) -> str:
    if service is ServiceType.NETWORK:
        return "anywhere between the 120 V and the 208 V load's place, by the load mix"
    return "anywhere between the single-phase and the three-phase load's place, by the load mix"
