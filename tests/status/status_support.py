"""Helpers for the status tests: auth headers, sample incidents, a store outage."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from crashbot_core import Component, Crashbot, FixedClock, Impact, Incident

#: Text that must never appear in any public output.
SECRET_TITLE = "Payroll DB leaked creds zq9x"
SECRET_NOTE = "internal: rotate key hunter2-7f3a"


def auth(secret: str) -> dict[str, str]:
    """The Authorization header for a secret."""
    return {"Authorization": f"Bearer {secret}"}


def seed_components(bot: Crashbot) -> None:
    """Two groups of components."""
    for i, (key, name, group) in enumerate(
        [("api", "Public API", "Core"), ("web", "Web app", "Core"), ("db", "Database", "Data")]
    ):
        bot.store.upsert_component(Component(key, name, group, "", i))


def resolved_incident(
    bot: Crashbot,
    clock: FixedClock,
    title: str,
    *,
    days_ago: int,
    severity: str = "SEV2",
    components: dict[str, Impact] | None = None,
    public: bool = True,
    hours: int = 2,
) -> Incident:
    """A public incident that started ``days_ago`` days before now and lasted ``hours``."""
    start = clock.now()
    clock.set(start - timedelta(days=days_ago))
    try:
        inc = bot.declare(
            title,
            severity=severity,
            public=public,
            components=components if components is not None else {"api": Impact.MAJOR_OUTAGE},
        )
        clock.advance(hours=hours)
        bot.update(inc.id, status="monitoring", message="Fix deployed, watching.", public=True)
        clock.advance(minutes=30)
        return bot.resolve(inc.id, message="All good now.")
    finally:
        clock.set(start)


def open_incident(bot: Crashbot, title: str = "Checkout errors", **kw: object) -> Incident:
    """An open public SEV2 incident on ``api`` (partial outage) with one public and one internal update."""
    inc = bot.declare(
        title,
        severity="SEV2",
        public=True,
        description="Customers see errors at checkout.",
        components={"api": Impact.PARTIAL_OUTAGE},
        **kw,  # type: ignore[arg-type]
    )
    bot.update(inc.id, status="identified", message="Bad deploy identified.", public=True)
    bot.update(inc.id, message=SECRET_NOTE)
    return inc


@contextlib.contextmanager
def store_unreachable(bot: Crashbot, tmp_path: Path) -> Iterator[None]:
    """Point the store at a database that cannot be reached, for real, until the block ends.

    PostgreSQL: a port nothing listens on (connection refused). SQLite: a
    file in a directory that does not exist (unable to open). Every store
    call then raises the driver's own ``OperationalError``, as in an outage.
    """
    import sqlalchemy as sa

    store: Any = bot.store
    real = store.engine
    if real.url.get_backend_name() == "postgresql":
        dead = sa.create_engine(real.url.set(host="127.0.0.1", port=1))
    else:
        dead = sa.create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'crashbot.db'}")
    store.engine = dead
    try:
        yield
    finally:
        store.engine = real
        dead.dispose()
