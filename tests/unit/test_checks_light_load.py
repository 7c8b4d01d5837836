"""Light load, reasoned from the meter: the floor follows the meter's class.

Worked examples per class (docs/checks.md "Light load"): the floor is 0.5 % of the class and
light load runs to 5 % of it, in secondary amps at the meter terminals.

| class | family | floor | light to | example meter here |
|---|---|---|---|---|
| CL2 | transformer-rated | 0.01 A | 0.1 A | 9S, 277 V wye, 400:1 CTs |
| CL10 | transformer-rated | 0.05 A | 0.5 A | 5S, 480 V 3-wire delta, 200:5 CTs |
| CL20 | transformer-rated | 0.1 A | 1 A | 9S, 120/208 V wye, 400:5 CTs |
| CL100 | self-contained | 0.5 A | 5 A | 2S, 120/240 V |
| CL200 | self-contained | 1 A | 10 A | 16S, 120/208 V wye (class from the form) |
| CL320 | self-contained | 1.6 A | 16 A | 2S, 120/240 V |

Each meter is shown four ways a technician meets it: a vacant premise (every current a
fraction of the floor, at whatever angle the noise puts it), one phase barely loaded (just
above the floor, the rest idle), a healthy loaded site, and a reversed CT at good load. The
sites are built from the physics in test_checks_field_cases (sources, loads, the meter's
elements through its CTs), not from the checks' own diagrams.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from fieldkit.checks import DEFAULT_POLICY, run, verdict
from fieldkit.checks.load import load_scale, normal_form
from fieldkit.checks.policy import parse_policy
from fieldkit.model import CheckResult, CheckStatus, ServiceType, SiteExpectation

from .test_checks_field_cases import (
    Load,
    Nodes,
    Wiring,
    delta,
    lag,
    ll,
    ln,
    order,
    read_meter,
    snapshot,
    split_phase,
    three,
    wye,
)

PASS, WARN, FAIL, SKIP = CheckStatus.PASS, CheckStatus.WARN, CheckStatus.FAIL, CheckStatus.SKIP
ANGLE_CHECKS = ("polarity", "phase_angle", "current_imbalance")


@dataclass(frozen=True)
class Meter:
    """One meter class as installed: its source, form, CTs and what the work order says."""

    meter_class: str
    nodes: Nodes
    form: str
    service: ServiceType
    nominal: float
    ct: float
    floor: float  # secondary amps, what the docs derive
    light: float
    work_order_class: str | None  # None: the class must follow from the form
    # Loads drawing ``amps`` secondary per element at a power-factor angle.
    each: Callable[[float, float], list[Load]]
    one: Callable[[float, float], list[Load]]  # one element only

    @property
    def elements(self) -> tuple[str, ...]:
        return {"2S": ("A",), "5S": ("A", "C"), "9S": ("A", "B", "C")}[self.form]

    def work_order(self) -> SiteExpectation:
        form = "16S" if self.meter_class == "CL200" else self.form
        return order(
            self.service,
            self.nominal,
            ct_ratio=self.ct,
            form=form,
            meter_class=self.work_order_class,
        )

    def read(self, loads: list[Load], wiring: Wiring | None = None) -> list[CheckResult]:
        phases, total = read_meter(self.nodes, loads, self.form, wiring or Wiring(ct=self.ct))
        return run(snapshot(phases, total), self.work_order())


def _wye_each(ct: float) -> Callable[[float, float], list[Load]]:
    return lambda amps, pf: [ln(n, amps * ct, pf) for n in "ABC"]


def _wye_one(ct: float) -> Callable[[float, float], list[Load]]:
    return lambda amps, pf: [ln("A", amps * ct, pf)]


def _delta_each(ct: float) -> Callable[[float, float], list[Load]]:
    return lambda amps, pf: [three(amps * ct, pf)]


def _delta_one(ct: float) -> Callable[[float, float], list[Load]]:
    # A single-phase A-B load: only element A (VAB with IA) carries it. Its current sits on
    # VAB, 30° ahead of the three-phase place, so the power-factor angle is taken 30° on.
    return lambda amps, pf: [ll("A", "B", amps * ct, pf + 30.0)]


def _split_each(amps: float, pf: float) -> list[Load]:
    # A 240 V load: the 2S element reads its full current.
    return [ll("A", "B", amps, pf)]


METERS = [
    Meter("CL2", wye(277.0), "9S", ServiceType.WYE, 277.0, 400.0, 0.01, 0.1, "CL2",
          _wye_each(400.0), _wye_one(400.0)),
    Meter("CL10", delta(480.0), "5S", ServiceType.DELTA_3W, 480.0, 40.0, 0.05, 0.5, "CL10",
          _delta_each(40.0), _delta_one(40.0)),
    Meter("CL20", wye(120.0), "9S", ServiceType.WYE, 120.0, 80.0, 0.1, 1.0, "CL20",
          _wye_each(80.0), _wye_one(80.0)),
    Meter("CL100", split_phase(240.0), "2S", ServiceType.ONE_PHASE_3W, 240.0, 1.0, 0.5, 5.0,
          "CL100", _split_each, _split_each),
    Meter("CL200", wye(120.0), "9S", ServiceType.WYE, 120.0, 1.0, 1.0, 10.0, None,
          _wye_each(1.0), _wye_one(1.0)),
    Meter("CL320", split_phase(240.0), "2S", ServiceType.ONE_PHASE_3W, 240.0, 1.0, 1.6, 16.0,
          "CL320", _split_each, _split_each),
]  # fmt: skip


def _by_id(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.id: r for r in results}


def _ids(meter: Meter) -> str:
    return meter.meter_class


@pytest.mark.parametrize("meter", METERS, ids=_ids)
def test_the_floor_and_light_limit_follow_the_class(meter: Meter) -> None:
    scale = load_scale(meter.work_order(), DEFAULT_POLICY)
    assert scale.meter_class == meter.meter_class
    assert scale.floor == pytest.approx(meter.floor)
    assert scale.light == pytest.approx(meter.light)


@pytest.mark.parametrize("meter", METERS, ids=_ids)
def test_vacant_premise_skips_the_angle_checks_and_blames_nothing(meter: Meter) -> None:
    # A third of the floor on each element, at angles only noise would give: one near 90°
    # leading, one that would read as a reversed CT.
    tiny = meter.floor / 3
    loads = meter.each(tiny, -80.0)
    if len(meter.elements) > 1:
        loads = [*meter.one(tiny, 170.0), *meter.each(tiny, -80.0)[1:]]
    results = meter.read(loads)
    got = _by_id(results)
    for check_id in ("polarity", "phase_angle"):
        r = got[check_id]
        assert r.status is SKIP, (check_id, r.message)
        assert "load too light" in r.message
        assert "apply a known load and re-run" in r.message
        assert not r.likely_causes
    if len(meter.elements) > 1:
        assert got["current_imbalance"].status is SKIP
        assert "load too light" in got["current_imbalance"].message
        assert got["inactive_phase_current"].status is PASS
    assert got["reverse_energy"].status is PASS
    assert verdict(results) is PASS, {r.id: r.message for r in results if r.status is not PASS}


@pytest.mark.parametrize("meter", METERS, ids=_ids)
def test_one_phase_barely_loaded_is_judged_for_that_phase_only(meter: Meter) -> None:
    # Twice the floor on element A at 30° lag (a furnace blower, a fridge), the rest idle.
    got = _by_id(meter.read(meter.one(2 * meter.floor, lag(0.87))))
    polarity, angle = got["polarity"], got["phase_angle"]
    assert polarity.status is PASS, polarity.message
    assert angle.status is PASS, angle.message
    for r in (polarity, angle):
        assert "light load" in r.message
        assert "of A within" in r.message or r.message.split(": ", 1)[1].startswith("A within")
        assert f"% of {meter.meter_class}" in r.message
    if len(meter.elements) > 1:
        # The rest of the site is idle: nothing switched on there, or a CT problem.
        assert got["inactive_phase_current"].status is WARN
        assert got["current_imbalance"].status is SKIP
        assert "B below" in polarity.message or "C below" in polarity.message


@pytest.mark.parametrize("meter", METERS, ids=_ids)
def test_a_reactive_light_load_warns_instead_of_failing(meter: Meter) -> None:
    # 65° lag at twice the floor: a small motor idling. At this level it is the load's own
    # power factor far more often than a crossed CT, so it warns and says what to do.
    r = _by_id(meter.read(meter.one(2 * meter.floor, 65.0)))["phase_angle"]
    assert r.status is WARN, r.message
    assert "apply a known load and re-run" in r.message
    assert "normal at this level" in r.likely_causes[0]


@pytest.mark.parametrize("meter", METERS, ids=_ids)
def test_healthy_loaded_site_passes_without_a_light_load_note(meter: Meter) -> None:
    # 40 % of class on every element at 0.9 PF lagging.
    amps = 0.4 * float(meter.meter_class.removeprefix("CL"))
    results = meter.read(meter.each(amps, lag(0.9)))
    got = _by_id(results)
    for check_id in ("polarity", "phase_angle", "cross_phase", "service_voltage"):
        assert got[check_id].status is PASS, (check_id, got[check_id].message)
    assert "light load" not in got["polarity"].message
    assert ", ".join(meter.elements) in got["polarity"].message
    if len(meter.elements) > 1:
        assert got["current_imbalance"].status is PASS
        assert got["inactive_phase_current"].status is PASS
    assert verdict(results) is PASS


@pytest.mark.parametrize("meter", METERS, ids=_ids)
def test_reversed_ct_at_good_load_still_fails_polarity(meter: Meter) -> None:
    amps = 0.4 * float(meter.meter_class.removeprefix("CL"))
    wiring = Wiring(ct=meter.ct, reverse_ct=("A",))
    r = _by_id(meter.read(meter.each(amps, lag(0.9)), wiring))["polarity"]
    assert r.status is FAIL, r.message
    assert "reversed" in r.message


@pytest.mark.parametrize("meter", METERS, ids=_ids)
def test_reversed_ct_at_light_load_still_fails_polarity(meter: Meter) -> None:
    # Twice the floor is a real signal: a current 180° from its place is a reversed CT even
    # when little load runs.
    wiring = Wiring(ct=meter.ct, reverse_ct=("A",))
    r = _by_id(meter.read(meter.one(2 * meter.floor, lag(0.95)), wiring))["polarity"]
    assert r.status is FAIL, r.message


def test_the_old_single_floor_failed_a_healthy_vacant_house() -> None:
    # A vacant 120/208 V apartment on a self-contained 16S (CL200): 0.3-0.5 A of standby
    # load, angles all over. With one 0.1 A floor and no light-load band (the old behaviour)
    # this failed phase_angle with wiring causes.
    meter = METERS[4]
    loads = [ln("A", 0.4, -70.0), ln("B", 0.3, 60.0), ln("C", 0.5, 10.0)]
    phases, total = read_meter(meter.nodes, loads, "9S")
    snap = snapshot(phases, total)
    old = parse_policy(
        {"general": {"low_current_floor_a": 0.1}, "inactive_phase_current": {"light_load_a": 0.1}}
    )
    assert _by_id(run(snap, meter.work_order(), old))["phase_angle"].status is FAIL
    now = _by_id(run(snap, meter.work_order()))
    assert now["phase_angle"].status is SKIP
    assert now["current_imbalance"].status is SKIP


@pytest.mark.parametrize(
    ("work_order", "meter_class", "floor", "basis"),
    [
        (SiteExpectation(meter_class="cl 320", form="2S"), "CL320", 1.6, "CL320 on the work order"),
        (SiteExpectation(form="2S"), "CL200", 1.0, "form 2S is self-contained"),
        (SiteExpectation(form="form 12s"), "CL200", 1.0, "form 12S is self-contained"),
        (SiteExpectation(form="9S", ct_ratio=1.0), "CL20", 0.1, "form 9S is transformer-rated"),
        (SiteExpectation(form="36S"), "CL20", 0.1, "transformer-rated"),
        # 5S is built both ways: the CT ratio decides, and without one the class is unknown.
        (SiteExpectation(form="5S", ct_ratio=40.0), "CL20", 0.1, "CT ratio 40"),
        (SiteExpectation(form="5S"), None, 0.1, "meter class unknown"),
        (SiteExpectation(ct_ratio=80.0), "CL20", 0.1, "CT ratio 80"),
        (SiteExpectation(), None, 0.1, "meter class unknown"),
        (SiteExpectation(meter_class="CL250", form="16S"), "CL200", 1.0, "'CL250' on the work"),
    ],
)
def test_where_the_class_comes_from(
    work_order: SiteExpectation, meter_class: str | None, floor: float, basis: str
) -> None:
    scale = load_scale(work_order, DEFAULT_POLICY)
    assert scale.meter_class == meter_class
    assert scale.floor == pytest.approx(floor)
    assert basis in scale.basis


def test_policy_overrides_per_class_and_globally() -> None:
    cl200 = SiteExpectation(meter_class="CL200")
    per_class = parse_policy({"light_load": {"floor_a": {"CL200": 2.0}, "light_pct": 10}})
    assert load_scale(cl200, per_class).floor == 2.0
    assert load_scale(cl200, per_class).light == pytest.approx(20.0)
    assert load_scale(SiteExpectation(meter_class="CL20"), per_class).floor == 0.1
    every = parse_policy(
        {"general": {"low_current_floor_a": 0.3}, "inactive_phase_current": {"light_load_a": 2}}
    )
    for work_order in (cl200, SiteExpectation(meter_class="CL2")):
        scale = load_scale(work_order, every)
        assert (scale.floor, scale.light) == (0.3, 2.0)
        assert "[general] low_current_floor_a" in scale.basis


@pytest.mark.parametrize(
    ("text", "form"), [("9S", "9S"), ("9s", "9S"), (" Form 16S ", "16S"), ("2", "2S"), ("", None)]
)
def test_forms_are_normalised(text: str, form: str | None) -> None:
    assert normal_form(text) == form


@pytest.mark.parametrize("meter", METERS, ids=_ids)
def test_a_current_just_past_the_window_warns_at_light_load_and_fails_at_good_load(
    meter: Meter,
) -> None:
    # 100° leading: a capacitor bank left on at a quiet site, or a crossed CT. At twice the
    # floor the technician re-runs under load; at 40 % of class it is a wiring fault.
    light = _by_id(meter.read(meter.one(2 * meter.floor, -100.0)))["polarity"]
    assert light.status is WARN, light.message
    assert "apply a known load and re-run" in light.message
    loaded = 0.4 * float(meter.meter_class.removeprefix("CL"))
    heavy = _by_id(meter.read(meter.one(loaded, -100.0)))["polarity"]
    assert heavy.status is FAIL, heavy.message
