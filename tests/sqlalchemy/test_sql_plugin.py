"""The plugin's hook, URL handling and datetime column type."""

from __future__ import annotations

import importlib.util
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from crashbot_core.config import Config, GeneralSettings
from crashbot_core.errors import ConfigError
from crashbot_core.plugins import get_plugin_manager
from crashbot_core.store import IncidentFilter, Store
from crashbot_sqlalchemy import plugin
from crashbot_sqlalchemy.engine import normalise_url
from crashbot_sqlalchemy.schema import UTCDateTime
from crashbot_sqlalchemy.store import SqlStore


def _config(database_url: str) -> Config:
    return Config(general=GeneralSettings(database_url=database_url))


def test_open_store_hook_opens_sqlite_and_migrates(tmp_path: Path) -> None:
    pm = get_plugin_manager(entry_points=False)
    pm.register(plugin, name="sqlalchemy")

    store = pm.hook.crashbot_open_store(config=_config(f"sqlite:///{tmp_path / 'crashbot.db'}"))

    assert isinstance(store, SqlStore)
    assert isinstance(store, Store)
    assert store.count_incidents(IncidentFilter()) == 0
    store.close()


@pytest.mark.parametrize("url", ["mysql://db/crashbot", "redis://localhost", "memory:"])
def test_open_store_hook_declines_other_urls(url: str) -> None:
    assert plugin.crashbot_open_store(_config(url)) is None


def test_relative_sqlite_path_is_fixed_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = SqlStore.from_url("sqlite:///relative.db")
    monkeypatch.chdir(tmp_path.parent)

    store.count_incidents(IncidentFilter())

    assert (tmp_path / "relative.db").exists()
    store.close()


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_urls_get_crashbots_default_driver(url: str, driver: str) -> None:
    assert normalise_url(url).drivername == driver


@pytest.mark.skipif(
    importlib.util.find_spec("pg8000") is not None, reason="pg8000 is installed here"
)
def test_missing_driver_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="pg8000"):
        SqlStore.from_url("postgresql+pg8000://u@localhost/db", auto_upgrade=False)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2024, 1, 1), sqlite.dialect())


def test_datetimes_keep_their_offset_on_postgresql() -> None:
    aware = datetime.fromisoformat("2024-01-01T02:00:00+02:00")

    bound = UTCDateTime().process_bind_param(aware, postgresql.dialect())  # type: ignore[no-untyped-call]

    assert bound == aware
    assert bound is not None
    assert bound.utcoffset() is not None
