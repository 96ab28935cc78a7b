"""Safe upgrades: a database at every shipped revision, full of data, upgrades to head intact.

For each revision of the migration chain the test builds a database at that
revision, fills every table with the rows of :mod:`upgrade_fixtures`, runs
``crashbot db upgrade`` and compares every value of every row with what the
later migrations promise (their ``EFFECTS``). Then the store reads it all.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner
from upgrade_fixtures import EFFECTS, FIXTURES, Rows

from crashbot_core.cli import build_cli
from crashbot_core.store import IncidentFilter
from crashbot_sqlalchemy.engine import create_engine
from crashbot_sqlalchemy.migrate import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    head_revision,
    known_revisions,
)
from crashbot_sqlalchemy.schema import VERSION_TABLE, metadata
from crashbot_sqlalchemy.store import SqlStore

REVISIONS = known_revisions()


def _at_revision(url: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
    finally:
        engine.dispose()


def _tables_now(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {VERSION_TABLE}
    finally:
        engine.dispose()


def _typed(name: str, columns: list[str]) -> sa.Table:
    # Head's column types (UTCDateTime, JSON, …) bind the values as the store
    # writes them; a table of only the fixture's columns fits any revision.
    head = metadata.tables[name]
    return sa.Table(name, sa.MetaData(), *(sa.Column(c, head.c[c].type) for c in columns))


def _fill(url: str, rows: Rows) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for table in metadata.sorted_tables:
                if table.name in rows:
                    conn.execute(sa.delete(sa.table(table.name)))
            for table in metadata.sorted_tables:
                for row in rows.get(table.name, []):
                    conn.execute(sa.insert(_typed(table.name, list(row))).values(**row))
    finally:
        engine.dispose()


def _dump(url: str) -> Rows:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table.name: [
                    dict(r)
                    for r in conn.execute(
                        sa.select(table).order_by(*table.primary_key.columns)
                    ).mappings()
                ]
                for table in metadata.sorted_tables
            }
    finally:
        engine.dispose()


def _normalised(rows: Rows) -> Rows:
    def value(v: Any) -> Any:
        return bytes(v) if isinstance(v, memoryview) else v

    return {
        name: sorted(
            ({k: value(v) for k, v in row.items()} for row in table_rows),
            key=lambda r: [str(r[c.name]) for c in metadata.tables[name].primary_key.columns],
        )
        for name, table_rows in rows.items()
    }


def test_every_revision_has_a_fixture_and_every_later_one_an_effect() -> None:
    assert set(FIXTURES) == set(REVISIONS), "add a fixture to upgrade_fixtures.FIXTURES"
    assert set(EFFECTS) == set(REVISIONS[1:]), "add an effect to upgrade_fixtures.EFFECTS"


def test_the_head_fixture_fills_every_table_of_the_metadata() -> None:
    rows = FIXTURES[REVISIONS[-1]]()
    empty = [name for name in metadata.tables if not rows.get(name)]
    assert empty == [], f"tables without fixture rows: {empty}"


def test_migration_files_sort_in_the_order_they_run() -> None:
    files = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))
    revisions = []
    for name in files:
        text = (MIGRATIONS_DIR / "versions" / name).read_text(encoding="utf-8")
        found = re.search(r'^revision: str = "([^"]+)"', text, re.M)
        assert found, name
        revisions.append(found.group(1))
    assert revisions == REVISIONS
    assert len({name[:4] for name in files}) == len(files), f"two files share a number: {files}"


@pytest.mark.parametrize("revision", REVISIONS)
def test_a_full_database_at_each_revision_upgrades_with_every_row_intact(
    db_url: str, revision: str, tmp_path: Path
) -> None:
    _at_revision(db_url, revision)
    fixture = FIXTURES[revision]()
    missing = _tables_now(db_url) - {name for name, rows in fixture.items() if rows}
    assert missing == set(), f"fixture {revision} has no rows for {sorted(missing)}"
    _fill(db_url, fixture)

    result = CliRunner().invoke(
        build_cli(), ["db", "upgrade"], env={"CRASHBOT_DATABASE_URL": db_url}
    )

    assert result.exit_code == 0, result.output
    head = head_revision()
    if revision == head:
        assert f"is at schema revision {head}" in result.output
        assert "nothing to do" in result.output
    else:
        later = REVISIONS[REVISIONS.index(revision) + 1 :]
        assert f"from schema revision {revision} to {head}" in result.output
        assert f"(applied {', '.join(later)})" in result.output
    expected = fixture
    for later_revision in REVISIONS[REVISIONS.index(revision) + 1 :]:
        expected = EFFECTS[later_revision](expected)
    assert _normalised(_dump(db_url)) == _normalised(
        {name: expected.get(name, []) for name in metadata.tables}
    )

    # And the store reads every upgraded row back into its models.
    store = SqlStore.from_url(db_url)
    try:
        incidents = store.list_incidents(IncidentFilter())
        assert {i.id for i in incidents} == {r["id"] for r in expected["incidents"]}
        first = store.get_incident(1)
        assert first is not None
        assert first.roles["commander"].name == "alice"
        assert first.components["api"].value == "major_outage"
        assert [e.id for e in store.events(1)] == [1, 2]
        assert [e.id for e in store.events(1, public_only=True)] == [1]
        assert [f.title for f in store.follow_ups(1)] == ["Add a canary"]
        assert [a.fingerprint for a in store.alerts(1)] == ["fp-1", "fp-1"]
        assert [t.name for t in store.tokens()] == ["alertmanager"]
        assert [c.key for c in store.components()] == ["api"]
        assert len(store.deliveries()) == 2
        assert store.change_token() == "41"
        planned = store.list_maintenances()
        assert [m.ref for m in planned] == [r["ref"] for r in expected["maintenances"]]
        assert [len(m.updates) for m in planned] == [
            len(expected["maintenance_updates"]) for _ in planned
        ]
        for row in expected.get("rate_limits", []):
            # A stored count goes on counting: one more attempt is past it.
            window = row["window_end"] - row["window_start"]
            assert (
                store.count_attempt(
                    row["key"], limit=row["attempts"], window=window, now=row["window_start"]
                )
                == row["window_end"]
            )
    finally:
        store.close()


def test_a_database_from_a_newer_crashbot_is_refused_with_one_line(db_url: str) -> None:
    SqlStore.from_url(db_url).close()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '0099_future'"))
    engine.dispose()

    for args in (["db", "upgrade"], ["list"], ["worker", "--once"]):
        result = CliRunner().invoke(build_cli(), args, env={"CRASHBOT_DATABASE_URL": db_url})
        assert result.exit_code == 1, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, lines
        assert "schema revision '0099_future'" in lines[0]
        assert f"its newest is '{head_revision()}'" in lines[0]
        assert "crashbot 0." in lines[0] or "crashbot (not installed)" in lines[0]
        assert "run that version or a later one" in lines[0]
    # Nothing was touched.
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert current_revision(conn) == "0099_future"
    engine.dispose()


def test_upgrade_says_when_it_created_the_schema(db_url: str) -> None:
    result = CliRunner().invoke(
        build_cli(), ["db", "upgrade"], env={"CRASHBOT_DATABASE_URL": db_url}
    )

    assert result.exit_code == 0, result.output
    assert "created the schema in " in result.output
    assert f"at revision {head_revision()} (applied {', '.join(REVISIONS)})" in result.output
    assert "up to date" not in result.output
