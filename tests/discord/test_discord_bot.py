"""Bot mode without the gateway: raw INTERACTION_CREATE payloads through discord.py's own
parsing and command tree, discord.py's HTTP layer pointed at the fake Discord API.

Each test checks what was stored and what reached the fake.
"""

from __future__ import annotations

from typing import Any

from discord_interactions import ALICE_ID, BOB, BOB_ID, Harness, button, command, modal_submit
from fake_discord import API, DIGEST_CHANNEL, INCIDENTS_CHANNEL, FakeDiscord

from crashbot_core import Crashbot, EventKind, Status

EPHEMERAL = 64


def reply(api: FakeDiscord) -> str:
    """The text of the last reply: the interaction's ephemeral response (sent after the commit)."""
    callback = api.callbacks()[-1]
    assert callback["type"] == 4 and callback["data"]["flags"] == EPHEMERAL
    return str(callback["data"]["content"])


def declare(client: Harness, **options: Any) -> None:
    client.feed(command("declare", **{"title": "Checkout down", "severity": "SEV1", **options}))


def digest_message(api: FakeDiscord) -> dict[str, Any]:
    """The digest as it reads now: the last post or edit in the digest channel."""
    writes = api.find("POST", rf"{API}/channels/{DIGEST_CHANNEL}/messages") + api.find(
        "PATCH", rf"{API}/channels/{DIGEST_CHANNEL}/messages/\d+"
    )
    return sorted(writes, key=api.requests.index)[-1].json


def thread_posts(api: FakeDiscord, thread_id: str) -> list[dict[str, Any]]:
    return [r.json for r in api.find("POST", rf"{API}/channels/{thread_id}/messages")]


# ---------------------------------------------------------------------------
# declare
# ---------------------------------------------------------------------------


def test_declare_stores_the_incident_and_opens_thread_and_digest(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client, description="500s on /pay", components="api,checkout")

    [inc] = bot_mode.list()
    assert inc.title == "Checkout down"
    assert inc.severity == "SEV1"
    assert inc.description == "500s on /pay"
    assert set(inc.components) == {"api", "checkout"}
    assert inc.source == "discord"
    assert inc.declared_by is not None
    assert (inc.declared_by.platform, inc.declared_by.id) == ("discord", ALICE_ID)

    [thread] = discord_api.find("POST", rf"{API}/channels/{INCIDENTS_CHANNEL}/threads")
    assert thread.json == {
        "name": "INC-1 Checkout down",
        "type": 11,
        "auto_archive_duration": 10080,
    }
    thread_id = inc.refs["discord.thread"]
    [posted] = thread_posts(discord_api, thread_id)
    assert posted["embeds"][0]["title"] == "INC-1: Checkout down"

    digest = digest_message(discord_api)
    assert digest["embeds"][0]["title"] == "INC-1: Checkout down"
    assert f"<#{thread_id}>" in digest["embeds"][0]["description"]
    assert inc.refs["discord.digest_message"]

    assert (
        reply(discord_api)
        == f"Declared **INC-1** Checkout down — investigating, SEV1 · <#{thread_id}>"
    )


def test_overlong_title_gets_an_ephemeral_explanation_and_stores_nothing(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client, title="x" * 250)

    assert reply(discord_api) == "⚠️ the title is 250 characters long; keep it under 200"
    assert bot_mode.list() == []
    assert discord_api.find("POST", rf"{API}/channels/\d+/threads") == []


def test_unknown_severity_names_the_accepted_values(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client, severity="apocalyptic")
    assert reply(discord_api).startswith(
        "⚠️ unknown severity 'apocalyptic'; expected one of SEV1/P0"
    )
    assert bot_mode.list() == []


# ---------------------------------------------------------------------------
# commands on an existing incident
# ---------------------------------------------------------------------------


def test_unknown_incident_gets_an_ephemeral_explanation(
    discord_client: Harness, discord_api: FakeDiscord
) -> None:
    discord_client.feed(command("ack", incident="INC-99"))
    assert reply(discord_api) == "⚠️ no incident INC-99"
    discord_client.feed(command("status", incident="banana", status="identified"))
    assert "'banana' is not an incident id" in reply(discord_api)


def test_illegal_transitions_are_explained(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client)
    discord_client.feed(command("rca", incident="1", url="https://wiki.example/rca/1"))
    assert reply(discord_api).startswith(
        "⚠️ cannot link an RCA: the incident is investigating (resolve it first)"
    )

    discord_client.feed(command("resolve", incident="INC-1", message="Rolled back"))
    assert reply(discord_api).startswith("Resolved **INC-1**")
    discord_client.feed(command("resolve", incident="INC-1"))
    assert reply(discord_api).startswith("⚠️ cannot resolve: the incident is resolved; allowed now:")
    assert bot_mode.get(1).status is Status.RESOLVED
    assert bot_mode.get(1).rca_url is None


def test_update_status_severity_and_message_then_digest_is_edited(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client)
    digest_id = bot_mode.get(1).refs["discord.digest_message"]
    thread_id = bot_mode.get(1).refs["discord.thread"]

    discord_client.feed(
        command(
            "update", incident="1", message="Bad deploy found", status="identified", public=True
        )
    )
    discord_client.feed(command("severity", incident="1", severity="P1"))
    discord_client.feed(command("status", incident="1", status="monitoring"))

    inc = bot_mode.get(1)
    assert (inc.status, inc.severity) == (Status.MONITORING, "SEV2")
    kinds = [e.kind for e in bot_mode.timeline(1)]
    assert kinds == [
        EventKind.DECLARED,
        EventKind.UPDATE_POSTED,
        EventKind.SEVERITY_CHANGED,
        EventKind.STATUS_CHANGED,
    ]
    assert bot_mode.timeline(1)[1].public is True

    edits = discord_api.find("PATCH", rf"{API}/channels/{DIGEST_CHANNEL}/messages/{digest_id}")
    assert len(edits) == 3
    fields = {f["name"]: f["value"] for f in edits[-1].json["embeds"][0]["fields"]}
    assert fields["Status"] == "monitoring" and fields["Severity"] == "SEV2 (High)"
    # Only one digest message ever posted; one thread post per event.
    assert len(discord_api.find("POST", rf"{API}/channels/{DIGEST_CHANNEL}/messages")) == 1
    assert len(thread_posts(discord_api, thread_id)) == 4
    assert (
        reply(discord_api)
        == f"Status set: **INC-1** Checkout down — monitoring, SEV2 · <#{thread_id}>"
    )


def test_nothing_to_update_is_explained(discord_client: Harness, discord_api: FakeDiscord) -> None:
    declare(discord_client)
    discord_client.feed(command("status", incident="1", status="investigating"))
    assert reply(discord_api) == "⚠️ nothing changed: the incident is already investigating at SEV1"


def test_role_assignment_stores_the_role_dms_the_description_and_acknowledges(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client)
    discord_client.feed(command("role", incident="1", role="ic", user=BOB))

    inc = bot_mode.get(1)
    commander = inc.commander
    assert commander is not None
    assert (commander.platform, commander.id, commander.name) == ("discord", BOB_ID, "Bob")
    assert inc.acknowledged_at is not None  # taking the commander role acknowledges

    [dm_open] = discord_api.find("POST", rf"{API}/users/@me/channels")
    assert dm_open.json == {"recipient_id": BOB_ID}
    dm = [
        r.json
        for r in discord_api.find("POST", rf"{API}/channels/\d+/messages")
        if r.json.get("embeds") and r.json["embeds"][0]["title"].startswith("You are")
    ]
    assert dm[0]["embeds"][0]["title"] == "You are Incident commander of INC-1"
    assert "You lead the response" in dm[0]["embeds"][0]["description"]

    digest = digest_message(discord_api)
    fields = {f["name"]: f["value"] for f in digest["embeds"][0]["fields"]}
    assert fields["Commander"] == f"<@{BOB_ID}>"
    assert digest["components"][0]["components"][0]["disabled"] is True
    assert reply(discord_api).startswith(f"<@{BOB_ID}> is Incident commander: **INC-1**")


def test_role_defaults_to_the_invoking_user(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client)
    discord_client.feed(command("role", incident="1", role="scribe"))
    assert bot_mode.get(1).roles["scribe"].id == ALICE_ID


def test_unknown_role_is_explained(discord_client: Harness, discord_api: FakeDiscord) -> None:
    declare(discord_client)
    discord_client.feed(command("role", incident="1", role="captain"))
    assert reply(discord_api).startswith("⚠️ unknown role 'captain'; expected one of commander")


def test_resolve_then_rca_then_follow_up(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client)
    discord_client.feed(command("resolve", incident="1", message="Rolled back"))
    discord_client.feed(command("rca", incident="INC-1", url="https://wiki.example/rca/1"))
    discord_client.feed(
        command("follow-up", incident="1", title="Add canary deploys", owner=BOB, due="2026-03-20")
    )

    inc = bot_mode.get(1)
    assert inc.status is Status.RESOLVED
    assert inc.rca_url == "https://wiki.example/rca/1"
    [fu] = bot_mode.follow_ups(1)
    assert fu.title == "Add canary deploys"
    assert fu.owner is not None and fu.owner.id == BOB_ID
    assert fu.due is not None and fu.due.isoformat() == "2026-03-20"
    assert reply(discord_api) == f"Follow-up #{fu.id} added to INC-1: Add canary deploys"
    assert (
        "RCA: https://wiki.example/rca/1" in digest_message(discord_api)["embeds"][0]["description"]
    )


def test_bad_due_date_is_explained(discord_client: Harness, discord_api: FakeDiscord) -> None:
    declare(discord_client)
    discord_client.feed(command("follow-up", incident="1", title="Canary", due="next week"))
    assert reply(discord_api) == "⚠️ due date 'next week': expected YYYY-MM-DD"


# ---------------------------------------------------------------------------
# digest buttons and modals
# ---------------------------------------------------------------------------


def _digest_as_message(api: FakeDiscord, bot: Crashbot) -> dict[str, Any]:
    """The digest message object as Discord would include it in a component interaction."""
    body = digest_message(api)
    return api._message(DIGEST_CHANNEL, body, bot.get(1).refs["discord.digest_message"])


def test_acknowledge_button_acknowledges_and_disables_itself(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client)
    discord_client.feed(button("crashbot:ack:1", _digest_as_message(discord_api, bot_mode)))

    assert bot_mode.get(1).acknowledged_at is not None
    assert reply(discord_api).startswith("Acknowledged **INC-1**")
    assert digest_message(discord_api)["components"][0]["components"][0]["disabled"] is True

    discord_client.feed(button("crashbot:ack:1", _digest_as_message(discord_api, bot_mode)))
    assert reply(discord_api).startswith(
        "⚠️ cannot acknowledge: the incident is already acknowledged"
    )


def test_post_update_button_opens_a_modal_whose_submission_posts_the_update(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client)
    discord_client.feed(button("crashbot:update:1", _digest_as_message(discord_api, bot_mode)))

    modal = discord_api.callbacks()[-1]
    assert modal["type"] == 9
    assert modal["data"]["title"] == "Post an update"

    discord_client.feed(
        modal_submit(
            modal["data"], {"message": "Fix deployed", "status": "monitoring", "public": "yes"}
        )
    )
    inc = bot_mode.get(1)
    assert inc.status is Status.MONITORING
    [update] = [e for e in bot_mode.timeline(1) if e.kind is EventKind.UPDATE_POSTED]
    assert update.data["message"] == "Fix deployed" and update.public is True
    assert reply(discord_api).startswith("Updated **INC-1**")


def test_update_without_fields_opens_the_modal_and_bad_input_in_it_is_explained(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client)
    discord_client.feed(command("update", incident="INC-1"))
    modal = discord_api.callbacks()[-1]
    assert modal["type"] == 9

    discord_client.feed(modal_submit(modal["data"], {"message": "x", "public": "maybe"}))
    assert reply(discord_api) == "⚠️ public: expected yes or no, found 'maybe'"
    assert [e.kind for e in bot_mode.timeline(1)] == [EventKind.DECLARED]


def test_update_modal_for_a_malformed_incident_id_is_refused_at_once(
    discord_client: Harness, discord_api: FakeDiscord
) -> None:
    discord_client.feed(command("update", incident="the big one"))
    [callback] = discord_api.callbacks()
    assert callback["type"] == 4
    assert callback["data"]["flags"] == EPHEMERAL
    assert "'the big one' is not an incident id" in callback["data"]["content"]


def test_declare_without_title_opens_a_modal_that_declares(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    discord_client.feed(command("declare"))
    [modal] = discord_api.callbacks()
    assert modal["type"] == 9
    inputs = [c["components"][0]["custom_id"] for c in modal["data"]["components"]]
    assert inputs == ["title", "severity", "description", "public"]

    discord_client.feed(
        modal_submit(
            modal["data"],
            {"title": "Login fails", "severity": "sev-2", "description": "SSO", "public": "no"},
        )
    )
    [inc] = bot_mode.list()
    assert (inc.title, inc.severity, inc.public, inc.description) == (
        "Login fails",
        "SEV2",
        False,
        "SSO",
    )
    assert reply(discord_api).startswith("Declared **INC-1** Login fails")


# ---------------------------------------------------------------------------
# autocomplete
# ---------------------------------------------------------------------------


def test_incident_autocomplete_lists_matching_open_incidents(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client, title="Checkout down")
    declare(discord_client, title="Search slow")
    declare(discord_client, title="Checkout flaky")
    bot_mode.resolve(3)

    discord_client.feed(command("ack", focused="incident", incident="check"))
    callback = discord_api.callbacks()[-1]
    assert callback["type"] == 8
    assert callback["data"]["choices"] == [{"name": "INC-1 · Checkout down", "value": "1"}]


def test_severity_and_status_autocomplete(
    discord_client: Harness, discord_api: FakeDiscord
) -> None:
    discord_client.feed(command("declare", focused="severity", title="x", severity="hi"))
    assert discord_api.callbacks()[-1]["data"]["choices"] == [
        {"name": "SEV2 · P1 · High", "value": "SEV2"}
    ]
    discord_client.feed(command("status", focused="status", incident="1", status="mon"))
    assert discord_api.callbacks()[-1]["data"]["choices"] == [
        {"name": "monitoring", "value": "monitoring"}
    ]
