"""Fixtures for the replica tests: a database URL per backend, and child processes.

``replica_url`` is a SQLite file and, when ``CRASHBOT_TEST_POSTGRES_URL`` is
set, a fresh PostgreSQL schema (tests marked ``postgres``; skipped when unset).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from replica_support import Children

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


@pytest.fixture(params=BACKENDS)
def replica_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database shared by the test and its child processes."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crashbot.db'}"
        return
    schema = f"crashbot_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    """Start child processes; any left running are killed at the end."""
    kids = Children(tmp_path)
    try:
        yield kids
    finally:
        kids.kill_all()
