"""``crashbot db backup`` and ``db restore``: SQLite's online backup API, pg_dump for PostgreSQL.

SQLite copies the database page by page through :meth:`sqlite3.Connection.backup`
in one step under a read transaction, so the copy is one consistent snapshot
while ``crashbot serve`` keeps writing (WAL: readers never block the writer).
PostgreSQL has its own tools, which know about roles, extensions and large
databases; the commands print the exact line instead of re-implementing them.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crashbot_core.errors import ConfigError, ConflictError, InvalidInput
from crashbot_core.store import BackupResult
from crashbot_sqlalchemy.migrate import check_known, describe_url, upgrade_engine
from crashbot_sqlalchemy.schema import VERSION_TABLE, metadata

#: Tables whose rows make a database "hold data": not the state row (always
#: there) nor rate-limit counts (a visitor's form post is no data to protect).
_DATA_TABLES = [
    t.name for t in metadata.sorted_tables if t.name not in ("store_state", "rate_limits")
]


def _postgres_only(engine: Engine, what: str) -> ConfigError:
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=True)
    line = {
        "backup": f"pg_dump --format=custom --file FILE '{url}'",
        "restore": f"pg_restore --clean --if-exists --no-owner --dbname '{url}' FILE",
    }[what]
    return ConfigError(
        f"{what} of a PostgreSQL database is done with PostgreSQL's own tool: {line} "
        "(see docs/deployment.md, Backup and restore)"
    )


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    present = {
        row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    return {
        name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
        for name in _DATA_TABLES
        if name in present
    }


def _revision(conn: sqlite3.Connection, path: str) -> str | None:
    try:
        row = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"{path} is not a crashbot backup: {exc}") from None
    return None if row is None else str(row[0])


def backup(engine: Engine, path: str) -> BackupResult:
    """Copy the SQLite database behind ``engine`` to a new file at ``path``.

    :raises ConfigError: PostgreSQL (the message gives the pg_dump line).
    :raises InvalidInput: ``path`` exists already.
    """
    if engine.url.get_backend_name() != "sqlite":
        raise _postgres_only(engine, "backup")
    target = Path(path)
    if target.exists():
        raise InvalidInput(f"{path} exists; choose a new file name (a backup never overwrites)")
    # Written beside the target and renamed: a crash mid-copy leaves no half file under its name.
    partial = target.with_name(f".{target.name}.partial")
    raw = engine.raw_connection()
    try:
        source = raw.driver_connection
        assert isinstance(source, sqlite3.Connection)
        with sqlite3.connect(partial) as copy:
            source.backup(copy)
            revision = _revision(copy, path)
            counts = _counts(copy)
        copy.close()
        os.replace(partial, target)
    finally:
        raw.close()
        partial.unlink(missing_ok=True)
    return BackupResult(path=str(target), revision=revision, rows=counts)


def restore(engine: Engine, path: str, *, force: bool) -> BackupResult:
    """Replace the SQLite database behind ``engine`` with the backup at ``path``, then upgrade it.

    :raises ConfigError: PostgreSQL (the message gives the pg_restore line).
    :raises InvalidInput: ``path`` is missing, no crashbot database, or from a newer crashbot.
    :raises ConflictError: the database holds data and ``force`` is False.
    """
    if engine.url.get_backend_name() != "sqlite":
        raise _postgres_only(engine, "restore")
    if not Path(path).is_file():
        raise InvalidInput(f"{path}: no such file")
    source = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    try:
        revision = _revision(source, path)
        if revision is None:
            raise InvalidInput(f"{path} is not a crashbot backup: it has no schema revision")
        try:
            check_known(revision, f"backup {path}")
        except ConfigError as exc:
            raise InvalidInput(exc.message) from None
        with engine.connect() as conn:
            held = {
                name: conn.execute(sa.select(sa.func.count()).select_from(sa.table(name))).scalar()
                for name in _DATA_TABLES
            }
        held = {name: n for name, n in held.items() if n}
        if held and not force:
            summary = ", ".join(f"{n} {name}" for name, n in held.items())
            raise ConflictError(
                f"database {describe_url(engine)} holds data ({summary}); "
                "back it up first, then pass --force to replace it"
            )
        # Pooled connections would keep reading the old pages' cache.
        engine.dispose()
        raw = engine.raw_connection()
        try:
            target = raw.driver_connection
            assert isinstance(target, sqlite3.Connection)
            source.backup(target)
        finally:
            raw.close()
    finally:
        source.close()
    engine.dispose()
    upgraded = upgrade_engine(engine)
    raw = engine.raw_connection()
    try:
        target = raw.driver_connection
        assert isinstance(target, sqlite3.Connection)
        counts = _counts(target)
    finally:
        raw.close()
    return BackupResult(path=path, revision=revision, rows=counts, upgraded_to=upgraded.after)
