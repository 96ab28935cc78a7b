"""The built-in storage plugin, registered under the ``crashbot`` entry-point group.

It answers ``crashbot_open_store`` for SQLite and PostgreSQL URLs and leaves
every other URL to other plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crashbot_core.hookspecs import hookimpl
from crashbot_sqlalchemy.store import SqlStore

if TYPE_CHECKING:
    from crashbot_core.config import Config
    from crashbot_core.store import SchemaUpgrade

#: URL prefixes this plugin opens. ``postgres://`` is what Heroku-style
#: platforms hand out; it is read as ``postgresql+psycopg://``.
SCHEMES = ("sqlite", "postgresql", "postgres://")


def handles(url: str) -> bool:
    """True when ``url`` names a database this plugin can open."""
    return url.startswith(SCHEMES)


@hookimpl
def crashbot_open_store(config: Config) -> SqlStore | None:
    """Open ``config.database_url`` when it is SQLite or PostgreSQL, upgrading its schema.

    :returns: the store, or None for other URLs (another plugin may open them).
    """
    url = config.database_url
    if not handles(url):
        return None
    return SqlStore.from_url(url)


def upgrade(url: str) -> SchemaUpgrade:
    """Bring the database at ``url`` to the newest schema; what was done.

    Harmless when it is already current.

    :raises crashbot_core.errors.ConfigError: bad URL or missing driver.
    """
    store = SqlStore.from_url(url, auto_upgrade=False)
    try:
        return store.upgrade()
    finally:
        store.close()
