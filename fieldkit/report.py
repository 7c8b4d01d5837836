"""Human-readable output of a snapshot and of check results, for the terminal."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import TracebackType
from typing import Self, TextIO

from rich.console import Console
from rich.table import Table

from fieldkit.drivers.base import Progress
from fieldkit.model import CheckResult, CheckStatus, MeterSnapshot

__all__ = ["ProgressLine", "render_checks", "render_snapshot"]

STATUS_STYLE = {
    CheckStatus.PASS: "bold green",
    CheckStatus.WARN: "bold yellow",
    CheckStatus.FAIL: "bold red",
    CheckStatus.SKIP: "dim",
}


def _fmt(value: float | None, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}{unit}"


def render_snapshot(snapshot: MeterSnapshot, console: Console | None = None) -> None:
    """Print the snapshot as a few compact tables."""
    out = console or Console()
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
    results: Sequence[CheckResult], overall: CheckStatus, console: Console | None = None
) -> None:
    """Print the verdict table, the likely causes of each failure and the overall verdict."""
    out = console or Console()
    table = Table("status", "check", "measured", "expected", "message", title="Site checks")
    for r in results:
        table.add_row(
            f"[{STATUS_STYLE[r.status]}]{r.status.value.upper()}[/]",
            r.id,
            r.measured or "",
            r.expected or "",
            r.message,
        )
    out.print(table)
    for r in results:
        if r.likely_causes:
            out.print(f"[bold]{r.id}[/] likely causes:")
            for cause in r.likely_causes:
                out.print(f"  • {cause}")
    out.print(f"Overall verdict: [{STATUS_STYLE[overall]}]{overall.value.upper()}[/]")


class ProgressLine:
    """One line on stderr that follows a read: stage, item, bytes (only on a terminal).

    A callable :data:`~fieldkit.drivers.base.ProgressCallback`; as a context manager it
    clears its line at the end, so the snapshot prints on a clean screen.
    """

    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._live = not quiet and self._stream.isatty()
        self._width = 0

    def __call__(self, progress: Progress) -> None:
        if not self._live:
            return
        count = ""
        if progress.items_total:
            count = f" {min(progress.items_done, progress.items_total)}/{progress.items_total}"
        item = f" {progress.item}" if progress.item else ""
        text = f"{progress.stage.value}{count}{item}  {progress.bytes_rx + progress.bytes_tx} B"
        self._show(text[:79])

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
