"""The weekly report's covering index and failed-check count, the work-order status and
device last-push indexes, and the audit chain's checkpoints.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
REPORT_COLUMNS = [
    "visited_at", "technician_id", "verdict", "outcome", "ended_at", "meter_id", "checks_failed",
]  # fmt: skip
BATCH = 5000


def _backfill_checks_failed(connection: sa.Connection) -> None:
    """Count each stored visit's failed checks (only visits with one are written: most
    visits keep the column's 0, and on SQLite a visit's row, body and all, is rewritten)."""
    visits = sa.table("visits", sa.column("id", sa.Integer), sa.column("checks_failed"))
    # The flagged rows are ix_visit_checks_flagged's (fail or warn), a fraction of them all.
    counts = connection.execute(
        sa.text(
            "SELECT visit_pk, SUM(CASE WHEN status = 'fail' THEN 1 ELSE 0 END) FROM visit_checks "
            "WHERE status IN ('fail', 'warn') GROUP BY visit_pk"
        )
    ).all()
    changes = [{"pk": pk, "n": int(n)} for pk, n in counts if n]
    statement = (
        visits.update()
        .where(visits.c.id == sa.bindparam("pk"))
        .values(checks_failed=sa.bindparam("n"))
    )
    for start in range(0, len(changes), BATCH):
        connection.execute(statement, changes[start : start + BATCH])


def upgrade() -> None:
    connection = op.get_bind()
    # NOT NULL with a constant default: added in place on both engines (no table rebuild).
    op.add_column(
        "visits",
        sa.Column("checks_failed", sa.Integer(), nullable=False, server_default="0"),
    )
    _backfill_checks_failed(connection)
    op.create_index("ix_visits_report", "visits", REPORT_COLUMNS)
    op.create_index("ix_work_orders_status", "work_orders", ["status", "id"])
    op.create_index("ix_applied_ops_device_applied", "applied_ops", ["device_pk", "applied_at"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", BigId, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.Column("checked_from", sa.BigInteger(), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_by", sa.String(length=100), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("broken", sa.String(length=400), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    op.drop_index("ix_applied_ops_device_applied", table_name="applied_ops")
    op.drop_index("ix_work_orders_status", table_name="work_orders")
    op.drop_index("ix_visits_report", table_name="visits")
    # ALTER TABLE … DROP COLUMN in place (SQLite 3.35+), as 0004's downgrade does.
    op.drop_column("visits", "checks_failed")
