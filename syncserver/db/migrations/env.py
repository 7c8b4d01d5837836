"""Alembic environment: run by :func:`syncserver.db.migrate.upgrade` on a given connection."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from syncserver.db.models import Base

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through 'syncserver migrate' (it passes the connection)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
