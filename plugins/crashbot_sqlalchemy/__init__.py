"""crashbot's built-in store: SQLAlchemy 2 and Alembic, on SQLite or PostgreSQL."""

from __future__ import annotations

from crashbot_sqlalchemy.store import SqlStore

__all__ = ["SqlStore"]
