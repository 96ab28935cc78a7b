"""Correcting the record from Discord: ``/incident close``, the ``/incident edit`` modal and
``/incident record`` (a past incident, recorded after the fact)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from discord_interactions import ALICE_ID, Harness, button, command, modal_submit
from fake_discord import API, DIGEST_CHANNEL, INCIDENTS_CHANNEL, FakeDiscord
from support import T0
from test_discord_bot import declare, digest_message, reply

from crashbot_core import Crashbot, EventKind, FixedClock
from crashbot_core.errors import InvalidInput
from crashbot_core.models import RETROSPECTIVE_REF, Impact, Resolution, Status
from crashbot_discord.record import (
    changes,
    parse_components,
    parse_option_time,
    parse_times,
    record_times,
)


def edited(bot: Crashbot, incident_id: int = 1) -> dict[str, tuple[Any, Any]]:
    return {
        e.data["field"]: (e.data["from"], e.data["to"])
        for e in bot.timeline(incident_id)
        if e.kind is EventKind.EDITED
    }


def open_edit(client: Harness, api: FakeDiscord, incident: str = "INC-1") -> dict[str, Any]:
    """Run ``/incident edit``; the modal Discord was sent, and what each input shows."""
    client.feed(command("edit", incident=incident))
    modal = api.callbacks()[-1]
    assert modal["type"] == 9
    return dict(modal["data"])


def shown(modal: dict[str, Any]) -> dict[str, str]:
    """Each text input's prefilled value, by custom_id."""
    out: dict[str, str] = {}
    for row in modal["components"]:
        for c in row.get("components") or [row.get("component")]:
            out[c["custom_id"]] = c.get("value") or ""
    return out


# -- /incident close -------------------------------------------------------------------------


def test_close_as_invalid_with_a_reason(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client)
    discord_client.feed(command("close", incident="INC-1", resolution="invalid", reason="a drill"))
    assert reply(discord_api).startswith("Closed as invalid: **INC-1**")
    inc = bot_mode.get(1)
    assert (inc.status, inc.resolution, inc.counts) == (Status.RESOLVED, Resolution.INVALID, False)
    [closed] = [e for e in bot_mode.timeline(1) if e.kind is EventKind.CLOSED]
    assert "a drill" in str(closed.data)


def test_close_as_duplicate_merges_into_the_original(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client)
    declare(discord_client, title="@everyone checkout again")
    discord_client.feed(
        command("close", incident="2", resolution="duplicate", duplicate_of="INC-1")
    )
    text = reply(discord_api)
    assert text.startswith("Closed as a duplicate of **INC-1**: **INC-2** @everyone")
    # The reply may quote user text, but it never pings.
    assert discord_api.callbacks()[-1]["data"]["allowed_mentions"] == {"parse": []}
    dup = bot_mode.get(2)
    assert (dup.resolution, dup.duplicate_of) == (Resolution.DUPLICATE, 1)
    assert any(e.kind is EventKind.MERGED for e in bot_mode.timeline(1))


def test_close_as_duplicate_without_the_original_is_explained(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client)
    discord_client.feed(command("close", incident="1", resolution="duplicate"))
    assert reply(discord_api) == "⚠️ say which incident it duplicates (duplicate_of)"
    assert bot_mode.get(1).resolution is None


# -- /incident edit --------------------------------------------------------------------------


def test_edit_opens_a_modal_filled_with_the_record(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client, description="500s on /pay", components="api")
    modal = open_edit(discord_client, discord_api)
    assert modal["title"] == "Edit INC-1"
    assert shown(modal) == {
        "title": "Checkout down",
        "description": "500s on /pay",
        "components": "api major_outage",
        "times": "started_at 2026-03-02T09:00:00Z\ndetected_at 2026-03-02T09:00:00Z",
    }


def test_edit_of_an_unknown_incident_is_refused_at_once(
    discord_client: Harness, discord_api: FakeDiscord
) -> None:
    discord_client.feed(command("edit", incident="INC-9"))
    [callback] = discord_api.callbacks()
    assert callback["type"] == 4 and "no incident INC-9" in callback["data"]["content"]


def test_submitting_the_edit_modal_changes_only_what_was_changed(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot, clock: FixedClock
) -> None:
    declare(discord_client, components="api,web")
    clock.advance(hours=1)
    modal = open_edit(discord_client, discord_api)
    values = shown(modal)
    values["title"] = "Checkout was down"
    values["components"] = "api partial\n"  # web taken off, api lowered
    values["times"] = values["times"].replace(
        "started_at 2026-03-02T09:00", "started_at 2026-03-02T08:40"
    )
    discord_client.feed(modal_submit(modal, values))
    assert reply(discord_api).startswith("Edited (title, components, started): **INC-1**")
    inc = bot_mode.get(1)
    assert inc.title == "Checkout was down"
    assert inc.components == {"api": Impact.PARTIAL_OUTAGE}
    assert inc.started_at == T0.replace(hour=8, minute=40)
    assert set(edited(bot_mode)) == {"title", "components", "started_at"}
    assert edited(bot_mode)["components"] == (
        {"api": "major_outage", "web": "major_outage"},
        {"api": "partial_outage"},
    )


def test_times_out_of_order_are_refused_with_the_rule(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client)
    modal = open_edit(discord_client, discord_api)
    values = shown(modal)
    values["times"] = "started_at 2026-03-02T09:00:00Z\ndetected_at 2026-03-02T08:00:00Z"
    discord_client.feed(modal_submit(modal, values))
    text = reply(discord_api)
    assert text.startswith("⚠️ detected_at (2026-03-02T08:00:00Z) is before started_at")
    assert "started ≤ detected ≤ acknowledged ≤ mitigated ≤ resolved" in text
    assert edited(bot_mode) == {}


def test_an_unchanged_edit_modal_says_so(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client)
    modal = open_edit(discord_client, discord_api)
    discord_client.feed(modal_submit(modal, shown(modal)))
    assert reply(discord_api) == "⚠️ nothing changed: correct a field to edit the record"


def test_edit_autocomplete_offers_resolved_incidents_too(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client, title="Checkout down")
    bot_mode.resolve(1)
    discord_client.feed(command("edit", focused="incident", incident="check"))
    assert discord_api.callbacks()[-1]["data"]["choices"] == [
        {"name": "INC-1 · Checkout down", "value": "1"}
    ]


# -- the digest's Edit… and Close… buttons ----------------------------------------------------


def press(client: Harness, api: FakeDiscord, bot: Crashbot, custom_id: str) -> dict[str, Any]:
    """Press a button of INC-1's digest as it reads now; the callback Discord was sent."""
    message = api._message(
        DIGEST_CHANNEL, digest_message(api), bot.get(1).refs["discord.digest_message"]
    )
    before = len(api.callbacks())
    client.feed(button(custom_id, message))
    callbacks = api.callbacks()
    assert len(callbacks) == before + 1, "the button got no answer"
    return callbacks[-1]


def digest_buttons(api: FakeDiscord) -> list[str]:
    return [b["custom_id"] for row in digest_message(api)["components"] for b in row["components"]]


def test_digest_edit_button_opens_the_edit_form_filled_with_the_record(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot, clock: FixedClock
) -> None:
    declare(discord_client, description="500s on /pay", components="api")
    assert {"crashbot:edit:1", "crashbot:close:1"} <= set(digest_buttons(discord_api))
    clock.advance(minutes=5)
    via_command = open_edit(discord_client, discord_api)

    modal = press(discord_client, discord_api, bot_mode, "crashbot:edit:1")
    assert modal["type"] == 9
    assert modal["data"]["title"] == "Edit INC-1"
    assert modal["data"]["custom_id"] != via_command["custom_id"]
    assert shown(modal["data"]) == shown(via_command)
    assert shown(modal["data"])["description"] == "500s on /pay"

    values = shown(modal["data"])
    values["title"] = "Checkout was down"
    discord_client.feed(modal_submit(modal["data"], values))
    assert reply(discord_api).startswith("Edited (title): **INC-1** Checkout was down")
    assert bot_mode.get(1).title == "Checkout was down"
    assert edited(bot_mode) == {"title": ("Checkout down", "Checkout was down")}


def test_digest_close_button_opens_the_close_form_that_closes_as_invalid(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client)
    modal = press(discord_client, discord_api, bot_mode, "crashbot:close:1")
    assert modal["type"] == 9
    assert modal["data"]["title"] == "Close INC-1"
    assert set(shown(modal["data"])) == {"resolution", "duplicate_of", "reason"}

    discord_client.feed(modal_submit(modal["data"], {"resolution": "Invalid", "reason": "a drill"}))
    assert reply(discord_api).startswith("Closed as invalid: **INC-1**")
    inc = bot_mode.get(1)
    assert (inc.status, inc.resolution, inc.counts) == (Status.RESOLVED, Resolution.INVALID, False)
    [closed] = [e for e in bot_mode.timeline(1) if e.kind is EventKind.CLOSED]
    assert "a drill" in str(closed.data)
    # Closed as invalid, it counts no more: the digest no longer offers Close….
    assert "crashbot:close:1" not in digest_buttons(discord_api)
    assert "crashbot:edit:1" in digest_buttons(discord_api)


def test_digest_close_form_closes_as_a_duplicate_as_the_command_does(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client)
    declare(discord_client, title="Checkout again")
    modal = press(discord_client, discord_api, bot_mode, "crashbot:close:2")
    discord_client.feed(
        modal_submit(modal["data"], {"resolution": "duplicate", "duplicate_of": "INC-1"})
    )
    assert reply(discord_api).startswith("Closed as a duplicate of **INC-1**: **INC-2**")
    dup = bot_mode.get(2)
    assert (dup.resolution, dup.duplicate_of) == (Resolution.DUPLICATE, 1)
    assert any(e.kind is EventKind.MERGED for e in bot_mode.timeline(1))


def test_digest_close_form_explains_bad_input_and_closes_nothing(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot
) -> None:
    declare(discord_client)
    modal = press(discord_client, discord_api, bot_mode, "crashbot:close:1")
    discord_client.feed(modal_submit(modal["data"], {"resolution": "fixed"}))
    assert reply(discord_api) == "⚠️ resolution: expected invalid or duplicate, found 'fixed'"
    # A submitted modal is done with (Discord cannot keep it open): the button opens a new one.
    modal = press(discord_client, discord_api, bot_mode, "crashbot:close:1")
    discord_client.feed(modal_submit(modal["data"], {"resolution": "duplicate"}))
    assert reply(discord_api) == "⚠️ say which incident it duplicates (duplicate_of)"
    assert bot_mode.get(1).resolution is None


# -- /incident record ------------------------------------------------------------------------

#: A past incident's times as typed, and as stored (the day before the clock's now).
TYPED = {
    "started_at": "2026-03-02T09:00Z",
    "detected_at": "2026-03-02T09:05:00Z",
    "acknowledged_at": "2026-03-02T10:10:00+01:00",
    "mitigated_at": "2026-03-02T09:40",
    "resolved_at": "2026-03-02T10:00:00Z",
}
STORED = {
    "started_at": T0,
    "detected_at": T0 + timedelta(minutes=5),
    "acknowledged_at": T0 + timedelta(minutes=10),
    "mitigated_at": T0 + timedelta(minutes=40),
    "resolved_at": T0 + timedelta(hours=1),
}


def test_record_stores_a_past_incident_resolved_with_its_times_and_pages_nobody(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot, clock: FixedClock
) -> None:
    clock.advance(days=1)
    discord_client.feed(
        command(
            "record",
            title="Checkout down overnight",
            severity="SEV1",
            description="Found in the morning's logs",
            **TYPED,
        )
    )
    assert reply(discord_api) == (
        "Recorded (resolved, nobody paged): **INC-1** Checkout down overnight — resolved, SEV1"
    )
    inc = bot_mode.get(1)
    assert (inc.status, inc.resolution, inc.severity, inc.source) == (
        Status.RESOLVED,
        Resolution.RESOLVED,
        "SEV1",
        "discord",
    )
    assert {name: getattr(inc, name) for name in STORED} == STORED
    assert inc.description == "Found in the morning's logs"
    assert inc.declared_by is not None and inc.declared_by.id == ALICE_ID
    assert RETROSPECTIVE_REF in inc.refs
    assert [e.kind for e in bot_mode.timeline(1)] == [EventKind.RECORDED]
    # No thread, nobody paged: the digest's one message.
    assert discord_api.find("POST", rf"{API}/channels/{INCIDENTS_CHANNEL}/threads") == []
    assert len(discord_api.find("POST", rf"{API}/channels/{DIGEST_CHANNEL}/messages")) == 1
    clock.advance(days=5)
    assert bot_mode.due_reminders() == []


def test_record_with_only_the_start_and_the_end_takes_the_defaults(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot, clock: FixedClock
) -> None:
    clock.advance(days=1)
    discord_client.feed(
        command(
            "record", title="Search slow", started_at="2026-03-02", resolved_at="2026-03-02T10:00Z"
        )
    )
    assert reply(discord_api).startswith("Recorded (resolved, nobody paged): **INC-1**")
    inc = bot_mode.get(1)
    assert inc.severity == "SEV4"
    assert (inc.started_at, inc.detected, inc.acknowledged_at) == (
        T0.replace(hour=0),
        T0.replace(hour=0),
        None,
    )


def test_record_with_times_out_of_order_answers_the_rule_in_one_line(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot, clock: FixedClock
) -> None:
    clock.advance(days=1)
    discord_client.feed(
        command("record", title="Checkout down", **{**TYPED, "resolved_at": "2026-03-02T09:30Z"})
    )
    text = reply(discord_api)
    assert text.startswith(
        "⚠️ resolved_at (2026-03-02T09:30:00Z) is before mitigated_at (2026-03-02T09:40:00Z)"
    )
    assert "started ≤ detected ≤ acknowledged ≤ mitigated ≤ resolved" in text
    assert "\n" not in text
    assert bot_mode.list() == []


def test_record_with_a_time_that_is_no_time_names_the_option(
    discord_client: Harness, discord_api: FakeDiscord, bot_mode: Crashbot, clock: FixedClock
) -> None:
    clock.advance(days=1)
    discord_client.feed(
        command("record", title="Checkout down", started_at="yesterday", resolved_at="today")
    )
    assert reply(discord_api) == (
        "⚠️ started_at: 'yesterday' is not an ISO 8601 date or time like 2026-03-02T09:00:00Z"
    )
    discord_client.feed(
        command(
            "record",
            title="Checkout down",
            started_at="2026-03-02T09:00Z",
            resolved_at="2026-03-05T09:00Z",
        )
    )
    assert "is in the future" in reply(discord_api)
    assert bot_mode.list() == []


def test_record_severity_autocomplete_offers_the_policy(
    discord_client: Harness, discord_api: FakeDiscord
) -> None:
    discord_client.feed(
        command(
            "record",
            focused="severity",
            title="x",
            started_at="2026-03-02",
            resolved_at="2026-03-02",
            severity="hi",
        )
    )
    assert discord_api.callbacks()[-1]["data"]["choices"] == [
        {"name": "SEV2 · P1 · High", "value": "SEV2"}
    ]


# -- the form's text, pure -------------------------------------------------------------------


def test_record_time_options_are_read_as_the_cli_reads_them() -> None:
    assert parse_option_time("started_at", "2026-03-02T10:00+01:00") == T0
    assert parse_option_time("started_at", "2026-03-02T09:00") == T0  # no offset: UTC
    assert record_times({"started_at": "2026-03-02", "detected_at": None, "mitigated_at": " "}) == {
        "started_at": T0.replace(hour=0)
    }
    with pytest.raises(InvalidInput, match=r"^mitigated_at: 'noon' is not an ISO 8601"):
        record_times({"mitigated_at": "noon"})


def test_component_and_time_lines_accept_common_spellings() -> None:
    assert parse_components("api major\nweb=degraded\n\ncdn: partial_outage") == {
        "api": Impact.MAJOR_OUTAGE,
        "web": Impact.DEGRADED_PERFORMANCE,
        "cdn": Impact.PARTIAL_OUTAGE,
    }
    assert parse_times("started 2026-03-02T08:00:00Z") == {"started_at": T0.replace(hour=8)}
    with pytest.raises(InvalidInput, match="unknown impact"):
        parse_components("api sideways")
    with pytest.raises(InvalidInput, match="unknown time 'finished'"):
        parse_times("finished 2026-03-02T08:00:00Z")
    with pytest.raises(InvalidInput, match="is not an instant"):
        parse_times("started_at yesterday")


def test_a_time_cannot_be_taken_off() -> None:
    before = {
        "title": "t",
        "description": "",
        "components": "",
        "times": "started_at 2026-03-02T08:00:00Z",
    }
    with pytest.raises(InvalidInput, match="started_at cannot be taken off"):
        changes(before, {**before, "times": ""})
