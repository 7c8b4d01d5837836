"""Small formatting helpers the screens share (plain text, no Textual)."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text

__all__ = ["angle", "day", "moment", "number", "ratio", "signed_seconds", "verbatim"]


def verbatim(value: str) -> Text:
    """``value`` shown exactly as written, in a table cell or a list option.

    Textual reads a plain ``str`` there as markup: a meter number or a note like
    ``[m16]`` vanished, and one holding ``[/b]`` raised MarkupError and took the app down.
    Whatever came from the meter, the office or the technician goes through here.
    """
    return Text(value, no_wrap=True, end="")


def number(value: float | None, digits: int = 1) -> str:
    """1234.5 → '1234.5'; integers without a decimal; None → '-'."""
    if value is None:
        return "-"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.{digits}f}"


def ratio(value: float) -> str:
    """A CT/PT ratio as the office writes it: 400 → '400:1', 1 → '1:1'."""
    return f"{number(value)}:1"


def day(moment_: datetime | None) -> str:
    """The UTC date, or '-'."""
    return "-" if moment_ is None else moment_.astimezone(UTC).strftime("%Y-%m-%d")


def moment(moment_: datetime | None) -> str:
    """Date and time to the second in UTC, or '-'."""
    return "-" if moment_ is None else moment_.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def angle(value: float | None) -> str:
    """Degrees to one decimal with the sign, or '-'."""
    return "-" if value is None else f"{value:.1f}°"


def signed_seconds(value: float) -> str:
    """A drift: '+12.3 s (meter fast)', '-4.0 s (meter slow)'."""
    words = "meter fast" if value > 0 else "meter slow" if value < 0 else "on time"
    return f"{value:+.1f} s ({words})"
