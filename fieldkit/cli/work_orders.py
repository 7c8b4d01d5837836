"""``fieldkit work-orders``: import a CIS export, list the open orders, show one."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from fieldkit.cli.common import JsonOpt, fail, print_document
from fieldkit.model import WorkOrder
from fieldkit.sync.schema import WorkOrderDoc, WorkOrderDocument, WorkOrderListDocument

# The store is imported where a command uses it: sqlite-utils costs a tenth of a second at
# start-up, and read, ports and a check without --work-order never open the database.

__all__ = ["stored_work_order", "work_order_line", "work_orders_app"]


def stored_work_order(work_order_id: str) -> WorkOrder:
    """The work order with this id on this laptop; exits 1 saying what to do when absent."""
    from fieldkit import store

    try:
        with store.database() as db:
            order = store.get(db, work_order_id)
    except store.StoreError as exc:
        fail(str(exc))
    if order is None:
        fail(
            f"no work order {work_order_id} on this laptop: "
            "import it (fieldkit work-orders import) or sync"
        )
    return order


def work_order_line(order: WorkOrder) -> str:
    """One line that says which order a check runs against."""
    parts = [
        f"work order {order.work_order_id}",
        order.kind or "",
        f"meter {order.meter_number}",
        f"{order.service_type.value} {order.nominal_voltage:g} V",
        order.service_address or "",
    ]
    return "  ".join(p for p in parts if p)


work_orders_app = typer.Typer(
    help="Work orders on this laptop: import a CIS export, list them, show one.",
    no_args_is_help=True,
)


@work_orders_app.command("import")
def work_orders_import(
    file: Annotated[Path, typer.Argument(help="CSV export, header row with the column names")],
) -> None:
    """Import work orders from a CSV file: all of them, or none if any row is bad."""
    from fieldkit import store

    try:
        orders = store.parse_work_orders_csv(file)
        with store.database() as db:
            counts = store.upsert_many(db, orders, "csv")
    except (store.WorkOrderImportError, store.StoreError) as exc:
        fail(str(exc))
    noun = "work order" if counts.total == 1 else "work orders"
    typer.echo(f"imported {counts.total} {noun} ({counts.new} new, {counts.updated} updated)")


@work_orders_app.command("list")
def work_orders_list(as_json: JsonOpt = False) -> None:
    """List the open work orders, soonest scheduled first."""
    from fieldkit import store

    try:
        with store.database() as db:
            orders = store.list_open(db)
    except store.StoreError as exc:
        fail(str(exc))
    if as_json:
        print_document(
            WorkOrderListDocument(work_orders=[WorkOrderDoc.from_model(o) for o in orders])
        )
        return
    if not orders:
        typer.echo(
            "no open work orders on this laptop: import them (fieldkit work-orders import FILE)"
            " or sync"
        )
        return
    rows = [("work order", "kind", "status", "meter", "service", "scheduled", "address")]
    rows += [
        (
            o.work_order_id,
            o.kind or "-",
            o.status,
            o.meter_number,
            f"{o.service_type.value} {o.nominal_voltage:g} V",
            o.scheduled_for or "-",
            o.service_address or "-",
        )
        for o in orders
    ]
    for line in fit_columns(rows, _output_width()):
        typer.echo(line)


def _output_width() -> int:
    """The terminal's width; unlimited when the list goes to a file or a pipe (grep)."""
    if not os.environ.get("COLUMNS") and not sys.stdout.isatty():
        return 1 << 16
    return shutil.get_terminal_size().columns


# Columns a narrow terminal gives up first; the id, meter and service always stay.
_DROPPABLE = (2, 1, 5)  # status, kind, scheduled
_MIN_ADDRESS = 16


def fit_columns(rows: Sequence[tuple[str, ...]], width: int) -> list[str]:
    """Aligned columns that fit ``width``: ids and numbers are never cut or wrapped.

    Columns the technician can do without go first (status, kind, scheduled); the last
    column (the address) wraps under its own indent.
    """
    keep = list(range(len(rows[0])))

    def fixed_width(columns: list[int]) -> int:
        return sum(max(len(r[i]) for r in rows) + 2 for i in columns[:-1])

    for column in _DROPPABLE:
        if fixed_width(keep) + _MIN_ADDRESS <= width:
            break
        keep.remove(column)
    widths = [max(len(r[i]) for r in rows) for i in keep[:-1]]
    indent = sum(w + 2 for w in widths)
    below = indent + _MIN_ADDRESS > width  # a phone over SSH: the address on its own lines
    if below:
        indent = 4
    room = max(width - indent, _MIN_ADDRESS)
    lines = []
    for row in rows:
        head = "  ".join(row[i].ljust(w) for i, w in zip(keep, widths, strict=False))
        wrapped = textwrap.wrap(row[keep[-1]], room, break_long_words=False) or [""]
        if below:
            lines.append(head.rstrip())
            lines += [" " * indent + part for part in wrapped]
            continue
        lines.append(f"{head}  {wrapped[0]}".rstrip())
        lines += [" " * indent + more for more in wrapped[1:]]
    return lines


@work_orders_app.command("show")
def work_orders_show(
    work_order_id: Annotated[str, typer.Argument(metavar="ID", help="Work order id")],
    as_json: JsonOpt = False,
) -> None:
    """Show everything stored for one work order."""

    order = stored_work_order(work_order_id)
    document = WorkOrderDocument.build(order)
    if as_json:
        print_document(document)
        return
    data = WorkOrderDoc.from_model(order).model_dump(mode="json")
    width = max(len(key) for key in data)
    for key, value in data.items():
        typer.echo(f"{key.ljust(width)}  {_plain(value)}")


def _plain(value: str | float | bool | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
