"""Helpers for the alert intake tests: payloads, a service with secrets, a bare Flask app."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flask
import sqlalchemy as sa

from crashbot_alerts.plugin import crashbot_web
from crashbot_core import Crashbot, FixedClock
from crashbot_core.testing import make_crashbot
from crashbot_sqlalchemy import schema

PAYLOADS = Path(__file__).parent / "payloads"
TOKEN = "cbt_test-intake-token"
SENTRY_SECRET = "sentry-client-secret"
GITHUB_SECRET = "github-webhook-secret"


def payload_bytes(name: str) -> bytes:
    """A vendor fixture, byte for byte."""
    return (PAYLOADS / name).read_bytes()


def payload(name: str) -> Any:
    """A vendor fixture, decoded."""
    return json.loads(payload_bytes(name))


def make_intake_bot(database_url: str, clock: FixedClock, **config: Any) -> Crashbot:
    """A service with an API token and both signing secrets configured."""
    return make_crashbot(
        database_url=database_url,
        clock=clock,
        config=config,
        env={
            "CRASHBOT_API_TOKEN": TOKEN,
            "CRASHBOT_SENTRY_CLIENT_SECRET": SENTRY_SECRET,
            "CRASHBOT_GITHUB_WEBHOOK_SECRET": GITHUB_SECRET,
        },
    )


def bare_app(bot: Crashbot) -> flask.Flask:
    """A plain Flask app with only the alerts plugin's route, as the status app would mount it."""
    app = flask.Flask("intake-test")
    crashbot_web(app=app, crashbot=bot)
    return app


def auth(token: str = TOKEN) -> dict[str, str]:
    """Headers of a JSON request with a bearer token."""
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def stored_alerts(bot: Crashbot) -> list[dict[str, Any]]:
    """Every alert row in the store (raw bodies included), oldest first."""
    engine = bot.store.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(schema.alerts).order_by(schema.alerts.c.id)).mappings()
        return [dict(r) for r in rows]


PostFn = Callable[..., Any]
