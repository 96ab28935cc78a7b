"""Fixtures for the status site: an app on the ``bot`` fixture, a client, tokens, sample incidents."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crashbot_core import Crashbot
from crashbot_status import create_app


@pytest.fixture
def app(bot: Crashbot) -> Iterator[Flask]:
    """The status app on an empty store; the change token is re-read on every request."""
    application = create_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 0})
    yield application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client."""
    return app.test_client()


@pytest.fixture
def write_token(bot: Crashbot) -> str:
    """A write-scoped API token secret."""
    return bot.create_token("writer", "write")[0]


@pytest.fixture
def read_token(bot: Crashbot) -> str:
    """A read-scoped API token secret."""
    return bot.create_token("reader", "read")[0]
