"""Each visit's previous visit to its meter (``visit_repeats``), for the weekly report.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# One statement for every stored visit (the rule ingest keeps: the latest other visit to
# the meter strictly before, found by a backward seek of ix_visits_meter_visited), so the
# visits' rows, bodies and all, are read only as far as the covering indexes hold them.
BACKFILL = """
INSERT INTO visit_repeats (visit_pk, technician_id, visited_at, previous_at)
SELECT visit_pk, technician_id, visited_at, previous_at FROM (
    SELECT v.id AS visit_pk, v.technician_id, v.visited_at, (
        SELECT MAX(p.visited_at) FROM visits p
        WHERE p.meter_id = v.meter_id AND p.visited_at < v.visited_at
    ) AS previous_at
    FROM visits v
    WHERE v.meter_id IS NOT NULL
) AS found
WHERE previous_at IS NOT NULL
"""


def upgrade() -> None:
    op.create_table(
        "visit_repeats",
        sa.Column("visit_pk", BigId, nullable=False),
        sa.Column("technician_id", sa.BigInteger(), nullable=False),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("previous_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["visit_pk"], ["visits.id"], name=op.f("fk_visit_repeats_visit_pk_visits")
        ),
        sa.PrimaryKeyConstraint("visit_pk", name=op.f("pk_visit_repeats")),
    )
    op.execute(BACKFILL)
    # After the rows: one sort rather than an index kept up row by row.
    op.create_index(
        "ix_visit_repeats_report", "visit_repeats", ["visited_at", "technician_id", "previous_at"]
    )
    if op.get_bind().dialect.name == "postgresql":
        # Statistics now, not when autovacuum comes round: until then the planner reads the
        # week through a bitmap heap scan instead of the index it was built for.
        op.execute("ANALYZE visit_repeats")


def downgrade() -> None:
    op.drop_index("ix_visit_repeats_report", table_name="visit_repeats")
    op.drop_table("visit_repeats")
