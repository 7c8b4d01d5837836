"""The data layer: SQLAlchemy 2 models, the engine for SQLite or PostgreSQL, Alembic."""
