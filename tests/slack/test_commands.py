"""Slash commands over HTTP: signed requests in, Slack calls and stored incidents out."""

from __future__ import annotations

from typing import Any

from fake_slack import DIGEST_ID, FakeSlack
from slack_support import SlackDriver

from crashbot_core import Crashbot, Status


def reply(r: Any) -> str:
    """The reply a command's ack carries (Slack shows it only to the user)."""
    assert r.status_code == 200
    body = r.get_json()
    assert body["response_type"] == "ephemeral"
    return str(body["text"])


def declare(slack: SlackDriver, text: str = "declare Checkout API returns 500s sev1") -> str:
    """Declare; the reply in the ack."""
    return reply(slack.command(text))


def in_channel(slack: SlackDriver, text: str, *, user: str = "UALICE") -> Any:
    """Run a command inside incident 1's channel; the HTTP response (the ack)."""
    r = slack.command(
        text,
        user=user,
        channel_id="CINC00001",
        channel_name="inc-20260302-1-checkout-api-returns-500s",
    )
    assert r.status_code == 200
    return r


def test_declare_creates_channel_invites_declarer_and_posts_digest(
    slack: SlackDriver, fake_slack: FakeSlack, slack_bot: Crashbot
) -> None:
    answer = declare(slack)
    inc = slack_bot.get(1)
    assert (inc.title, inc.severity, inc.source) == ("Checkout API returns 500s", "SEV1", "slack")
    assert inc.declared_by is not None and (inc.declared_by.id, inc.declared_by.name) == (
        "UALICE",
        "alice",
    )
    [create] = fake_slack.called("conversations.create")
    assert create["name"] == "inc-20260302-1-checkout-api-returns-500s"
    assert create["is_private"] in (False, "false", "0")  # SEV1 is public by default
    assert fake_slack.called("conversations.invite") == [
        {"channel": "CINC00001", "users": "UALICE"}
    ]
    [topic] = fake_slack.called("conversations.setTopic")
    assert "Investigating" in topic["topic"] and "SEV1" in topic["topic"]
    digest = [m for m in fake_slack.called("chat.postMessage") if m["channel"] == DIGEST_ID]
    assert len(digest) == 1
    actions = next(b for b in digest[0]["blocks"] if b["type"] == "actions")
    assert [e["text"]["text"] for e in actions["elements"]] == [
        "Join",
        "Acknowledge",
        "Post update",
        "Edit",
        "Close…",
        "Unpublish",
    ]
    assert inc.refs["slack.channel"] == "CINC00001"
    assert inc.refs["slack.digest_channel"] == DIGEST_ID and inc.refs["slack.digest_ts"]
    # The reply rides on the ack: nothing goes to response_url.
    assert "Declared INC-1" in answer and "<#CINC00001>" in answer
    assert fake_slack.responses == []


def test_declare_without_severity_uses_the_policy_default(
    slack: SlackDriver, slack_bot: Crashbot
) -> None:
    declare(slack, "declare Search is slow")
    assert slack_bot.get(1).severity == "SEV4"


def test_no_arguments_opens_the_declare_modal(
    slack: SlackDriver, fake_slack: FakeSlack, slack_bot: Crashbot
) -> None:
    r = slack.command("")
    assert r.status_code == 200
    [opened] = fake_slack.called("views.open")
    assert opened["view"]["callback_id"] == "crashbot_declare"
    assert opened["trigger_id"]
    assert slack_bot.list() == []


def test_update_without_text_opens_the_update_modal_for_the_channels_incident(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    declare(slack)
    in_channel(slack, "update")
    [opened] = fake_slack.called("views.open")
    assert opened["view"]["callback_id"] == "crashbot_update"
    assert opened["view"]["private_metadata"] == "1"


def test_update_in_the_incident_channel_posts_there_and_refreshes_the_digest(
    slack: SlackDriver, fake_slack: FakeSlack, slack_bot: Crashbot
) -> None:
    declare(slack)
    in_channel(slack, "update rolled back <the> deploy")
    posts = [m for m in fake_slack.called("chat.postMessage") if m["channel"] == "CINC00001"]
    assert "rolled back &lt;the&gt; deploy" in posts[-1]["blocks"][0]["text"]["text"]
    [update] = fake_slack.called("chat.update")
    assert (
        update["channel"] == DIGEST_ID and update["ts"] == slack_bot.get(1).refs["slack.digest_ts"]
    )
    events = slack_bot.timeline(1)
    assert events[-1].kind.value == "update_posted" and not events[-1].public


def test_public_update_from_another_channel_by_ref(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack)
    answer = reply(slack.command("update INC-1 --public Payments are recovering"))
    last = slack_bot.timeline(1)[-1]
    assert last.public and last.data["message"] == "Payments are recovering"
    assert "public update" in answer


def test_ack_severity_status_commands_change_the_incident(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack)
    in_channel(slack, "ack", user="UBOB")
    in_channel(slack, "severity p1")
    in_channel(slack, "status identified")
    inc = slack_bot.get(1)
    assert inc.acknowledged_at is not None
    assert inc.severity == "SEV2" and inc.status is Status.IDENTIFIED
    topics = [t["topic"] for t in fake_slack.called("conversations.setTopic")]
    assert "Identified" in topics[-1] and "SEV2" in topics[-1]
    digests = fake_slack.called("chat.update")
    assert len(digests) == 3
    last_digest = str(digests[-1]["blocks"])
    assert "Identified" in last_digest and "crashbot_ack" not in last_digest


def test_role_assignment_dms_the_person_and_invites_them(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack)
    in_channel(slack, "role ic <@UBOB|bob>")
    inc = slack_bot.get(1)
    assert inc.commander is not None and inc.commander.id == "UBOB" and inc.commander.name == "bob"
    assert inc.acknowledged_at is not None  # taking command acknowledges
    assert {"channel": "CINC00001", "users": "UBOB"} in fake_slack.called("conversations.invite")
    [dm] = [m for m in fake_slack.called("chat.postMessage") if m["channel"] == "UBOB"]
    assert "Incident commander" in dm["blocks"][0]["text"]["text"]
    assert "You lead the response" in dm["blocks"][0]["text"]["text"]
    assert "Commander: bob" in fake_slack.called("conversations.setTopic")[-1]["topic"]


def test_resolve_opens_an_rca_channel_with_commander_and_tech_lead(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack)
    in_channel(slack, "role ic <@UBOB>")
    in_channel(slack, "role tl <@UCAROL>")
    in_channel(slack, "resolve rolled back")
    inc = slack_bot.get(1)
    assert inc.status is Status.RESOLVED
    names = [c["name"] for c in fake_slack.called("conversations.create")]
    assert names == [
        "inc-20260302-1-checkout-api-returns-500s",
        "inc-20260302-1-checkout-api-returns-500s-rca",
    ]
    rca = inc.refs["slack.rca_channel"]
    assert {"channel": rca, "users": "UBOB,UCAROL"} in fake_slack.called("conversations.invite")
    final_digest = fake_slack.called("chat.update")[-1]
    assert "Resolved" in str(final_digest["blocks"]) and "crashbot_post_update" not in str(
        final_digest["blocks"]
    )


def test_rca_link_on_a_resolved_incident_and_refused_while_open(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack)
    assert "resolve it first" in reply(in_channel(slack, "rca <https://docs.example.com/rca/1>"))
    assert slack_bot.get(1).rca_url is None
    in_channel(slack, "resolve")
    in_channel(slack, "rca <https://docs.example.com/rca/1|RCA>")
    assert slack_bot.get(1).rca_url == "https://docs.example.com/rca/1"
    assert "https://docs.example.com/rca/1" in str(fake_slack.called("chat.update")[-1]["blocks"])


def test_rca_command_works_in_the_rca_channel(slack: SlackDriver, slack_bot: Crashbot) -> None:
    declare(slack)
    in_channel(slack, "resolve")
    rca = slack_bot.get(1).refs["slack.rca_channel"]
    slack.command(
        "rca https://docs.example.com/rca/1",
        channel_id=rca,
        channel_name="inc-20260302-1-checkout-api-returns-500s-rca",
    )
    assert slack_bot.get(1).rca_url == "https://docs.example.com/rca/1"


def test_follow_up_is_stored(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack)
    answer = reply(in_channel(slack, "follow-up Add an alert on 5xx rate"))
    [fu] = slack_bot.follow_ups(1)
    assert fu.title == "Add an alert on 5xx rate"
    assert "Added follow-up" in answer


def test_seed_adr_aliases_create_update_close(slack: SlackDriver, slack_bot: Crashbot) -> None:
    assert slack.command("Login broken high", command="/create").status_code == 200
    inc = slack_bot.get(1)
    assert (inc.title, inc.severity) == ("Login broken", "SEV2")
    slack.command("1 users can log in again", command="/update")
    assert slack_bot.timeline(1)[-1].data["message"] == "users can log in again"
    slack.command("INC-1 fixed", command="/close")
    assert slack_bot.get(1).status is Status.RESOLVED


def test_outside_an_incident_channel_without_a_ref_says_what_to_do(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    declare(slack)
    assert "which incident?" in reply(slack.command("ack"))


def test_domain_errors_become_ephemeral_replies(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    declare(slack)
    assert "no incident INC-99" in reply(slack.command("ack INC-99"))
    assert "unknown severity" in reply(slack.command("severity 1 purple"))
    assert "unknown role" in reply(slack.command("role 1 wizard <@UBOB>"))


def test_unknown_subcommand_gets_help_in_the_ack(
    slack: SlackDriver, fake_slack: FakeSlack, slack_bot: Crashbot
) -> None:
    r = slack.command("explode everything")
    assert r.status_code == 200
    body = r.get_json()
    assert body["response_type"] == "ephemeral" and "`explode`" in body["text"]
    assert slack_bot.list() == []


def test_help_replies_in_the_ack_without_touching_slack(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    r = slack.command("help")
    assert "follow-up TITLE" in r.get_json()["text"]
    assert "chat.postMessage" not in fake_slack.methods()


def test_a_slack_outage_during_declare_keeps_the_incident(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    fake_slack.fail_always("conversations.create", "internal_error", status=503)
    answer = declare(slack)
    inc = slack_bot.get(1)
    assert inc.title == "Checkout API returns 500s"
    assert "Declared INC-1" in answer
    [failed] = slack_bot.deliveries(failed_only=True)
    assert failed.plugin == "slack" and failed.state.value == "failed"


def test_a_renamed_incident_channel_still_implies_its_incident(
    slack: SlackDriver, slack_bot: Crashbot
) -> None:
    declare(slack)
    slack.command("update still digging", channel_id="CINC00001", channel_name="war-room")
    assert slack_bot.timeline(1)[-1].data["message"] == "still digging"


def test_a_look_alike_channel_name_does_not_imply_an_incident(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    declare(slack)
    r = slack.command(
        "ack", channel_id="CFAKE0001", channel_name="inc-20260302-1-checkout-api-returns-500s"
    )
    assert "which incident?" in reply(r)


def test_a_bare_number_follow_up_title_works_in_the_incident_channel(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack)
    in_channel(slack, "follow-up 42")
    assert [f.title for f in slack_bot.follow_ups(1)] == ["42"]
    # Outside: "42" is the incident, and the title is missing.
    assert "follow-up TITLE" in reply(slack.command("follow-up 42"))


def test_commands_never_wait_on_slacks_api_before_the_ack(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    # bolt would call auth.test on the first request; crashbot's authorize does not.
    fake_slack.fail_always("auth.test", "internal_error", status=503)
    r = slack.command("declare Slack API flaky sev3")
    assert r.status_code == 200
    assert slack_bot.get(1).title == "Slack API flaky"
    assert "auth.test" not in fake_slack.methods()
