"""Fixtures: a fresh SqlStore per test, on SQLite and (when configured) PostgreSQL.

Set ``CRASHBOT_TEST_POSTGRES_URL`` (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) to run every store test
against PostgreSQL too. Each PostgreSQL test gets its own schema, dropped
afterwards, so tests are isolated and may run in parallel.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlstore_support import ALICE, DeclareFn, new_incident
from support import BACKENDS, postgres_schema

from crashbot_core.models import Event, EventKind
from crashbot_core.store import Change, Saved
from crashbot_sqlalchemy.store import SqlStore


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A URL to an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crashbot.db'}"
        return
    with postgres_schema() as url:
        yield url


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
