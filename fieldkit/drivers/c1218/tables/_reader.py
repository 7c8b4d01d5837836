"""A cursor over one table's bytes that reads fields in the meter's formats.

Decoders check the table's total length first, so running past the end here means a size
function and its decoder disagree; it still raises :class:`DecodeError`, never IndexError.
"""

from __future__ import annotations

from datetime import datetime

from fieldkit.drivers.errors import DecodeError

from .config import GeneralConfig
from .formats import (
    decode_ltime_date,
    decode_ni,
    decode_stime_date,
    decode_string,
    decode_time_seconds,
    ltime_date_size,
    ni_size,
    stime_date_size,
    time_size,
)

__all__ = ["TableReader"]


class TableReader:
    """Reads consecutive fields of one table, honouring ST0's formats."""

    __slots__ = ("_cfg", "_data", "_pos")

    def __init__(self, data: bytes, cfg: GeneralConfig) -> None:
        self._data = bytes(data)
        self._cfg = cfg
        self._pos = 0

    def take(self, size: int) -> bytes:
        """The next ``size`` raw bytes."""
        end = self._pos + size
        if end > len(self._data):
            raise DecodeError(f"field at offset {self._pos} runs past the end ({len(self._data)})")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def u8(self) -> int:
        """An unsigned byte."""
        return self.take(1)[0]

    def uint(self, size: int) -> int:
        """An unsigned integer in DATA_ORDER."""
        return int.from_bytes(self.take(size), self._cfg.data_order)

    def u16(self) -> int:
        """A UINT16 in DATA_ORDER."""
        return self.uint(2)

    def u32(self) -> int:
        """A UINT32 in DATA_ORDER."""
        return self.uint(4)

    def text(self, size: int) -> str:
        """A CHAR[size] field in CHAR_FORMAT."""
        return decode_string(self.take(size), self._cfg)

    def ni(self, fmt: int) -> float:
        """One NI value in format ``fmt`` (NI_FORMAT1 or NI_FORMAT2 of ST0)."""
        return decode_ni(
            self.take(ni_size(fmt)), fmt, self._cfg.data_order, int_format=self._cfg.int_format
        )

    def ni1(self) -> float:
        """A value in ST0 NI_FORMAT1."""
        return self.ni(self._cfg.ni_format1)

    def ni2(self) -> float:
        """A value in ST0 NI_FORMAT2."""
        return self.ni(self._cfg.ni_format2)

    def ltime_date(self) -> datetime | None:
        """An LTIME_DATE."""
        return decode_ltime_date(self.take(ltime_date_size(self._cfg)), self._cfg)

    def stime_date(self) -> datetime | None:
        """An STIME_DATE."""
        return decode_stime_date(self.take(stime_date_size(self._cfg)), self._cfg)

    def time_seconds(self) -> int | None:
        """A TIME, in seconds."""
        return decode_time_seconds(self.take(time_size(self._cfg)), self._cfg)
