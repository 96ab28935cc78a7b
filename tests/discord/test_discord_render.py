"""Rendering is pure: (incident, event) → Discord embeds and digest messages."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from support import T0

from crashbot_core.models import (
    Actor,
    Event,
    EventKind,
    Impact,
    Incident,
    Reminder,
    ReminderKind,
    Resolution,
    Status,
)
from crashbot_discord import render

ALICE = Actor(platform="discord", id="200000000000000001", name="Alice")


def incident(**changes: object) -> Incident:
    base = Incident(
        id=7,
        ref="INC-7",
        title="Checkout API returns 500s",
        severity="SEV1",
        status=Status.INVESTIGATING,
        declared_at=T0,
        started_at=T0,
        public=True,
        components={"api": Impact.MAJOR_OUTAGE},
    )
    return base.with_changes(**changes)


def event(kind: EventKind = EventKind.DECLARED, public: bool = True, **data: object) -> Event:
    return Event(kind=kind, at=T0, actor=ALICE, data=dict(data), public=public, id=3, incident_id=7)


def test_embed_has_severity_colour_fields_and_status_page_link() -> None:
    inc = incident(roles={"commander": ALICE})
    embed = render.incident_embed(inc, event(), base_url="https://status.example.com/")

    assert embed["title"] == "INC-7: Checkout API returns 500s"
    assert embed["color"] == 0xD1242F
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Status"] == "investigating"
    assert fields["Severity"] == "SEV1 (Critical)"
    assert fields["Commander"] == "<@200000000000000001>"
    assert fields["Components"] == "api: major outage"
    assert fields["Status page"] == "https://status.example.com/incidents/7"
    assert embed["url"] == "https://status.example.com/incidents/7"
    assert embed["timestamp"] == "2026-03-02T09:00:00Z"
    assert "Declared by <@200000000000000001>" in embed["description"]


def test_private_incident_embed_has_no_status_page_link() -> None:
    embed = render.incident_embed(
        incident(public=False), event(public=False), base_url="https://status.example.com"
    )
    assert "url" not in embed
    assert all(f["name"] != "Status page" for f in embed["fields"])
    assert embed["footer"]["text"].endswith("private incident")


def test_colour_follows_the_severity() -> None:
    assert render.color(incident(severity="SEV2")) == 0xE8590C
    assert render.color(incident(severity="SEV4")) == 0x57606A


def test_non_discord_commander_is_shown_by_name_and_missing_one_as_unassigned() -> None:
    cli_user = Actor(platform="cli", id="bob", name="Bob")
    fields = render.incident_embed(incident(roles={"commander": cli_user}), event())["fields"]
    assert {f["name"]: f["value"] for f in fields}["Commander"] == "Bob"
    fields = render.incident_embed(incident(), event())["fields"]
    assert {f["name"]: f["value"] for f in fields}["Commander"] == "unassigned"


def test_update_summary_says_whether_it_is_public_or_internal() -> None:
    public = render.event_summary(
        event(EventKind.UPDATE_POSTED, message="Rolled back", status="monitoring")
    )
    internal = render.event_summary(
        event(EventKind.UPDATE_POSTED, public=False, message="Still digging", status="identified")
    )
    assert public.startswith("**Public update**") and "Rolled back" in public
    assert internal.startswith("**Internal update**") and "Still digging" in internal


def test_every_event_kind_renders_a_summary_even_with_missing_data() -> None:
    for kind in EventKind:
        assert render.event_summary(event(kind)).strip()


def test_role_assignment_names_the_role_and_mentions_the_user() -> None:
    text = render.event_summary(
        event(
            EventKind.ROLE_ASSIGNED,
            public=False,
            role="commander",
            user={"platform": "discord", "id": "200000000000000002", "name": "Bob"},
        )
    )
    assert text == (
        "<@200000000000000002> is now **Incident commander** (assigned by <@200000000000000001>)."
    )


def test_message_payload_never_pings() -> None:
    payload = render.event_message(incident(title="@everyone look"), event())
    assert payload["allowed_mentions"] == {"parse": []}
    assert len(payload["embeds"]) == 1


def test_long_text_is_cut_to_discords_limits() -> None:
    inc = incident(title="x" * 200, description="d" * 5000)
    embed = render.incident_embed(inc, event(description="d" * 5000))
    assert len(embed["title"]) <= render.TITLE_MAX
    assert len(embed["description"]) == render.DESCRIPTION_MAX
    assert embed["description"].endswith("…")
    assert len(render.thread_name(inc)) == render.THREAD_NAME_MAX


@given(st.text(max_size=300), st.integers(min_value=1, max_value=300))
def test_cut_never_exceeds_the_limit_and_keeps_short_text(text: str, limit: int) -> None:
    out = render.cut(text, limit)
    assert len(out) <= limit
    if len(text) <= limit:
        assert out == text


def test_digest_has_state_thread_link_and_buttons() -> None:
    payload = render.digest_message(
        incident(), base_url="https://status.example.com", thread_id="555"
    )
    embed = payload["embeds"][0]
    assert "Discussion: <#555>" in embed["description"]
    assert embed["url"] == "https://status.example.com/incidents/7"
    buttons = payload["components"][0]["components"]
    assert [(b["label"], b["custom_id"], b["disabled"]) for b in buttons] == [
        ("Acknowledge", "crashbot:ack:7", False),
        ("Post update", "crashbot:update:7", False),
        ("Join", "crashbot:join:7", False),
        ("Unpublish", "crashbot:unpublish:7", False),
    ]


def test_digest_offers_the_visibility_change_and_join_only_with_a_thread() -> None:
    private = render.digest_message(incident(public=False))
    labels = [b["label"] for b in private["components"][0]["components"]]
    assert labels == ["Acknowledge", "Post update", "Publish"]
    public = render.digest_message(incident(public=True), thread_id="555")
    buttons = public["components"][0]["components"]
    assert [b["label"] for b in buttons][-2:] == ["Join", "Unpublish"]
    assert buttons[-1]["custom_id"] == "crashbot:unpublish:7"


def test_digest_has_edit_and_close_on_a_second_row() -> None:
    payload = render.digest_message(incident(), thread_id="555")
    first, second = payload["components"]
    assert len(first["components"]) <= 5 and len(second["components"]) <= 5
    assert [(b["label"], b["custom_id"], b["disabled"]) for b in second["components"]] == [
        ("Edit…", "crashbot:edit:7", False),
        ("Close…", "crashbot:close:7", False),
    ]


def test_digest_offers_close_while_the_incident_counts_as_slack_does() -> None:
    resolved_at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    resolved = incident(
        status=Status.RESOLVED, resolved_at=resolved_at, resolution=Resolution.RESOLVED
    )
    invalid = incident(
        status=Status.RESOLVED, resolved_at=resolved_at, resolution=Resolution.INVALID
    )
    duplicate = incident(
        status=Status.RESOLVED,
        resolved_at=resolved_at,
        resolution=Resolution.DUPLICATE,
        duplicate_of=3,
    )

    def labels(inc: Incident) -> list[str]:
        return [b["label"] for b in render.digest_message(inc)["components"][1]["components"]]

    assert labels(resolved) == ["Edit…", "Close…"]
    assert labels(invalid) == labels(duplicate) == ["Edit…"]


def test_origin_reply_answers_the_message_without_pinging() -> None:
    payload = render.origin_reply(incident(), "555", "777")
    assert payload["content"] == "🚨 INC-7 declared from this message — follow it in <#555>"
    assert payload["message_reference"] == {"message_id": "777", "fail_if_not_exists": False}
    assert payload["allowed_mentions"] == {"parse": [], "replied_user": False}
    assert "follow it" not in render.origin_reply(incident(), None, "777")["content"]


def test_digest_acknowledge_button_is_disabled_once_acknowledged_or_resolved() -> None:
    acked = render.digest_message(incident(acknowledged_at=T0))
    resolved = render.digest_message(
        incident(status=Status.RESOLVED, resolved_at=datetime(2026, 3, 2, 10, tzinfo=UTC))
    )
    for payload in (acked, resolved):
        assert payload["components"][0]["components"][0]["disabled"] is True


def test_reminder_pings_only_the_discord_commander() -> None:
    reminder = Reminder(
        incident_id=7,
        kind=ReminderKind.UPDATE_OVERDUE,
        due_at=T0,
        key="k",
        message="INC-7 has had no update for 30 minutes",
    )
    with_ic = render.reminder_message(incident(roles={"commander": ALICE}), reminder)
    assert with_ic["content"].startswith("⏰ <@200000000000000001> INC-7 has had no update")
    assert with_ic["allowed_mentions"] == {"users": ["200000000000000001"]}
    without = render.reminder_message(incident(), reminder)
    assert without["allowed_mentions"] == {"parse": []}


def test_role_dm_carries_the_role_description() -> None:
    dm = render.role_dm(incident(), "Scribe", "You keep the record.")
    assert dm["embeds"][0]["title"] == "You are Scribe of INC-7"
    assert "You keep the record." in dm["embeds"][0]["description"]
