"""The laptop's offline store (SQLite through sqlite-utils).

Today it holds the office's work orders: :mod:`.db` opens and migrates the database,
:mod:`.work_orders` reads and writes them, :mod:`.csv_import` reads a CIS export. The sync
pull will write the same table. Nothing here imports a driver, the checks or the UI.
"""

from __future__ import annotations

from fieldkit.store.csv_import import WorkOrderImportError, parse_work_orders_csv
from fieldkit.store.db import StoreError, close_database, database, database_path, open_database
from fieldkit.store.work_orders import (
    UpsertCounts,
    get,
    list_open,
    upsert_many,
)

__all__ = [
    "StoreError",
    "UpsertCounts",
    "WorkOrderImportError",
    "close_database",
    "database",
    "database_path",
    "get",
    "list_open",
    "open_database",
    "parse_work_orders_csv",
    "upsert_many",
]
