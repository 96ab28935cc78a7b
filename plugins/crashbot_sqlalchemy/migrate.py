"""Running the Alembic migrations from code.

The migration scripts ship inside the package (``crashbot_sqlalchemy/migrations``)
and are located from this file, so they run the same from a wheel, an
editable install or a source checkout; no ``alembic.ini`` is needed.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from crashbot_core.errors import ConfigError
from crashbot_core.store import SchemaUpgrade
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


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str | None:
    """The newest revision shipped with this version of crashbot."""
    return _scripts().get_current_head()


def known_revisions() -> list[str]:
    """Every revision shipped with this version of crashbot, oldest first."""
    return [script.revision for script in reversed(list(_scripts().walk_revisions()))]


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None for an empty database."""
    ctx = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return ctx.get_current_revision()


def crashbot_version() -> str:
    """The installed crashbot's version, for messages."""
    try:
        return metadata.version("crashbot")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def check_known(revision: str | None, where: str) -> None:
    """Refuse a schema revision this code does not know: a newer crashbot wrote it.

    :raises ConfigError: naming the revision, this version and what to do.
    """
    if revision is None or revision in known_revisions():
        return
    raise ConfigError(
        f"{where} is at schema revision {revision!r}, which crashbot {crashbot_version()} "
        f"does not know (its newest is {head_revision()!r}): a newer crashbot upgraded it; "
        "run that version or a later one, or restore a backup taken before the upgrade"
    )


def describe_url(engine: Engine) -> str:
    """The engine's URL with its password hidden."""
    return engine.url.render_as_string(hide_password=True)


def upgrade_engine(engine: Engine) -> SchemaUpgrade:
    """Bring the database behind ``engine`` to the newest schema.

    Cheap when already current (one read). Safe when several processes start
    at once: they take a lock (PostgreSQL advisory lock, SQLite write lock)
    and the later ones find the work done.

    :returns: the revisions before and after, and those applied here.
    :raises ConfigError: the database is at a revision this code does not
        know (a newer crashbot upgraded it); nothing is changed.
    """
    head = head_revision()
    where = f"database {describe_url(engine)}"
    with engine.connect() as conn:
        before = current_revision(conn)
    if before == head:
        return SchemaUpgrade(database=describe_url(engine), before=before, after=head)
    check_known(before, where)
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            # Read again under the lock: another process may have upgraded meanwhile.
            before = current_revision(conn)
            check_known(before, where)
            # env.py sees the open transaction and runs inside it, so the
            # whole upgrade commits or rolls back as one (DDL is transactional
            # on both PostgreSQL and SQLite).
            command.upgrade(alembic_config(conn), "head")
    known = known_revisions()
    start = 0 if before is None else known.index(before) + 1
    return SchemaUpgrade(
        database=describe_url(engine), before=before, after=head, applied=tuple(known[start:])
    )
