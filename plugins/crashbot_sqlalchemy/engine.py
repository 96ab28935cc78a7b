"""Engines configured for crashbot: SQLite for one host, PostgreSQL for many replicas."""

from __future__ import annotations

import json
import os
import time
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.pool import StaticPool

from crashbot_core.errors import ConfigError

#: How long a SQLite writer waits for another process's write lock, in seconds.
#: Long enough that ``crashbot serve`` and ``crashbot worker`` on the same file
#: queue up instead of failing with "database is locked".
SQLITE_BUSY_TIMEOUT_S = 30

#: Execution option that marks a connection as about to write (see ``_sqlite_begin``).
WRITE_OPTION = "crashbot_write"

#: A pooled PostgreSQL connection idle for longer than this, in seconds, is
#: pinged before use. Load balancers and poolers drop connections idle for
#: tens of seconds or more; one handed back a moment ago is not pinged, which
#: saves a round trip per checkout (three per alert intake request) under load.
PING_AFTER_IDLE_S = 1.0

#: Where a pooled connection's ``info`` keeps when it was last handed back.
_IDLE_SINCE = "crashbot_idle_since"

#: Errors after which no pooled connection may be reused: the database became
#: read-only under them (a SQLite file made read-only, a PostgreSQL primary
#: demoted to a standby). A connection opened then stays read-only even once
#: the database is writable again, so every later write would fail until a
#: restart; dropping the pool makes the next command connect afresh.
READ_ONLY_ERRORS = (
    "attempt to write a readonly database",
    "read-only transaction",
    "readonly database",
)


def _json_default(value: object) -> Any:
    # Event data is free-form; a datetime slipping into it should not make the
    # whole command fail after the transition was computed.
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    """The JSON encoder used for every JSON column."""
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def loads(data: str | bytes | memoryview) -> Any:
    """The JSON decoder of every JSON column.

    psycopg hands over bytes, which :func:`json.loads` would first sniff for an
    encoding; most of crashbot's JSON values are ``{}`` (no labels, no refs).
    A public list decodes five per incident, so both shortcuts count.
    """
    text = data if isinstance(data, str) else bytes(data).decode()
    if text == "{}":
        return {}
    return json.loads(text)


def normalise_url(url: str | URL) -> URL:
    """Parse a database URL and fill in crashbot's defaults.

    * ``postgresql://`` and ``postgres://`` use psycopg 3 (the ``postgres``
      extra), not SQLAlchemy's default psycopg2.
    * A relative SQLite path is made absolute against the current directory
      now, so the database does not move if the process changes directory.
    """
    if isinstance(url, str) and url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = sa.make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and not is_memory(parsed):
        database = parsed.database or ""
        if not database.startswith("file:") and not os.path.isabs(database):
            parsed = parsed.set(database=os.path.abspath(database))
    return parsed


def is_memory(url: URL) -> bool:
    """True for an in-memory SQLite URL (``sqlite://`` or ``sqlite:///:memory:``)."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def create_engine(url: str | URL) -> Engine:
    """Create an engine for ``url`` with crashbot's connection settings.

    :raises crashbot_core.errors.ConfigError: the URL cannot be parsed or its
        driver is not installed.
    """
    try:
        parsed = normalise_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"database_url: cannot parse {str(url)!r}: {exc}") from None
    kwargs: dict[str, Any] = {"json_serializer": dumps, "json_deserializer": loads}
    if is_memory(parsed):
        # One shared connection, or each thread would see its own empty
        # database. SqlStore serialises access to it with a lock.
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    elif parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except ModuleNotFoundError as exc:
        hint = " (pip install 'crashbot[postgres]')" if "psycopg" in str(exc) else ""
        raise ConfigError(
            f"database_url: the driver for {parsed.drivername!r} is not installed: {exc}{hint}"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    else:
        # Replicas sit behind load balancers and poolers that drop idle connections.
        _ping_idle_connections(engine)
    event.listen(engine, "handle_error", _drop_read_only_connections)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """``pool_pre_ping`` for connections idle over :data:`PING_AFTER_IDLE_S` only."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _note_idle(dbapi_connection: Any, connection_record: Any) -> None:
        if dbapi_connection is not None:
            connection_record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
        idle_since = connection_record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return  # just connected, or handed back a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                # As pool_pre_ping does: the pool drops its connections and
                # this checkout is retried on a new one.
                raise sa.exc.InvalidatePoolError() from exc
            raise


def _drop_read_only_connections(context: sa.engine.ExceptionContext) -> None:
    """Treat a read-only refusal as a disconnect, so the pool is refilled with new connections."""
    text = str(context.original_exception).lower()
    if any(marker in text for marker in READ_ONLY_ERRORS):
        context.is_disconnect = True


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Take BEGIN away from the sqlite3 module (which skips it before
        # SELECT and DDL) so every transaction, migrations included, is real.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # First, so that switching a brand-new file to WAL waits for a
            # process doing the same instead of failing.
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
            # WAL: readers (the status site) never wait for the writer.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Connection) -> None:
        # A deferred transaction that reads and then writes cannot wait for a
        # concurrent writer: SQLite fails it at once with "database is locked"
        # whatever the busy timeout. Writers take the lock up front instead,
        # where the busy timeout applies.
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")
