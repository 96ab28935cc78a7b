"""``crashbot db backup`` and ``db restore``: consistent copies, careful restores."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from sqlstore_support import ALICE, new_incident
from support import POSTGRES_URL, T0, postgres_schema

from crashbot_core.cli import build_cli
from crashbot_core.models import Event, EventKind
from crashbot_core.store import Change, IncidentFilter
from crashbot_sqlalchemy.migrate import head_revision
from crashbot_sqlalchemy.schema import VERSION_TABLE
from crashbot_sqlalchemy.store import SqlStore


def _crashbot(url: str, *args: str) -> Result:
    return CliRunner().invoke(build_cli(), list(args), env={"CRASHBOT_DATABASE_URL": url})


def _declare(store: SqlStore, title: str) -> None:
    incident = new_incident(title=title)
    event = Event(kind=EventKind.DECLARED, at=incident.declared_at, actor=ALICE, public=True)
    store.commit(Change(incident, expected_version=None, events=[event]))


def _sqlite(tmp_path: Path, name: str) -> str:
    return f"sqlite:///{tmp_path / name}"


def test_a_backup_taken_while_the_server_writes_is_consistent_and_restores(
    tmp_path: Path,
) -> None:
    url = _sqlite(tmp_path, "live.db")
    store = SqlStore.from_url(url)
    for n in range(20):
        _declare(store, f"before {n}")
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set() and n < 2000:
            _declare(store, f"during {n}")
            n += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        result = _crashbot(url, "db", "backup", str(tmp_path / "copy.db"))
    finally:
        stop.set()
        writer.join()

    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        incidents = copy.execute("SELECT count(*) FROM incidents").fetchone()[0]
        events = copy.execute("SELECT count(*) FROM events").fetchone()[0]
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # One snapshot: every incident with its declared event, none half-written.
    assert incidents == events >= 20
    assert f"schema revision {head_revision()}: {incidents} incidents" in result.output

    fresh = _sqlite(tmp_path, "fresh.db")
    restored = _crashbot(fresh, "db", "restore", str(tmp_path / "copy.db"))

    assert restored.exit_code == 0, restored.output
    assert f"{incidents} incidents" in restored.output
    again = SqlStore.from_url(fresh)
    titles = [i.title for i in again.list_incidents(IncidentFilter(newest_first=False))]
    assert titles[:20] == [f"before {n}" for n in range(20)]
    assert len(titles) == incidents
    # The restored database takes writes (its counters came along).
    _declare(again, "after the restore")
    assert again.count_incidents(IncidentFilter()) == incidents + 1
    again.close()
    store.close()


def test_restore_refuses_a_database_that_holds_data_unless_forced(tmp_path: Path) -> None:
    source = SqlStore.from_url(_sqlite(tmp_path, "a.db"))
    _declare(source, "from the backup")
    source.close()
    assert (
        _crashbot(_sqlite(tmp_path, "a.db"), "db", "backup", str(tmp_path / "a.bak")).exit_code == 0
    )
    target_url = _sqlite(tmp_path, "b.db")
    target = SqlStore.from_url(target_url)
    _declare(target, "precious")
    _declare(target, "precious too")
    target.close()

    refused = _crashbot(target_url, "db", "restore", str(tmp_path / "a.bak"))

    assert refused.exit_code == 1
    assert "holds data (2 incidents, 2 events, 2 incident_engagements)" in refused.output
    assert "--force" in refused.output
    store = SqlStore.from_url(target_url)
    assert sorted(i.title for i in store.list_incidents(IncidentFilter())) == [
        "precious",
        "precious too",
    ]
    store.close()

    forced = _crashbot(target_url, "db", "restore", "--force", str(tmp_path / "a.bak"))

    assert forced.exit_code == 0, forced.output
    store = SqlStore.from_url(target_url)
    assert [i.title for i in store.list_incidents(IncidentFilter())] == ["from the backup"]
    store.close()


def test_rate_limit_counts_alone_are_no_data_a_restore_must_be_forced_over(
    tmp_path: Path,
) -> None:
    source = SqlStore.from_url(_sqlite(tmp_path, "a.db"))
    _declare(source, "from the backup")
    source.close()
    assert (
        _crashbot(_sqlite(tmp_path, "a.db"), "db", "backup", str(tmp_path / "a.bak")).exit_code == 0
    )
    target_url = _sqlite(tmp_path, "b.db")
    target = SqlStore.from_url(target_url)
    # A visitor posted the subscribe form on the fresh server before the restore.
    target.count_attempt("subscribe:x", limit=5, window=timedelta(hours=1), now=T0)
    target.close()

    restored = _crashbot(target_url, "db", "restore", str(tmp_path / "a.bak"))

    assert restored.exit_code == 0, restored.output
    store = SqlStore.from_url(target_url)
    assert [i.title for i in store.list_incidents(IncidentFilter())] == ["from the backup"]
    store.close()


def test_restore_upgrades_an_older_backup_and_refuses_a_newer_one(tmp_path: Path) -> None:
    from alembic import command

    from crashbot_sqlalchemy.engine import create_engine
    from crashbot_sqlalchemy.migrate import alembic_config

    old = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{old}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
    engine.dispose()

    result = _crashbot(_sqlite(tmp_path, "new.db"), "db", "restore", str(old))

    assert result.exit_code == 0, result.output
    assert f"(schema revision 0001, now {head_revision()})" in result.output

    with sqlite3.connect(old) as conn:
        conn.execute(f"UPDATE {VERSION_TABLE} SET version_num = '0099_future'")
    newer = _crashbot(_sqlite(tmp_path, "other.db"), "db", "restore", str(old))
    assert newer.exit_code == 1
    assert "backup" in newer.output and "'0099_future'" in newer.output

    (tmp_path / "notes.txt").write_text("not a database")
    garbage = _crashbot(_sqlite(tmp_path, "other.db"), "db", "restore", str(tmp_path / "notes.txt"))
    assert garbage.exit_code == 1
    assert "is not a crashbot backup" in garbage.output
    assert "Traceback" not in garbage.output


def test_backup_never_overwrites_a_file(tmp_path: Path) -> None:
    (tmp_path / "taken.db").write_bytes(b"keep me")

    result = _crashbot(_sqlite(tmp_path, "live.db"), "db", "backup", str(tmp_path / "taken.db"))

    assert result.exit_code == 1
    assert "exists" in result.output
    assert (tmp_path / "taken.db").read_bytes() == b"keep me"


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="CRASHBOT_TEST_POSTGRES_URL is not set")
@pytest.mark.parametrize("command", ["backup", "restore"])
def test_postgresql_backups_name_the_postgresql_tool(command: str, tmp_path: Path) -> None:
    with postgres_schema() as db_url:
        result = _crashbot(db_url, "db", command, str(tmp_path / "x.dump"))

    assert result.exit_code == 1
    tool = {"backup": "pg_dump --format=custom", "restore": "pg_restore"}[command]
    assert tool in result.output
    assert len(result.output.strip().splitlines()) == 1
    url = sa.make_url(db_url)
    assert f"@{url.host}:{url.port}/{url.database}" in result.output
