"""Block Kit rendering, tested as pure functions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import attrs

from crashbot_core.models import (
    Actor,
    Component,
    Event,
    EventKind,
    Incident,
    Reminder,
    ReminderKind,
    Resolution,
    Status,
)
from crashbot_core.roles import DEFAULT_ROLES
from crashbot_core.severity import DEFAULT_POLICY
from crashbot_slack import render

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALICE = Actor("slack", "UALICE", "alice")


def incident(**changes: object) -> Incident:
    base = Incident(
        id=42,
        ref="INC-42",
        title="Checkout API returns 500s",
        severity="SEV1",
        status=Status.INVESTIGATING,
        declared_at=T0,
        started_at=T0,
        public=True,
        declared_by=ALICE,
    )
    return attrs.evolve(base, **changes)


def texts(blocks: list[dict]) -> str:
    return json.dumps(blocks)


def buttons(blocks: list[dict]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_channel_name_has_date_id_and_slug() -> None:
    assert render.channel_name(incident()) == "inc-20260302-42-checkout-api-returns-500s"
    assert (
        render.channel_name(incident(title="Ünïcode & <stuff>!!"))
        == "inc-20260302-42-unicode-stuff"
    )
    assert render.channel_name(incident(title="!!!")) == "inc-20260302-42"


def test_channel_names_stay_within_slacks_80_characters() -> None:
    long = incident(title="word " * 60)
    name = render.channel_name(long, prefix="incident")
    assert len(name) <= 80 and not name.endswith("-")
    assert len(render.rca_channel_name(name)) <= 80
    assert render.rca_channel_name(name).endswith("-rca")
    assert render.suffixed(name, 12).endswith("-12") and len(render.suffixed(name, 12)) <= 80


def test_topic_shows_status_severity_and_commander() -> None:
    inc = incident(roles={"commander": Actor("slack", "UBOB", "bob")})
    topic = render.topic(inc, DEFAULT_POLICY)
    assert "Investigating" in topic and "SEV1" in topic and "Commander: bob" in topic
    assert "unassigned" in render.topic(incident(), DEFAULT_POLICY)


def test_open_digest_has_join_ack_update_edit_close_and_visibility_buttons() -> None:
    text, blocks = render.digest(incident(), DEFAULT_POLICY, channel_id="C1")
    assert buttons(blocks) == [
        render.ACTION_JOIN,
        render.ACTION_ACK,
        render.ACTION_UPDATE,
        render.ACTION_EDIT,
        render.ACTION_CLOSE,
        render.ACTION_UNPUBLISH,
    ]
    assert "<#C1>" in texts(blocks)
    assert "INC-42" in text


def test_acknowledged_digest_drops_the_ack_button() -> None:
    _, blocks = render.digest(incident(acknowledged_at=T0), DEFAULT_POLICY, channel_id="C1")
    assert render.ACTION_ACK not in buttons(blocks)


def test_resolved_digest_is_marked_and_offers_only_corrections() -> None:
    done = incident(
        status=Status.RESOLVED, resolved_at=T0 + timedelta(hours=1), rca_url="https://x.example/rca"
    )
    _, blocks = render.digest(done, DEFAULT_POLICY, channel_id="C1")
    assert buttons(blocks) == [render.ACTION_EDIT, render.ACTION_CLOSE]
    invalid = attrs.evolve(done, resolution=Resolution.INVALID)
    assert buttons(render.digest(invalid, DEFAULT_POLICY)[1]) == [render.ACTION_EDIT]
    assert "Resolved" in texts(blocks)
    assert "https://x.example/rca" in texts(blocks)


def test_user_text_is_escaped_so_it_cannot_ping() -> None:
    inc = incident(title="<!channel> & <@U1> down", description="<!here>")
    _, blocks = render.digest(inc, DEFAULT_POLICY)
    dumped = texts(blocks)
    assert "<!channel>" not in dumped and "<!here>" not in dumped
    assert "&lt;!channel&gt; &amp; &lt;@U1&gt;" in dumped


def test_private_digest_offers_publish_with_a_confirmation() -> None:
    inc = incident(public=False, title="<!channel> leak")
    _, blocks = render.digest(inc, DEFAULT_POLICY, channel_id="C1")
    assert buttons(blocks)[-1] == render.ACTION_PUBLISH
    [publish] = [
        e
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == render.ACTION_PUBLISH
    ]
    assert publish["value"] == "42"
    assert publish["confirm"]["title"]["text"] == "Publish INC-42?"
    assert "public status page" in publish["confirm"]["text"]["text"]
    assert "&lt;!channel&gt; leak" in publish["confirm"]["text"]["text"]


def test_intro_links_the_comms_channel_and_the_comms_intro_links_back() -> None:
    _, blocks = render.intro(incident(), DEFAULT_POLICY, comms_channel="CCOMMS1")
    assert "Customer-facing coordination: <#CCOMMS1>" in texts(blocks)
    assert "<#" not in texts(render.intro(incident(), DEFAULT_POLICY)[1])
    text, blocks = render.comms_intro(incident(public=False, title="a <b>"), "CINC1")
    assert "<#CINC1>" in texts(blocks) and "a &lt;b&gt;" in texts(blocks)
    assert "not on the public status page" in texts(blocks)
    assert text == "Customer-facing coordination for INC-42"
    assert render.comms_channel_name("inc-20260302-42-x") == "inc-20260302-42-x-comms"
    assert len(render.comms_channel_name("a" * 80)) <= 80


def home_texts(view: dict) -> list[str]:
    out = []
    for b in view["blocks"]:
        if b["type"] in {"section", "header"}:
            out.append(b["text"]["text"])
        elif b["type"] == "context":
            out.append(b["elements"][0]["text"])
    return out


def test_home_view_lists_open_incidents_my_roles_and_the_declare_and_record_buttons() -> None:
    bob = Actor("slack", "UBOB", "bob")
    mine = incident(
        id=7,
        ref="INC-7",
        title="Search <slow>",
        severity="SEV3",
        public=False,
        roles={"commander": bob, "scribe": bob},
    )
    other = incident(id=8, ref="INC-8", roles={"commander": ALICE})
    view = render.home_view(
        [other, mine], "UBOB", DEFAULT_POLICY, DEFAULT_ROLES, channels={7: "C7"}
    )

    assert view["type"] == "home"
    assert buttons(view["blocks"]) == [render.ACTION_HOME_DECLARE, render.ACTION_HOME_RECORD]
    lines = home_texts(view)
    assert lines[0] == "Incidents"
    mine_at, open_at = lines.index("Your roles"), lines.index("Open incidents (2)")
    assert lines[mine_at + 1 : open_at] == [
        "*INC-7: Search &lt;slow&gt;* — you are Incident commander, Scribe · <#C7>"
    ]
    [first, second] = lines[open_at + 1 :]
    assert first.startswith("*INC-8: Checkout API returns 500s*\n:red_circle: SEV1 (Critical)")
    assert "Incident commander: <@UALICE>" in first and ":lock:" not in first
    assert second.startswith("*INC-7: Search &lt;slow&gt;* :lock:")
    assert ":mag: Investigating · <#C7>" in second
    assert "Incident commander: <@UBOB> · Scribe: <@UBOB>" in second


def test_home_view_when_nothing_is_open_or_too_much_is() -> None:
    empty = home_texts(render.home_view([], "UBOB", DEFAULT_POLICY, DEFAULT_ROLES))
    assert "You hold no role in an open incident." in empty
    assert "No open incidents. :sunny:" in empty

    many = [incident(id=i, ref=f"INC-{i}") for i in range(1, 61)]
    view = render.home_view(many, "UALICE", DEFAULT_POLICY, DEFAULT_ROLES)
    assert len(view["blocks"]) <= 100  # Slack's limit for a view
    assert any("… and 20 older ones" in t for t in home_texts(view))


def test_private_incident_digest_links_no_status_page() -> None:
    _, blocks = render.digest(
        incident(public=False), DEFAULT_POLICY, status_url="https://status.example/incidents/42"
    )
    assert "status.example" not in texts(blocks)
    assert "Private incident" in texts(blocks)


def ev(kind: EventKind, public: bool = False, **data: object) -> Event:
    return Event(kind=kind, at=T0, actor=ALICE, data=data, public=public)


def test_every_event_kind_renders_or_is_skipped_on_purpose() -> None:
    inc = incident()
    samples = {
        EventKind.ACKNOWLEDGED: ev(EventKind.ACKNOWLEDGED),
        EventKind.STATUS_CHANGED: ev(
            EventKind.STATUS_CHANGED, **{"from": "investigating", "to": "identified"}
        ),
        EventKind.SEVERITY_CHANGED: ev(
            EventKind.SEVERITY_CHANGED, **{"from": "SEV3", "to": "SEV1"}
        ),
        EventKind.UPDATE_POSTED: ev(
            EventKind.UPDATE_POSTED, True, message="rolled back", status="identified"
        ),
        EventKind.ROLE_ASSIGNED: ev(
            EventKind.ROLE_ASSIGNED, role="commander", user=attrs.asdict(ALICE), previous=None
        ),
        EventKind.ROLE_UNASSIGNED: ev(
            EventKind.ROLE_UNASSIGNED, role="scribe", user=attrs.asdict(ALICE)
        ),
        EventKind.COMPONENTS_CHANGED: ev(
            EventKind.COMPONENTS_CHANGED, **{"from": {}, "to": {"api": "major_outage"}}
        ),
        EventKind.RESOLVED: ev(EventKind.RESOLVED, message="fixed", previous_status="monitoring"),
        EventKind.REOPENED: ev(EventKind.REOPENED, message="back"),
        EventKind.RCA_LINKED: ev(EventKind.RCA_LINKED, url="https://x.example/rca", previous=None),
        EventKind.ALERT_ATTACHED: ev(
            EventKind.ALERT_ATTACHED, source="grafana", title="CPU", status="firing"
        ),
        EventKind.FOLLOW_UP_ADDED: ev(EventKind.FOLLOW_UP_ADDED, title="add alert"),
        EventKind.FOLLOW_UP_DONE: ev(EventKind.FOLLOW_UP_DONE, title="add alert", follow_up_id=1),
        EventKind.POSTMORTEM_EXPORTED: ev(EventKind.POSTMORTEM_EXPORTED, url="https://wiki/x"),
        EventKind.VISIBILITY_CHANGED: ev(EventKind.VISIBILITY_CHANGED, to="public"),
    }
    for kind, event in samples.items():
        out = render.event_message(inc, event, DEFAULT_POLICY, DEFAULT_ROLES)
        assert out is not None, kind
        text, blocks = out
        assert text and blocks[0]["type"] == "section", kind
    assert render.event_message(inc, ev(EventKind.DECLARED), DEFAULT_POLICY, DEFAULT_ROLES) is None
    assert (
        render.event_message(inc, ev(EventKind.REMINDER_SENT), DEFAULT_POLICY, DEFAULT_ROLES)
        is None
    )


def test_update_message_says_public_or_internal_and_quotes_the_text() -> None:
    public = render.event_message(
        incident(),
        ev(EventKind.UPDATE_POSTED, True, message="a <b>", status="identified"),
        DEFAULT_POLICY,
        DEFAULT_ROLES,
    )
    internal = render.event_message(
        incident(),
        ev(EventKind.UPDATE_POSTED, False, message="x", status="identified"),
        DEFAULT_POLICY,
        DEFAULT_ROLES,
    )
    assert (
        public
        and "Public update" in texts(public[1])
        and "&gt;" not in public[1][0]["text"]["text"][:1]
    )
    assert ">a &lt;b&gt;" in public[1][0]["text"]["text"]
    assert internal and "Public" not in texts(internal[1])


def test_resolve_of_a_postmortem_level_asks_for_the_rca() -> None:
    out = render.event_message(
        incident(), ev(EventKind.RESOLVED, message=""), DEFAULT_POLICY, DEFAULT_ROLES
    )
    assert out and "/incident rca URL" in texts(out[1])
    out4 = render.event_message(
        incident(severity="SEV4"), ev(EventKind.RESOLVED, message=""), DEFAULT_POLICY, DEFAULT_ROLES
    )
    assert out4 and "rca" not in texts(out4[1]).lower().replace("crashbot", "")


def test_role_dm_carries_the_role_description() -> None:
    role = DEFAULT_ROLES.get("technical-lead")
    _, blocks = render.role_dm(incident(), role, "C1")
    assert role.description[:40] in texts(blocks) and "<#C1>" in texts(blocks)


def test_escalation_reminder_pings_the_configured_mention() -> None:
    r = Reminder(
        incident_id=42,
        kind=ReminderKind.UNACKNOWLEDGED,
        due_at=T0,
        key="k",
        message="INC-42 unacked",
    )
    _, blocks = render.reminder_message(incident(), r, escalation_mention="<!subteam^S1>")
    assert blocks[0]["text"]["text"].startswith("<!subteam^S1>")
    r2 = attrs.evolve(r, kind=ReminderKind.UPDATE_OVERDUE)
    assert "<!" not in render.reminder_message(incident(), r2)[1][0]["text"]["text"]


def test_declare_modal_has_the_five_fields_and_preset_severity() -> None:
    view = render.declare_modal(DEFAULT_POLICY, [Component("api", "API")], severity="SEV2")
    ids = [b["block_id"] for b in view["blocks"]]
    assert ids == ["title", "description", "severity", "public", "components"]
    sev = view["blocks"][2]["element"]
    assert sev["initial_option"]["value"] == "SEV2"
    assert [o["value"] for o in sev["options"]] == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert view["callback_id"] == render.VIEW_DECLARE
    no_components = render.declare_modal(DEFAULT_POLICY, [])
    assert "components" not in [b["block_id"] for b in no_components["blocks"]]


def test_update_modal_carries_the_incident_and_current_values() -> None:
    view = render.update_modal(incident(status=Status.IDENTIFIED), DEFAULT_POLICY)
    assert view["private_metadata"] == "42" and view["callback_id"] == render.VIEW_UPDATE
    by_id = {b.get("block_id"): b for b in view["blocks"]}
    assert by_id["status"]["element"]["initial_option"]["value"] == "identified"
    assert by_id["severity"]["element"]["initial_option"]["value"] == "SEV1"
    assert len(view["title"]["text"]) <= 24


def test_read_view_flattens_state_values() -> None:
    values = {
        "title": {"value": {"type": "plain_text_input", "value": "DB down"}},
        "severity": {"value": {"type": "static_select", "selected_option": {"value": "SEV2"}}},
        "public": {"value": {"type": "checkboxes", "selected_options": [{"value": "public"}]}},
        "components": {"value": {"type": "multi_static_select", "selected_options": []}},
        "description": {"value": {"type": "plain_text_input", "value": None}},
        "started_at": {"value": {"type": "datetimepicker", "selected_date_time": 1772442000}},
        "resolved_at": {"value": {"type": "datetimepicker", "selected_date_time": None}},
    }
    assert render.read_view(values) == {
        "title": "DB down",
        "severity": "SEV2",
        "public": ["public"],
        "components": [],
        "description": None,
        "started_at": 1772442000,
        "resolved_at": None,
    }


def test_links_to_stored_urls_cannot_be_closed_early_or_relabelled() -> None:
    assert render.link("https://x.example/a|<!here>") == "<https://x.example/a%7C&lt;!here&gt;>"
    assert render.link("https://x.example/?a=1&b=2", "post <mortem>") == (
        "<https://x.example/?a=1&amp;b=2|post &lt;mortem&gt;>"
    )


def test_a_slack_actor_whose_id_is_no_user_id_is_shown_as_text() -> None:
    assert render.mention(Actor("slack", "UCAROL", "carol")) == "<@UCAROL>"
    forged = Actor("slack", "U1> <!channel", "<!channel>")
    assert render.mention(forged) == "&lt;!channel&gt;"
