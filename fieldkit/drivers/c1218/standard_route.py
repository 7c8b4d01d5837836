"""Units and phases from the standard tables, for meters no profile describes. Pure: no I/O.

C12.19 describes every *source* a meter measures: ST16 says which tables cover it, ST12
gives its unit (quantity, time base, power of ten, quadrants, phase), ST15 its constants.
ST27 and ST22 then name the source behind each present value and register. Following that
route gives named, scaled per-phase values and kWh/kvarh/kW registers without a profile.

Choices made where the sources disagree (``c1219-addendum.md`` §B):

* ST12 (and ST15) entries are found by the *bit walk*: the entry of source ``s`` is the
  number of sources before ``s`` whose UOM_ENTRY_FLAG (CONSTANTS_FLAG) is set. Some
  implementations index ST12 by ``s`` directly; both readings agree when every flag is set.
  When the entry count disagrees with the flags, only sources on which both readings agree
  are labelled, and the catalog says why the others are not.
* CONSTANT_TO_BE_APPLIED set means the reader applies the ST15 multiplier and offset (the
  AMPY/NIST reading). The SET1/SET2 transformer ratios are *not* applied: the kit keeps
  secondary values, and the work order carries the CT and PT ratios.
* A line-to-line SEGMENTATION belongs to the element of its first line (A–B is "A", B–C
  "B", C–A "C"): a 2S meter's single L1–L2 element is "A". One exception keeps a 5S/45S
  delta meter right: when the first line carries no current and the second does, the
  element is the second line's, so the meter's VCB (coded B–C) pairs with IC as element C.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from fieldkit.drivers.c1218.profile import ANGLE_QUANTITIES
from fieldkit.drivers.c1218.tables import (
    ActualSources,
    CurrentRegisterData,
    DataBlock,
    DataSelection,
    ElectricConstants,
    PresentRegisterData,
    PresentRegisterSelect,
    SourceDefinition,
    UomEntry,
)
from fieldkit.model import PhaseQuantities, Register, normalize_angle

__all__ = [
    "UNUSED_SOURCE",
    "PresentQuantity",
    "SourceCatalog",
    "StandardQuantities",
    "present_quantities",
    "standard_registers",
]

UNUSED_SOURCE = 255  # a selection slot that names no source

# ST12 ID_CODE values this module names.
_ID_WATTS = 0
_ID_VARS = 1
_PER_PHASE_NAMES: dict[int, str] = {
    _ID_WATTS: "active_power",
    _ID_VARS: "reactive_power",
    8: "voltage",  # RMS volts
    12: "current",  # RMS current
    20: "voltage_angle",
    22: "current_angle",
    24: "power_factor",  # from apparent power
    25: "power_factor",  # from phasor power
}
_SITE_TOTAL_NAMES: dict[int, str] = {
    _ID_WATTS: "total_active_power",
    _ID_VARS: "total_reactive_power",
}
_ID_FREQUENCY = 33
_ID_TEMPERATURE = {70: "C", 72: "F", 74: "K"}  # dry-bulb temperature in °C, °F, K

_INSTANTANEOUS = frozenset({1, 2})  # TIME_BASE instantaneous, one fundamental period
_BULK = 0
_DEMAND_TIME_BASES = frozenset({3, 4, 6})  # sub-block, block and thermal demand

_SEG_TOTAL = 0
_SEG_NEUTRAL_GROUND = 4
_LINE_TO_NEUTRAL = {5: "A", 6: "B", 7: "C"}
_LINE_TO_LINE = {1: ("A", "B"), 2: ("B", "C"), 3: ("C", "A")}

_PHASE_ORDER = ("A", "B", "C")
_DIGITS = 6  # the profile route rounds to the same resolution


def _power_of_ten(value: float, exponent: int) -> float:
    # Dividing by 10**k is exact where multiplying by 10**-k is not (24050 × 0.01).
    factor = float(10 ** abs(exponent))
    return value * factor if exponent >= 0 else value / factor


def _flag_walk(
    flags: Sequence[bool], entries: int, table: str, flag: str
) -> tuple[tuple[int | None, ...], str | None]:
    """Entry index per source by the bit walk, and a warning when the count disagrees."""
    flagged = sum(flags)
    agreed = flagged == entries
    out: list[int | None] = []
    walked = 0
    for source, has_entry in enumerate(flags):
        if not has_entry:
            out.append(None)
            continue
        index = walked
        walked += 1
        # With the count off, a source is safe only where direct indexing gives the same entry.
        usable = agreed or (index == source and index < entries)
        out.append(index if usable else None)
    if agreed:
        return tuple(out), None
    return tuple(out), (
        f"{table} has {entries} entries but ST16 sets {flag} on {flagged} sources: its "
        "entries are used only for sources where both ways of indexing give the same one"
    )


@dataclass(frozen=True, slots=True)
class SourceCatalog:
    """Every source's definition, unit and constants, resolved once for a snapshot."""

    sources: tuple[SourceDefinition, ...]
    uom_entries: tuple[UomEntry, ...]
    constants: tuple[ElectricConstants, ...]
    uom_index: tuple[int | None, ...]  # per source: its ST12 entry, None if none or unsure
    constants_index: tuple[int | None, ...]  # per source: its ST15 record
    warnings: tuple[str, ...]
    uom_problem: str | None = None  # why some ST12 entries cannot be placed
    constants_problem: str | None = None  # why ST15 records cannot be used or placed

    @classmethod
    def build(
        cls,
        st11: ActualSources,
        st12: Sequence[UomEntry],
        st16: Sequence[SourceDefinition],
        st15: Sequence[ElectricConstants] | None = None,
        *,
        st15_problem: str | None = None,
    ) -> SourceCatalog:
        """Resolve the tables; ``st15`` is None when the meter has no ST15 (or it failed).

        ``st15_problem`` is why an ST15 the meter lists could not be used (its decode
        error); the reasons of the sources it leaves unscaled quote it.
        """
        warnings: list[str] = []
        uom_index, uom_warning = _flag_walk(
            [s.uom_entry for s in st16], len(st12), "ST12", "UOM_ENTRY_FLAG"
        )
        if uom_warning:
            warnings.append(uom_warning)
        constants = tuple(st15 or ())
        constants_index, k_warning = _flag_walk(
            [s.constants for s in st16], len(constants), "ST15", "CONSTANTS_FLAG"
        )
        needs_constants = [
            n for n, s in enumerate(st16) if s.constants and s.constant_to_be_applied
        ]
        constants_problem = None
        if st15 is None and needs_constants:
            constants_problem = st15_problem or "the meter has no ST15"
            warnings.append(
                f"ST16 asks for ST15 constants on {len(needs_constants)} sources but there is "
                "no usable ST15: those sources stay unscaled"
            )
        elif st15 is not None and k_warning:
            constants_problem = k_warning
            warnings.append(k_warning)
        if st11.nbr_uom_entries != len(st12) or st11.nbr_sources != len(st16):
            warnings.append("ST11 counts do not match the ST12/ST16 given")
        return cls(
            sources=tuple(st16),
            uom_entries=tuple(st12),
            constants=constants,
            uom_index=uom_index,
            constants_index=constants_index,
            warnings=tuple(warnings),
            uom_problem=uom_warning,
            constants_problem=constants_problem,
        )

    def uom_entry(self, source: int) -> UomEntry | None:
        """The unit of ``source``; None when it has none, is out of range, or is ambiguous."""
        if not 0 <= source < len(self.uom_index):
            return None
        index = self.uom_index[source]
        return None if index is None else self.uom_entries[index]

    def constants_for(self, source: int) -> ElectricConstants | None:
        """The ST15 record of ``source``, if it has one that can be identified."""
        if not 0 <= source < len(self.constants_index):
            return None
        index = self.constants_index[source]
        return None if index is None or index >= len(self.constants) else self.constants[index]

    def why_unscaled(self, source: int) -> str | None:
        """Why :meth:`scale` gives None for ``source`` (None when it does not).

        Each reason starts with the table at fault.
        """
        if not 0 <= source < len(self.sources):
            return f"ST16: source {source} is beyond the meter's {len(self.sources)} sources"
        definition = self.sources[source]
        if not definition.uom_entry:
            return f"ST16: source {source} has no unit of measure (UOM_ENTRY_FLAG clear)"
        uom = self.uom_entry(source)
        if uom is None:
            why = f" ({self.uom_problem})" if self.uom_problem else ""
            return f"ST12: the unit of source {source} cannot be located{why}"
        if uom.nfs:
            return f"ST12: source {source} does not follow the standard definitions (NFS)"
        applies = definition.constants and definition.constant_to_be_applied
        if applies and self.constants_for(source) is None:
            why = f" ({self.constants_problem})" if self.constants_problem else ""
            return f"ST15: the constants of source {source} cannot be located{why}"
        if not definition.pulse_engr and not applies:
            return f"ST16: source {source} counts pulses and has no constants to convert them"
        return None

    def scale(self, source: int, raw: float) -> float | None:
        """``raw`` in base units (W, var, VA, V, A, Hz, °, °C; Wh for energy), or None.

        The ST15 multiplier and offset apply first when the source asks for them, then the
        ST12 power of ten (the order of the 2008 text).
        """
        if self.why_unscaled(source) is not None:
            return None
        uom = self.uom_entry(source)
        if uom is None:  # ruled out by why_unscaled; keeps mypy and the reader sure
            return None
        value = float(raw)
        definition = self.sources[source]
        if definition.constants and definition.constant_to_be_applied:
            constants = self.constants_for(source)
            if constants is None:
                return None
            value = value * constants.multiplier + (constants.offset or 0.0)
        return _power_of_ten(value, uom.multiplier_exponent)


@dataclass(frozen=True, slots=True)
class PresentQuantity:
    """One present value the standard tables name: ST28 index, source, name, element."""

    index: int
    source: int
    name: str  # a profile quantity name (PHASE_QUANTITIES or SITE_QUANTITIES)
    phase: str | None  # None for site-wide quantities
    value: float


@dataclass(frozen=True, slots=True)
class StandardQuantities:
    """The present values the standard route could name, and notes on the rest."""

    values: tuple[PresentQuantity, ...]
    notes: tuple[str, ...]

    def phases(self) -> tuple[PhaseQuantities, ...]:
        """One entry per element that has at least one quantity, in A, B, C order."""
        by_phase: dict[str, dict[str, float]] = {}
        for q in self.values:
            if q.phase is not None:
                by_phase.setdefault(q.phase, {})[q.name] = q.value
        return tuple(
            PhaseQuantities.from_values(ph, got) for ph in _PHASE_ORDER if (got := by_phase.get(ph))
        )

    def site(self) -> dict[str, float]:
        """Site-wide quantities by name (frequency, temperature_c, totals)."""
        return {q.name: q.value for q in self.values if q.phase is None}


@dataclass(frozen=True, slots=True)
class _Candidate:
    index: int
    source: int
    name: str
    segmentation: int
    value: float


def _candidate(
    catalog: SourceCatalog, index: int, source: int, raw: float
) -> _Candidate | str | None:
    """A labelled present value, a note on why it is not, or None for the unremarkable."""
    if source == UNUSED_SOURCE:
        return None
    uom = catalog.uom_entry(source)
    if uom is None:
        # Without its unit nobody can tell what this value is: say why it is dropped.
        return f"present value {index}: {catalog.why_unscaled(source)}"
    if uom.nfs or uom.harmonic:
        return None  # not a quantity the kit names: nothing to say about it
    if uom.time_base not in _INSTANTANEOUS:
        return None
    seg = uom.segmentation
    if uom.id_code == _ID_FREQUENCY:
        name = "frequency"
        seg = _SEG_TOTAL
    elif uom.id_code in _ID_TEMPERATURE:
        name = "temperature_c"
        seg = _SEG_TOTAL
    elif uom.id_code in _PER_PHASE_NAMES:
        if seg == _SEG_NEUTRAL_GROUND:
            return None
        if seg == _SEG_TOTAL:
            if uom.id_code not in _SITE_TOTAL_NAMES:
                return None  # no site-wide voltage, current, angle or PF in the snapshot
            name = _SITE_TOTAL_NAMES[uom.id_code]
        else:
            name = _PER_PHASE_NAMES[uom.id_code]
    else:
        return None
    value = catalog.scale(source, raw)
    if value is None:
        return f"present value {index} ({name}): {catalog.why_unscaled(source)}"
    if uom.id_code in _ID_TEMPERATURE:
        value = _celsius(value, _ID_TEMPERATURE[uom.id_code])
    if name in ANGLE_QUANTITIES:
        value = normalize_angle(value)
    return _Candidate(index, source, name, seg, round(value, _DIGITS))


def _celsius(value: float, unit: str) -> float:
    if unit == "F":
        return (value - 32.0) * 5.0 / 9.0
    if unit == "K":
        return value - 273.15
    return value


def _element(segmentation: int, current_phases: frozenset[str]) -> str | None:
    if segmentation in _LINE_TO_NEUTRAL:
        return _LINE_TO_NEUTRAL[segmentation]
    if segmentation in _LINE_TO_LINE:
        first, second = _LINE_TO_LINE[segmentation]
        if first not in current_phases and second in current_phases:
            return second  # a delta meter's VCB is coded B–C but is element C
        return first
    return None


def present_quantities(
    catalog: SourceCatalog, st27: PresentRegisterSelect, st28: PresentRegisterData
) -> StandardQuantities:
    """Name and scale every present value whose source has a known instantaneous unit.

    Harmonic and NFS entries are skipped; the first present value for a (name, element)
    wins. Notes say which would-be quantities could not be scaled.
    """
    candidates: list[_Candidate] = []
    notes: list[str] = []
    for index, (source, raw) in enumerate(zip(st27.value_select, st28.values, strict=False)):
        found = _candidate(catalog, index, source, raw)
        if isinstance(found, str):
            notes.append(found)
        elif found is not None:
            candidates.append(found)
    current_phases = frozenset(
        _LINE_TO_NEUTRAL[c.segmentation]
        for c in candidates
        if c.name == "current" and c.segmentation in _LINE_TO_NEUTRAL
    )
    values: list[PresentQuantity] = []
    seen: set[tuple[str, str | None]] = set()
    for c in candidates:
        phase = None if c.segmentation == _SEG_TOTAL else _element(c.segmentation, current_phases)
        if phase is None and c.segmentation != _SEG_TOTAL:
            continue
        key = (c.name, phase)
        if key in seen:
            continue
        seen.add(key)
        values.append(PresentQuantity(c.index, c.source, c.name, phase, c.value))
    return StandardQuantities(values=tuple(values), notes=tuple(notes))


# --- registers -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RegisterKind:
    id: str
    unit: str
    description: str


_KWH_DELIVERED = _RegisterKind("kwh_delivered", "kWh", "Energy delivered (Q1+Q4)")
_KWH_RECEIVED = _RegisterKind("kwh_received", "kWh", "Energy received (Q2+Q3)")
_KVARH_DELIVERED = _RegisterKind("kvarh_delivered", "kvarh", "Reactive energy delivered (Q1+Q2)")
_KVARH_RECEIVED = _RegisterKind("kvarh_received", "kvarh", "Reactive energy received (Q3+Q4)")
_KW_DEMAND_MAX = _RegisterKind("kw_demand_max", "kW", "Maximum demand since the last reset")
_KILO = 1000.0


def _quadrants(uom: UomEntry) -> tuple[bool, bool, bool, bool]:
    return (uom.q1, uom.q2, uom.q3, uom.q4)


# Energy direction by the quadrants a summation accumulates. Active energy is delivered in
# Q1+Q4 (power flows to the customer); reactive energy is delivered in Q1+Q2 (vars flow to
# the customer), the usual import/export split.
_SUMMATION_KINDS: dict[tuple[int, tuple[bool, bool, bool, bool]], _RegisterKind] = {
    (_ID_WATTS, (True, False, False, True)): _KWH_DELIVERED,
    (_ID_WATTS, (False, True, True, False)): _KWH_RECEIVED,
    (_ID_VARS, (True, True, False, False)): _KVARH_DELIVERED,
    (_ID_VARS, (False, False, True, True)): _KVARH_RECEIVED,
}


def _summation_kind(uom: UomEntry) -> _RegisterKind | None:
    if uom.nfs or uom.harmonic or uom.time_base != _BULK:
        return None
    return _SUMMATION_KINDS.get((uom.id_code, _quadrants(uom)))


def _is_max_watt_demand(uom: UomEntry, is_max: bool) -> bool:
    if uom.nfs or uom.harmonic or uom.id_code != _ID_WATTS or not is_max:
        return False
    if uom.time_base not in _DEMAND_TIME_BASES:
        return False
    received_only = not (uom.q1 or uom.q4) and (uom.q2 or uom.q3)
    return not received_only


def _block_registers(
    catalog: SourceCatalog,
    st22: DataSelection,
    block: DataBlock,
    tier: str | None,
    localize: Callable[[datetime], datetime] | None,
    notes: list[str] | None = None,
) -> list[Register]:
    out: list[Register] = []
    taken: set[str] = set()
    where = "" if tier is None else f" (tier {tier})"

    def note(text: str) -> None:
        if notes is not None:
            notes.append(text)

    for n, (source, raw) in enumerate(zip(st22.summation_select, block.summations, strict=False)):
        if source == UNUSED_SOURCE:
            continue
        uom = catalog.uom_entry(source)
        if uom is None:
            note(f"summation {n}{where}: {catalog.why_unscaled(source)}")
            continue
        kind = _summation_kind(uom)
        if kind is None or kind.id in taken:
            continue
        wh = catalog.scale(source, raw)
        if wh is None:
            note(f"{kind.id}{where}: {catalog.why_unscaled(source)}")
            continue
        taken.add(kind.id)
        value = round(wh / _KILO, _DIGITS)
        out.append(Register(kind.id, value, kind.unit, kind.description, tier))
    for n, (source, demand) in enumerate(zip(st22.demand_select, block.demands, strict=False)):
        if _KW_DEMAND_MAX.id in taken or source == UNUSED_SOURCE or not demand.values:
            continue
        uom = catalog.uom_entry(source)
        is_max = n < len(st22.min_or_max_flags) and st22.min_or_max_flags[n]
        if uom is None:
            note(f"demand {n}{where}: {catalog.why_unscaled(source)}")
            continue
        if not _is_max_watt_demand(uom, is_max):
            continue
        watts = catalog.scale(source, demand.values[0])
        if watts is None:
            note(f"{_KW_DEMAND_MAX.id}{where}: {catalog.why_unscaled(source)}")
            continue
        taken.add(_KW_DEMAND_MAX.id)
        stamp = demand.event_times[0] if demand.event_times else None
        if stamp is not None and localize is not None:
            stamp = localize(stamp)
        kind = _KW_DEMAND_MAX
        value = round(watts / _KILO, _DIGITS)
        out.append(Register(kind.id, value, kind.unit, kind.description, tier, stamp))
    return out


def standard_registers(
    catalog: SourceCatalog,
    st22: DataSelection,
    st23: CurrentRegisterData,
    *,
    localize: Callable[[datetime], datetime] | None = None,
    notes: list[str] | None = None,
) -> tuple[Register, ...]:
    """kWh and kvarh delivered/received and the maximum kW demand, by their ST12 units.

    Ids are the profiles' ids. Bulk (TIME_BASE 0) W and var summations are told apart by
    their quadrants; the first maximum W demand (TIME_BASE 3, 4 or 6) that is not
    received-only is ``kw_demand_max``, stamped with its event time (passed through
    ``localize`` to attach the meter's time zone). Tiers follow the total as "A", "B", ...
    ``notes``, when given, collects one line per register dropped for want of a unit or a
    scale, naming the table at fault.
    """
    out = _block_registers(catalog, st22, st23.total, None, localize, notes)
    for n, block in enumerate(st23.tiers):
        out += _block_registers(catalog, st22, block, chr(ord("A") + n), localize, notes)
    return tuple(out)
