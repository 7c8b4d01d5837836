"""``fieldkit visits``: the visit log on this laptop — list, show, export, note, close, correct.

Also the save step ``fieldkit check`` and ``fieldkit adjust`` share (:func:`save_check`):
the visit is written with its outbox row in one transaction, and only then is it called
saved. Ids may be shortened to their first 8 characters, as ``visits list`` prints them.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal, cast

import typer

from fieldkit.cli.common import JsonOpt, as_utc_or_none, fail, print_document, usage_error
from fieldkit.model import WorkOrder
from fieldkit.sync.schema import (
    OUTCOMES,
    NoteDoc,
    Outcome,
    VisitDocument,
    VisitExportDocument,
    VisitListDocument,
    VisitSummaryDoc,
    dump_json,
)
from fieldkit.visit import VisitResult, visit_document

# The store is imported where a command uses it (sqlite-utils costs time at start-up).

__all__ = [
    "NoSaveOpt",
    "NoteOpt",
    "OutcomeOpt",
    "check_notes",
    "check_outcome",
    "save_check",
    "short_id",
    "visits_app",
]

OutcomeOpt = Annotated[
    str | None,
    typer.Option(
        "--outcome",
        help=f"Close the visit with this outcome: {', '.join(OUTCOMES)}",
        show_default=False,
    ),
]
NoteOpt = Annotated[
    list[str] | None,
    typer.Option("--note", help="A note for the visit log (may be given more than once)"),
]
NoSaveOpt = Annotated[
    bool, typer.Option("--no-save", help="Do not save a visit in the log (a look, not a visit)")
]


def short_id(visit_id: str) -> str:
    """The first block of a visit id, as lists print it."""
    return visit_id[:8]


def check_outcome(outcome: str | None) -> Outcome | None:
    """An ``--outcome`` code, checked before the meter is touched (exit 2 when unknown)."""
    if outcome is None:
        return None
    code = outcome.strip().lower().replace("-", "_")
    if code not in OUTCOMES:
        usage_error(f"--outcome: {outcome!r} is not one of {', '.join(OUTCOMES)}")
    return cast("Outcome", code)


def check_notes(notes: Sequence[str] | None) -> list[str]:
    """``--note`` texts, checked before the meter is touched."""
    texts = [n.strip() for n in notes or ()]
    if any(not t for t in texts):
        usage_error("--note: a note needs some text")
    if any(len(t) > 4000 for t in texts):
        usage_error("--note: a note holds at most 4000 characters")
    return texts


def _technician() -> str:
    from fieldkit.config import ConfigError, load_settings, technician

    try:
        return technician(load_settings())
    except ConfigError as exc:
        fail(str(exc))


def save_check(
    result: VisitResult,
    order: WorkOrder | None,
    outcome: Outcome | None,
    notes: Sequence[str],
) -> VisitDocument | str:
    """Save the check as a visit; the saved visit, or the one-line reason it was not saved."""
    from fieldkit import store
    from fieldkit.store import visits

    document = visit_document(
        result, technician=_technician(), order=order, outcome=outcome, notes=notes
    )
    try:
        with store.database() as db:
            return visits.save(db, document)
    except store.StoreError as exc:
        return str(exc)


def saved_line(visit: VisitDocument) -> str:
    """What the technician reads once the visit is in the log (after COMMIT)."""
    ident = short_id(visit.visit_id)
    if visit.status == "final":
        return f"visit {ident} saved and closed: {visit.outcome}"
    # Two short lines: a rugged laptop's 80 columns must not wrap the commands mid-word.
    return (
        f"visit {ident} saved, still open: adjust, add notes, then close it:\n"
        f"  fieldkit visits note {ident} TEXT\n"
        f"  fieldkit visits close {ident} --outcome CODE"
    )


visits_app = typer.Typer(
    help="The visit log on this laptop: list, show, export; add a note, close, correct.",
    no_args_is_help=True,
)


def _open_visit(text: str) -> VisitDocument:
    from fieldkit import store
    from fieldkit.store import visits

    try:
        with store.database() as db:
            found = visits.get(db, visits.resolve_id(db, text))
    except store.StoreError as exc:
        fail(str(exc))
    if found is None:  # resolved a moment ago: only a concurrent purge could get here
        fail(f"no visit {text} on this laptop (fieldkit visits list)")
    return found


@visits_app.command("list")
def visits_list(
    as_json: JsonOpt = False,
    meter: Annotated[
        str | None, typer.Option("--meter", help="Only this meter (meter number or serial)")
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option("--since", help="Only visits started on or after this date (UTC)"),
    ] = None,
) -> None:
    """List the visits on this laptop, newest first."""
    from fieldkit import store
    from fieldkit.store import visits

    try:
        with store.database() as db:
            found = visits.list_visits(db, meter=meter, since=as_utc_or_none(since))
    except store.StoreError as exc:
        fail(str(exc))
    if as_json:
        print_document(VisitListDocument(visits=found))
        return
    if not found:
        filtered = " for that meter or date" if meter or since else ""
        typer.echo(f"no visits on this laptop{filtered}")
        return
    _print_table(found)


def _print_table(found: list[VisitSummaryDoc]) -> None:
    rows = [("visit", "started (UTC)", "meter", "work order", "status", "verdict", "adj")]
    for v in found:
        status: str = v.outcome if v.status == "final" and v.outcome else v.status
        if v.corrects:
            status += f" (corrects {short_id(v.corrects)})"
        rows.append(
            (
                short_id(v.visit_id),
                v.started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
                v.meter_number or v.meter_serial or "-",
                v.work_order or "-",
                status,
                str(v.verdict) if v.verdict else (v.read_result or "-"),
                str(v.adjustments),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        typer.echo("  ".join([*(row[i].ljust(w) for i, w in enumerate(widths)), row[-1]]))


@visits_app.command("show")
def visits_show(
    visit_id: Annotated[str, typer.Argument(metavar="ID", help="Visit id (first 8+ characters)")],
    as_json: JsonOpt = False,
) -> None:
    """Show one visit: what was read, what the checks said, what was changed, the notes."""
    visit = _open_visit(visit_id)
    if as_json:
        print_document(visit)
        return
    _print_visit(visit)


def _print_visit(v: VisitDocument) -> None:
    def line(key: str, value: object) -> None:
        typer.echo(f"{key:<14}{'-' if value is None or value == '' else value}")

    line("visit", v.visit_id)
    line("status", v.status + (f": {v.outcome}" if v.outcome else ""))
    if v.corrects:
        line("corrects", v.corrects)
    line("technician", v.technician)
    line("started", v.started_at.isoformat())
    line("ended", None if v.ended_at is None else v.ended_at.isoformat())
    line("work order", v.work_order)
    line("account", v.account_number)
    line("meter", v.meter_number)
    line("serial", v.meter_serial)
    line("read", v.read_result or "from a saved file")
    if v.error:
        line("error", v.error)
    line("verdict", v.verdict)
    for c in v.checks:
        if c.status.value in ("fail", "warn"):
            typer.echo(f"  {c.status.value.upper():<5} {c.id}: {c.message}")
    for a in v.adjustments:
        change = ""
        if a.kind == "set_clock" and a.before and a.after:
            change = f" drift {a.before.drift_seconds:+.1f} s -> {a.after.drift_seconds:+.1f} s"
        elif a.kind == "demand_reset" and a.before and a.after:
            change = f" demand {a.before.demand_kw} kW -> {a.after.demand_kw} kW"
        code = "" if a.result_code is None else f" (result {a.result_code})"
        typer.echo(
            f"  adjust {a.kind} by {a.technician} at {a.finished_at.isoformat()}: "
            f"{a.result}{code}{change}" + (f"; {a.error}" if a.error else "")
        )
    for n in v.notes:
        typer.echo(f"  note {n.at.isoformat()} {n.technician}: {n.text}")
    if v.capture is not None:
        line("capture", f"{len(v.capture.frames)} frames, {v.capture.result}")


@visits_app.command("note")
def visits_note(
    visit_id: Annotated[str, typer.Argument(metavar="ID", help="An open visit")],
    text: Annotated[str, typer.Argument(help="The note")],
) -> None:
    """Add a note to an open visit."""
    from fieldkit import store
    from fieldkit.store import visits

    texts = check_notes([text])
    who = _technician()
    try:
        with store.database() as db:
            full = visits.resolve_id(db, visit_id)
            saved = visits.add_note(
                db, full, NoteDoc(at=datetime.now(UTC), technician=who, text=texts[0])
            )
    except store.StoreError as exc:
        fail(str(exc))
    typer.echo(f"note saved on visit {short_id(saved.visit_id)}")


@visits_app.command("close")
def visits_close(
    visit_id: Annotated[str, typer.Argument(metavar="ID", help="An open visit")],
    outcome: Annotated[str, typer.Option("--outcome", help=f"How it ended: {', '.join(OUTCOMES)}")],
    note: NoteOpt = None,
) -> None:
    """Close an open visit with its outcome; a closed visit never changes again."""
    from fieldkit import store
    from fieldkit.store import visits

    code = check_outcome(outcome)
    assert code is not None
    texts = check_notes(note)
    who = _technician()
    now = datetime.now(UTC)
    try:
        with store.database() as db:
            full = visits.resolve_id(db, visit_id)
            notes = [NoteDoc(at=now, technician=who, text=t) for t in texts]
            saved = visits.close(db, full, code, notes=notes, now=now)
    except store.StoreError as exc:
        fail(str(exc))
    typer.echo(saved_line(saved))


@visits_app.command("correct")
def visits_correct(
    visit_id: Annotated[str, typer.Argument(metavar="ID", help="A closed visit")],
    outcome: OutcomeOpt = None,
    note: NoteOpt = None,
) -> None:
    """Record a correction of a closed visit: a new visit that points at it."""
    from fieldkit import store
    from fieldkit.store import visits

    code = check_outcome(outcome)
    texts = check_notes(note)
    if code is None and not texts:
        usage_error("say what the correction changes: --outcome CODE and/or --note TEXT")
    who = _technician()
    now = datetime.now(UTC)
    notes = [NoteDoc(at=now, technician=who, text=t) for t in texts]
    try:
        with store.database() as db:
            full = visits.resolve_id(db, visit_id)
            saved = visits.correct(db, full, technician=who, outcome=code, notes=notes, now=now)
    except store.StoreError as exc:
        fail(str(exc))
    typer.echo(
        f"visit {short_id(saved.visit_id)} saved: corrects {short_id(full)} ({saved.outcome})"
    )


_CSV_COLUMNS = (
    "visit_id",
    "revision",
    "status",
    "outcome",
    "corrects",
    "technician",
    "started_at",
    "ended_at",
    "work_order",
    "account_number",
    "premise_id",
    "meter_number",
    "meter_serial",
    "read_result",
    "error",
    "verdict",
    "failed_checks",
    "warned_checks",
    "adjustments",
    "notes",
)


def _csv_text(found: list[VisitDocument]) -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_CSV_COLUMNS)
    for v in found:
        writer.writerow(
            [
                v.visit_id,
                v.revision,
                v.status,
                v.outcome or "",
                v.corrects or "",
                v.technician,
                v.started_at.isoformat(),
                "" if v.ended_at is None else v.ended_at.isoformat(),
                v.work_order or "",
                v.account_number or "",
                v.premise_id or "",
                v.meter_number or "",
                v.meter_serial or "",
                v.read_result or "",
                v.error or "",
                v.verdict or "",
                " ".join(c.id for c in v.checks if c.status.value == "fail"),
                " ".join(c.id for c in v.checks if c.status.value == "warn"),
                " ".join(
                    f"{a.kind}:{a.result}" + ("" if a.result_code is None else f":{a.result_code}")
                    for a in v.adjustments
                ),
                " | ".join(n.text for n in v.notes),
            ]
        )
    return out.getvalue()


@visits_app.command("export")
def visits_export(
    fmt: Annotated[
        str, typer.Option("--format", help="json (every visit, whole) or csv (one row a visit)")
    ] = "json",
    out: Annotated[
        Path | None, typer.Option("--out", help="Write to this file instead of stdout")
    ] = None,
) -> None:
    """Export every visit on this laptop, oldest first."""
    from fieldkit import store
    from fieldkit.store import visits

    kind = fmt.lower()
    if kind not in ("json", "csv"):
        usage_error(f"--format is json or csv, not {fmt!r}")
    if out is not None and out.is_dir():
        usage_error(f"--out: {out} is a folder; give a file name")
    if out is not None and not (out.parent if str(out.parent) else Path(".")).is_dir():
        usage_error(f"--out: the folder {out.parent} does not exist")
    try:
        with store.database() as db:
            found = list(visits.iter_visits(db))
    except store.StoreError as exc:
        fail(str(exc))
    if kind == "json":
        text = dump_json(VisitExportDocument(exported_at=datetime.now(UTC), visits=found))
    else:
        text = _csv_text(found)
    if out is None:
        sys.stdout.write(text)
        return
    _write_whole(out, text, cast("Literal['json', 'csv']", kind))
    typer.echo(f"exported {len(found)} visit{'s' if len(found) != 1 else ''} to {out}")


def _write_whole(path: Path, text: str, kind: Literal["json", "csv"]) -> None:
    """Write the export beside its place, then rename: a full disk leaves no half file."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        try:
            newline = "" if kind == "csv" else None
            with os.fdopen(handle, "w", encoding="utf-8", newline=newline) as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")
