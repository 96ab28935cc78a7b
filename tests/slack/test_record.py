"""Correcting the record from Slack: ``/incident close invalid|duplicate``, the Edit and Close
forms, and ``/incident record`` (a past incident, recorded after the fact)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import attrs
import pytest
from fake_slack import DIGEST_ID, FakeSlack
from slack_support import SlackDriver
from support import T0
from test_commands import declare, in_channel, reply

from crashbot_core import Crashbot, FixedClock
from crashbot_core.errors import NotFound
from crashbot_core.models import RETROSPECTIVE_REF, EventKind, Impact, Incident, Resolution, Status


def _incident() -> Incident:
    return Incident(
        id=1,
        ref="INC-1",
        title="t",
        severity="SEV1",
        status=Status.INVESTIGATING,
        declared_at=T0,
        started_at=T0,
    )


def edited(bot: Crashbot, incident_id: int = 1) -> dict[str, tuple[Any, Any]]:
    """The ``edited`` events on the timeline: field → (from, to)."""
    return {
        e.data["field"]: (e.data["from"], e.data["to"])
        for e in bot.timeline(incident_id)
        if e.kind is EventKind.EDITED
    }


def state_of(view: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``state.values`` as Slack submits ``view``: what it showed, with ``changes`` typed over it.

    A change is text for a text input, an option value for a select or radio buttons,
    a datetime for a date-time picker (Slack sends its epoch seconds).
    """
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        bid, el = block["block_id"], block["element"]
        kind = el["type"]
        if kind == "datetimepicker":
            at = changes.get(bid)
            picked = int(at.timestamp()) if isinstance(at, datetime) else at
            values[bid] = {"value": {"type": kind, "selected_date_time": picked}}
            continue
        if kind == "plain_text_input":
            values[bid] = {
                "value": {"type": kind, "value": changes.get(bid, el.get("initial_value"))}
            }
            continue
        chosen = changes.get(bid, (el.get("initial_option") or {}).get("value"))
        option = next((o for o in el["options"] if o["value"] == chosen), None)
        values[bid] = {"value": {"type": kind, "selected_option": option}}
    return values


def opened(fake_slack: FakeSlack) -> dict[str, Any]:
    """The last view sent to ``views.open``."""
    view = fake_slack.called("views.open")[-1]["view"]
    return view if isinstance(view, dict) else json.loads(view)


def submit_form(slack: SlackDriver, view: dict[str, Any], **changes: Any) -> Any:
    """Submit ``view`` with ``changes``; the HTTP response (the ack)."""
    return slack.submit(
        view["callback_id"],
        state_of(view, **changes),
        private_metadata=view.get("private_metadata", ""),
    )


# -- /incident close ---------------------------------------------------------------------------


def test_close_invalid_in_the_incident_channel_ends_it_with_the_reason(
    slack: SlackDriver, slack_bot: Crashbot
) -> None:
    declare(slack)
    answer = reply(in_channel(slack, "close invalid a test page, nothing broke"))
    assert answer == "Closed INC-1 as invalid."
    inc = slack_bot.get(1)
    assert (inc.status, inc.resolution, inc.counts) == (Status.RESOLVED, Resolution.INVALID, False)
    closed = [e for e in slack_bot.timeline(1) if e.kind is EventKind.CLOSED]
    assert closed and "a test page, nothing broke" in json.dumps(closed[-1].data)


def test_close_duplicate_by_ref_from_another_channel_merges_it(
    slack: SlackDriver, slack_bot: Crashbot
) -> None:
    declare(slack)
    declare(slack, "declare Checkout down again sev2")
    answer = reply(slack.command("close INC-2 duplicate of INC-1 same outage"))
    assert answer == "Closed INC-2 as a duplicate of INC-1."
    dup = slack_bot.get(2)
    assert (dup.resolution, dup.duplicate_of) == (Resolution.DUPLICATE, 1)
    assert any(e.kind is EventKind.MERGED for e in slack_bot.timeline(1))
    assert slack_bot.get(1).is_open


def test_close_duplicate_needs_the_original(slack: SlackDriver, slack_bot: Crashbot) -> None:
    declare(slack)
    answer = reply(in_channel(slack, "close duplicate"))
    assert "Say which incident it duplicates" in answer
    assert slack_bot.get(1).is_open


def test_close_duplicate_of_itself_is_refused_with_the_reason(
    slack: SlackDriver, slack_bot: Crashbot
) -> None:
    declare(slack)
    answer = reply(in_channel(slack, "close duplicate INC-1"))
    assert answer.startswith(":warning:")
    assert slack_bot.get(1).resolution is None


def test_close_with_a_message_still_resolves(slack: SlackDriver, slack_bot: Crashbot) -> None:
    declare(slack)
    assert reply(in_channel(slack, "close all good")) == "Resolved INC-1."
    assert slack_bot.get(1).resolution is Resolution.RESOLVED


def test_the_close_alias_closes_as_invalid(slack: SlackDriver, slack_bot: Crashbot) -> None:
    declare(slack)
    assert reply(slack.command("INC-1 invalid", command="/close")) == "Closed INC-1 as invalid."
    assert slack_bot.get(1).resolution is Resolution.INVALID


# -- the edit form ----------------------------------------------------------------------------


def test_edit_opens_a_form_filled_with_the_record(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack)
    slack_bot.edit(1, description="Card <payments> fail", components={"api": "major"})
    r = in_channel(slack, "edit")
    assert not r.data  # the ack says nothing; the form opens
    view = opened(fake_slack)
    assert view["callback_id"] == "crashbot_edit" and view["title"]["text"] == "Edit INC-1"
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks["title"]["element"]["initial_value"] == "Checkout API returns 500s"
    assert blocks["description"]["element"]["initial_value"] == "Card <payments> fail"
    assert blocks["component:api"]["element"]["initial_option"]["value"] == "major_outage"
    assert blocks["component:web"]["element"]["initial_option"]["value"] == "none"
    assert blocks["component:web"]["label"]["text"] == "Component: Website"
    assert (
        blocks["started_at"]["element"]["initial_value"]
        == "2026-03-02T09:00:00Z"
        == (blocks["detected_at"]["element"]["initial_value"])
    )
    assert "resolved_at" not in blocks  # only once resolved
    assert json.loads(view["private_metadata"])["id"] == 1


def test_edit_button_on_the_digest_opens_the_form(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    declare(slack)
    digest = [m for m in fake_slack.called("chat.postMessage") if m["channel"] == DIGEST_ID][-1]
    actions = next(b for b in digest["blocks"] if b["type"] == "actions")
    assert [e["text"]["text"] for e in actions["elements"]][-3:-1] == ["Edit", "Close…"]
    slack.button("crashbot_edit_record", "1")
    assert opened(fake_slack)["callback_id"] == "crashbot_edit"


def test_edit_by_ref_from_another_channel_and_unknown_ref(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    declare(slack)
    reply_to_missing = reply(slack.command("edit INC-9"))
    assert "no incident INC-9" in reply_to_missing and fake_slack.called("views.open") == []
    slack.command("edit INC-1")
    assert json.loads(opened(fake_slack)["private_metadata"])["id"] == 1


def test_submitting_the_edit_form_changes_only_what_was_changed(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    declare(slack)
    clock.advance(hours=1)
    in_channel(slack, "edit")
    r = submit_form(
        slack,
        opened(fake_slack),
        title="Checkout API returned 500s",
        **{"component:web": "partial_outage", "started_at": "2026-03-02T08:40:00Z"},
    )
    assert r.status_code == 200 and not r.data  # an empty ack closes the form
    inc = slack_bot.get(1)
    assert inc.title == "Checkout API returned 500s"
    assert inc.components == {"web": Impact.PARTIAL_OUTAGE}
    assert inc.started_at == T0.replace(minute=40, hour=8)
    assert edited(slack_bot) == {
        "title": ("Checkout API returns 500s", "Checkout API returned 500s"),
        "components": ({}, {"web": "partial_outage"}),
        "started_at": ("2026-03-02T09:00:00Z", "2026-03-02T08:40:00Z"),
    }
    [event] = [e for e in slack_bot.timeline(1) if e.data.get("field") == "title"]
    assert event.actor.id == "UALICE" and not event.public


def test_a_field_left_alone_keeps_a_correction_made_meanwhile(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack)
    in_channel(slack, "edit")
    view = opened(fake_slack)
    slack_bot.edit(1, title="Corrected elsewhere")
    submit_form(slack, view, description="More detail")
    inc = slack_bot.get(1)
    assert (inc.title, inc.description) == ("Corrected elsewhere", "More detail")


def test_not_affected_takes_a_component_off(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack)
    slack_bot.edit(1, components={"api": "major", "web": "partial"})
    in_channel(slack, "edit")
    submit_form(slack, opened(fake_slack), **{"component:api": "none"})
    assert slack_bot.get(1).components == {"web": Impact.PARTIAL_OUTAGE}


def test_times_out_of_order_keep_the_form_open_with_the_rule_under_the_field(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack)
    in_channel(slack, "edit")
    before = slack_bot.timeline(1)
    r = submit_form(slack, opened(fake_slack), detected_at="2026-03-02T08:00:00Z")
    assert r.status_code == 200
    body = r.get_json()
    assert body["response_action"] == "errors"
    assert list(body["errors"]) == ["detected_at"]
    assert "started ≤ detected ≤ acknowledged" in body["errors"]["detected_at"]
    assert slack_bot.timeline(1) == before


def test_a_time_in_the_future_or_not_a_time_is_refused_under_its_field(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack)
    in_channel(slack, "edit")
    view = opened(fake_slack)
    future = submit_form(slack, view, started_at="2030-01-01T00:00:00Z").get_json()
    assert (
        future["response_action"] == "errors" and "in the future" in future["errors"]["started_at"]
    )
    garbled = submit_form(slack, view, started_at="yesterday <!channel>").get_json()
    assert "is not an instant" in garbled["errors"]["started_at"]
    cleared = submit_form(slack, view, started_at="").get_json()
    assert "started_at" in cleared["errors"]
    assert edited(slack_bot) == {}


def test_an_unchanged_edit_form_asks_for_a_change(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack)
    in_channel(slack, "edit")
    body = submit_form(slack, opened(fake_slack)).get_json()
    assert body == {
        "response_action": "errors",
        "errors": {"title": "Nothing changed: correct a field, or cancel."},
    }


def test_the_resolve_time_is_corrected_on_a_resolved_incident(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    declare(slack)
    clock.advance(hours=2)
    slack_bot.resolve(1)
    digest = fake_slack.called("chat.update")[-1]
    actions = next(b for b in digest["blocks"] if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == [
        "crashbot_edit_record",
        "crashbot_close_record",
    ]
    slack.command("edit INC-1")
    view = opened(fake_slack)
    assert any(b.get("block_id") == "resolved_at" for b in view["blocks"])
    # Resolving set the mitigation time too: both move back, in one submission.
    times = {"mitigated_at": "2026-03-02T10:20:00Z", "resolved_at": "2026-03-02T10:30:00Z"}
    assert not submit_form(slack, view, **times).data
    inc = slack_bot.get(1)
    assert (inc.mitigated_at, inc.resolved_at) == (
        T0.replace(hour=10, minute=20),
        T0.replace(hour=10, minute=30),
    )
    assert set(edited(slack_bot)) == {"mitigated_at", "resolved_at"}


# -- the close form ---------------------------------------------------------------------------


def test_close_button_form_closes_as_a_duplicate(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack)
    declare(slack, "declare Checkout down again sev2")
    slack.button("crashbot_close_record", "2")
    view = opened(fake_slack)
    assert view["callback_id"] == "crashbot_close" and view["private_metadata"] == "2"
    r = submit_form(slack, view, resolution="duplicate", duplicate_of="INC-1", reason="same")
    assert r.status_code == 200 and not r.data
    assert (slack_bot.get(2).resolution, slack_bot.get(2).duplicate_of) == (
        Resolution.DUPLICATE,
        1,
    )


def test_close_form_errors_stay_on_the_form(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    declare(slack)
    slack.button("crashbot_close_record", "1")
    view = opened(fake_slack)
    missing = submit_form(slack, view, resolution="duplicate").get_json()
    assert missing["errors"] == {"duplicate_of": "Say which incident it duplicates, e.g. INC-4."}
    unknown = submit_form(slack, view, resolution="duplicate", duplicate_of="INC-77").get_json()
    assert "INC-77" in unknown["errors"]["duplicate_of"]
    assert slack_bot.get(1).resolution is None
    assert not submit_form(slack, view, resolution="invalid").data
    assert slack_bot.get(1).resolution is Resolution.INVALID


def test_the_edit_form_stays_within_slacks_limits_with_many_long_components() -> None:
    from crashbot_core.models import Component
    from crashbot_slack.record_forms import edit_modal

    long = [Component(key=f"{i:02d}" + "k" * 62) for i in range(90)]
    inc = attrs.evolve(
        _incident(), components={long[0].key: Impact.MAJOR_OUTAGE}, description="d" * 5000
    )
    view = edit_modal(inc, long)
    assert len(view["private_metadata"]) <= 3000 and len(view["blocks"]) <= 100
    first = next(b for b in view["blocks"] if b.get("block_id") == "component:" + long[0].key)
    assert first["element"]["initial_option"]["value"] == "major_outage"
    assert len(view["blocks"][2]["element"]["initial_value"]) == 3000


# -- the record form: a past incident --------------------------------------------------------

#: A past incident's times, an hour long, the day before the clock's now.
PAST = {
    "started_at": T0,
    "detected_at": T0 + timedelta(minutes=5),
    "acknowledged_at": T0 + timedelta(minutes=10),
    "mitigated_at": T0 + timedelta(minutes=40),
    "resolved_at": T0 + timedelta(hours=1),
}


def test_record_opens_the_past_incident_form_filled_from_the_text(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    r = slack.command("record Checkout down overnight sev2")
    assert r.status_code == 200 and not r.data  # the ack says nothing; the form opens
    view = opened(fake_slack)
    assert view["callback_id"] == "crashbot_record"
    assert view["title"]["text"] == "Record a past incident"
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks["title"]["element"]["initial_value"] == "Checkout down overnight"
    assert blocks["severity"]["element"]["initial_option"]["value"] == "SEV2"
    pickers = {
        bid: b["optional"]
        for bid, b in blocks.items()
        if b.get("element", {}).get("type") == "datetimepicker"
    }
    assert pickers == {
        "started_at": False,
        "detected_at": True,
        "acknowledged_at": True,
        "mitigated_at": True,
        "resolved_at": False,
    }


def test_submitting_the_record_form_stores_it_resolved_with_its_times_and_pages_nobody(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    clock.advance(days=1)
    slack.command("record")
    r = submit_form(
        slack,
        opened(fake_slack),
        title="Checkout down overnight",
        severity="SEV1",
        description="Nobody noticed until the morning",
        **PAST,
    )
    assert r.status_code == 200 and not r.data  # an empty ack closes the form
    inc = slack_bot.get(1)
    assert (inc.title, inc.severity, inc.status, inc.resolution) == (
        "Checkout down overnight",
        "SEV1",
        Status.RESOLVED,
        Resolution.RESOLVED,
    )
    assert {name: getattr(inc, name) for name in PAST} == PAST
    assert (inc.description, inc.source) == ("Nobody noticed until the morning", "slack")
    assert inc.declared_by is not None and inc.declared_by.id == "UALICE"
    assert RETROSPECTIVE_REF in inc.refs
    [recorded] = slack_bot.timeline(1)
    assert recorded.kind is EventKind.RECORDED and recorded.actor.id == "UALICE"
    # No channel, nobody invited or paged: one digest line, and a DM to whoever recorded it.
    assert fake_slack.called("conversations.create") == []
    assert fake_slack.called("conversations.invite") == []
    posts = fake_slack.called("chat.postMessage")
    assert sorted(m["channel"] for m in posts) == sorted([DIGEST_ID, "UALICE"])
    [dm] = [m for m in posts if m["channel"] == "UALICE"]
    assert dm["text"].startswith("Recorded INC-1 (SEV1, resolved): Checkout down overnight.")
    clock.advance(days=5)
    assert slack_bot.due_reminders() == []


def test_the_record_form_needs_only_the_start_and_the_end(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    clock.advance(days=1)
    slack.command("record")
    view = opened(fake_slack)
    missing = submit_form(slack, view, title="Search was slow").get_json()
    assert missing == {
        "response_action": "errors",
        "errors": {
            "started_at": "Say when the impact started.",
            "resolved_at": "Say when it was over.",
        },
    }
    with pytest.raises(NotFound):
        slack_bot.get(1)
    ok = submit_form(
        slack, view, title="Search was slow", started_at=T0, resolved_at=PAST["resolved_at"]
    )
    assert not ok.data
    inc = slack_bot.get(1)
    assert inc.severity == "SEV4"  # the policy's default, shown preselected
    assert (inc.detected, inc.acknowledged_at, inc.mitigated_at) == (T0, None, None)


def test_record_form_times_out_of_order_keep_the_form_open_with_the_rule_under_the_field(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    clock.advance(days=1)
    slack.command("record Checkout down")
    view = opened(fake_slack)
    times = {**PAST, "resolved_at": PAST["mitigated_at"] - timedelta(minutes=1)}
    body = submit_form(slack, view, **times).get_json()
    assert body["response_action"] == "errors"
    assert list(body["errors"]) == ["resolved_at"]
    assert body["errors"]["resolved_at"].startswith(
        "resolved_at (2026-03-02T09:39:00Z) is before mitigated_at (2026-03-02T09:40:00Z)"
    )
    assert (
        "started ≤ detected ≤ acknowledged ≤ mitigated ≤ resolved"
        in (body["errors"]["resolved_at"])
    )
    future = submit_form(slack, view, **{**PAST, "resolved_at": T0 + timedelta(days=2)})
    assert "in the future" in future.get_json()["errors"]["resolved_at"]
    with pytest.raises(NotFound):
        slack_bot.get(1)
    assert fake_slack.called("chat.postMessage") == []


def test_record_form_without_a_title_or_with_a_garbled_time_is_refused_under_the_field(
    slack: SlackDriver, slack_bot: Crashbot, fake_slack: FakeSlack, clock: FixedClock
) -> None:
    clock.advance(days=1)
    slack.command("record")
    body = submit_form(
        slack, opened(fake_slack), title="  ", started_at="soon", resolved_at=PAST["resolved_at"]
    ).get_json()
    assert set(body["errors"]) == {"title", "started_at"}
    assert "is not a time" in body["errors"]["started_at"]
    assert slack_bot.list() == []


def test_the_record_form_offers_every_severity_and_preselects_the_default() -> None:
    from crashbot_core.severity import DEFAULT_POLICY as policy
    from crashbot_slack.record_forms import record_modal

    view = record_modal(policy, title="x" * 500)
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    severity = blocks["severity"]["element"]
    assert [o["value"] for o in severity["options"]] == [lv.key for lv in policy.levels]
    assert severity["initial_option"]["value"] == policy.default_level.key
    assert len(blocks["title"]["element"]["initial_value"]) == 200
    assert "private_metadata" not in view
