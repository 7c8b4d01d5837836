"""``fieldkit work-orders``: import a CIS export, list the open orders, show one."""

from __future__ import annotations

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
    # Plain aligned columns, never wrapped or cut: ids must survive grep and narrow terminals.
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        padded = [row[i].ljust(width) for i, width in enumerate(widths)]
        typer.echo("  ".join([*padded, row[-1]]))


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
