"""What each source of the simulated meter measures: the data behind ST11, ST12 and ST16.

Layout (``c1219-addendum.md`` §B): sources 0–3 are the ST23 summations (Wh and varh,
delivered and received), source 4 the ST23 maximum demand in W, and source 5 + j is ST28
present value j, in the order ``docs/simulators.md`` gives (quantity k of element i at
k·n + i, then the four site values).

Each present value keeps its raw number as ``value × 10^-power``; the ST12 MULTIPLIER code
says ``10^power``. ST12 has no code for 10^-4 (power factor) or 10^-1 (temperature), so those
two entries carry the NFS flag: a reader must not label or scale them. The ST15 route was
not taken because an integer NI_FORMAT1 cannot hold a fractional constant and the reference
leaves the sense of CONSTANT_TO_BE_APPLIED open, so a reader could not trust the result.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BLOCK_DEMAND_FLAG",
    "CONSTANTS_SELECTOR_ELECTRIC",
    "ELEMENT_SEGMENTATION",
    "MULTIPLIER_CODES",
    "PRESENT_VALUE_SOURCE_BASE",
    "SOURCE_DEF_FLAGS",
    "SourceDefinition",
    "meter_sources",
]

# ST12 ID_CODE values (addendum §B.2).
ID_ACTIVE_POWER = 0
ID_REACTIVE_POWER = 1
ID_RMS_VOLTS = 8
ID_RMS_CURRENT = 12
ID_VOLTAGE_ANGLE = 20
ID_CURRENT_ANGLE = 22
ID_POWER_FACTOR = 24
ID_FREQUENCY = 33
ID_TEMPERATURE_C = 70

# ST12 TIME_BASE values.
TIME_BASE_BULK = 0
TIME_BASE_INSTANTANEOUS = 1
TIME_BASE_BLOCK_DEMAND = 4

# ST12 SEGMENTATION values.
SEG_TOTAL = 0
SEG_A_B = 1
SEG_A_N = 5
SEG_B_N = 6
SEG_C_N = 7

# ST12 MULTIPLIER code for each power of ten it can express.
MULTIPLIER_CODES: dict[int, int] = {0: 0, 2: 1, 3: 2, 6: 3, 9: 4, -2: 5, -3: 6, -6: 7}

# Where each model's elements sit: the 2S element is the 240 V winding between L1 and L2.
ELEMENT_SEGMENTATION: dict[str, tuple[int, ...]] = {
    "SIM-2S": (SEG_A_B,),
    "SIM-16S": (SEG_A_N, SEG_B_N, SEG_C_N),
}

PRESENT_VALUE_SOURCE_BASE = 5  # the five register sources come first
BLOCK_DEMAND_FLAG = 0x04  # ST11 SOURCE_FLAGS: the demand source is a block demand
CONSTANTS_SELECTOR_ELECTRIC = 2
# ST16 byte of every source: UOM_ENTRY_FLAG (b0) | PULSE_ENGR_FLAG (b4, engineering units).
# No CONSTANTS_FLAG: the meter has no ST15.
SOURCE_DEF_FLAGS = 0x11

_NFS = 1 << 31


@dataclass(frozen=True, slots=True)
class SourceDefinition:
    """One source: a name for people and the fields of its ST12 UOM_ENTRY_BFLD.

    ``power`` is the power of ten the raw number is in (raw × 10^power = units); a power
    no ST12 MULTIPLIER code expresses makes the entry NFS.
    """

    name: str
    id_code: int
    time_base: int
    power: int = 0
    segmentation: int = SEG_TOTAL
    quadrants: tuple[int, ...] = ()

    @property
    def nfs(self) -> bool:
        """True when the entry does not follow the standard definitions (no multiplier)."""
        return self.power not in MULTIPLIER_CODES

    def uom_entry(self) -> int:
        """The ST12 UOM_ENTRY_BFLD as an unsigned 32-bit number (bit layout: §B.2)."""
        entry = self.id_code | self.time_base << 8 | self.segmentation << 19
        for quadrant in self.quadrants:
            entry |= 1 << (13 + quadrant)  # Q1 is bit 14 ... Q4 bit 17
        if self.nfs:
            return entry | _NFS  # MULTIPLIER left 0: the raw number is all a reader gets
        return entry | MULTIPLIER_CODES[self.power] << 11


@dataclass(frozen=True, slots=True)
class _Quantity:
    name: str
    id_code: int
    power: int


# Per-element present values, in ST28 order k = 0..6.
_ELEMENT_QUANTITIES = (
    _Quantity("RMS volts", ID_RMS_VOLTS, -2),
    _Quantity("RMS current", ID_RMS_CURRENT, -3),
    _Quantity("voltage angle", ID_VOLTAGE_ANGLE, -2),
    _Quantity("current angle", ID_CURRENT_ANGLE, -2),
    _Quantity("power factor", ID_POWER_FACTOR, -4),
    _Quantity("active power", ID_ACTIVE_POWER, 0),
    _Quantity("reactive power", ID_REACTIVE_POWER, 0),
)
# Then the site values, not phase related.
_SITE_QUANTITIES = (
    _Quantity("frequency", ID_FREQUENCY, -2),
    _Quantity("temperature °C", ID_TEMPERATURE_C, -1),
    _Quantity("total active power", ID_ACTIVE_POWER, 0),
    _Quantity("total reactive power", ID_REACTIVE_POWER, 0),
)

# The registers: delivered energy is Q1+Q4 (W flowing to the customer); for varh the
# simulator adds positive (lagging) var to "delivered", which is Q1+Q2 (IEC +R), not Q1+Q4.
_REGISTER_SOURCES = (
    SourceDefinition("Wh delivered", ID_ACTIVE_POWER, TIME_BASE_BULK, quadrants=(1, 4)),
    SourceDefinition("Wh received", ID_ACTIVE_POWER, TIME_BASE_BULK, quadrants=(2, 3)),
    SourceDefinition("varh delivered", ID_REACTIVE_POWER, TIME_BASE_BULK, quadrants=(1, 2)),
    SourceDefinition("varh received", ID_REACTIVE_POWER, TIME_BASE_BULK, quadrants=(3, 4)),
    SourceDefinition("W maximum demand", ID_ACTIVE_POWER, TIME_BASE_BLOCK_DEMAND, quadrants=(1, 4)),
)


def _instantaneous(quantity: _Quantity, name: str, segmentation: int) -> SourceDefinition:
    return SourceDefinition(
        name,
        quantity.id_code,
        TIME_BASE_INSTANTANEOUS,
        power=quantity.power,
        segmentation=segmentation,
    )


def meter_sources(model: str, elements: tuple[str, ...]) -> tuple[SourceDefinition, ...]:
    """Every source of a ``model`` meter with these ``elements``, in source-index order.

    Raises KeyError for an unknown model and ValueError when ``elements`` do not fit it;
    both are programming errors, since the scenario loader accepts only known models with
    their own elements.
    """
    segments = ELEMENT_SEGMENTATION[model]
    if len(segments) != len(elements):
        raise ValueError(f"{model} has {len(segments)} elements, got {list(elements)}")
    sources = list(_REGISTER_SOURCES)
    for quantity in _ELEMENT_QUANTITIES:  # k·n + i: quantity-major, element-minor
        for element, segmentation in zip(elements, segments, strict=True):
            sources.append(_instantaneous(quantity, f"{quantity.name} {element}", segmentation))
    sources += (_instantaneous(q, q.name, SEG_TOTAL) for q in _SITE_QUANTITIES)
    return tuple(sources)
