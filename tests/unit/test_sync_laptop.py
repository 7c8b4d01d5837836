"""The laptop's sync adapters over the real store: outbox answers, feed pages, status."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from fieldkit.model import MeterIdentity, MeterSnapshot, ServiceType, WorkOrder
from fieldkit.store import database, work_orders
from fieldkit.store import visits as log
from fieldkit.sync.client import Credentials, Rejection
from fieldkit.sync.laptop import (
    LaptopFeed,
    LaptopOutbox,
    LaptopTokens,
    NotEnrolled,
    status_of,
    sync_database,
)
from fieldkit.sync.schema import RemovalDoc, SyncPullDocument, WorkOrderDoc
from fieldkit.visit import judge, visit_document

ORDER = WorkOrder("WO-1", "M-1", ServiceType.ONE_PHASE_3W, 240.0, account_number="AC-1")


class Vault:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def load(self) -> dict[str, Any]:
        return dict(self.data)

    def save(self, data: dict[str, Any]) -> None:
        self.data = dict(data)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with database(tmp_path / "fieldkit.db") as opened:
        yield opened


def saved_visit(db: Database) -> str:
    snapshot = MeterSnapshot(
        protocol="c1218",
        identity=MeterIdentity("FKIT", "SIM", "SN-1", meter_id="M-1"),
        read_at=datetime.now(UTC),
    )
    result = judge(snapshot, ORDER.expectation(), work_order_id="WO-1")
    return log.save(db, visit_document(result, technician="ann", order=ORDER)).visit_id


def test_answers_are_recorded_and_rejections_kept_with_their_reason(db: Database) -> None:
    first, second, third = (saved_visit(db) for _ in range(3))
    outbox = LaptopOutbox(db)
    ops = outbox.pending(10)
    assert [op.document["visit_id"] for op in ops] == [first, second, third]
    assert outbox.pending(2) == ops[:2]
    outbox.mark([ops[0].op_id], [Rejection(ops[1].op_id, "invalid_document", "bad field")])
    assert outbox.count_pending() == 1
    assert [op.op_id for op in outbox.pending(10)] == [ops[2].op_id]
    status = status_of(db)
    assert status.pending == 1
    assert not status.enrolled
    (rejected,) = status.rejected
    assert (rejected.entity_id, rejected.code, rejected.reason) == (
        second,
        "invalid_document",
        "bad field",
    )
    # The op itself is kept whole.
    assert len(log.outbox_rows(db)) == 3


def test_a_page_is_applied_with_its_cursor_and_reset_forgets_only_pulled_orders(
    db: Database,
) -> None:
    work_orders.upsert_many(
        db, [WorkOrder("WO-CSV", "M-9", ServiceType.ONE_PHASE_3W, 240.0)], "csv"
    )
    feed = LaptopFeed(db)
    assert feed.cursor() == 0
    page = SyncPullDocument(
        cursor=7,
        server_time=datetime.now(UTC),
        work_orders=[WorkOrderDoc.from_model(ORDER)],
    )
    feed.apply(page)
    assert feed.cursor() == 7
    stored = work_orders.get(db, "WO-1")
    assert stored is not None
    assert stored.source == "sync"
    saved_visit(db)
    feed.apply(
        SyncPullDocument(
            cursor=9,
            server_time=datetime.now(UTC),
            removals=[RemovalDoc(id="WO-1", reason="reassigned")],
        )
    )
    assert (feed.cursor(), work_orders.get(db, "WO-1")) == (9, None)
    feed.apply(page.model_copy(update={"cursor": 10}))
    feed.reset()
    assert feed.cursor() == 0
    assert work_orders.get(db, "WO-1") is None
    assert work_orders.get(db, "WO-CSV") is not None
    assert LaptopOutbox(db).count_pending() == 1


def test_tokens_live_in_the_vault_and_the_rest_in_the_database(db: Database) -> None:
    vault = Vault()
    tokens = LaptopTokens(db, vault)
    with pytest.raises(NotEnrolled, match="fieldkit enroll"):
        sync_database(db, tokens)
    assert tokens.load() is None
    tokens.save(Credentials("http://127.0.0.1:9", "dev_1", "fk_dev_secret", "ann"))
    assert vault.data == {"token": "fk_dev_secret"}
    row = db.execute("SELECT * FROM sync_state").fetchone()
    assert "fk_dev_secret" not in repr(row)
    assert tokens.load() == Credentials("http://127.0.0.1:9", "dev_1", "fk_dev_secret", "ann")
    assert status_of(db).enrolled
