"""Alembic migrations: idempotent, reversible, and equal to the table metadata."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlstore_support import new_incident

from crashbot_core.store import Change
from crashbot_sqlalchemy.engine import create_engine
from crashbot_sqlalchemy.migrate import alembic_config, current_revision, head_revision
from crashbot_sqlalchemy.plugin import upgrade
from crashbot_sqlalchemy.schema import VERSION_TABLE, metadata
from crashbot_sqlalchemy.store import SqlStore


def _table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_creates_every_table_and_records_the_head(db_url: str) -> None:
    upgrade(db_url)

    assert _table_names(db_url) == {*metadata.tables, VERSION_TABLE}
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision() is not None
    engine.dispose()


def test_upgrade_twice_is_harmless_and_keeps_data(db_url: str) -> None:
    upgrade(db_url)
    store = SqlStore.from_url(db_url)
    store.commit(Change(new_incident(), expected_version=None))
    token = store.change_token()

    upgrade(db_url)
    upgrade(db_url)

    assert store.get_incident(1) is not None
    assert store.change_token() == token
    store.close()


def test_alembic_head_matches_the_metadata(db_url: str) -> None:
    upgrade(db_url)
    engine = create_engine(db_url)

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        diff = compare_metadata(context, metadata)

    engine.dispose()
    assert diff == []


def test_downgrade_to_base_then_upgrade_again(db_url: str) -> None:
    upgrade(db_url)
    engine = create_engine(db_url)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    engine.dispose()

    assert _table_names(db_url) <= {VERSION_TABLE}
    upgrade(db_url)
    assert _table_names(db_url) == {*metadata.tables, VERSION_TABLE}


def test_store_without_auto_upgrade_leaves_the_database_alone(db_url: str) -> None:
    store = SqlStore.from_url(db_url, auto_upgrade=False)

    assert _table_names(db_url) == set()
    store.upgrade()
    assert store.change_token() == "0"
    store.close()
