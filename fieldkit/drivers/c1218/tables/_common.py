"""Plumbing shared by the table decoders: table names and length errors.

Every error that leaves a decoder is a :class:`DecodeError` that names the table, so the
technician (and the driver's "unavailable" list) can tell which read went wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from fieldkit.drivers.c1218.services import MFG_TABLE_BASE, table_name
from fieldkit.drivers.errors import DecodeError

__all__ = ["MFG_TABLE_BASE", "ByteOrder", "check_length", "table_context", "table_label"]

ByteOrder = Literal["little", "big"]

_TABLE_NAMES: dict[int, str] = {
    0: "general configuration",
    1: "manufacturer identification",
    2: "device nameplate",
    3: "end device mode and status",
    5: "device identification",
    21: "actual registers",
    22: "data selection",
    23: "current register data",
    27: "present register selection",
    28: "present register data",
    51: "actual time and TOU",
    52: "clock",
    55: "clock state",
    71: "actual log dimensions",
    74: "history log",
    76: "event log",
}


def table_label(table: int) -> str:
    """``"ST23 (current register data)"``, or ``"MT5"`` for manufacturer table 2053."""
    name = _TABLE_NAMES.get(table)
    return f"{table_name(table)} ({name})" if name else table_name(table)


def check_length(data: bytes, expected: int, table: int, source: str) -> None:
    """Refuse a table whose byte count is not what ``source`` (the configuration) implies."""
    if len(data) != expected:
        raise DecodeError(
            f"{table_label(table)} is {len(data)} bytes, expected {expected} ({source})",
            table=table,
        )


@contextmanager
def table_context(table: int) -> Iterator[None]:
    """Tag a field-level :class:`DecodeError` raised inside the block with ``table``."""
    try:
        yield
    except DecodeError as exc:
        if exc.table is not None:
            raise
        raise DecodeError(f"{table_label(table)}: {exc.message}", table=table) from exc
