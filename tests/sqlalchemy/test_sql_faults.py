"""Database faults: a connection the database made read-only is not reused once it recovers.

Before: a server started while its SQLite file was read-only kept failing
writes after the file became writable again, until a restart. A pooled
connection opened in a read-only moment is simulated by switching it to
read-only itself (SQLite ``PRAGMA query_only``, PostgreSQL ``SET SESSION
CHARACTERISTICS AS TRANSACTION READ ONLY``): the database then refuses its
writes with the same errors as a read-only file or a standby.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlstore_support import DeclareFn

from crashbot_sqlalchemy import engine as engine_module
from crashbot_sqlalchemy.store import SqlStore


def _make_pooled_connection_read_only(store: SqlStore) -> None:
    with store.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA query_only = ON")
        else:
            conn.exec_driver_sql("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        conn.commit()


def test_check_writable_fails_on_a_read_only_connection_and_recovers_after(
    store: SqlStore,
) -> None:
    store.engine.pool.dispose()  # one pooled connection: the one made read-only
    _make_pooled_connection_read_only(store)

    with pytest.raises(Exception, match=r"(?i)read-?only"):
        store.check_writable()
    store.check_writable()  # the read-only connection was dropped; a new one writes


def test_a_command_after_the_database_became_writable_again_is_stored(
    store: SqlStore, declare: DeclareFn
) -> None:
    store.engine.pool.dispose()
    _make_pooled_connection_read_only(store)

    with pytest.raises(Exception, match=r"(?i)read-?only"):
        declare()
    saved = declare()

    assert store.get_incident(saved.incident.id) == saved.incident


def _terminate_the_pooled_connection(store: SqlStore) -> None:
    """Have the server end the one pooled connection's session, as a pooler dropping it would."""
    with store.engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        conn.commit()
    other = sa.create_engine(store.engine.url, poolclass=sa.pool.NullPool)
    try:
        with other.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    finally:
        other.dispose()


def test_a_dropped_idle_connection_is_replaced_before_use(
    store: SqlStore, declare: DeclareFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite connections are files, not sessions a pooler drops")
    saved = declare()
    store.engine.pool.dispose()
    _terminate_the_pooled_connection(store)
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.0)  # idle long enough

    assert store.get_incident(saved.incident.id) == saved.incident


def test_a_connection_handed_back_a_moment_ago_is_used_without_a_ping(
    store: SqlStore, declare: DeclareFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite connections are files, not sessions a pooler drops")
    saved = declare()
    store.engine.pool.dispose()
    _terminate_the_pooled_connection(store)
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 3600.0)

    # Not pinged, so the dead session fails the read; the pool is refilled after it.
    with pytest.raises(sa.exc.OperationalError):
        store.get_incident(saved.incident.id)
    assert store.get_incident(saved.incident.id) == saved.incident
