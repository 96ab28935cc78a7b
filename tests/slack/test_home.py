"""The App Home tab: app_home_opened → views.publish, and its Declare and Record buttons."""

from __future__ import annotations

from typing import Any

from fake_slack import FakeSlack
from slack_support import NeverExecutor, SlackDriver, handle
from test_commands import declare

from crashbot_core import Actor, Crashbot


def home_opened(user: str = "UBOB", tab: str = "home") -> dict[str, Any]:
    """``app_home_opened`` as Slack sends it."""
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": "D0HOME001",
        "tab": tab,
        "event_ts": "1772442010.000500",
    }


def home_section_texts(view: dict[str, Any]) -> str:
    return "\n".join(b["text"]["text"] for b in view["blocks"] if b["type"] == "section")


def test_opening_home_publishes_open_incidents_my_roles_and_a_declare_button(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack, "declare Checkout API returns 500s sev1")
    declare(slack, "declare Search is slow <!here>")
    declare(slack, "declare Old thing")
    slack_bot.assign_role(2, "ic", Actor("slack", "UBOB", "bob"))
    slack_bot.resolve(3)

    r = slack.event(home_opened("UBOB"))
    assert r.status_code == 200

    [published] = fake_slack.called("views.publish")
    assert published["user_id"] == "UBOB"
    view = published["view"]
    assert view["type"] == "home"
    buttons = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(e["action_id"], e["text"]["text"]) for e in buttons] == [
        ("crashbot_home_declare", "Declare an incident"),
        ("crashbot_home_record", "Record a past incident"),
    ]
    text = home_section_texts(view)
    assert (
        "*INC-2: Search is slow &lt;!here&gt;* — you are Incident commander · <#CINC00002>" in text
    )
    assert "*INC-1: Checkout API returns 500s*" in text
    assert "INC-3" not in text  # resolved
    assert "<!here>" not in str(view)
    headers = [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]
    assert headers == ["Incidents", "Your roles", "Open incidents (2)"]


def test_opening_the_messages_tab_publishes_nothing(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    assert slack.event(home_opened(tab="messages")).status_code == 200
    assert fake_slack.called("views.publish") == []


def test_home_is_published_after_the_ack(slack_bot: Crashbot, fake_slack: FakeSlack) -> None:
    from crashbot_slack.web import create_app

    never = NeverExecutor()
    driver = SlackDriver(create_app(slack_bot, listener_executor=never).test_client(), fake_slack)
    assert driver.event(home_opened()).status_code == 200
    assert fake_slack.called("views.publish") == []
    assert never.dropped == 1


def home_click(slack: SlackDriver, action_id: str) -> Any:
    """A click on a Home tab button (``block_actions`` from the ``home`` view)."""
    return slack.interactive(
        {
            "type": "block_actions",
            "user": {"id": "UBOB", "username": handle("UBOB"), "team_id": "T0001"},
            "api_app_id": "A0001",
            "token": "gIkuvaNzQIHg97ATvDxqgjtO",
            "container": {"type": "view", "view_id": "VHOME01"},
            "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
            "team": {"id": "T0001", "domain": "example"},
            "view": {"id": "VHOME01", "type": "home", "callback_id": "crashbot_home"},
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "crashbot_home",
                    "text": {"type": "plain_text", "text": "button"},
                    "value": action_id.rpartition("_")[2],
                    "type": "button",
                    "action_ts": "1772442002.000200",
                }
            ],
        }
    )


def test_home_declare_button_opens_the_declare_form(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    r = home_click(slack, "crashbot_home_declare")
    assert r.status_code == 200
    [opened] = fake_slack.called("views.open")
    assert opened["trigger_id"] == "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3"
    assert opened["view"]["callback_id"] == "crashbot_declare"


def test_home_record_button_opens_the_past_incident_form(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    assert home_click(slack, "crashbot_home_record").status_code == 200
    [opened] = fake_slack.called("views.open")
    assert opened["view"]["callback_id"] == "crashbot_record"
    assert opened["view"]["title"]["text"] == "Record a past incident"
