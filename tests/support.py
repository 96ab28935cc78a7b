"""Constants shared by tests: ``from support import T0, ALICE, BOB``.

(Not in conftest.py: with several conftest files, ``import conftest`` is ambiguous.)
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from crashbot_core import Actor
from crashbot_core.models import Alert, AlertStatus

#: A Monday morning, so business-day rules are easy to reason about.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALICE = Actor(platform="cli", id="alice", name="Alice")
BOB = Actor(platform="cli", id="bob", name="Bob")

#: PostgreSQL for store-backed tests (``.ci/run`` sets it); empty: SQLite only.
POSTGRES_URL = os.environ.get("CRASHBOT_TEST_POSTGRES_URL", "")

#: Parametrize a fixture over both stores: SQLite always, PostgreSQL when configured.
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


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL to a fresh, empty PostgreSQL schema, dropped afterwards.

    ``search_path`` in the connection options puts every table, and Alembic's
    version table, in the schema, so tests are isolated and may run in parallel.
    """
    import sqlalchemy as sa

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


def alert(
    fingerprint: str = "fp-1",
    status: AlertStatus = AlertStatus.FIRING,
    source: str = "alertmanager",
    severity: str | None = None,
    **labels: str,
) -> Alert:
    """A firing alert (by default) titled after its fingerprint; ``labels`` as given."""
    return Alert(
        source=source,
        fingerprint=fingerprint,
        status=status,
        title=f"alert {fingerprint}",
        severity=severity,
        labels=labels,
    )
