"""Pure rendering: (incident, event) → Discord message payloads (embeds, buttons).

Shared by the webhook notifier and the bot. Nothing here does I/O; every
function returns plain JSON-ready dicts in Discord's wire format, cut to
Discord's limits (embed title 256, description 4096, field value 1024,
thread name 100) so a long title never turns into a 400 from Discord.
"""

from __future__ import annotations

from typing import Any

from crashbot_core import alertchat
from crashbot_core.models import Actor, AlertSummary, Event, EventKind, Incident, Reminder
from crashbot_core.roles import DEFAULT_ROLES, RolePolicy
from crashbot_core.serialize import iso
from crashbot_core.severity import DEFAULT_POLICY, SeverityPolicy

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_MAX = 1024
THREAD_NAME_MAX = 100
BUTTON_STYLE_PRIMARY = 1
BUTTON_STYLE_SECONDARY = 2

#: custom_id of the digest's buttons; the bot matches them with these prefixes.
ACK_PREFIX = "crashbot:ack:"
UPDATE_PREFIX = "crashbot:update:"
JOIN_PREFIX = "crashbot:join:"
PUBLISH_PREFIX = "crashbot:publish:"
UNPUBLISH_PREFIX = "crashbot:unpublish:"
EDIT_PREFIX = "crashbot:edit:"
CLOSE_PREFIX = "crashbot:close:"

_KIND_LABEL = {
    EventKind.DECLARED: "Declared",
    EventKind.ACKNOWLEDGED: "Acknowledged",
    EventKind.STATUS_CHANGED: "Status changed",
    EventKind.SEVERITY_CHANGED: "Severity changed",
    EventKind.UPDATE_POSTED: "Update",
    EventKind.ROLE_ASSIGNED: "Role assigned",
    EventKind.ROLE_UNASSIGNED: "Role unassigned",
    EventKind.COMPONENTS_CHANGED: "Components changed",
    EventKind.RESOLVED: "Resolved",
    EventKind.REOPENED: "Reopened",
    EventKind.RCA_LINKED: "RCA linked",
    EventKind.ALERT_ATTACHED: "Alert",
    EventKind.FOLLOW_UP_ADDED: "Follow-up added",
    EventKind.FOLLOW_UP_DONE: "Follow-up done",
    EventKind.REMINDER_SENT: "Reminder",
    EventKind.POSTMORTEM_EXPORTED: "Postmortem exported",
    EventKind.VISIBILITY_CHANGED: "Visibility changed",
    EventKind.CLOSED: "Closed",
    EventKind.MERGED: "Merged",
    EventKind.RECORDED: "Recorded",
    EventKind.EDITED: "Edited",
}


def cut(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def color(incident: Incident, policy: SeverityPolicy = DEFAULT_POLICY) -> int:
    """The embed colour (an RGB int) of the incident's severity."""
    raw = policy.get(incident.severity).color.lstrip("#")
    try:
        return int(raw, 16)
    except ValueError:
        return 0x888888


def mention(actor: Actor | None) -> str:
    """A Discord user as a mention (renders as their name, never pings in embeds), else the name."""
    if actor is None:
        return "unassigned"
    if actor.platform == "discord" and actor.id.isdigit():
        return f"<@{actor.id}>"
    return actor.display


def status_page_url(incident: Incident, base_url: str) -> str | None:
    """The incident's page on the status site; None for private incidents (no public page)."""
    if not incident.public:
        return None
    return f"{base_url.rstrip('/')}/incidents/{incident.id}"


def _user(data: Any) -> str:
    if isinstance(data, dict):
        return mention(
            Actor(
                platform=str(data.get("platform", "")),
                id=str(data.get("id", "")),
                name=str(data.get("name", "")),
            )
        )
    return "someone"


def event_summary(event: Event, roles: RolePolicy = DEFAULT_ROLES) -> str:
    """One or two lines saying what happened, with who did it."""
    d = event.data
    who = mention(event.actor)
    kind = event.kind
    if kind is EventKind.DECLARED:
        text = f"Declared by {who}."
        if d.get("description"):
            text += "\n\n" + str(d["description"])
        return text
    if kind is EventKind.ACKNOWLEDGED:
        return f"Acknowledged by {who}."
    if kind is EventKind.STATUS_CHANGED:
        return f"Status **{d.get('from')}** → **{d.get('to')}** ({who})."
    if kind is EventKind.SEVERITY_CHANGED:
        return f"Severity **{d.get('from')}** → **{d.get('to')}** ({who})."
    if kind is EventKind.UPDATE_POSTED:
        scope = "Public update" if event.public else "Internal update"
        return f"**{scope}** from {who} ({d.get('status')}):\n{d.get('message', '')}"
    if kind is EventKind.ROLE_ASSIGNED:
        role = roles.get(str(d.get("role")))
        return f"{_user(d.get('user'))} is now **{role.name}** (assigned by {who})."
    if kind is EventKind.ROLE_UNASSIGNED:
        role = roles.get(str(d.get("role")))
        return f"{_user(d.get('user'))} is no longer **{role.name}** ({who})."
    if kind is EventKind.COMPONENTS_CHANGED:
        to = d.get("to") or {}
        listed = ", ".join(f"{k}: {str(v).replace('_', ' ')}" for k, v in to.items()) or "none"
        return f"Affected components: {listed} ({who})."
    if kind is EventKind.RESOLVED:
        text = f"Resolved by {who}."
        if d.get("message"):
            text += "\n\n" + str(d["message"])
        return text
    if kind is EventKind.REOPENED:
        text = f"Reopened by {who}."
        if d.get("message"):
            text += "\n\n" + str(d["message"])
        return text
    if kind is EventKind.RCA_LINKED:
        return f"RCA: {d.get('url')} ({who})."
    if kind is EventKind.ALERT_ATTACHED:
        return f"Alert {d.get('status')} from {d.get('source')}: {d.get('title')}"
    if kind is EventKind.FOLLOW_UP_ADDED:
        owner = f" (owner: {_user(d['owner'])})" if d.get("owner") else ""
        return f"Follow-up: {d.get('title')}{owner}"
    if kind is EventKind.FOLLOW_UP_DONE:
        return f"Follow-up done: {d.get('title')} ({who})."
    if kind is EventKind.REMINDER_SENT:
        return str(d.get("message") or "Reminder.")
    if kind is EventKind.CLOSED:
        if d.get("resolution") == "duplicate":
            text = f"Closed as a duplicate of **{d.get('original_ref')}** by {who}; this thread is archived."
        else:
            text = f"Closed as **invalid** by {who}."
        if d.get("message"):
            text += "\n\n" + str(d["message"])
        return text
    if kind is EventKind.MERGED:
        return (
            f"**{d.get('duplicate_ref')}** ({d.get('title')}) merged in by {who}: "
            f"{d.get('alerts', 0)} alerts and {d.get('follow_ups', 0)} follow-ups moved here."
        )
    if kind is EventKind.RECORDED:
        return f"Recorded after the fact by {who}; resolved {d.get('resolved_at')}."
    if kind is EventKind.EDITED:
        return (
            f"{str(d.get('field', '')).replace('_', ' ').capitalize()} corrected by {who}: "
            f"{_edited(d.get('from'))} → {_edited(d.get('to'))}"
        )
    return f"{_KIND_LABEL.get(kind, kind.value)} ({who})."


def _edited(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {str(v).replace('_', ' ')}" for k, v in value.items()) or "none"
    return "none" if value in (None, "") else str(value)


def _fields(incident: Incident, policy: SeverityPolicy) -> list[dict[str, Any]]:
    level = policy.get(incident.severity)
    components = (
        "\n".join(f"{k}: {v.value.replace('_', ' ')}" for k, v in incident.components.items())
        or "none"
    )
    return [
        {"name": "Status", "value": incident.status.value, "inline": True},
        {"name": "Severity", "value": f"{level.key} ({level.label})", "inline": True},
        {"name": "Commander", "value": mention(incident.commander), "inline": True},
        {"name": "Components", "value": cut(components, FIELD_MAX), "inline": False},
    ]


def incident_embed(
    incident: Incident,
    event: Event,
    *,
    policy: SeverityPolicy = DEFAULT_POLICY,
    roles: RolePolicy = DEFAULT_ROLES,
    base_url: str = "",
) -> dict[str, Any]:
    """The embed for one event: what happened, plus the incident's current state.

    Colour by severity; fields for status, severity, commander and
    components; a link to the status page for public incidents only.
    """
    embed: dict[str, Any] = {
        "title": cut(f"{incident.ref}: {incident.title}", TITLE_MAX),
        "description": cut(event_summary(event, roles), DESCRIPTION_MAX),
        "color": color(incident, policy),
        "fields": _fields(incident, policy),
        "timestamp": iso(event.at),
        "footer": {
            "text": cut(
                f"{_KIND_LABEL.get(event.kind, event.kind.value)} · "
                f"{'public' if incident.public else 'private'} incident",
                2048,
            )
        },
    }
    url = status_page_url(incident, base_url) if base_url else None
    if url:
        embed["url"] = url
        embed["fields"].append({"name": "Status page", "value": url, "inline": False})
    return embed


def event_message(
    incident: Incident,
    event: Event,
    *,
    policy: SeverityPolicy = DEFAULT_POLICY,
    roles: RolePolicy = DEFAULT_ROLES,
    base_url: str = "",
) -> dict[str, Any]:
    """A message body (webhook execute / create message) carrying the event's embed.

    ``allowed_mentions`` is empty: user text never pings ``@everyone`` or a role.
    """
    return {
        "embeds": [incident_embed(incident, event, policy=policy, roles=roles, base_url=base_url)],
        "allowed_mentions": {"parse": []},
    }


def alert_message(
    incident: Incident, summary: AlertSummary, news: alertchat.AlertNews
) -> dict[str, Any]:
    """The incident's alert message (edited in place): repeat count, last occurrence, latest news."""
    return {
        "content": _cut_content(
            f"\N{BELL} **Alerts on {incident.ref}**: {alertchat.summary_line(summary)}\n"
            f"Latest: {alertchat.news_line(news)}"
        ),
        "allowed_mentions": {"parse": []},
    }


def alert_news(news: alertchat.AlertNews) -> dict[str, Any]:
    """One post saying what changed on an incident's alerts since the last one."""
    return {
        "content": _cut_content(f"\N{BELL} {alertchat.news_line(news)}"),
        "allowed_mentions": {"parse": []},
    }


def _cut_content(text: str) -> str:
    # Discord refuses message content over 2,000 characters.
    return text if len(text) <= 2000 else text[:1999] + "…"


def digest_message(
    incident: Incident,
    *,
    policy: SeverityPolicy = DEFAULT_POLICY,
    base_url: str = "",
    thread_id: str | None = None,
) -> dict[str, Any]:
    """The digest entry of an incident: its current state and its buttons.

    Acknowledge, Post update, Join (once there is a thread) and Publish or
    Unpublish, whichever changes the incident's visibility; on a second row
    (Discord allows five buttons a row) Edit… and, while the incident still
    counts (not closed as invalid or duplicate, as on Slack), Close….

    Posted once in the digest channel and edited on every change.
    """
    lines = [incident.description] if incident.description else []
    if thread_id:
        lines.append(f"Discussion: <#{thread_id}>")
    if incident.rca_url:
        lines.append(f"RCA: {incident.rca_url}")
    embed: dict[str, Any] = {
        "title": cut(f"{incident.ref}: {incident.title}", TITLE_MAX),
        "description": cut("\n".join(lines), DESCRIPTION_MAX),
        "color": color(incident, policy),
        "fields": _fields(incident, policy),
        "timestamp": iso(incident.last_update_at or incident.declared_at),
        "footer": {"text": "public incident" if incident.public else "private incident"},
    }
    url = status_page_url(incident, base_url) if base_url else None
    if url:
        embed["url"] = url
    if not embed["description"]:
        del embed["description"]
    buttons = [
        {
            "type": 2,
            "style": BUTTON_STYLE_PRIMARY,
            "label": "Acknowledge",
            "custom_id": f"{ACK_PREFIX}{incident.id}",
            "disabled": incident.acknowledged_at is not None or not incident.is_open,
        },
        {
            "type": 2,
            "style": BUTTON_STYLE_SECONDARY,
            "label": "Post update",
            "custom_id": f"{UPDATE_PREFIX}{incident.id}",
            "disabled": False,
        },
    ]
    if thread_id:
        buttons.append(
            {
                "type": 2,
                "style": BUTTON_STYLE_SECONDARY,
                "label": "Join",
                "custom_id": f"{JOIN_PREFIX}{incident.id}",
                "disabled": False,
            }
        )
    buttons.append(
        {
            "type": 2,
            "style": BUTTON_STYLE_SECONDARY,
            "label": "Unpublish" if incident.public else "Publish",
            "custom_id": f"{UNPUBLISH_PREFIX if incident.public else PUBLISH_PREFIX}{incident.id}",
            "disabled": False,
        }
    )
    return {
        "embeds": [embed],
        "components": [
            {"type": 1, "components": buttons},
            {"type": 1, "components": _record_buttons(incident)},
        ],
        "allowed_mentions": {"parse": []},
    }


def _record_buttons(incident: Incident) -> list[dict[str, Any]]:
    """Edit…, and Close… while the incident still counts: both open a form."""
    buttons = [
        {
            "type": 2,
            "style": BUTTON_STYLE_SECONDARY,
            "label": "Edit…",
            "custom_id": f"{EDIT_PREFIX}{incident.id}",
            "disabled": False,
        }
    ]
    if incident.counts:
        buttons.append(
            {
                "type": 2,
                "style": BUTTON_STYLE_SECONDARY,
                "label": "Close…",
                "custom_id": f"{CLOSE_PREFIX}{incident.id}",
                "disabled": False,
            }
        )
    return buttons


def origin_reply(incident: Incident, thread_id: str | None, message_id: str) -> dict[str, Any]:
    """The answer to a message an incident was declared from (react-to-create)."""
    where = f" — follow it in <#{thread_id}>" if thread_id else ""
    return {
        "content": cut(f"🚨 {incident.ref} declared from this message{where}", 2000),
        "message_reference": {"message_id": message_id, "fail_if_not_exists": False},
        "allowed_mentions": {"parse": [], "replied_user": False},
    }


def thread_name(incident: Incident) -> str:
    """The incident thread's name: ``INC-42 Checkout API returns 500s`` (≤ 100 characters)."""
    return cut(f"{incident.ref} {incident.title}", THREAD_NAME_MAX)


def reminder_message(incident: Incident, reminder: Reminder) -> dict[str, Any]:
    """A reminder posted in the incident thread; pings the commander when there is one."""
    commander = incident.commander
    ping = (
        f"<@{commander.id}> "
        if commander and commander.platform == "discord" and commander.id.isdigit()
        else ""
    )
    return {
        "content": cut(f"⏰ {ping}{reminder.message}", 2000),
        "allowed_mentions": {"users": [commander.id]} if ping and commander else {"parse": []},
    }


def role_dm(
    incident: Incident,
    role_name: str,
    description: str,
    *,
    policy: SeverityPolicy = DEFAULT_POLICY,
) -> dict[str, Any]:
    """The DM sent to someone who was given a role: what the role asks of them."""
    return {
        "embeds": [
            {
                "title": cut(f"You are {role_name} of {incident.ref}", TITLE_MAX),
                "description": cut(f"**{incident.title}**\n\n{description}", DESCRIPTION_MAX),
                "color": color(incident, policy),
            }
        ],
        "allowed_mentions": {"parse": []},
    }
