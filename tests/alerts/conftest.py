"""Fixtures for the alert intake tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from alerts.alerts_support import bare_app, make_intake_bot
from crashbot_core import Crashbot, FixedClock


@pytest.fixture
def intake_bot(database_url: str, clock: FixedClock) -> Iterator[Crashbot]:
    """The service behind the intake route, with a token and both signing secrets."""
    service = make_intake_bot(database_url, clock)
    try:
        yield service
    finally:
        service.close()


@pytest.fixture
def client(intake_bot: Crashbot) -> FlaskClient:
    """A test client for a bare Flask app with only the alerts route mounted."""
    return bare_app(intake_bot).test_client()
