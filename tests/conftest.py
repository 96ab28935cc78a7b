"""Fixtures shared by every test package.

``database_url`` is a fresh SQLite file by default; with
``CRASHBOT_TEST_POSTGRES_URL`` set (``.ci/run`` sets it) every store-backed
test runs on PostgreSQL instead, each in its own schema.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from support import POSTGRES_URL, T0, postgres_schema

from crashbot_core import Crashbot, FixedClock
from crashbot_core.testing import make_crashbot

# A CI failure must reproduce: every Hypothesis test draws its examples from a
# seed fixed by the test itself, and no example database carries state between
# runs. CRASHBOT_FUZZ_EXAMPLES=N explores instead (fresh randomness; the fuzz
# tests that read it run N examples): see docs/reliability.md.
settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile("explore" if os.environ.get("CRASHBOT_FUZZ_EXAMPLES") else "deterministic")


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


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite database, made once per session.

    Running the Alembic migrations costs ~0.25 s; copying the result costs
    ~0.01 s, which matters over hundreds of store-backed tests.
    """
    import sqlite3

    from crashbot_sqlalchemy.store import SqlStore

    path = tmp_path_factory.mktemp("template") / "crashbot.db"
    SqlStore.from_url(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:  # fold the WAL into the file before copying it
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def database_url(tmp_path: Path, _sqlite_template: Path) -> Iterator[str]:
    """An empty, migrated database: a PostgreSQL schema when configured, else a SQLite file."""
    if not POSTGRES_URL:
        target = tmp_path / "crashbot.db"
        shutil.copyfile(_sqlite_template, target)
        yield f"sqlite:///{target}"
        return
    with postgres_schema() as url:
        yield url


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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[object]:
    """Turn a skip into a failure when CI provides what the test needs.

    With ``CRASHBOT_TEST_POSTGRES_URL`` or ``CRASHBOT_REQUIRE_BROWSER`` set, a
    ``postgres`` or ``browser`` test that skips would make a green run prove
    nothing.
    """
    report: pytest.TestReport = yield  # type: ignore[assignment]
    for marker, env in (
        ("postgres", "CRASHBOT_TEST_POSTGRES_URL"),
        ("browser", "CRASHBOT_REQUIRE_BROWSER"),
    ):
        if report.skipped and item.get_closest_marker(marker) and os.environ.get(env):
            report.outcome = "failed"
            report.longrepr = f"skipped although {env} is set: {report.longrepr}"
    return report
