"""``fieldkit enroll`` and ``fieldkit sync`` (``fieldkit sync status``): the laptop and the
office server.

Exit 0 when the command did its job (a sync that got some ops rejected did its job: the
rejections are printed with the server's reasons and kept); 1 with one line on stderr when
it could not (not enrolled, no server, token refused, database or secrets unusable).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from fieldkit.cli.common import JsonOpt, fail, print_document
from fieldkit.sync.schema import SyncRejectionDoc, SyncReportDocument, SyncStatusDocument

# httpx and the store are imported where a command uses them (start-up time).
if TYPE_CHECKING:
    from fieldkit.sync.laptop import SyncResult, SyncStatus

__all__ = ["enroll", "report_document", "status_document", "sync_app"]


def enroll(
    server: Annotated[str, typer.Option("--server", help="The sync server, http://host:port")],
    code: Annotated[str, typer.Option("--code", help="The one-time code from the office")],
    name: Annotated[
        str | None, typer.Option("--name", help="This laptop's name (default: its host name)")
    ] = None,
) -> None:
    """Enrol this laptop with the office's sync server (a one-time code, 15 minutes)."""
    from fieldkit.sync.laptop import SyncError, enroll_laptop

    try:
        technician = enroll_laptop(server, code, device_name=name)
    except SyncError as exc:
        fail(f"cannot enrol: {exc}")
    typer.echo(f"enrolled with {server.rstrip('/')} for {technician}; next: fieldkit sync")


def report_document(result: SyncResult, status: SyncStatus) -> SyncReportDocument:
    """The ``sync_report`` document of one sync."""
    trusted = result.trusted_time
    return SyncReportDocument(
        ok=result.ok,
        server_url=status.server_url,
        technician=status.technician,
        sent=result.sent,
        acknowledged=result.acknowledged,
        duplicates=result.duplicates,
        rejected=[
            SyncRejectionDoc(op_id=r.op_id, code=r.code, reason=r.reason) for r in result.rejected
        ],
        retry=[SyncRejectionDoc(op_id=r.op_id, code=r.code, reason=r.reason) for r in result.retry],
        flagged=result.flagged,
        pending=result.pending,
        work_orders=result.work_orders,
        removals=result.removals,
        cursor=result.cursor,
        server_time=None if trusted is None else trusted.server_time,
        clock_offset_seconds=None if trusted is None else trusted.offset_seconds,
        error=result.error,
    )


def status_document(status: SyncStatus) -> SyncStatusDocument:
    """The ``sync_status`` document."""
    trusted = status.trusted_time
    return SyncStatusDocument(
        enrolled=status.enrolled,
        server_url=status.server_url,
        device_id=status.device_id,
        technician=status.technician,
        last_sync_at=status.last_sync_at,
        last_error=status.last_error,
        pending=status.pending,
        cursor=status.cursor,
        rejected=[
            SyncRejectionDoc(
                op_id=r.op_id,
                kind=r.kind,
                entity_id=r.entity_id,
                code=r.code,
                reason=r.reason,
                at=r.rejected_at,
            )
            for r in status.rejected
        ],
        trusted_time=None if trusted is None else trusted.trusted_time,
        clock_offset_seconds=None if trusted is None else trusted.offset_seconds,
    )


def _print_report(report: SyncReportDocument) -> None:
    echo = typer.echo
    echo(f"synced with {report.server_url} as {report.technician}")
    echo(
        f"sent {report.sent} op(s): {report.acknowledged} acknowledged "
        f"({report.duplicates} already on the server), {len(report.rejected)} rejected"
    )
    for item in report.rejected:
        echo(f"  rejected {item.op_id}: {item.code or 'rejected'}: {item.reason or ''}".rstrip())
    for op_id, flags in report.flagged.items():
        echo(f"  flagged for review {op_id}: {', '.join(flags)}")
    for item in report.retry:
        echo(f"  later {item.op_id}: {item.code or 'retry'}: {item.reason or ''}".rstrip())
    echo(f"pending: {report.pending} op(s) still to send")
    echo(
        f"pulled {report.work_orders} work order(s), {report.removals} removed "
        f"(feed cursor {report.cursor})"
    )
    if report.clock_offset_seconds is not None:
        echo(f"server clock: this laptop is {report.clock_offset_seconds:+.1f} s off")


def _print_status(doc: SyncStatusDocument) -> None:
    echo = typer.echo
    if not doc.enrolled:
        echo("not enrolled: fieldkit enroll --server URL --code CODE")
    else:
        echo(f"enrolled with {doc.server_url} as {doc.technician} (device {doc.device_id})")
    last = "never" if doc.last_sync_at is None else doc.last_sync_at.isoformat(timespec="seconds")
    echo(f"last sync: {last}" + (f" (failed: {doc.last_error})" if doc.last_error else ""))
    echo(f"pending: {doc.pending} op(s)")
    echo(f"rejected: {len(doc.rejected)} op(s)")
    for item in doc.rejected:
        echo(
            f"  {item.kind} {item.entity_id} (op {item.op_id}): "
            f"{item.code or 'rejected'}: {item.reason or ''}".rstrip()
        )
    if doc.clock_offset_seconds is not None and doc.trusted_time is not None:
        echo(
            f"server clock at {doc.trusted_time.isoformat(timespec='seconds')}: "
            f"this laptop was {doc.clock_offset_seconds:+.1f} s off"
        )


sync_app = typer.Typer(
    help="Push this laptop's saved visits to the office server, then pull its work orders.",
    invoke_without_command=True,
)


@sync_app.callback()
def sync(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.5, help="Seconds to wait for each answer")
    ] = 10.0,
    attempts: Annotated[
        int,
        typer.Option(
            "--attempts",
            min=1,
            max=20,
            help="Tries per request on a bad link (waits 0-1 s, 0-2 s, 0-4 s... between)",
        ),
    ] = 5,
) -> None:
    """Push the outbox, then pull the work orders; prints what was sent, acknowledged,
    rejected and why, what is pending, and the work orders pulled."""
    if ctx.invoked_subcommand is not None:
        return
    from fieldkit.sync.laptop import SyncError, sync_laptop, sync_status

    try:
        result = sync_laptop(timeout=timeout, attempts=attempts)
    except SyncError as exc:
        partial = exc.result
        if partial is not None and partial.sent:
            typer.echo(
                f"before it stopped: sent {partial.sent} op(s), "
                f"{partial.acknowledged} acknowledged, {partial.pending} pending",
                err=True,
            )
        fail(f"sync failed: {exc}")
    try:
        status = sync_status()
    except SyncError as exc:
        fail(str(exc))
    report = report_document(result, status)
    if as_json:
        print_document(report)
    else:
        _print_report(report)


@sync_app.command("status")
def status(as_json: JsonOpt = False) -> None:
    """Where the sync stands: last sync, pending ops, rejected ops and why."""
    from fieldkit.sync.laptop import SyncError, sync_status

    try:
        state = sync_status()
    except SyncError as exc:
        fail(str(exc))
    doc = status_document(state)
    if as_json:
        print_document(doc)
    else:
        _print_status(doc)
