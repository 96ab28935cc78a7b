"""The built-in store passes the store contract, on SQLite and PostgreSQL."""

from __future__ import annotations

from crashbot_core.store import StoreCapabilities
from crashbot_core.store_contract import StoreContract
from crashbot_sqlalchemy.store import SqlStore


class TestSqlStoreContract(StoreContract):
    """The ``store`` fixture (tests/sqlalchemy/conftest.py) gives each test an empty SqlStore."""


def test_the_sql_store_offers_every_capability(store: SqlStore) -> None:
    # So none of the contract's capability tests is skipped for it.
    assert StoreCapabilities.of(store).names() == [
        "locked_commit",
        "alert_group_commit",
        "bulk_alerts",
        "bulk_reads",
        "metrics",
        "multi_commit",
        "migrations",
        "backups",
        "subscriptions",
        "maintenances",
        "rate_limits",
    ]
