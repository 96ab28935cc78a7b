"""Running the Alembic migrations from code.

The migration scripts ship inside the package (``crashbot_sqlalchemy/migrations``)
and are located from this file, so they run the same from a wheel, an
editable install or a source checkout; no ``alembic.ini`` is needed.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from crashbot_sqlalchemy.engine import WRITE_OPTION
from crashbot_sqlalchemy.schema import VERSION_TABLE

#: Where the migration scripts live.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Any constant works; it only has to be the same in every crashbot process.
_PG_LOCK_KEY = 0x6372_6173_6862  # "crashb"


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    """An Alembic config pointing at the packaged scripts.

    :param connection: handed to ``env.py`` through ``config.attributes`` so
        migrations run on the caller's connection and transaction.
    """
    cfg = AlembicConfig()
    # ConfigParser interpolates "%"; a path containing one must be escaped.
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    """The newest revision shipped with this version of crashbot."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None for an empty database."""
    ctx = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return ctx.get_current_revision()


def upgrade_engine(engine: Engine) -> None:
    """Bring the database behind ``engine`` to the newest schema.

    Cheap when already current (one read). Safe when several processes start
    at once: they take a lock (PostgreSQL advisory lock, SQLite write lock)
    and the later ones find the work done.
    """
    head = head_revision()
    with engine.connect() as conn:
        if current_revision(conn) == head:
            return
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            # env.py sees the open transaction and runs inside it, so the
            # whole upgrade commits or rolls back as one (DDL is transactional
            # on both PostgreSQL and SQLite).
            command.upgrade(alembic_config(conn), "head")
