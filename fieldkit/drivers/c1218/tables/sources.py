"""Sources and their units: ST11 dimensions, ST12 units of measure, ST15 constants, ST16 flags.

A meter's *sources* are the quantities it measures; ST22 and ST27 pick registers and present
values by source index. ST16 says, per source, which of the other tables describe it; ST12
gives the unit (quantity, time base, power of ten, quadrants, phase) and ST15 the constants
(electric selector only). Sizes follow from ST11 and ST0's NI_FORMAT1, and every decoder
checks the byte count before reading a field.

ST15 has one layout question the sources disagree on: whether each record has an OFFSET
(ST11 bit 7 is "no offset" in one implementation and a conversion-algorithm flag in the 2008
text). The table's length settles it: :func:`st15_sizes` gives both sizes and
:func:`decode_st15` keeps the reading that matches.
"""

from __future__ import annotations

from dataclasses import dataclass

from fieldkit.drivers.errors import DecodeError

from ._common import check_length, table_context
from ._reader import TableReader
from .config import GeneralConfig
from .formats import ni_size

__all__ = [
    "CONSTANTS_SELECTOR_ELECTRIC",
    "ST11_SIZE",
    "ST12_ENTRY_SIZE",
    "ActualSources",
    "ConstantSet",
    "ElectricConstants",
    "SourceDefinition",
    "UomEntry",
    "decode_st11",
    "decode_st12",
    "decode_st15",
    "decode_st16",
    "multiplier_exponent",
    "st12_size",
    "st15_sizes",
    "st16_size",
]

ST11_SIZE = 8
ST12_ENTRY_SIZE = 4  # UOM_ENTRY_BFLD is a UINT32 in DATA_ORDER
CONSTANTS_SELECTOR_ELECTRIC = 2
_SELECTOR_NAMES = {0: "gas, AGA-3", 1: "gas, AGA-7", 2: "electric"}

# ST12 MULTIPLIER code -> power of ten. Two table decoders agree on this scale; one vendor's
# firmware comments a different one for its own field, which is not ST12.
_MULTIPLIER_EXPONENTS = (0, 2, 3, 6, 9, -2, -3, -6)


@dataclass(frozen=True, slots=True)
class ActualSources:
    """ST11 ACT_SOURCES_LIM_TBL: how many entries ST12–ST16 have, and which options."""

    pf_exclude: bool
    reset_exclude: bool
    block_demand: bool
    sliding_demand: bool
    thermal_demand: bool
    set1_present: bool
    set2_present: bool
    # NO_OFFSET_FLAG in one implementation, CONVERSION_ALG_FLAG in the 2008 text: kept as
    # read; ST15's length, not this bit, decides whether OFFSET is there.
    flag_bit7: bool
    nbr_uom_entries: int
    nbr_demand_ctrl_entries: int
    data_ctrl_length: int
    nbr_data_ctrl_entries: int
    nbr_constants_entries: int
    constants_selector: int
    nbr_sources: int


@dataclass(frozen=True, slots=True)
class UomEntry:
    """One ST12 UOM_ENTRY_BFLD: what a source measures and in which unit."""

    id_code: int
    time_base: int
    multiplier_exponent: int  # the value times 10**multiplier_exponent is in base units
    q1: bool
    q2: bool
    q3: bool
    q4: bool
    net_flow: bool
    segmentation: int
    harmonic: bool
    id_resource: int
    nfs: bool  # the entry does not follow the standard definitions
    raw: int


@dataclass(frozen=True, slots=True)
class ConstantSet:
    """SET1 or SET2 of an electric constants record: an instrument-transformer correction."""

    applied: bool  # SET_APPLIED_FLAG: the meter has already applied the ratios
    ratio_f1: float  # read as the CT (current) ratio for electricity
    ratio_p1: float  # read as the VT/PT (voltage) ratio for electricity
    flags: int


@dataclass(frozen=True, slots=True)
class ElectricConstants:
    """One ST15 ELECTRIC_CONSTANTS_RCD (CONSTANTS_SELECTOR 2)."""

    multiplier: float
    offset: float | None  # None when the table's length shows the meter keeps no OFFSET
    set1: ConstantSet | None
    set2: ConstantSet | None


@dataclass(frozen=True, slots=True)
class SourceDefinition:
    """One ST16 SOURCE_DEF_TBL byte: which tables describe this source."""

    uom_entry: bool  # has an ST12 entry
    demand_ctrl: bool  # has an ST13 entry
    data_ctrl: bool  # has an ST14 entry
    constants: bool  # has an ST15 entry
    pulse_engr: bool  # True: engineering units; False: pulses
    constant_to_be_applied: bool  # read as "the reader applies the ST15 constants"
    raw: int


def multiplier_exponent(code: int) -> int:
    """The power of ten an ST12 MULTIPLIER code (0–7) stands for."""
    if not 0 <= code < len(_MULTIPLIER_EXPONENTS):
        raise DecodeError(f"ST12 MULTIPLIER code {code} is not defined (0–7)")
    return _MULTIPLIER_EXPONENTS[code]


def decode_st11(data: bytes, cfg: GeneralConfig) -> ActualSources:
    """Decode ST11 (8 bytes)."""
    with table_context(11):
        check_length(data, ST11_SIZE, 11, "fixed size")
        flags = data[0]
        return ActualSources(
            pf_exclude=bool(flags & 0x01),
            reset_exclude=bool(flags & 0x02),
            block_demand=bool(flags & 0x04),
            sliding_demand=bool(flags & 0x08),
            thermal_demand=bool(flags & 0x10),
            set1_present=bool(flags & 0x20),
            set2_present=bool(flags & 0x40),
            flag_bit7=bool(flags & 0x80),
            nbr_uom_entries=data[1],
            nbr_demand_ctrl_entries=data[2],
            data_ctrl_length=data[3],
            nbr_data_ctrl_entries=data[4],
            nbr_constants_entries=data[5],
            constants_selector=data[6],
            nbr_sources=data[7],
        )


def st12_size(st11: ActualSources) -> int:
    """Bytes ST12 must have under this ST11."""
    return ST12_ENTRY_SIZE * st11.nbr_uom_entries


def _uom_entry(raw: int) -> UomEntry:
    return UomEntry(
        id_code=raw & 0xFF,
        time_base=raw >> 8 & 0x07,
        multiplier_exponent=_MULTIPLIER_EXPONENTS[raw >> 11 & 0x07],
        q1=bool(raw >> 14 & 1),
        q2=bool(raw >> 15 & 1),
        q3=bool(raw >> 16 & 1),
        q4=bool(raw >> 17 & 1),
        net_flow=bool(raw >> 18 & 1),
        segmentation=raw >> 19 & 0x07,
        harmonic=bool(raw >> 22 & 1),
        id_resource=raw >> 23 & 0x1F,
        nfs=bool(raw >> 31 & 1),
        raw=raw,
    )


def decode_st12(data: bytes, cfg: GeneralConfig, st11: ActualSources) -> tuple[UomEntry, ...]:
    """Decode ST12: NBR_UOM_ENTRIES unit-of-measure bit fields."""
    with table_context(12):
        check_length(data, st12_size(st11), 12, "ST11 NBR_UOM_ENTRIES")
        r = TableReader(data, cfg)
        return tuple(_uom_entry(r.u32()) for _ in range(st11.nbr_uom_entries))


def _record_size(cfg: GeneralConfig, st11: ActualSources, *, with_offset: bool) -> int:
    ni1 = ni_size(cfg.ni_format1)
    size = ni1 * (2 if with_offset else 1)
    set_size = 1 + 2 * ni1  # SET_FLAGS, RATIO_F1, RATIO_P1
    size += set_size * (st11.set1_present + st11.set2_present)
    return size


def st15_sizes(cfg: GeneralConfig, st11: ActualSources) -> tuple[int, int]:
    """ST15's size without and with the OFFSET field: the table must have one of the two."""
    with table_context(15):
        n = st11.nbr_constants_entries
        return (
            n * _record_size(cfg, st11, with_offset=False),
            n * _record_size(cfg, st11, with_offset=True),
        )


def _constant_set(r: TableReader) -> ConstantSet:
    flags = r.u8()
    ratio_f1 = float(r.ni1())
    ratio_p1 = float(r.ni1())
    return ConstantSet(
        applied=bool(flags & 0x01), ratio_f1=ratio_f1, ratio_p1=ratio_p1, flags=flags
    )


def decode_st15(
    data: bytes, cfg: GeneralConfig, st11: ActualSources
) -> tuple[ElectricConstants, ...]:
    """Decode ST15 for an electricity meter (CONSTANTS_SELECTOR 2).

    Whether each record carries OFFSET is decided by the table's length; a length that fits
    neither layout, or another selector, raises :class:`DecodeError`.
    """
    with table_context(15):
        if st11.nbr_constants_entries == 0 and not data:
            return ()
        if st11.constants_selector != CONSTANTS_SELECTOR_ELECTRIC:
            name = _SELECTOR_NAMES.get(st11.constants_selector, "undefined")
            raise DecodeError(
                f"ST15 holds constants of selector {st11.constants_selector} ({name}); "
                "only electric constants (selector 2) are decoded",
                table=15,
            )
        without, with_offset = st15_sizes(cfg, st11)
        if len(data) not in (without, with_offset):
            raise DecodeError(
                f"ST15 is {len(data)} bytes, expected {with_offset} (with OFFSET) or "
                f"{without} (without) for {st11.nbr_constants_entries} constants records",
                table=15,
            )
        has_offset = len(data) == with_offset
        r = TableReader(data, cfg)
        records = []
        for _ in range(st11.nbr_constants_entries):
            multiplier = r.ni1()
            offset = r.ni1() if has_offset else None
            set1 = _constant_set(r) if st11.set1_present else None
            set2 = _constant_set(r) if st11.set2_present else None
            records.append(
                ElectricConstants(
                    multiplier=float(multiplier),
                    offset=None if offset is None else float(offset),
                    set1=set1,
                    set2=set2,
                )
            )
        return tuple(records)


def st16_size(st11: ActualSources) -> int:
    """Bytes ST16 must have under this ST11 (one per source)."""
    return st11.nbr_sources


def _source_definition(flags: int) -> SourceDefinition:
    return SourceDefinition(
        uom_entry=bool(flags & 0x01),
        demand_ctrl=bool(flags & 0x02),
        data_ctrl=bool(flags & 0x04),
        constants=bool(flags & 0x08),
        pulse_engr=bool(flags & 0x10),
        constant_to_be_applied=bool(flags & 0x20),
        raw=flags,
    )


def decode_st16(
    data: bytes, cfg: GeneralConfig, st11: ActualSources
) -> tuple[SourceDefinition, ...]:
    """Decode ST16: one flag byte per source."""
    with table_context(16):
        check_length(data, st16_size(st11), 16, "ST11 NBR_SOURCES")
        return tuple(_source_definition(flags) for flags in data)
