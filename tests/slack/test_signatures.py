"""Request verification: unsigned, tampered or stale requests get 401 and change nothing."""

from __future__ import annotations

import time
import urllib.parse

from fake_slack import FakeSlack, sign
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_support import SECRET, SlackDriver

from crashbot_core import Crashbot
from crashbot_slack.command_text import SUBCOMMANDS


def command_body(text: str = "declare DB down sev1") -> str:
    return urllib.parse.urlencode(
        {
            "command": "/incident",
            "text": text,
            "user_id": "UALICE",
            "channel_id": "C1",
            "channel_name": "general",
            "team_id": "T0001",
            "response_url": "http://127.0.0.1:9/x",
            "trigger_id": "t",
        }
    )


def test_unsigned_request_is_refused(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    r = slack.post(command_body(), "application/x-www-form-urlencoded", headers={})
    assert r.status_code == 401
    assert slack_bot.list() == [] and fake_slack.calls == []


def test_wrong_secret_is_refused(slack: SlackDriver, slack_bot: Crashbot) -> None:
    body = command_body()
    r = slack.post(body, "application/x-www-form-urlencoded", headers=sign("not-the-secret", body))
    assert r.status_code == 401
    assert slack_bot.list() == []


def test_tampered_body_is_refused(slack: SlackDriver, slack_bot: Crashbot) -> None:
    headers = sign(SECRET, command_body("help"))
    r = slack.post(command_body(), "application/x-www-form-urlencoded", headers=headers)
    assert r.status_code == 401
    assert slack_bot.list() == []


def test_replayed_request_older_than_five_minutes_is_refused(
    slack: SlackDriver, slack_bot: Crashbot
) -> None:
    body = command_body()
    r = slack.post(
        body,
        "application/x-www-form-urlencoded",
        headers=sign(SECRET, body, int(time.time()) - 6 * 60),
    )
    assert r.status_code == 401
    assert slack_bot.list() == []


def test_request_from_the_future_is_refused(slack: SlackDriver, slack_bot: Crashbot) -> None:
    body = command_body()
    r = slack.post(
        body,
        "application/x-www-form-urlencoded",
        headers=sign(SECRET, body, int(time.time()) + 6 * 60),
    )
    assert r.status_code == 401


def test_garbage_timestamp_is_refused_not_a_500(slack: SlackDriver) -> None:
    body = command_body()
    headers = sign(SECRET, body)
    headers["X-Slack-Request-Timestamp"] = "yesterday"
    r = slack.post(body, "application/x-www-form-urlencoded", headers=headers)
    assert r.status_code == 401


def test_signed_garbage_body_is_not_a_500(slack: SlackDriver) -> None:
    for body, ctype in [
        ("%%%not=form", "application/x-www-form-urlencoded"),
        ("{not json", "application/json"),
        ("payload=%7Bbad", "application/x-www-form-urlencoded"),
    ]:
        r = slack.post(body, ctype)
        assert r.status_code < 500, body


def test_get_is_not_allowed(slack: SlackDriver) -> None:
    assert slack.client.get("/slack/events").status_code == 405


def test_a_signed_request_just_inside_the_window_is_accepted(
    slack: SlackDriver, slack_bot: Crashbot
) -> None:
    body = command_body("help")
    r = slack.post(
        body,
        "application/x-www-form-urlencoded",
        headers=sign(SECRET, body, int(time.time()) - 4 * 60),
    )
    assert r.status_code == 200


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.one_of(
        st.text(max_size=120),
        st.builds(
            lambda sub, rest: f"{sub} {rest}",
            st.sampled_from(sorted(SUBCOMMANDS)),
            st.text(max_size=60),
        ),
    ),
    in_channel=st.booleans(),
)
def test_any_command_text_gets_an_answer_never_a_500(
    slack: SlackDriver, fake_slack: FakeSlack, text: str, in_channel: bool
) -> None:
    where = {"channel_id": "CINC00001", "channel_name": "inc-20260302-1-x"} if in_channel else {}
    before = len(fake_slack.responses)
    r = slack.command(text, **where)
    assert r.status_code == 200
    body = r.get_json(silent=True)
    if body:  # answered in the ack: an ephemeral reply or explanation
        assert body["response_type"] == "ephemeral" and body["text"].strip()
        assert "Something went wrong" not in body["text"]
    for reply in fake_slack.responses[before:]:
        assert reply["response_type"] == "ephemeral" and reply["text"].strip()
        assert "Something went wrong" not in reply["text"]
