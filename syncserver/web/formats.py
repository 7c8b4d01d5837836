"""How the pages write numbers (Jinja filters registered in ``syncserver.web.app``)."""

from __future__ import annotations

import math

__all__ = ["reading"]


def reading(value: float | None, digits: int = 3) -> str:
    """A register or meter value as an office reader expects it.

    Counts and whole values without a decimal (``41``, not ``41.0``), others to ``digits``
    places with trailing zeros dropped (``12,345.678``), thousands separated; ``None`` or a
    non-finite value is an em dash.
    """
    if value is None or not math.isfinite(value):
        return "—"
    if float(value).is_integer():
        return f"{int(value):,}"
    text = f"{value:,.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
