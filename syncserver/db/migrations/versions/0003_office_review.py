"""Office review: what the pages filter on, per-check statuses, comments, browser sessions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 08:50:00
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_RANK = {"skip": 0, "pass": 1, "warn": 2, "fail": 3}


def _summary(body: str) -> tuple[str | None, str | None, datetime | None, dict[str, str]]:
    """The verdict, outcome, end time and per-check statuses of a stored document (a copy of the
    server's own reading, frozen here so the migration never changes with it)."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None, None, None, {}
    if not isinstance(data, dict):
        return None, None, None, {}
    checks: dict[str, str] = {}
    for check in data.get("checks") or []:
        if not isinstance(check, dict):
            continue
        cid, status = check.get("id"), check.get("status")
        if (
            isinstance(cid, str)
            and status in _RANK
            and 0 < len(cid) <= 60
            and _RANK[status] >= _RANK.get(checks.get(cid, "skip"), 0)
        ):
            checks[cid] = status
    verdict = data.get("verdict") if data.get("verdict") in _RANK else None
    if verdict is None and checks:
        verdict = max(checks.values(), key=lambda s: _RANK[s])
    outcome = data.get("outcome") if isinstance(data.get("outcome"), str) else None
    return verdict, outcome, _moment(data.get("ended_at")), checks


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def upgrade() -> None:
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("visited_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("verdict", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=30), nullable=True))
        batch_op.add_column(
            sa.Column("exception", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Fill the new columns of the visits already stored.
    connection = op.get_bind()
    visits = sa.table(
        "visits",
        sa.column("id", sa.Integer),
        sa.column("body", sa.Text),
        sa.column("started_at", sa.DateTime(timezone=True)),
        sa.column("received_at", sa.DateTime(timezone=True)),
        sa.column("visited_at", sa.DateTime(timezone=True)),
        sa.column("ended_at", sa.DateTime(timezone=True)),
        sa.column("verdict", sa.String),
        sa.column("outcome", sa.String),
        sa.column("exception", sa.Boolean),
    )
    checks_table = sa.table(
        "visit_checks",
        sa.column("visit_pk", sa.Integer),
        sa.column("check_id", sa.String),
        sa.column("status", sa.String),
    )
    per_visit: dict[int, dict[str, str]] = {}
    last = -1
    while True:  # a thousand visits at a time: a large server's bodies never sit in memory
        rows = connection.execute(
            sa.select(visits.c.id, visits.c.body, visits.c.started_at, visits.c.received_at)
            .where(visits.c.id > last)
            .order_by(visits.c.id)
            .limit(1000)
        ).all()
        if not rows:
            break
        changes = []
        for pk, body, started, received in rows:
            verdict, outcome, ended, checks = _summary(body)
            changes.append(
                {
                    "pk": pk,
                    "new_visited_at": started if started is not None else received,
                    "new_ended_at": ended,
                    "new_verdict": verdict,
                    "new_outcome": outcome,
                    "new_exception": verdict in ("warn", "fail"),
                }
            )
            per_visit[pk] = checks
            last = pk
        connection.execute(
            visits.update()
            .where(visits.c.id == sa.bindparam("pk"))
            .values(
                visited_at=sa.bindparam("new_visited_at"),
                ended_at=sa.bindparam("new_ended_at"),
                verdict=sa.bindparam("new_verdict"),
                outcome=sa.bindparam("new_outcome"),
                exception=sa.bindparam("new_exception"),
            ),
            changes,
        )
    # SQLite rebuilds the table to make a column NOT NULL: do it before any row refers to it.
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.alter_column("visited_at", nullable=False)
        batch_op.create_index("ix_visits_exceptions", ["exception", "visited_at", "id"])
        batch_op.create_index("ix_visits_visited", ["visited_at", "id"])
        batch_op.create_index("ix_visits_meter_visited", ["meter_id", "visited_at"])
    op.create_table(
        "visit_checks",
        sa.Column("visit_pk", BigId, nullable=False),
        sa.Column("check_id", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["visit_pk"], ["visits.id"], name=op.f("fk_visit_checks_visit_pk_visits")
        ),
        sa.PrimaryKeyConstraint("visit_pk", "check_id", name=op.f("pk_visit_checks")),
    )
    op.create_index("ix_visit_checks_check", "visit_checks", ["check_id", "status", "visit_pk"])
    op.create_table(
        "visit_comments",
        sa.Column("id", BigId, nullable=False),
        sa.Column("visit_pk", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["visit_pk"], ["visits.id"], name=op.f("fk_visit_comments_visit_pk_visits")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_visit_comments_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_comments")),
    )
    op.create_index("ix_visit_comments_visit_pk", "visit_comments", ["visit_pk"])
    op.create_table(
        "web_sessions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_web_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])

    check_rows = [
        {"visit_pk": pk, "check_id": c, "status": s}
        for pk, checks in per_visit.items()
        for c, s in checks.items()
    ]
    if check_rows:
        connection.execute(checks_table.insert(), check_rows)


def downgrade() -> None:
    op.drop_index("ix_web_sessions_user_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_index("ix_visit_comments_visit_pk", table_name="visit_comments")
    op.drop_table("visit_comments")
    op.drop_index("ix_visit_checks_check", table_name="visit_checks")
    op.drop_table("visit_checks")
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_index("ix_visits_meter_visited")
        batch_op.drop_index("ix_visits_visited")
        batch_op.drop_index("ix_visits_exceptions")
        for column in ("exception", "outcome", "verdict", "ended_at", "visited_at"):
            batch_op.drop_column(column)
