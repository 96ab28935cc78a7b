"""Database faults: a connection the database made read-only is not reused once it recovers.

Before: a server started while its SQLite file was read-only kept failing
writes after the file became writable again, until a restart. A pooled
connection opened in a read-only moment is simulated by switching it to
read-only itself (SQLite ``PRAGMA query_only``, PostgreSQL ``SET SESSION
CHARACTERISTICS AS TRANSACTION READ ONLY``): the database then refuses its
writes with the same errors as a read-only file or a standby.
"""

from __future__ import annotations

import time

import pytest
from sqlstore_support import DeclareFn
from support import BACKENDS

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


@pytest.mark.parametrize("db_url", [BACKENDS[1]], indirect=True)
def test_a_read_after_the_server_ended_a_pooled_connection_is_answered(
    store: SqlStore, declare: DeclareFn
) -> None:
    saved = declare()
    store.engine.pool.dispose()
    with store.engine.connect() as first, store.engine.connect() as second:
        doomed = first.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        first.commit()  # idle, as in the pool
        second.exec_driver_sql(f"SELECT pg_terminate_backend({int(doomed)})")
        for _ in range(100):  # the server process ends asynchronously
            gone = not second.exec_driver_sql(
                f"SELECT 1 FROM pg_stat_activity WHERE pid = {int(doomed)}"
            ).first()
            if gone:
                break
            time.sleep(0.05)
    # Both connections are back in the pool; the server closed the first one.

    for _ in range(3):
        assert store.get_incident(saved.incident.id) == saved.incident


@pytest.mark.parametrize("db_url", [BACKENDS[1]], indirect=True)
def test_a_pooled_connection_is_pinged_only_after_it_sat_idle(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.change_token()
    pings: list[object] = []
    real_ping = store.engine.dialect.do_ping

    def ping(connection: object) -> bool:
        pings.append(connection)
        return real_ping(connection)  # type: ignore[arg-type]

    monkeypatch.setattr(store.engine.dialect, "do_ping", ping)

    store.change_token()
    assert pings == []  # back in use at once: no round trip
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.0)
    store.change_token()
    assert len(pings) == 1
