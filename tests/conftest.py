"""Fixtures shared by every test package.

``database_url`` is a fresh SQLite file by default; with
``CRASHBOT_TEST_POSTGRES_URL`` set (``.ci/run`` sets it) every store-backed
test runs on PostgreSQL instead, each in its own schema.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import T0

from crashbot_core import Crashbot, FixedClock
from crashbot_core.testing import make_crashbot

POSTGRES_URL = os.environ.get("CRASHBOT_TEST_POSTGRES_URL", "")



@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a developer's own tokens and config out of tests."""
    for name in list(os.environ):
        if name.startswith(("SLACK_", "DISCORD_", "CONFLUENCE_", "GITHUB_")) or name in {
            "CRASHBOT_CONFIG",
            "CRASHBOT_DATABASE_URL",
            "CRASHBOT_API_TOKEN",
            "CRASHBOT_DISABLED_PLUGINS",
            "INCIDENTS_DIGEST_CHANNEL",
        }:
            monkeypatch.delenv(name, raising=False)


def postgres_schema_url(schema: str) -> str:
    """The test PostgreSQL URL with ``search_path`` set to ``schema``."""
    import sqlalchemy as sa

    url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database: PostgreSQL schema when configured, else a SQLite file."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path / 'crashbot.db'}"
        return
    import sqlalchemy as sa

    schema = f"crashbot_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield postgres_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def clock() -> FixedClock:
    """A clock starting at :data:`T0` that moves only when told."""
    return FixedClock(T0)


@pytest.fixture
def bot(database_url: str, clock: FixedClock) -> Iterator[Crashbot]:
    """A service with the installed plugins on an empty database."""
    service = make_crashbot(database_url=database_url, clock=clock)
    try:
        yield service
    finally:
        service.close()
