"""What every ``fieldkit`` command shares: one-line errors, exit codes, JSON output."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated, Any, NoReturn, TextIO

import typer
from pydantic import BaseModel

from fieldkit.model import as_utc
from fieldkit.sync.schema import dump_json

__all__ = [
    "ASCII_SYMBOLS",
    "JsonOpt",
    "as_utc_or_none",
    "ascii_fallback",
    "fail",
    "given",
    "print_document",
    "print_json",
    "usage_error",
]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")]


def fail(message: str) -> NoReturn:
    """Print one line on stderr and exit 1: the command could not do its job."""
    typer.echo(f"fieldkit: {message}", err=True)
    raise typer.Exit(1)


def usage_error(message: str) -> NoReturn:
    """Print one line on stderr and exit 2 (click's own usage errors print a boxed panel)."""
    typer.echo(f"fieldkit: {message}", err=True)
    raise typer.Exit(2)


def given(ctx: typer.Context, name: str) -> bool:
    """True when the user typed the option, rather than it keeping its default."""
    source = ctx.get_parameter_source(name)
    # By name: typer ships its own copy of click, so click's enum is not the same class.
    return source is not None and source.name != "DEFAULT"


def as_utc_or_none(value: datetime | None) -> datetime | None:
    """A date from the command line as UTC (a date without a zone is taken as UTC)."""
    return None if value is None else as_utc(value)


def print_json(data: Any) -> None:
    """Plain JSON on stdout (for output that is not a wire document)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_document(document: BaseModel) -> None:
    """A wire document (fieldkit.sync.schema) on stdout."""
    sys.stdout.write(dump_json(document))


#: What the kit's own symbols become on a console that cannot show them.
ASCII_SYMBOLS: dict[str, str] = {
    "°": " deg",
    "•": "*",
    "±": "+/-",
    "≤": "<=",
    "≥": ">=",
    "→": "->",
    "←": "<-",
    "–": "-",
    "—": "-",
    "×": "x",
    "√": "sqrt",
    "Δ": "delta ",
    "…": "...",
    "’": "'",
    "‘": "'",
    "“": '"',
    "”": '"',
    "µ": "u",
    "✓": "ok",
    "✗": "x",
}
_TRANSLATION = str.maketrans(ASCII_SYMBOLS)


class _AsciiFallback:
    """A text stream that writes what its encoding cannot carry as plain ASCII."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        plain = text.translate(_TRANSLATION)
        # Whatever is left (a meter's own text) is replaced, never a crash.
        data = plain.encode(self.encoding or "ascii", errors="replace")
        return self._stream.write(data.decode(self.encoding or "ascii"))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _carries(stream: TextIO, text: str) -> bool:
    try:
        text.encode(stream.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def ascii_fallback(stream: TextIO) -> TextIO:
    """``stream`` itself when its encoding carries every symbol the kit prints; otherwise a
    wrapper that writes them in ASCII ("120.0 deg", "*", "+/-")."""
    if isinstance(stream, _AsciiFallback) or _carries(stream, "".join(ASCII_SYMBOLS)):
        return stream
    return _AsciiFallback(stream)  # type: ignore[return-value]
