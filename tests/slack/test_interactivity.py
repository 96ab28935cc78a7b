"""Digest buttons (block_actions) and modal submissions (view_submission)."""

from __future__ import annotations

from typing import Any

from fake_slack import FakeSlack
from slack_support import SlackDriver
from test_commands import declare

from crashbot_core import Crashbot, Status


def text_input(value: str | None) -> dict[str, Any]:
    return {"value": {"type": "plain_text_input", "value": value}}


def select(value: str) -> dict[str, Any]:
    return {
        "value": {
            "type": "static_select",
            "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value},
        }
    }


def multi(kind: str, *values: str) -> dict[str, Any]:
    return {
        "value": {
            "type": kind,
            "selected_options": [
                {"text": {"type": "plain_text", "text": v}, "value": v} for v in values
            ],
        }
    }


def test_join_button_invites_the_clicker(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    declare(slack)
    r = slack.button("crashbot_join", "1", user="UCAROL")
    assert r.status_code == 200
    assert fake_slack.called("conversations.invite")[-1] == {
        "channel": "CINC00001",
        "users": "UCAROL",
    }
    reply = fake_slack.responses[-1]
    assert reply["replace_original"] is False and "<#CINC00001>" in reply["text"]


def test_join_when_already_in_the_channel_is_fine(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    declare(slack)
    fake_slack.fail_once("conversations.invite", "already_in_channel")
    slack.button("crashbot_join", "1", user="UALICE")
    assert "You are in" in fake_slack.responses[-1]["text"]


def test_acknowledge_button_acknowledges_and_refreshes_the_digest(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack)
    slack.button("crashbot_ack", "1", user="UBOB")
    inc = slack_bot.get(1)
    assert inc.acknowledged_at is not None
    ack_event = slack_bot.timeline(1)[-1]
    assert ack_event.kind.value == "acknowledged" and ack_event.actor.id == "UBOB"
    assert "crashbot_ack" not in str(fake_slack.called("chat.update")[-1]["blocks"])


def test_second_acknowledge_explains_instead_of_failing(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    declare(slack)
    slack.button("crashbot_ack", "1")
    r = slack.button("crashbot_ack", "1")
    assert r.status_code == 200
    assert "already acknowledged" in fake_slack.responses[-1]["text"]


def test_post_update_button_opens_the_update_modal(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    declare(slack)
    slack.button("crashbot_post_update", "1")
    [opened] = fake_slack.called("views.open")
    assert (
        opened["view"]["callback_id"] == "crashbot_update"
        and opened["view"]["private_metadata"] == "1"
    )


def test_button_for_a_missing_incident_gets_an_ephemeral_reply(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    r = slack.button("crashbot_ack", "77")
    assert r.status_code == 200
    assert "no incident INC-77" in fake_slack.responses[-1]["text"]


def test_declare_modal_submission_declares_with_every_field(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    r = slack.submit(
        "crashbot_declare",
        {
            "title": text_input("Payments failing"),
            "description": text_input("Card payments time out at the gateway"),
            "severity": select("SEV2"),
            "public": multi("checkboxes", "public"),
            "components": multi("multi_static_select", "api"),
        },
    )
    assert r.status_code == 200 and not r.data  # an empty ack closes the modal
    inc = slack_bot.get(1)
    assert (inc.title, inc.severity, inc.public) == ("Payments failing", "SEV2", True)
    assert inc.description == "Card payments time out at the gateway"
    assert list(inc.components) == ["api"]
    [dm] = [m for m in fake_slack.called("chat.postMessage") if m["channel"] == "UALICE"]
    assert "Declared INC-1" in dm["text"]


def test_declare_modal_without_title_keeps_the_form_open_with_an_error(
    slack: SlackDriver, slack_bot: Crashbot
) -> None:
    r = slack.submit("crashbot_declare", {"title": text_input("   "), "severity": select("SEV3")})
    assert r.status_code == 200
    body = r.get_json()
    assert body["response_action"] == "errors" and "title" in body["errors"]
    assert slack_bot.list() == []


def test_update_modal_changes_status_severity_and_posts_public_message(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack)
    slack.submit(
        "crashbot_update",
        {
            "status": select("monitoring"),
            "severity": select("SEV2"),
            "message": text_input("Fix deployed, watching error rates"),
            "public": multi("checkboxes", "public"),
        },
        private_metadata="1",
    )
    inc = slack_bot.get(1)
    assert inc.status is Status.MONITORING and inc.severity == "SEV2"
    last = slack_bot.timeline(1)[-1]
    assert last.kind.value == "update_posted" and last.public
    channel_posts = [
        m["text"] for m in fake_slack.called("chat.postMessage") if m["channel"] == "CINC00001"
    ]
    assert any("Public update" in t for t in channel_posts)


def test_update_modal_resolving_runs_resolve(slack: SlackDriver, slack_bot: Crashbot) -> None:
    declare(slack)
    slack.submit(
        "crashbot_update",
        {
            "status": select("resolved"),
            "severity": select("SEV1"),
            "message": text_input("All good"),
        },
        private_metadata="1",
    )
    inc = slack_bot.get(1)
    assert inc.status is Status.RESOLVED and "slack.rca_channel" in inc.refs


def test_update_modal_with_nothing_changed_asks_for_something(
    slack: SlackDriver, slack_bot: Crashbot
) -> None:
    declare(slack)
    before = len(slack_bot.timeline(1))
    r = slack.submit(
        "crashbot_update",
        {
            "status": select("investigating"),
            "severity": select("SEV1"),
            "message": text_input(None),
        },
        private_metadata="1",
    )
    assert r.get_json()["response_action"] == "errors"
    assert len(slack_bot.timeline(1)) == before


def test_update_form_refused_by_the_service_stays_open_with_the_reason(
    slack: SlackDriver, slack_bot: Crashbot
) -> None:
    declare(slack)
    slack_bot.resolve(1)
    before = len(slack_bot.timeline(1))
    r = slack.submit(
        "crashbot_update",
        {"status": select("monitoring"), "message": text_input("still watching")},
        private_metadata="1",
    )
    # Answered in the ack, before anything else: the form shows why, and keeps what was typed.
    body = r.get_json()
    assert body["response_action"] == "errors" and "resolved" in body["errors"]["message"]
    assert slack_bot.get(1).status is Status.RESOLVED
    assert len(slack_bot.timeline(1)) == before
