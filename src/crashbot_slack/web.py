"""HTTP transport: ``POST /slack/events`` on a Flask app.

Commands, interactivity and events all arrive at the one URL; bolt checks
``X-Slack-Signature`` against the signing secret and refuses requests older
than five minutes with 401 before any listener runs.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from crashbot_slack.runtime import runtime_for

if TYPE_CHECKING:
    from flask import Flask

    from crashbot_core.service import Crashbot

log = logging.getLogger("crashbot.slack")

EVENTS_PATH = "/slack/events"


def mount(app: Flask, crashbot: Crashbot, *, listener_executor: Executor | None = None) -> bool:
    """Add ``POST /slack/events`` to ``app`` when Slack is configured.

    :returns: False (and mounts nothing) without a bot token; without a
        signing secret it logs why and mounts nothing, since unsigned requests
        must never be acted on.
    """
    runtime = runtime_for(crashbot)
    if runtime is None:
        return False
    if not runtime.settings.signing_secret:
        log.warning("SLACK_BOT_TOKEN is set but SLACK_SIGNING_SECRET is not: /slack/events is off")
        return False
    from flask import jsonify, request
    from slack_bolt.adapter.flask import SlackRequestHandler
    from slack_sdk.signature import SignatureVerifier

    handler = SlackRequestHandler(runtime.app(listener_executor=listener_executor))
    verifier = SignatureVerifier(runtime.settings.signing_secret)

    def slack_events() -> Any:
        body = request.get_data()
        # Checked here as well as in bolt: bolt parses the body (and the
        # timestamp) before verifying, and a malformed one would be a 500.
        if not _signed(verifier, body, request.headers):
            return _error(
                jsonify, 401, "invalid_signature", "missing, invalid or expired Slack signature"
            )
        try:
            return handler.handle(request)
        except ValueError as exc:  # json.JSONDecodeError included
            log.info("unreadable Slack request: %s", exc)
            return _error(
                jsonify, 400, "invalid_request", "the request body is not what Slack sends"
            )

    app.add_url_rule(EVENTS_PATH, "slack_events", slack_events, methods=["POST"])
    app.extensions["crashbot_slack"] = handler.app
    return True


def _signed(verifier: Any, body: bytes, headers: Any) -> bool:
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not timestamp.isdigit() or not signature:
        return False
    # is_valid checks the five-minute window and compares in constant time.
    return bool(verifier.is_valid(body=body, timestamp=timestamp, signature=signature))


def _error(jsonify: Any, status: int, code: str, reason: str) -> Any:
    response = jsonify({"error": code, "reason": reason})
    response.status_code = status
    return response


def create_app(crashbot: Crashbot, *, listener_executor: Executor | None = None) -> Flask:
    """A small Flask app with only ``/slack/events`` and ``/health`` (``crashbot slack run``)."""
    from flask import Flask, jsonify

    app = Flask("crashbot_slack")
    app.extensions["crashbot"] = crashbot

    @app.get("/health")
    def health() -> Any:
        return jsonify({"status": "ok"})

    mount(app, crashbot, listener_executor=listener_executor)
    return app


def status_app_or_own(crashbot: Crashbot) -> Flask:
    """The status site's app when ``crashbot_status`` is installed (it mounts us via
    ``crashbot_web``), else :func:`create_app`."""
    try:
        from crashbot_status import create_app as create_status_app
    except ImportError:
        return create_app(crashbot)
    app = create_status_app(crashbot=crashbot)
    if EVENTS_PATH not in {r.rule for r in app.url_map.iter_rules()}:
        mount(app, crashbot)
    return app
