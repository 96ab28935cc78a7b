"""Block Kit for every message, modal and topic: pure functions of domain objects.

Nothing here talks to Slack. User text is escaped for mrkdwn (``&``, ``<``,
``>``) so a title like ``<!channel> down`` cannot ping anyone: in blocks, in
the top-level ``text`` (Slack renders it in notifications and where blocks
cannot be shown) and in channel topics alike.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from crashbot_core import alertchat
from crashbot_core.escalation import Page
from crashbot_core.models import (
    OPEN_STATUSES,
    Actor,
    AlertSummary,
    Component,
    Event,
    EventKind,
    Incident,
    Reminder,
    ReminderKind,
    Status,
)
from crashbot_core.roles import Role, RolePolicy
from crashbot_core.severity import SeverityPolicy

Blocks = list[dict[str, Any]]

#: action_ids of the digest buttons and callback_ids of the modals.
ACTION_JOIN = "crashbot_join"
ACTION_ACK = "crashbot_ack"
ACTION_UPDATE = "crashbot_post_update"
ACTION_PUBLISH = "crashbot_publish"
ACTION_UNPUBLISH = "crashbot_unpublish"
ACTION_EDIT = "crashbot_edit_record"
ACTION_CLOSE = "crashbot_close_record"
#: The Home tab's Declare and Record buttons (open the declare and record forms).
ACTION_HOME_DECLARE = "crashbot_home_declare"
ACTION_HOME_RECORD = "crashbot_home_record"
VIEW_DECLARE = "crashbot_declare"
VIEW_UPDATE = "crashbot_update"

#: Slack's limits: channel names, section text, topic.
MAX_CHANNEL_NAME = 80
MAX_SECTION = 3000
MAX_TOPIC = 250

STATUS_EMOJI = {
    Status.INVESTIGATING: ":mag:",
    Status.IDENTIFIED: ":bulb:",
    Status.MONITORING: ":eyes:",
    Status.RESOLVED: ":white_check_mark:",
}
SEVERITY_EMOJI = [
    ":red_circle:",
    ":large_orange_circle:",
    ":large_yellow_circle:",
    ":white_circle:",
]


def escape(text: str) -> str:
    """Escape user text for mrkdwn, as Slack documents (``&``, ``<``, ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str | None = None) -> str:
    """``<url|label>``, or ``<url>``, with the URL made inert.

    A stored URL such as ``https://x/><!channel>`` (valid to ``urlparse``)
    can neither close the link early nor bring its own label.
    """
    target = escape(url).replace("|", "%7C")
    return f"<{target}|{escape(label)}>" if label else f"<{target}>"


def _cut(text: str, limit: int = MAX_SECTION) -> str:
    if len(text) <= limit:
        return text
    # Never leave half an escape ("&am") behind: Slack would show it as typed.
    return re.sub(r"&[a-z]{0,3}$", "", text[: limit - 1]) + "…"


#: A Slack user id; anything else is shown as a name, never as markup.
_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{1,20}")


def mention(actor: Actor | None) -> str:
    """``<@U123>`` for Slack users, the escaped name for anyone else, ``—`` for nobody."""
    if actor is None:
        return "—"
    if actor.platform == "slack" and _SLACK_USER_ID.fullmatch(actor.id):
        return f"<@{actor.id}>"
    return escape(actor.display)


def slug(text: str) -> str:
    """Lower-case ASCII words joined by ``-`` (channel names allow ``a-z0-9-_``)."""
    # NFKD splits "é" into "e" + accent, so accented titles keep their letters.
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def channel_name(incident: Incident, prefix: str = "inc") -> str:
    """``inc-20260302-42-checkout-api-down``, at most 80 characters."""
    head = f"{slug(prefix) or 'inc'}-{incident.declared_at:%Y%m%d}-{incident.id}"
    tail = slug(incident.title)
    name = f"{head}-{tail}" if tail else head
    return name[:MAX_CHANNEL_NAME].rstrip("-")


def rca_channel_name(base: str, suffix: str = "rca") -> str:
    """The RCA channel beside an incident channel: ``…-rca``, still within 80 characters."""
    end = "-" + (slug(suffix) or "rca")
    return base[: MAX_CHANNEL_NAME - len(end)].rstrip("-") + end


def suffixed(name: str, n: int) -> str:
    """``name-2``, ``name-3`` … for a taken channel name, within 80 characters."""
    end = f"-{n}"
    return name[: MAX_CHANNEL_NAME - len(end)].rstrip("-") + end


def severity_text(key: str, policy: SeverityPolicy) -> str:
    """``:red_circle: SEV1 (Critical)``."""
    level = policy.get(key)
    emoji = SEVERITY_EMOJI[min(level.rank, len(SEVERITY_EMOJI) - 1)]
    label = f" ({level.label})" if level.label and level.label != key else ""
    return f"{emoji} {key}{label}"


def status_text(status: Status) -> str:
    """``:mag: Investigating``."""
    return f"{STATUS_EMOJI[status]} {status.value.capitalize()}"


def topic(incident: Incident, policy: SeverityPolicy) -> str:
    """Incident channel topic: status, severity, commander."""
    level = policy.get(incident.severity)
    commander = escape(incident.commander.display) if incident.commander else "unassigned"
    text = (
        f"{incident.ref} | {incident.status.value.capitalize()} | {incident.severity}"
        f" {escape(level.label)} | Commander: {commander} | {escape(incident.title)}"
    )
    return _cut(text, MAX_TOPIC)


def _ts(at: datetime | None) -> str:
    if at is None:
        return "—"
    # Slack renders <!date^…> in the reader's own time zone, with a UTC fallback.
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{at:%Y-%m-%d %H:%M} UTC>"


def digest(
    incident: Incident,
    policy: SeverityPolicy,
    *,
    channel_id: str | None = None,
    status_url: str | None = None,
) -> tuple[str, Blocks]:
    """The digest message: fallback text and blocks, with buttons while open."""
    title = escape(incident.title)
    head = f"{incident.ref}: {title}"
    if not incident.is_open:
        head = f":white_check_mark: Resolved — {head}"
    fields = [
        f"*Status*\n{status_text(incident.status)}",
        f"*Severity*\n{severity_text(incident.severity, policy)}",
        f"*Commander*\n{mention(incident.commander)}",
        f"*Channel*\n<#{channel_id}>" if channel_id else "*Channel*\n—",
        f"*Declared*\n{_ts(incident.declared_at)}",
        f"*Acknowledged*\n{_ts(incident.acknowledged_at)}",
    ]
    if incident.resolved_at:
        fields.append(f"*Resolved*\n{_ts(incident.resolved_at)}")
    if incident.rca_url:
        fields.append(f"*RCA*\n{link(incident.rca_url, 'postmortem')}")
    blocks: Blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(f"*{head}*")}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields[:10]]},
    ]
    if incident.description:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _cut(escape(incident.description))},
            }
        )
    context = [f"{'Public' if incident.public else 'Private'} incident"]
    if status_url and incident.public:
        context.append(link(status_url, "status page"))
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]}
    )
    if incident.is_open:
        value = str(incident.id)
        buttons: list[dict[str, Any]] = []
        if channel_id:
            buttons.append(_button("Join", ACTION_JOIN, value))
        if incident.acknowledged_at is None:
            buttons.append(_button("Acknowledge", ACTION_ACK, value, style="primary"))
        buttons.append(_button("Post update", ACTION_UPDATE, value))
        buttons += _record_buttons(incident)
        buttons.append(_visibility_button(incident))
        blocks.append({"type": "actions", "block_id": "crashbot_digest", "elements": buttons})
    else:
        # The record is corrected after the fact too (times, components, how it ended).
        blocks.append(
            {
                "type": "actions",
                "block_id": "crashbot_digest",
                "elements": _record_buttons(incident),
            }
        )
    text = f"{incident.ref} {incident.status.value} {incident.severity}: {title}"
    return text, blocks


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _record_buttons(incident: Incident) -> list[dict[str, Any]]:
    """Edit, and Close… while the incident still counts (not closed as invalid or duplicate)."""
    value = str(incident.id)
    buttons = [_button("Edit", ACTION_EDIT, value)]
    if incident.counts:
        buttons.append(_button("Close…", ACTION_CLOSE, value))
    return buttons


def _visibility_button(incident: Incident) -> dict[str, Any]:
    """Publish (with a confirmation: the whole world will see it) or Unpublish."""
    value = str(incident.id)
    if incident.public:
        return _button("Unpublish", ACTION_UNPUBLISH, value)
    button = _button("Publish", ACTION_PUBLISH, value)
    button["confirm"] = {
        "title": _plain(f"Publish {incident.ref}?"[:100]),
        "text": {
            "type": "mrkdwn",
            "text": _cut(
                f"*{escape(incident.title)}* will be shown on the public status page, "
                "with the standard first update. Internal updates stay internal.",
                300,
            ),
        },
        "confirm": _plain("Publish"),
        "deny": _plain("Cancel"),
    }
    return button


def _section(text: str) -> Blocks:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": _cut(text)}}]


def intro(
    incident: Incident, policy: SeverityPolicy, *, comms_channel: str | None = None
) -> tuple[str, Blocks]:
    """First message in a new incident channel (with a link to the comms channel, if any)."""
    who = mention(incident.declared_by)
    lines = [
        f":rotating_light: *{incident.ref}: {escape(incident.title)}* declared by {who}",
        f"Severity {severity_text(incident.severity, policy)} · {status_text(incident.status)}",
    ]
    if incident.description:
        lines.append(f">{escape(incident.description)}".replace("\n", "\n>"))
    if comms_channel:
        lines.append(f":speech_balloon: Customer-facing coordination: <#{comms_channel}>")
    lines.append(
        "Take a role with `/incident role ic @you`; post updates with `/incident update …`."
    )
    text = "\n".join(lines)
    return f"{incident.ref} declared: {escape(incident.title)}", _section(text)


def comms_channel_name(base: str) -> str:
    """The comms channel beside an incident channel: ``…-comms``, within 80 characters."""
    return rca_channel_name(base, "comms")


def comms_intro(incident: Incident, incident_channel: str) -> tuple[str, Blocks]:
    """First message in the comms channel: what it is for, where the responders are."""
    visibility = (
        "It is on the public status page."
        if incident.public
        else "It is not on the public status page: `/incident publish [message]` shows it."
    )
    text = (
        f":speech_balloon: Customer-facing coordination for *{incident.ref}: "
        f"{escape(incident.title)}*. The responders work in <#{incident_channel}>.\n"
        f"{visibility} Public updates: `/incident update --public …` here."
    )
    return f"Customer-facing coordination for {incident.ref}", _section(text)


def alert_message(
    incident: Incident, summary: AlertSummary, news: alertchat.AlertNews
) -> tuple[str, Blocks]:
    """The incident's alert message (edited in place): repeat count, last occurrence, latest news."""
    text = (
        f":bell: *Alerts on {escape(incident.ref)}*: {escape(alertchat.summary_line(summary))}"
        f"\nLatest: {escape(alertchat.news_line(news))}"
    )
    return text, _section(text)


def alert_news(news: alertchat.AlertNews) -> tuple[str, Blocks]:
    """One post saying what changed on the incident's alerts since the last one."""
    text = f":bell: {escape(alertchat.news_line(news))}"
    return text, _section(text)


def event_message(
    incident: Incident, event: Event, policy: SeverityPolicy, roles: RolePolicy
) -> tuple[str, Blocks] | None:
    """The incident-channel message for an event, or None when the event posts nothing."""
    who = mention(event.actor)
    d = event.data
    kind = event.kind
    text: str
    if kind is EventKind.ACKNOWLEDGED:
        text = f":raising_hand: {who} acknowledged {incident.ref}"
    elif kind is EventKind.STATUS_CHANGED:
        text = f"{who} set the status to *{status_text(Status(d['to']))}* (was {d['from']})"
    elif kind is EventKind.SEVERITY_CHANGED:
        text = f"{who} changed the severity to *{severity_text(d['to'], policy)}* (was {d['from']})"
    elif kind is EventKind.UPDATE_POSTED:
        scope = ":loudspeaker: Public update" if event.public else ":memo: Update"
        status = f" · {status_text(Status(d['status']))}" if d.get("status") else ""
        text = f"{scope} from {who}{status}\n{_quote(d.get('message', ''))}"
    elif kind is EventKind.ROLE_ASSIGNED:
        role = roles.get(d["role"])
        user = Actor(**d["user"])
        text = f"{mention(user)} is now *{escape(role.name)}* (assigned by {who})"
    elif kind is EventKind.ROLE_UNASSIGNED:
        role = roles.get(d["role"])
        text = f"{mention(Actor(**d['user']))} is no longer {escape(role.name)} ({who})"
    elif kind is EventKind.COMPONENTS_CHANGED:
        comps = ", ".join(f"{k} ({v.replace('_', ' ')})" for k, v in d.get("to", {}).items())
        text = f"{who} set the affected components: {escape(comps) or 'none'}"
    elif kind is EventKind.RESOLVED:
        text = f":white_check_mark: {who} resolved {incident.ref}"
        if d.get("message"):
            text += f"\n{_quote(d['message'])}"
        level = policy.get(incident.severity)
        if level.postmortem.value == "required":
            text += "\nA postmortem is required: link it with `/incident rca URL`."
    elif kind is EventKind.REOPENED:
        text = f":leftwards_arrow_with_hook: {who} reopened {incident.ref}"
        if d.get("message"):
            text += f"\n{_quote(d['message'])}"
    elif kind is EventKind.RCA_LINKED:
        text = f":page_facing_up: {who} linked the RCA: {link(str(d['url']))}"
    elif kind is EventKind.ALERT_ATTACHED:
        text = f":bell: Alert {d.get('status', '')} from {escape(str(d.get('source', '')))}: {escape(str(d.get('title', '')))}"
    elif kind is EventKind.FOLLOW_UP_ADDED:
        text = f":pushpin: {who} added a follow-up: {escape(d.get('title', ''))}"
    elif kind is EventKind.FOLLOW_UP_DONE:
        text = f":ballot_box_with_check: {who} completed follow-up: {escape(d.get('title', ''))}"
    elif kind is EventKind.POSTMORTEM_EXPORTED:
        where = d.get("url") or d.get("location") or ""
        text = f":page_facing_up: Postmortem exported: {escape(str(where))}"
    elif kind is EventKind.VISIBILITY_CHANGED:
        shown = d.get("to") == "public"
        text = (
            f":globe_with_meridians: {who} published this incident on the status page"
            if shown
            else f":lock: {who} took this incident off the status page"
        )
    elif kind is EventKind.CLOSED:
        if d.get("resolution") == "duplicate":
            text = (
                f":twisted_rightwards_arrows: {who} closed {incident.ref} as a duplicate of "
                f"{escape(str(d.get('original_ref', '')))}; its alerts and follow-ups moved "
                "there and this channel is archived"
            )
        else:
            text = f":no_entry_sign: {who} closed {incident.ref} as invalid"
        if d.get("message"):
            text += f"\n{_quote(d['message'])}"
    elif kind is EventKind.MERGED:
        text = (
            f":twisted_rightwards_arrows: {who} merged {escape(str(d.get('duplicate_ref', '')))} "
            f"({escape(str(d.get('title', '')))}) into {incident.ref}: "
            f"{d.get('alerts', 0)} alerts and {d.get('follow_ups', 0)} follow-ups moved here"
        )
    elif kind is EventKind.EDITED:
        text = (
            f":pencil2: {who} corrected the {escape(str(d.get('field', '')).replace('_', ' '))}: "
            f"{escape(_edited(d.get('from')))} → {escape(_edited(d.get('to')))}"
        )
    else:
        # declared (the intro covers it), recorded (the digest line covers it) and
        # reminder_sent (the reminder hook posts it)
        return None
    # Only our own bold markers go: "_" is in emoji names and in user text.
    fallback = text.split("\n", 1)[0].replace("*", "")
    return fallback, _section(text)


def _edited(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} ({str(v).replace('_', ' ')})" for k, v in value.items()) or "none"
    return "none" if value in (None, "") else str(value)


def _quote(text: str) -> str:
    return ">" + escape(text).replace("\n", "\n>") if text else ""


def role_dm(incident: Incident, role: Role, channel_id: str | None) -> tuple[str, Blocks]:
    """The DM to someone who was given a role."""
    where = f" in <#{channel_id}>" if channel_id else ""
    text = (
        f"You are now *{escape(role.name)}* for *{incident.ref}: {escape(incident.title)}*{where}.\n"
        f"{escape(role.description)}"
    )
    return f"You are now {escape(role.name)} for {incident.ref}", _section(text)


def rca_intro(
    incident: Incident, people: Sequence[Actor], incident_channel: str | None
) -> tuple[str, Blocks]:
    """First message in the RCA channel."""
    names = ", ".join(mention(p) for p in people) or "the responders"
    source = f" (incident channel <#{incident_channel}>)" if incident_channel else ""
    text = (
        f":page_facing_up: RCA for *{incident.ref}: {escape(incident.title)}*{source}.\n"
        f"{names}: write up what happened, why, and what we change. "
        "When it is published, link it with `/incident rca URL` here."
    )
    return f"RCA for {incident.ref}", _section(text)


def reminder_message(
    incident: Incident, reminder: Reminder, *, escalation_mention: str = "<!here>"
) -> tuple[str, Blocks]:
    """A reminder in the incident channel; an escalation pings ``escalation_mention``."""
    icon = {
        ReminderKind.UPDATE_OVERDUE: ":hourglass_flowing_sand:",
        ReminderKind.UNACKNOWLEDGED: ":rotating_light:",
        ReminderKind.STALE: ":spider_web:",
        ReminderKind.MISSING_RCA: ":page_facing_up:",
        ReminderKind.FOLLOW_UP_OVERDUE: ":spiral_calendar_pad:",
    }[reminder.kind]
    text = f"{icon} {escape(reminder.message)}"
    if reminder.kind is ReminderKind.UNACKNOWLEDGED:
        # The mention is configuration, not user text: it must stay unescaped to ping.
        text = f"{escalation_mention} {text}\nAcknowledge with `/incident ack` or take command with `/incident role ic @you`."
    elif reminder.kind is ReminderKind.UPDATE_OVERDUE:
        text += "\nPost one with `/incident update …`."
    elif reminder.kind is ReminderKind.MISSING_RCA:
        text += "\nLink it with `/incident rca URL`."
    return escape(reminder.message), _section(text)


def page_message(
    incident: Incident, page: Page, *, escalation_mention: str = "<!here>"
) -> tuple[str, Blocks] | None:
    """An escalation step in the incident channel; None when it has nobody in Slack to ping.

    A ``notify`` step pings ``escalation_mention``; a ``page`` step mentions
    the on-call target's Slack user (``<@U…>``) or user group (``<!subteam^S…>``).
    """
    if page.action == "notify":
        who = escalation_mention
    elif page.oncall is not None and page.oncall.slack:
        slack_id = page.oncall.slack
        who = f"<!subteam^{slack_id}>" if slack_id.startswith("S") else f"<@{slack_id}>"
    else:
        return None
    # The mention is configuration, not user text: it must stay unescaped to ping.
    text = (
        f"{who} :rotating_light: {escape(page.message)}\n"
        "Acknowledge with `/incident ack` or take command with `/incident role ic @you`; "
        "the escalation stops there."
    )
    return escape(page.message), _section(text)


#: The Home tab lists at most this many open incidents (a view holds at most 100 blocks).
MAX_HOME_INCIDENTS = 40
#: … and at most this many under "Your roles".
MAX_HOME_MINE = 20


def _holds(incident: Incident, user_id: str) -> list[str]:
    """Keys of the roles the Slack user ``user_id`` holds in ``incident``."""
    return [
        key
        for key, actor in incident.roles.items()
        if actor.platform == "slack" and actor.id == user_id
    ]


def _home_incident(
    incident: Incident, policy: SeverityPolicy, roles: RolePolicy, channel_id: str | None
) -> dict[str, Any]:
    lock = " :lock:" if not incident.public else ""
    where = f" · <#{channel_id}>" if channel_id else ""
    held = [
        f"{escape(roles.get(key).name)}: {mention(actor)}" for key, actor in incident.roles.items()
    ]
    lines = [
        f"*{incident.ref}: {escape(incident.title)}*{lock}",
        f"{severity_text(incident.severity, policy)} · {status_text(incident.status)}{where}",
        " · ".join(held) if held else "_No roles taken yet_",
    ]
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut("\n".join(lines))}}


def home_view(
    incidents: Sequence[Incident],
    user_id: str,
    policy: SeverityPolicy,
    roles: RolePolicy,
    *,
    channels: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """The App Home tab for ``user_id``: Declare and Record buttons, their roles, every open incident.

    :param incidents: the open incidents, in the order to show them.
    :param channels: incident id → its Slack channel id, for links.
    """
    channels = channels or {}
    blocks: Blocks = [
        {"type": "header", "text": _plain("Incidents")},
        {
            "type": "actions",
            "block_id": "crashbot_home",
            "elements": [
                _button("Declare an incident", ACTION_HOME_DECLARE, "declare", "danger"),
                _button("Record a past incident", ACTION_HOME_RECORD, "record"),
            ],
        },
        {"type": "header", "text": _plain("Your roles")},
    ]
    mine = [(inc, _holds(inc, user_id)) for inc in incidents]
    mine = [(inc, keys) for inc, keys in mine if keys]
    for inc, keys in mine[:MAX_HOME_MINE]:
        names = ", ".join(escape(roles.get(k).name) for k in keys)
        where = f" · <#{channels[inc.id]}>" if inc.id in channels else ""
        text = f"*{inc.ref}: {escape(inc.title)}* — you are {names}{where}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(text)}})
    if not mine:
        blocks.append(_context("You hold no role in an open incident."))
    elif len(mine) > MAX_HOME_MINE:
        blocks.append(_context(f"… and {len(mine) - MAX_HOME_MINE} more."))
    blocks.append({"type": "divider"})
    blocks.append({"type": "header", "text": _plain(f"Open incidents ({len(incidents)})")})
    for inc in incidents[:MAX_HOME_INCIDENTS]:
        blocks.append(_home_incident(inc, policy, roles, channels.get(inc.id)))
    if not incidents:
        blocks.append(_context("No open incidents. :sunny:"))
    elif len(incidents) > MAX_HOME_INCIDENTS:
        more = len(incidents) - MAX_HOME_INCIDENTS
        blocks.append(_context(f"… and {more} older ones (`crashbot list --open` lists them all)."))
    return {"type": "home", "callback_id": "crashbot_home", "blocks": blocks}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text)}]}


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text[:75]}, "value": value}


def _severity_options(policy: SeverityPolicy) -> list[dict[str, Any]]:
    return [_option(f"{lv.key} — {lv.label}", lv.key) for lv in policy.levels]


def declare_modal(
    policy: SeverityPolicy,
    components: Sequence[Component],
    *,
    title: str = "",
    severity: str | None = None,
    description: str = "",
    private_metadata: str = "",
) -> dict[str, Any]:
    """The declare form: title, description, severity, public, components."""
    level = policy.get(severity) if severity else policy.default_level
    sev_select: dict[str, Any] = {
        "type": "static_select",
        "action_id": "value",
        "options": _severity_options(policy),
        "initial_option": _option(f"{level.key} — {level.label}", level.key),
    }
    title_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "max_length": 200,
    }
    if title:
        title_input["initial_value"] = title[:200]
    desc_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": True,
    }
    if description:
        desc_input["initial_value"] = description[:3000]
    blocks: Blocks = [
        {"type": "input", "block_id": "title", "label": _plain("Title"), "element": title_input},
        {
            "type": "input",
            "block_id": "description",
            "optional": True,
            "label": _plain("Description"),
            "element": desc_input,
        },
        {
            "type": "input",
            "block_id": "severity",
            "label": _plain("Severity"),
            "element": sev_select,
        },
        {
            "type": "input",
            "block_id": "public",
            "optional": True,
            "label": _plain("Visibility"),
            "element": {
                "type": "checkboxes",
                "action_id": "value",
                "options": [_option("Show on the public status page", "public")],
            },
        },
    ]
    if components:
        blocks.append(
            {
                "type": "input",
                "block_id": "components",
                "optional": True,
                "label": _plain("Affected components"),
                "element": {
                    "type": "multi_static_select",
                    "action_id": "value",
                    "options": [_option(c.display, c.key) for c in components][:100],
                },
            }
        )
    return {
        "type": "modal",
        "callback_id": VIEW_DECLARE,
        "title": _plain("Declare an incident"),
        "submit": _plain("Declare"),
        "close": _plain("Cancel"),
        "private_metadata": private_metadata,
        "blocks": blocks,
    }


def update_modal(incident: Incident, policy: SeverityPolicy) -> dict[str, Any]:
    """The update form: status, severity, message, public."""
    statuses = [*OPEN_STATUSES, Status.RESOLVED] if incident.is_open else [Status.RESOLVED]
    level = policy.get(incident.severity)
    blocks: Blocks = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _cut(f"*{incident.ref}: {escape(incident.title)}*")},
        },
        {
            "type": "input",
            "block_id": "status",
            "label": _plain("Status"),
            "element": {
                "type": "static_select",
                "action_id": "value",
                "options": [_option(s.value.capitalize(), s.value) for s in statuses],
                "initial_option": _option(
                    incident.status.value.capitalize(), incident.status.value
                ),
            },
        },
        {
            "type": "input",
            "block_id": "severity",
            "label": _plain("Severity"),
            "element": {
                "type": "static_select",
                "action_id": "value",
                "options": _severity_options(policy),
                "initial_option": _option(f"{level.key} — {level.label}", level.key),
            },
        },
        {
            "type": "input",
            "block_id": "message",
            "optional": True,
            "label": _plain("Message"),
            "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
        },
        {
            "type": "input",
            "block_id": "public",
            "optional": True,
            "label": _plain("Visibility"),
            "element": {
                "type": "checkboxes",
                "action_id": "value",
                "options": [_option("Post this message on the public status page", "public")],
            },
        },
    ]
    return {
        "type": "modal",
        "callback_id": VIEW_UPDATE,
        "title": _plain(f"Update {incident.ref}"[:24]),
        "submit": _plain("Post"),
        "close": _plain("Cancel"),
        "private_metadata": str(incident.id),
        "blocks": blocks,
    }


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def read_view(values: dict[str, Any]) -> dict[str, Any]:
    """Flatten a submitted view's ``state.values`` to ``{block_id: value}``.

    Text inputs give a string (or None), selects the option value,
    multi-selects and checkboxes a list of values, a date-time picker its
    epoch seconds (or None).
    """
    out: dict[str, Any] = {}
    for block_id, actions in (values or {}).items():
        for element in (actions or {}).values():
            if not isinstance(element, dict):
                continue
            kind = element.get("type")
            if kind in {"static_select", "external_select", "radio_buttons"}:
                opt = element.get("selected_option") or {}
                out[block_id] = opt.get("value")
            elif kind in {"multi_static_select", "checkboxes", "multi_external_select"}:
                out[block_id] = [o.get("value") for o in element.get("selected_options") or []]
            elif kind == "users_select":
                out[block_id] = element.get("selected_user")
            elif kind == "datetimepicker":
                out[block_id] = element.get("selected_date_time")
            else:
                out[block_id] = element.get("value")
    return out
