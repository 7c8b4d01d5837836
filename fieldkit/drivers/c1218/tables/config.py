"""ST0 GEN_CONFIG_TBL: the meter's data formats and the tables and procedures it has.

Read it first in every session: every other decoder takes the :class:`GeneralConfig` it
returns, because byte order, character set, time and number formats all come from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from fieldkit.drivers.errors import DecodeError

from ._common import MFG_TABLE_BASE, ByteOrder, check_length, table_label

__all__ = ["ST0_FIXED_SIZE", "GeneralConfig", "decode_set", "decode_st0"]

ST0_FIXED_SIZE = 19  # bytes before the first "used" set


@dataclass(frozen=True, slots=True)
class GeneralConfig:
    """Decoded ST0. Manufacturer table and procedure ids are full ids (2048 + n)."""

    data_order: ByteOrder
    char_format: int
    model_select: int
    tm_format: int
    data_access_method: int
    id_form: int
    int_format: int
    ni_format1: int
    ni_format2: int
    device_class: bytes
    nameplate_type: int
    default_set_used: int
    max_proc_parm_length: int
    max_resp_data_len: int
    std_version: int
    std_revision: int
    dim_std_tables_used: int
    dim_mfg_tables_used: int
    dim_std_proc_used: int
    dim_mfg_proc_used: int
    dim_mfg_status_used: int
    nbr_pending: int
    std_tables_used: frozenset[int]
    mfg_tables_used: frozenset[int]
    std_procs_used: frozenset[int]
    mfg_procs_used: frozenset[int]
    std_tables_write: frozenset[int]
    mfg_tables_write: frozenset[int]

    def uses(self, table_id: int) -> bool:
        """Whether the meter lists this table (standard id, or 2048 + n for MT n)."""
        if table_id >= MFG_TABLE_BASE:
            return table_id in self.mfg_tables_used
        return table_id in self.std_tables_used

    def runs_procedure(self, procedure: int) -> bool:
        """Whether the meter lists this standard procedure (or 2048 + n for MP n) in ST0."""
        if procedure >= MFG_TABLE_BASE:
            return procedure in self.mfg_procs_used
        return procedure in self.std_procs_used


def decode_set(raw: bytes, base: int = 0) -> frozenset[int]:
    """A C12.19 SET: element n is bit (n mod 8) of byte (n div 8); ids offset by ``base``."""
    return frozenset(
        base + index * 8 + bit
        for index, byte in enumerate(raw)
        for bit in range(8)
        if byte >> bit & 1
    )


def st0_size(header: bytes) -> int:
    """ST0's whole length from its first :data:`ST0_FIXED_SIZE` bytes (the DIM_ fields)."""
    if len(header) < ST0_FIXED_SIZE:
        raise DecodeError(
            f"{table_label(0)} header is {len(header)} bytes, not {ST0_FIXED_SIZE}", table=0
        )
    dim_std, dim_mfg, dim_std_proc, dim_mfg_proc = header[13], header[14], header[15], header[16]
    return ST0_FIXED_SIZE + 2 * dim_std + 2 * dim_mfg + dim_std_proc + dim_mfg_proc


def decode_st0(data: bytes) -> GeneralConfig:
    """Decode ST0; raise :class:`DecodeError` if its length disagrees with its DIM_ fields."""
    if len(data) < ST0_FIXED_SIZE:
        raise DecodeError(
            f"{table_label(0)} is {len(data)} bytes, shorter than its {ST0_FIXED_SIZE}-byte header",
            table=0,
        )
    dim_std, dim_mfg, dim_std_proc, dim_mfg_proc = data[13], data[14], data[15], data[16]
    expected = st0_size(data)
    check_length(data, expected, 0, "from its own DIM_ fields")

    pos = ST0_FIXED_SIZE

    def take(size: int) -> bytes:
        nonlocal pos
        chunk = data[pos : pos + size]
        pos += size
        return chunk

    std_used = decode_set(take(dim_std))
    mfg_used = decode_set(take(dim_mfg), MFG_TABLE_BASE)
    std_procs = decode_set(take(dim_std_proc))
    mfg_procs = decode_set(take(dim_mfg_proc), MFG_TABLE_BASE)
    std_write = decode_set(take(dim_std))
    mfg_write = decode_set(take(dim_mfg), MFG_TABLE_BASE)

    fc1, fc2, fc3 = data[0], data[1], data[2]
    return GeneralConfig(
        data_order="big" if fc1 & 0x01 else "little",
        char_format=fc1 >> 1 & 0x07,
        model_select=fc1 >> 4 & 0x07,
        tm_format=fc2 & 0x07,
        data_access_method=fc2 >> 3 & 0x03,
        id_form=fc2 >> 5 & 0x01,
        int_format=fc2 >> 6 & 0x03,
        ni_format1=fc3 & 0x0F,
        ni_format2=fc3 >> 4,
        device_class=bytes(data[3:7]),
        nameplate_type=data[7],
        default_set_used=data[8],
        max_proc_parm_length=data[9],
        max_resp_data_len=data[10],
        std_version=data[11],
        std_revision=data[12],
        dim_std_tables_used=dim_std,
        dim_mfg_tables_used=dim_mfg,
        dim_std_proc_used=dim_std_proc,
        dim_mfg_proc_used=dim_mfg_proc,
        dim_mfg_status_used=data[17],
        nbr_pending=data[18],
        std_tables_used=std_used,
        mfg_tables_used=mfg_used,
        std_procs_used=std_procs,
        mfg_procs_used=mfg_procs,
        std_tables_write=std_write,
        mfg_tables_write=mfg_write,
    )
