"""Who and what the meter is: ST1 identification, ST2 nameplate, ST3 status, ST5 meter id."""

from __future__ import annotations

from dataclasses import dataclass

from fieldkit.drivers.errors import DecodeError
from fieldkit.model import active_flags

from ._common import check_length, table_context
from ._reader import TableReader
from .config import GeneralConfig
from .formats import bcd_digits, decode_string

__all__ = [
    "ElectricNameplate",
    "EndDeviceStatus",
    "ManufacturerIdentification",
    "decode_st1",
    "decode_st2",
    "decode_st3",
    "decode_st5",
]

_ST1_HEAD = 16  # MANUFACTURER char[4], ED_MODEL char[8], four version bytes
_ST1_SERIAL = {0: 16, 1: 8}  # ID_FORM 0: char[16]; 1: BCD[8]
_ST5_IDENT = {0: 20, 1: 10}  # ID_FORM 0: char[20]; 1: BCD[10]
ST2_ELECTRIC_SIZE = 33
_NAMEPLATE_ELECTRIC = 2
_ST3_FIXED = 4  # ED_MODE, ED_STD_STATUS1 (2), ED_STD_STATUS2


@dataclass(frozen=True, slots=True)
class ManufacturerIdentification:
    """ST1 GENERAL_MFG_ID_TBL."""

    manufacturer: str
    model: str
    hw_version: int
    hw_revision: int
    fw_version: int
    fw_revision: int
    serial_number: str


@dataclass(frozen=True, slots=True)
class ElectricNameplate:
    """ST2 DEVICE_NAMEPLATE_TBL for an electricity meter; codes are kept as numbers."""

    kh: str
    kt: str
    input_scalar: int
    ed_config: str
    freq: int
    elements: int
    base_type: int
    accuracy_class: int
    element_volts: int
    supply_volts: int
    class_max_amps: str
    ta: str


@dataclass(frozen=True, slots=True)
class EndDeviceStatus:
    """ST3 ED_MODE_STATUS_TBL: mode bits, the standard status flags and the vendor bytes."""

    ed_mode: int
    metering: bool
    test_mode: bool
    meter_shop_mode: bool
    factory: bool
    status1: int
    flags: frozenset[str]
    status2: int
    mfg_status: bytes


def _id_form_size(sizes: dict[int, int], cfg: GeneralConfig) -> int:
    # ID_FORM is one bit, so this only guards a hand-built config.
    try:
        return sizes[cfg.id_form]
    except KeyError:
        raise DecodeError(f"ID_FORM {cfg.id_form} is not 0 or 1") from None


def _identifier(raw: bytes, cfg: GeneralConfig) -> str:
    return bcd_digits(raw) if cfg.id_form == 1 else decode_string(raw, cfg)


def decode_st1(data: bytes, cfg: GeneralConfig) -> ManufacturerIdentification:
    """Decode ST1: 32 bytes with a character serial (ID_FORM 0) or 24 with BCD (ID_FORM 1)."""
    with table_context(1):
        serial_size = _id_form_size(_ST1_SERIAL, cfg)
        check_length(data, _ST1_HEAD + serial_size, 1, f"ST0 ID_FORM {cfg.id_form}")
        r = TableReader(data, cfg)
        return ManufacturerIdentification(
            manufacturer=r.text(4),
            model=r.text(8),
            hw_version=r.u8(),
            hw_revision=r.u8(),
            fw_version=r.u8(),
            fw_revision=r.u8(),
            serial_number=_identifier(r.take(serial_size), cfg),
        )


def decode_st2(data: bytes, cfg: GeneralConfig) -> ElectricNameplate:
    """Decode an electric ST2 (33 bytes); gas and water nameplates raise DecodeError."""
    with table_context(2):
        if cfg.nameplate_type != _NAMEPLATE_ELECTRIC:
            raise DecodeError(f"ST0 NAMEPLATE_TYPE is {cfg.nameplate_type}, not electric (2)")
        check_length(data, ST2_ELECTRIC_SIZE, 2, "electric nameplate")
        r = TableReader(data, cfg)
        kh, kt, scalar, ed_config = r.text(6), r.text(6), r.u8(), r.text(5)
        elements, volts = r.u16(), r.u8()
        return ElectricNameplate(
            kh=kh,
            kt=kt,
            input_scalar=scalar,
            ed_config=ed_config,
            freq=elements & 0x07,
            elements=elements >> 3 & 0x07,
            base_type=elements >> 6 & 0x0F,
            accuracy_class=elements >> 10 & 0x3F,
            element_volts=volts & 0x0F,
            supply_volts=volts >> 4,
            class_max_amps=r.text(6),
            ta=r.text(6),
        )


def decode_st3(data: bytes, cfg: GeneralConfig) -> EndDeviceStatus:
    """Decode ST3: 4 bytes plus ST0 DIM_MFG_STATUS_USED manufacturer status bytes."""
    with table_context(3):
        expected = _ST3_FIXED + cfg.dim_mfg_status_used
        check_length(data, expected, 3, f"ST0 DIM_MFG_STATUS_USED {cfg.dim_mfg_status_used}")
        r = TableReader(data, cfg)
        mode, status1, status2 = r.u8(), r.u16(), r.u8()
        return EndDeviceStatus(
            ed_mode=mode,
            metering=bool(mode & 0x01),
            test_mode=bool(mode & 0x02),
            meter_shop_mode=bool(mode & 0x04),
            factory=bool(mode & 0x08),
            status1=status1,
            flags=active_flags(status1),
            status2=status2,
            mfg_status=r.take(cfg.dim_mfg_status_used),
        )


def decode_st5(data: bytes, cfg: GeneralConfig) -> str:
    """Decode ST5, the utility's meter id: char[20] (ID_FORM 0) or BCD[10] digits (1)."""
    with table_context(5):
        size = _id_form_size(_ST5_IDENT, cfg)
        check_length(data, size, 5, f"ST0 ID_FORM {cfg.id_form}")
        return _identifier(data, cfg)
