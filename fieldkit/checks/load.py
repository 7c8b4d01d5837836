"""How much current a meter needs before its angles mean anything: the light-load scale.

The floor follows from the meter's ANSI current class, because a class is the meter's full
scale: 1 A is 0.5 % of a self-contained CL200 meter (a few lights at a vacant house) and
50 % of a transformer-rated CL2 meter behind CTs. The class comes from, in order:

1. the work order's ``meter_class`` (the nameplate);
2. the form: forms only ever built self-contained are taken as CL200, forms only ever built
   transformer-rated as CL20 (the common class of each family);
3. the CT ratio: above 1 the meter is behind CTs, taken as CL20;
4. otherwise the class is unknown and the CL20 figures apply (the lowest common class, so
   nothing that could be judged is skipped; they are also the floors the kit used before).

``[general] low_current_floor_a`` and ``[inactive_phase_current] light_load_a``, when a
policy sets them, replace the class's floor and light-load limit for every meter.
docs/checks.md ("Light load") gives the derivation of the numbers and the sources of the
form lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from fieldkit.checks import fmt
from fieldkit.checks.policy import Thresholds
from fieldkit.model import SiteExpectation, meter_class

__all__ = [
    "SELF_CONTAINED_FORMS",
    "TRANSFORMER_RATED_FORMS",
    "LoadScale",
    "load_scale",
    "normal_form",
]

# Sources: design.md and site-diagnostics.md §2.3 (which form serves which service), and the
# meter-form guides at learnmetering.com/meter-forms ("1S, 2S, 12S, 16S for self-contained
# meters and 3S, 5S, 6S, 9S for transformer-rated"). 5S is left out of both: the same guide's
# 5S page says it "can be self-contained or transformer-rated", so the CT ratio decides.
SELF_CONTAINED_FORMS: frozenset[str] = frozenset({"1S", "2S", "12S", "16S", "25S"})
TRANSFORMER_RATED_FORMS: frozenset[str] = frozenset(
    {"3S", "4S", "6S", "8S", "9S", "10S", "36S", "45S"}
)

# The class assumed for a family when only the family is known: the common one of each.
SELF_CONTAINED_CLASS = "CL200"
TRANSFORMER_RATED_CLASS = "CL20"


def normal_form(text: str | None) -> str | None:
    """A form as the kit writes it ('9S') from '9S', '9s', 'Form 9S', ' 9 S', '9'."""
    if text is None:
        return None
    cleaned = "".join(str(text).upper().split()).removeprefix("FORM")
    if cleaned.isdigit():
        cleaned += "S"
    return cleaned or None


@dataclass(frozen=True, slots=True)
class LoadScale:
    """The current levels the angle and imbalance checks judge by, for one meter."""

    floor: float  # secondary amps: below it an element's current angle is noise
    light: float  # secondary amps: a judged current below it is light load
    meter_class: str | None  # 'CL200' when known or inferred from the form or CT ratio
    class_amps: float | None
    basis: str  # how the class was found, for the messages

    def share(self, amps: float) -> str:
        """'0.6 % of CL200', or '' when the class is unknown."""
        if self.class_amps is None or self.meter_class is None:
            return ""
        return f"{fmt.limit(round(amps / self.class_amps * 100.0, 1))} % of {self.meter_class}"

    def level(self, amps: float) -> str:
        """A current with its share of the class: '1.20 A, 0.6 % of CL200'."""
        share = self.share(amps)
        return f"{fmt.amps(amps)}, {share}" if share else fmt.amps(amps)

    def floor_words(self) -> str:
        """'the 1 A floor of a CL200 meter' (or the policy's, or an unknown class's)."""
        floor = f"the {fmt.limit(self.floor)} A floor"
        return f"{floor} ({self.basis})"


def _class_of(expectation: SiteExpectation) -> tuple[str | None, str]:
    """The meter's class and how it was found."""
    problem = ""
    if expectation.meter_class:
        try:
            found = meter_class(expectation.meter_class)
            return found, f"{found} on the work order"
        except ValueError:
            problem = f"class {expectation.meter_class!r} on the work order not known; "
    form = normal_form(expectation.form)
    if form in SELF_CONTAINED_FORMS:
        return (
            SELF_CONTAINED_CLASS,
            f"{problem}form {form} is self-contained: {SELF_CONTAINED_CLASS} assumed",
        )
    if form in TRANSFORMER_RATED_FORMS:
        return (
            TRANSFORMER_RATED_CLASS,
            f"{problem}form {form} is transformer-rated: {TRANSFORMER_RATED_CLASS} assumed",
        )
    ct = expectation.ct_ratio
    if isinstance(ct, int | float) and not isinstance(ct, bool) and ct > 1:
        return (
            TRANSFORMER_RATED_CLASS,
            f"{problem}CT ratio {ct:g}: transformer-rated, {TRANSFORMER_RATED_CLASS} assumed",
        )
    return None, f"{problem}meter class unknown"


def load_scale(expectation: SiteExpectation, thresholds: Thresholds) -> LoadScale:
    """The floor and light-load limit for the meter the work order describes."""
    policy = thresholds.light_load
    found, basis = _class_of(expectation)
    # An unknown class is judged with the lowest common class's figures, so nothing that
    # could be judged is skipped.
    figures = found or TRANSFORMER_RATED_CLASS
    class_amps = float(figures.removeprefix("CL"))
    floor = policy.floor_a.of(figures)
    light = policy.light_pct / 100.0 * class_amps
    general = thresholds.general.low_current_floor_a
    if general is not None:
        floor = general
        basis = f"[general] low_current_floor_a; {basis}"
    override = thresholds.inactive_phase_current.light_load_a
    if override is not None:
        light = override
    return LoadScale(
        floor=floor,
        light=max(light, floor),
        meter_class=found,
        class_amps=class_amps if found is not None else None,
        basis=basis,
    )
