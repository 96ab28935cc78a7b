"""Fixtures for the Slack adapter: a fake Slack Web API, a configured service, signed requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_slack import FakeSlack
from pytest_httpserver import HTTPServer
from slack_support import InlineExecutor, SlackDriver, slack_env

from crashbot_core import Crashbot, FixedClock
from crashbot_core.testing import make_crashbot


@pytest.fixture(scope="session")
def slack_server() -> Iterator[HTTPServer]:
    """One local HTTP server on a free port for the session (stopping one takes 0.5 s)."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_slack(slack_server: HTTPServer) -> Iterator[FakeSlack]:
    """A fake Slack with fresh state and handlers for each test."""
    slack_server.clear()
    try:
        yield FakeSlack(slack_server)
    finally:
        slack_server.clear()


@pytest.fixture
def slack_bot(database_url: str, clock: FixedClock, fake_slack: FakeSlack) -> Iterator[Crashbot]:
    """A service with the Slack plugin configured against the fake."""
    service = make_crashbot(
        database_url=database_url,
        clock=clock,
        env=slack_env(fake_slack),
        config={"components": {"api": {"name": "API"}, "web": {"name": "Website"}}},
    )
    try:
        yield service
    finally:
        service.close()


@pytest.fixture
def slack(slack_bot: Crashbot, fake_slack: FakeSlack) -> SlackDriver:
    """Signed requests into the bot's Flask app (listeners run inline)."""
    from crashbot_slack.web import create_app

    app = create_app(slack_bot, listener_executor=InlineExecutor())
    return SlackDriver(app.test_client(), fake_slack)
