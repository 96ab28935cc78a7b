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
from sqlstore_support import DeclareFn

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
