"""Alembic, run from code: ``upgrade`` brings a database to the current schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from syncserver.db.engine import Database

__all__ = ["current_revision", "downgrade", "head_revision", "upgrade"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest migration this server has."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(database: Database) -> str | None:
    """The migration the database is at (None when it is empty)."""
    with database.write_engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(database: Database, target: str = "head") -> None:
    """Apply every migration the database lacks up to ``target`` (nothing when it is there)."""
    config = _config()
    with database.write_engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, target)
        connection.commit()


def downgrade(database: Database, target: str) -> None:
    """Undo migrations down to ``target`` (for tests of a migration's upgrade path)."""
    config = _config()
    with database.write_engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, target)
        connection.commit()
