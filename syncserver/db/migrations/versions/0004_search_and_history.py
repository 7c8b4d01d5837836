"""Search and meter history: search terms, the serial index, the readings the meter history
plots, and the check filter's index on ``visit_checks``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 17:45:00
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SearchText = sa.String(120).with_variant(sa.String(120, collation="C"), "postgresql")
READINGS = ("drift_seconds", "voltage_a", "voltage_b", "voltage_c", "kwh_delivered", "kwh_received")
FLAGGED = "status IN ('fail', 'warn')"

# Frozen copies of the server's own readings (syncserver.services.prepare.readings_of and
# syncserver.services.search.terms_of), so the migration never changes with them.
_JOINED = re.compile(r"['’.]")
_APART = re.compile(r"[^\w]+|_")


def _normalize(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c)).casefold()
    return " ".join(_APART.sub(" ", _JOINED.sub("", plain)).split())


def _terms(text: str) -> set[str]:
    words = _normalize(text).split()
    return {" ".join(words[i:])[:120] for i in range(min(len(words), 16))}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _readings(body: str) -> dict[str, float | None]:
    found: dict[str, float | None] = dict.fromkeys(READINGS)
    try:
        data: Any = json.loads(body)
    except ValueError:
        return found
    snapshot = data.get("snapshot") if isinstance(data, dict) else None
    if not isinstance(snapshot, dict):
        return found
    clock = snapshot.get("clock")
    if isinstance(clock, dict):
        found["drift_seconds"] = _number(clock.get("drift_seconds"))
    for phase in snapshot.get("phases") or []:
        if isinstance(phase, dict) and isinstance(phase.get("phase"), str):
            column = f"voltage_{phase['phase'].lower()}"
            if column in found and found[column] is None:
                found[column] = _number(phase.get("voltage"))
    for register in snapshot.get("registers") or []:
        if (
            isinstance(register, dict)
            and register.get("id") in ("kwh_delivered", "kwh_received")
            and register.get("tier") is None
        ):
            found[register["id"]] = _number(register.get("value"))
    return found


def _backfill_readings(connection: sa.Connection) -> None:
    visits = sa.table(
        "visits",
        sa.column("id", sa.Integer),
        sa.column("body", sa.Text),
        *(sa.column(name, sa.Float) for name in READINGS),
    )
    last = -1
    while True:  # a thousand visits at a time: a large server's bodies never sit in memory
        rows = connection.execute(
            sa.select(visits.c.id, visits.c.body)
            .where(visits.c.id > last)
            .order_by(visits.c.id)
            .limit(1000)
        ).all()
        if not rows:
            break
        changes = [
            {"pk": pk, **{f"new_{k}": v for k, v in _readings(body).items()}} for pk, body in rows
        ]
        last = rows[-1][0]
        connection.execute(
            visits.update()
            .where(visits.c.id == sa.bindparam("pk"))
            .values(**{name: sa.bindparam(f"new_{name}") for name in READINGS}),
            changes,
        )


def _backfill_terms(connection: sa.Connection) -> None:
    accounts = sa.table(
        "accounts", sa.column("id", sa.Integer), sa.column("customer_name", sa.String)
    )
    premises = sa.table(
        "premises",
        sa.column("account_id", sa.Integer),
        sa.column("service_address", sa.String),
    )
    terms = sa.table(
        "search_terms",
        sa.column("term", sa.String),
        sa.column("account_id", sa.Integer),
        sa.column("source", sa.String),
    )
    last = -1
    while True:
        rows = connection.execute(
            sa.select(accounts.c.id, accounts.c.customer_name)
            .where(accounts.c.id > last)
            .order_by(accounts.c.id)
            .limit(5000)
        ).all()
        if not rows:
            break
        last = rows[-1][0]
        found: set[tuple[str, int, str]] = set()
        for pk, name in rows:
            found.update((t, pk, "name") for t in _terms(name))
        for pk, address in connection.execute(
            sa.select(premises.c.account_id, premises.c.service_address).where(
                premises.c.account_id.between(rows[0][0], last)
            )
        ):
            found.update((t, pk, "address") for t in _terms(address))
        if found:
            connection.execute(
                terms.insert(),
                [{"term": t, "account_id": a, "source": s} for t, a, s in sorted(found)],
            )


def upgrade() -> None:
    connection = op.get_bind()
    # Nullable columns: SQLite adds them in place, without rebuilding the visits table.
    with op.batch_alter_table("visits", schema=None) as batch_op:
        for name in READINGS:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))
    _backfill_readings(connection)

    with op.batch_alter_table("visit_checks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("visited_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE visit_checks SET visited_at = "
        "(SELECT visits.visited_at FROM visits WHERE visits.id = visit_checks.visit_pk)"
    )
    with op.batch_alter_table("visit_checks", schema=None) as batch_op:
        batch_op.alter_column("visited_at", nullable=False)
    op.create_index(
        "ix_visit_checks_flagged",
        "visit_checks",
        ["check_id", "visited_at", "visit_pk"],
        sqlite_where=sa.text(FLAGGED),
        postgresql_where=sa.text(FLAGGED),
    )

    op.create_index("ix_visits_account_visited", "visits", ["account_id", "visited_at", "id"])
    op.create_index("ix_meters_meter_serial", "meters", ["meter_serial"])
    op.create_table(
        "search_terms",
        sa.Column("term", SearchText, nullable=False),
        sa.Column("account_id", BigId, nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_search_terms_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("term", "account_id", "source", name=op.f("pk_search_terms")),
    )
    op.create_index("ix_search_terms_account_id", "search_terms", ["account_id"])
    _backfill_terms(connection)


def downgrade() -> None:
    op.drop_index("ix_search_terms_account_id", table_name="search_terms")
    op.drop_table("search_terms")
    op.drop_index("ix_meters_meter_serial", table_name="meters")
    op.drop_index("ix_visits_account_visited", table_name="visits")
    op.drop_index("ix_visit_checks_flagged", table_name="visit_checks")
    # ALTER TABLE … DROP COLUMN in place (SQLite 3.35+): rebuilding visits would mean
    # dropping a table other rows refer to, which SQLite's foreign keys refuse.
    op.drop_column("visit_checks", "visited_at")
    for name in READINGS:
        op.drop_column("visits", name)
