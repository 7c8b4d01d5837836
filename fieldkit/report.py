"""Human-readable output of a snapshot and of check results, for the terminal."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from types import TracebackType
from typing import Self, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from fieldkit.drivers.base import Progress
from fieldkit.model import CheckResult, CheckStatus, MeterSnapshot

__all__ = ["ProgressLine", "render_checks", "render_snapshot"]

STATUS_STYLE = {
    CheckStatus.PASS: "bold green",
    CheckStatus.WARN: "bold yellow",
    CheckStatus.FAIL: "bold red",
    CheckStatus.SKIP: "dim",
}


# What the kit's symbols become where the console's encoding cannot carry them (a Windows
# console or a file in cp1252 or ASCII). Translated before rich lays a table out, so the
# columns stay aligned.
_ASCII = str.maketrans(
    {
        "°": "deg",
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
        "Δ": "d",
        "…": "...",
        "’": "'",
        "µ": "u",
    }
)
_SYMBOLS = "°•±≤≥→←–—×√Δ…’µ"


def _console(console: Console | None) -> tuple[Console, bool]:
    """The console to print on, and whether it needs plain ASCII symbols."""
    out = console or Console()
    try:
        _SYMBOLS.encode(out.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return out, True
    return out, False


def _fmt(value: float | None, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}{unit}"


def render_snapshot(snapshot: MeterSnapshot, console: Console | None = None) -> None:
    """Print the snapshot as a few compact tables."""
    out, plain = _console(console)
    if plain:
        out = _Translating(out)  # type: ignore[assignment]
    ident = snapshot.identity
    out.print(
        f"[bold]{ident.manufacturer} {ident.model}[/]  serial {ident.serial_number}  "
        f"meter id {ident.meter_id or '-'}  fw {ident.firmware_version or '-'}  "
        f"({snapshot.protocol})"
    )
    if snapshot.clock is not None:
        clk = snapshot.clock
        out.print(
            f"clock  {clk.meter_time.isoformat(timespec='seconds')}  "
            f"drift {clk.drift_seconds:+.1f} s"
        )
    if snapshot.status is not None:
        flags = ", ".join(sorted(snapshot.status.active)) or "none"
        out.print(f"status flags  {flags}")
    if snapshot.registers:
        regs = Table("register", "value", "unit", "time", title="Registers", title_justify="left")
        for r in snapshot.registers:
            stamp = r.timestamp.isoformat(timespec="minutes") if r.timestamp else ""
            regs.add_row(
                r.id + (f" ({r.tier})" if r.tier else ""), f"{r.value:,.3f}", r.unit, stamp
            )
        out.print(regs)
    if snapshot.phases:
        ph = Table(
            "element",
            "V",
            "A",
            "V angle",
            "I angle",
            "PF",
            "W",
            title="Per element",
            title_justify="left",
        )
        for p in snapshot.phases:
            ph.add_row(
                p.phase,
                _fmt(p.voltage, 1),
                _fmt(p.current, 2),
                _fmt(p.voltage_angle, 1, "°"),
                _fmt(p.current_angle, 1, "°"),
                _fmt(p.power_factor, 3),
                _fmt(p.active_power, 0),
            )
        out.print(ph)
    site = []
    if snapshot.frequency is not None:
        site.append(f"frequency {snapshot.frequency:.2f} Hz")
    if snapshot.temperature_c is not None:
        site.append(f"meter temperature {snapshot.temperature_c:.1f} °C")
    if snapshot.total_active_power is not None:
        site.append(f"total {snapshot.total_active_power / 1000:.3f} kW")
    if site:
        out.print("  ".join(site))
    if snapshot.events:
        ev = Table("time", "event", "log", title="Events (newest last)", title_justify="left")
        for e in snapshot.events[-12:]:
            when = e.timestamp.isoformat(timespec="minutes") if e.timestamp else "-"
            ev.add_row(when, e.name, e.log)
        out.print(ev)
    for u in snapshot.unavailable:
        out.print(f"[yellow]unavailable[/] {u.item}: {u.reason}")


def render_checks(
    results: Sequence[CheckResult],
    overall: CheckStatus,
    console: Console | None = None,
    *,
    detail: bool = False,
) -> None:
    """Print the verdict table, the likely causes of each failure and the overall verdict.

    The compact view (the default) fits 80 columns: status, check and message, the check
    names never cut; ``detail`` adds what was measured and expected. Likely causes wrap
    under their own indent. The verdict line counts every status, skips included, and the
    checks that could not be judged are named with the reason.
    """
    out, plain = _console(console)
    if plain:
        out = _Translating(out)  # type: ignore[assignment]
    longest = max((len(r.id) for r in results), default=5)
    table = Table(title="Site checks", title_justify="left")
    table.add_column("status", no_wrap=True)
    table.add_column("check", no_wrap=True, min_width=longest)
    if detail:
        table.add_column("measured", overflow="fold")
        table.add_column("expected", overflow="fold")
    table.add_column("message", overflow="fold")
    for r in results:
        cells = [Text(r.status.value.upper(), style=STATUS_STYLE[r.status]), Text(r.id)]
        if detail:
            cells += [Text(r.measured or ""), Text(r.expected or "")]
        cells.append(Text(r.message))
        table.add_row(*cells)
    out.print(table)
    for r in results:
        if r.likely_causes:
            out.print(Text(f"{r.id} likely causes:", style="bold"))
            causes = Table.grid(padding=(0, 1))
            causes.add_column(no_wrap=True)
            causes.add_column(overflow="fold")
            for cause in r.likely_causes:
                causes.add_row("  •", Text(cause))
            out.print(causes)
    counts = {s: sum(1 for r in results if r.status is s) for s in CheckStatus}
    tally = ", ".join(f"{counts[s]} {s.value}" for s in CheckStatus)
    verdict = Text("Overall verdict: ")
    verdict.append(overall.value.upper(), style=STATUS_STYLE[overall])
    verdict.append(f" ({tally})")
    out.print(verdict)
    skipped = [r for r in results if r.status is CheckStatus.SKIP]
    if skipped:
        out.print(Text("Not judged:", style="bold"))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for r in skipped:
            grid.add_row(f"  {r.id}", Text(r.message))
        out.print(grid)


class _Translating:
    """A console that prints the kit's symbols as ASCII (see ``_ASCII``)."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def print(self, *objects: object, **kwargs: object) -> None:
        self._console.print(*(_translate(o) for o in objects), **kwargs)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self._console, name)


def _translate(obj: object) -> object:
    if isinstance(obj, str):
        return obj.translate(_ASCII)
    if isinstance(obj, Text):
        return Text(obj.plain.translate(_ASCII), style=obj.style)
    if isinstance(obj, Table):
        for column in obj.columns:
            column._cells = [_translate(c) for c in column._cells]  # type: ignore[misc]
        if isinstance(obj.title, str):
            obj.title = obj.title.translate(_ASCII)
    return obj


class ProgressLine:
    """One line on stderr that follows a read: stage, item, bytes (only on a terminal).

    A callable :data:`~fieldkit.drivers.base.ProgressCallback`; as a context manager it
    clears its line at the end, so the snapshot prints on a clean screen.
    """

    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._live = not quiet and self._stream.isatty()
        self._width = 0
        try:
            _SYMBOLS.encode(getattr(self._stream, "encoding", None) or "ascii")
            self._plain = False
        except (UnicodeEncodeError, LookupError):
            self._plain = True

    def __call__(self, progress: Progress) -> None:
        if not self._live:
            return
        count = ""
        if progress.items_total:
            count = f" {min(progress.items_done, progress.items_total)}/{progress.items_total}"
        item = f" {progress.item}" if progress.item else ""
        size = progress.bytes_rx + progress.bytes_tx
        shown = f"{size} B" if size < 10_000 else f"{size / 1000:.1f} kB"
        text = f"{progress.stage.value}{count}{item}  {shown}"
        width = shutil.get_terminal_size((80, 24)).columns - 1
        if len(text) > width:  # the byte count stays; the item name gives way
            text = text[: max(width - len(shown) - 3, 0)] + "   " + shown
        self._show(text.translate(_ASCII) if self._plain else text)

    def _show(self, text: str) -> None:
        pad = max(self._width - len(text), 0)
        self._stream.write("\r" + text + " " * pad)
        self._stream.flush()
        self._width = len(text)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live and self._width:
            self._show("")
            self._stream.write("\r")
            self._stream.flush()
