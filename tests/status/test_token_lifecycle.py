"""``crashbot token list`` and ``token revoke`` against running apps.

A revoke is one store write and every request reads its token from the store,
so two app instances on one database (two replicas) both refuse the token on
the very next request. Runs on SQLite and, with ``CRASHBOT_TEST_POSTGRES_URL``,
on PostgreSQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from flask.testing import FlaskClient
from status_support import auth

from crashbot_core import Crashbot, FixedClock
from crashbot_core.cli import build_cli
from crashbot_core.plugins import get_plugin_manager
from crashbot_core.testing import make_crashbot
from crashbot_status import create_app


def crashbot(database_url: str, *args: str) -> Result:
    """The ``crashbot`` command line on ``database_url`` (as another process would run it)."""
    group = build_cli(get_plugin_manager(disabled=()))
    env = {"CRASHBOT_DATABASE_URL": database_url, "CRASHBOT_USER": "bob"}
    return CliRunner().invoke(group, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def replicas(database_url: str, clock: FixedClock) -> Iterator[tuple[FlaskClient, FlaskClient]]:
    """Two status apps, each with its own service and connection pool, on one database."""
    a = make_crashbot(database_url=database_url, clock=clock)
    b = make_crashbot(database_url=database_url, clock=clock)
    try:
        yield (
            create_app(a, {"TESTING": True}).test_client(),
            create_app(b, {"TESTING": True}).test_client(),
        )
    finally:
        a.close()
        b.close()


def test_a_token_revoked_through_the_cli_gets_401_at_once_on_every_replica(
    bot: Crashbot, database_url: str, replicas: tuple[FlaskClient, FlaskClient]
) -> None:
    secret, _ = bot.create_token("deploy-bot", "write")
    other, _ = bot.create_token("grafana", "read")
    for client in replicas:
        assert client.get("/api/metrics", headers=auth(secret)).status_code == 200

    revoked = crashbot(database_url, "token", "revoke", "deploy-bot")

    assert revoked.exit_code == 0
    assert revoked.stdout.startswith("token 'deploy-bot' revoked at 2026-")
    for client in replicas:
        resp = client.get("/api/metrics", headers=auth(secret))
        assert resp.status_code == 401
        assert resp.get_json() == {
            "error": "unauthorized",
            "reason": "API token 'deploy-bot' was revoked",
        }
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        write = client.post("/api/incidents", json={"title": "x"}, headers=auth(secret))
        assert write.status_code == 401
        assert client.get("/api/metrics", headers=auth(other)).status_code == 200


def test_revoking_an_unknown_token_is_a_one_line_error(bot: Crashbot, database_url: str) -> None:
    bot.create_token("deploy-bot", "write")

    result = crashbot(database_url, "token", "revoke", "deploy-bto")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "error: no API token named 'deploy-bto'; see crashbot token list\n"


def test_token_list_shows_scope_times_and_state_never_a_secret(
    bot: Crashbot, clock: FixedClock, database_url: str, client: FlaskClient
) -> None:
    secret, token = bot.create_token("deploy-bot", "write")
    bot.create_token("grafana", "read")
    clock.advance(minutes=90, seconds=25)
    assert client.get("/api/metrics", headers=auth(secret)).status_code == 200
    clock.advance(minutes=1)
    crashbot(database_url, "token", "revoke", "grafana")

    listed = crashbot(database_url, "token", "list")

    assert listed.exit_code == 0
    # The CLI revokes at its own (real) time, the app's clock is fixed.
    revoked_at = r"revoked \d{4}-\d\d-\d\d \d\d:\d\d"
    header, rule, deploy_bot, grafana = listed.stdout.splitlines()
    assert header == "NAME        SCOPE  CREATED           LAST USED         STATE"
    assert rule.startswith("----------  -----  ----------------  ----------------  -------")
    assert deploy_bot == "deploy-bot  write  2026-03-02 09:00  2026-03-02 10:30  active"
    assert re.fullmatch(
        f"grafana     read   2026-03-02 09:00  never             {revoked_at}", grafana
    )
    assert secret not in listed.stdout and token.token_hash not in listed.stdout
    as_json = crashbot(database_url, "token", "list", "--json")
    assert '"deploy-bot"' in as_json.stdout and token.token_hash not in as_json.stdout
    assert [sorted(t) for t in json.loads(as_json.stdout)] == [
        ["created_at", "last_used_at", "name", "revoked_at", "scope"]
    ] * 2


def test_busy_token_costs_one_write_a_minute(
    bot: Crashbot, clock: FixedClock, client: FlaskClient
) -> None:
    secret, _ = bot.create_token("prometheus", "read")
    engine: sa.Engine = bot.store.engine  # type: ignore[attr-defined]
    writes: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_TOKENS"):
            writes.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        for _ in range(3):
            for _ in range(20):
                assert client.get("/api/metrics", headers=auth(secret)).status_code == 200
                clock.advance(seconds=2)
            clock.advance(timedelta(minutes=1))
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)

    assert len(writes) == 3  # one per minute of use, for 60 requests
