"""Fixtures: a fresh SqlStore per test, on SQLite and (when configured) PostgreSQL.

Set ``CRASHBOT_TEST_POSTGRES_URL`` (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) to run every store test
against PostgreSQL too. Each PostgreSQL test gets its own schema, dropped
afterwards, so tests are isolated and may run in parallel.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlstore_support import ALICE, DeclareFn, new_incident

from crashbot_core.models import Event, EventKind
from crashbot_core.store import Change, Saved
from crashbot_sqlalchemy.store import SqlStore

POSTGRES_URL = os.environ.get("CRASHBOT_TEST_POSTGRES_URL", "")

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not POSTGRES_URL, reason="CRASHBOT_TEST_POSTGRES_URL is not set"),
        ],
    ),
]


def _postgres_schema_url(schema: str) -> str:
    # search_path in the connection options puts every table, and Alembic's
    # version table, in the test's own schema.
    url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A URL to an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crashbot.db'}"
        return
    schema = f"crashbot_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield _postgres_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    """A migrated, empty store."""
    opened = SqlStore.from_url(db_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def declare(store: SqlStore) -> DeclareFn:
    """Commit a new incident with a ``declared`` event; keyword arguments set incident fields."""

    def _declare(*, subscribers: tuple[str, ...] = (), **changes: Any) -> Saved:
        incident = new_incident(**changes)
        event = Event(kind=EventKind.DECLARED, at=incident.declared_at, actor=ALICE, public=True)
        return store.commit(
            Change(
                incident=incident,
                expected_version=None,
                events=[event],
                subscribers=subscribers,
            )
        )

    return _declare
