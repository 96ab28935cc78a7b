"""Helpers shared by the Slack tests (not in conftest.py: importing from conftest is ambiguous)."""

from __future__ import annotations

import json
import urllib.parse
from concurrent.futures import Executor, Future
from typing import Any

from fake_slack import DIGEST_ID, PEOPLE, FakeSlack, sign

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def handle(user: str) -> str:
    """The Slack handle (``user_name``) requests carry for a user id."""
    return PEOPLE[user][0] if user in PEOPLE else user.lower()


class InlineExecutor(Executor):
    """Runs the work after the ack in the request thread, so a test sees it (a modal
    opened, a confirmation) when the HTTP reply arrives; production uses a thread pool."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class NeverExecutor(Executor):
    """Takes the work meant for after the ack and never runs it: what a process
    killed the moment after its ack does with that work."""

    def __init__(self) -> None:
        self.dropped = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.dropped += 1
        return Future()


def slack_env(fake: FakeSlack, **extra: str) -> dict[str, str]:
    """Environment that turns the Slack plugin on, pointed at the fake."""
    env = {
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url,
        "INCIDENTS_DIGEST_CHANNEL": "#incidents",
    }
    env.update(extra)
    return env


class SlackDriver:
    """Sends signed requests to ``/slack/events`` as Slack would."""

    def __init__(self, client: Any, fake: FakeSlack) -> None:
        self.client = client
        self.fake = fake

    def post(self, body: str, content_type: str, headers: dict[str, str] | None = None) -> Any:
        """POST a raw body; signed with the secret unless ``headers`` are given."""
        return self.client.post(
            "/slack/events",
            data=body,
            content_type=content_type,
            headers=headers if headers is not None else sign(SECRET, body),
        )

    def command(
        self,
        text: str = "",
        *,
        user: str = "UALICE",
        channel_id: str = "CGENERAL1",
        channel_name: str = "general",
        command: str = "/incident",
        headers: dict[str, str] | None = None,
    ) -> Any:
        """A slash command, form-encoded as Slack sends it."""
        form = {
            "token": "gIkuvaNzQIHg97ATvDxqgjtO",
            "team_id": "T0001",
            "team_domain": "example",
            "enterprise_id": "",
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user,
            "user_name": handle(user),
            "command": command,
            "text": text,
            "api_app_id": "A0001",
            "is_enterprise_install": "false",
            "response_url": self.fake.response_url(),
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
        body = urllib.parse.urlencode(form)
        return self.post(body, "application/x-www-form-urlencoded", headers)

    def interactive(self, payload: dict[str, Any]) -> Any:
        """An interactivity request: ``payload=<json>``, form-encoded."""
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return self.post(body, "application/x-www-form-urlencoded")

    def button(self, action_id: str, value: str, *, user: str = "UBOB") -> Any:
        """A click on a digest button (``block_actions``)."""
        return self.interactive(
            {
                "type": "block_actions",
                "user": {
                    "id": user,
                    "username": handle(user),
                    "name": handle(user),
                    "team_id": "T0001",
                },
                "api_app_id": "A0001",
                "token": "gIkuvaNzQIHg97ATvDxqgjtO",
                "container": {
                    "type": "message",
                    "message_ts": "1772442001.000100",
                    "channel_id": DIGEST_ID,
                    "is_ephemeral": False,
                },
                "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
                "team": {"id": "T0001", "domain": "example"},
                "enterprise": None,
                "is_enterprise_install": False,
                "channel": {"id": DIGEST_ID, "name": "incidents"},
                "message": {"type": "message", "ts": "1772442001.000100", "text": "digest"},
                "response_url": self.fake.response_url("action"),
                "actions": [
                    {
                        "action_id": action_id,
                        "block_id": "crashbot_digest",
                        "text": {"type": "plain_text", "text": "button"},
                        "value": value,
                        "type": "button",
                        "action_ts": "1772442002.000200",
                    }
                ],
            }
        )

    def submit(
        self,
        callback_id: str,
        values: dict[str, Any],
        *,
        private_metadata: str = "",
        user: str = "UALICE",
    ) -> Any:
        """A modal submission (``view_submission``) with ``state.values``."""
        return self.interactive(
            {
                "type": "view_submission",
                "team": {"id": "T0001", "domain": "example"},
                "user": {
                    "id": user,
                    "username": handle(user),
                    "name": handle(user),
                    "team_id": "T0001",
                },
                "api_app_id": "A0001",
                "token": "gIkuvaNzQIHg97ATvDxqgjtO",
                "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
                "view": {
                    "id": "V0001",
                    "team_id": "T0001",
                    "type": "modal",
                    "blocks": [],
                    "private_metadata": private_metadata,
                    "callback_id": callback_id,
                    "state": {"values": values},
                    "hash": "156772938.1827394",
                    "title": {"type": "plain_text", "text": "crashbot"},
                    "app_id": "A0001",
                    "bot_id": "B0001",
                },
                "response_urls": [],
                "is_enterprise_install": False,
                "enterprise": None,
            }
        )

    def event(self, event: dict[str, Any]) -> Any:
        """An Events API callback."""
        body = json.dumps(
            {
                "token": "gIkuvaNzQIHg97ATvDxqgjtO",
                "team_id": "T0001",
                "api_app_id": "A0001",
                "event": event,
                "type": "event_callback",
                "event_id": "Ev0001",
                "event_time": 1772442000,
                "authorizations": [
                    {
                        "team_id": "T0001",
                        "user_id": "UBOT",
                        "is_bot": True,
                        "is_enterprise_install": False,
                    }
                ],
            }
        )
        return self.post(body, "application/json")
