"""The server's settings: pydantic-settings, every one also an environment variable.

``SYNCSERVER_DB`` (a path for SQLite, or a ``postgresql+psycopg://`` URL), and the limits a
deployment may tune. ``syncserver --db`` sets the same thing.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "database_url"]


class Settings(BaseSettings):
    """What ``create_app`` needs; read from ``SYNCSERVER_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="SYNCSERVER_", extra="ignore", frozen=True)

    db: str = "syncserver.db"
    """The database: a file path (SQLite) or a URL (``postgresql+psycopg://user@host/db``)."""

    max_body_bytes: int = Field(default=1_048_576, gt=0)
    """Largest request body accepted; a larger one is refused with 413 before it is read."""

    pull_limit: int = Field(default=500, gt=0, le=5000)
    """Most feed rows one pull answers."""

    enroll_code_minutes: int = Field(default=15, gt=0, le=24 * 60)
    """How long a one-time enrolment code lives."""

    auto_migrate: bool = True
    """Bring the database to the current schema when the app starts."""

    openapi_docs: bool = True
    """Serve ``/docs`` and ``/api/v1/openapi.json`` (turn off in production if preferred)."""

    cookie_secure: bool = False
    """Mark the office pages' cookies ``Secure`` (set it when served behind TLS)."""

    session_hours: int = Field(default=12, gt=0, le=24 * 30)
    """How long an office login lasts before the pages ask for the password again."""

    push_helpers: int | None = Field(default=None, ge=0, le=16)
    """Helper processes that parse and validate pushes beside the process that writes
    (``syncserver.core.cpu_pool``). Unset: one on SQLite, whose one writer then only
    writes while the helper uses another core; none on PostgreSQL, where ``--workers``
    share the cores. 0 turns them off."""

    def helper_processes(self) -> int:
        """How many push helpers this server runs (``push_helpers``, or the engine's default)."""
        if self.push_helpers is not None:
            return self.push_helpers
        return 1 if database_url(self.db).startswith("sqlite") else 0


def database_url(db: str) -> str:
    """The SQLAlchemy URL of ``--db``: a URL as given (``postgresql://`` gets psycopg 3), or
    the absolute path of an SQLite file."""
    if "://" in db:
        if db.startswith(("postgresql://", "postgres://")):
            return "postgresql+psycopg://" + db.split("://", 1)[1]
        return db
    return f"sqlite:///{Path(db).expanduser().resolve()}"
