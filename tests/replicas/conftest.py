"""Fixtures for the replica tests: a database URL per backend, and child processes.

``replica_url`` is a SQLite file and, when ``CRASHBOT_TEST_POSTGRES_URL`` is
set, a fresh PostgreSQL schema (tests marked ``postgres``; skipped when unset).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from replica_support import Children
from support import BACKENDS, postgres_schema


@pytest.fixture(params=BACKENDS)
def replica_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database shared by the test and its child processes."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crashbot.db'}"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    """Start child processes; any left running are killed at the end."""
    kids = Children(tmp_path)
    try:
        yield kids
    finally:
        kids.kill_all()
