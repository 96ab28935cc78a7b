"""Outbound: turn timeline events and reminders into Slack channels and messages.

Runs inside ``crashbot_incident_event`` after the incident is saved, so a
Slack failure never loses it: an exception here becomes a failed delivery
the worker retries. Every step is idempotent on retry because what it
created is remembered in the incident's refs (``slack.channel``,
``slack.digest_ts`` …) before the next step runs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from slack_sdk.errors import SlackApiError

from crashbot_core.escalation import Page
from crashbot_core.models import Actor, Event, EventKind, Incident, Reminder, ReminderKind
from crashbot_slack import render
from crashbot_slack.api import SlackApi, error_code
from crashbot_slack.settings import SlackSettings

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot

log = logging.getLogger("crashbot.slack")

# Keys this plugin keeps in Incident.refs.
REF_CHANNEL = "slack.channel"
REF_CHANNEL_NAME = "slack.channel_name"
REF_INTRO = "slack.intro_ts"
REF_DIGEST_CHANNEL = "slack.digest_channel"
REF_DIGEST_TS = "slack.digest_ts"
REF_RCA_CHANNEL = "slack.rca_channel"
REF_COMMS_CHANNEL = "slack.comms_channel"
REF_COMMS_INTRO = "slack.comms_intro_ts"

#: Events after which the channel topic (status, severity, commander) changes.
_TOPIC_EVENTS = {
    EventKind.STATUS_CHANGED,
    EventKind.SEVERITY_CHANGED,
    EventKind.ROLE_ASSIGNED,
    EventKind.ROLE_UNASSIGNED,
    EventKind.RESOLVED,
    EventKind.REOPENED,
    EventKind.UPDATE_POSTED,
    EventKind.CLOSED,
    EventKind.EDITED,
}


class SlackNotifier:
    """Delivers events and reminders for one :class:`Crashbot` to one workspace."""

    def __init__(self, crashbot: Crashbot, settings: SlackSettings, api: SlackApi) -> None:
        self.crashbot = crashbot
        self.settings = settings
        self.api = api

    # ------------------------------------------------------------------ events

    def deliver(self, incident: Incident, event: Event) -> None:
        """Post the event, refresh the digest; on declare create the channel and digest."""
        # The hook's incident is as of the event; refs written by an earlier
        # step (or an earlier attempt) are only on the stored one.
        current = self.crashbot.get(incident.id)
        if event.kind is EventKind.DECLARED:
            # The room's privacy follows the incident as declared (the declared
            # event is public exactly when the incident was), not a publish
            # that may have happened before a retry got here.
            current = self._open_channel(current, private=not event.public)
            self._refresh_digest(current)
            return
        if event.kind is EventKind.REMINDER_SENT:
            return  # the crashbot_reminder hook already posted it
        if event.kind is EventKind.RECORDED:
            # A past incident recorded after the fact: one digest line, no channel.
            self._refresh_digest(current)
            return
        channel = current.refs.get(REF_CHANNEL)
        policy = self.crashbot.policy
        message = render.event_message(incident, event, policy, self.crashbot.roles)
        if channel and message is not None:
            self.api.post(channel, *message)
        if event.kind is EventKind.ROLE_ASSIGNED:
            self._welcome_role(current, event)
        if event.kind is EventKind.RESOLVED:
            current = self._open_rca_channel(current)
        if event.kind is EventKind.CLOSED and event.data.get("resolution") == "duplicate":
            if channel:
                self._archive(channel)
            self._refresh_digest(current)
            return
        if channel and event.kind in _TOPIC_EVENTS:
            self._set_topic(channel, current)
        self._refresh_digest(current)

    def _open_channel(self, incident: Incident, *, private: bool) -> Incident:
        level = self.crashbot.policy.get(incident.severity)
        channel = incident.refs.get(REF_CHANNEL)
        if channel is None:
            if not level.channel:
                return incident
            name = render.channel_name(incident, self.settings.channel_prefix)
            channel, used = self.api.create_channel(name, private=private)
            incident = self.crashbot.set_refs(
                incident.id, **{REF_CHANNEL: channel, REF_CHANNEL_NAME: used}
            )
        comms = incident.refs.get(REF_COMMS_CHANNEL)
        if comms is None and self.settings.comms_channel:
            base = incident.refs.get(REF_CHANNEL_NAME) or render.channel_name(
                incident, self.settings.channel_prefix
            )
            comms, _ = self.api.create_channel(render.comms_channel_name(base), private=private)
            incident = self.crashbot.set_refs(incident.id, **{REF_COMMS_CHANNEL: comms})
        self._set_topic(channel, incident)
        declarer = incident.declared_by
        if declarer is not None and declarer.platform == "slack":
            self.api.invite(channel, [declarer.id])
            if comms:
                self.api.invite(comms, [declarer.id])
        if REF_INTRO not in incident.refs:
            intro = render.intro(incident, self.crashbot.policy, comms_channel=comms)
            ts = self.api.post(channel, *intro)
            incident = self.crashbot.set_refs(incident.id, **{REF_INTRO: ts})
        if comms and REF_COMMS_INTRO not in incident.refs:
            ts = self.api.post(comms, *render.comms_intro(incident, channel))
            incident = self.crashbot.set_refs(incident.id, **{REF_COMMS_INTRO: ts})
        return incident

    def _archive(self, channel: str) -> None:
        """Archive a merged duplicate's channel (its story goes on in the original's)."""
        try:
            self.api.call("conversations.archive", channel=channel)
        except SlackApiError as exc:
            # Archived already (a retried delivery) is done; anything else is retried.
            if error_code(exc) != "already_archived":
                raise

    def _set_topic(self, channel: str, incident: Incident) -> None:
        try:
            self.api.call(
                "conversations.setTopic",
                channel=channel,
                topic=render.topic(incident, self.crashbot.policy),
            )
        except SlackApiError as exc:
            # A topic is cosmetic; an archived channel must not block deliveries.
            log.warning("setTopic on %s failed: %s", channel, error_code(exc))

    def _welcome_role(self, incident: Incident, event: Event) -> None:
        user = Actor(**event.data["user"])
        if user.platform != "slack":
            return
        role = self.crashbot.roles.get(event.data["role"])
        channel = incident.refs.get(REF_CHANNEL)
        if channel:
            self.api.invite(channel, [user.id])
        comms = incident.refs.get(REF_COMMS_CHANNEL)
        if comms and role.key == "communications":
            self.api.invite(comms, [user.id])
        self.api.post(user.id, *render.role_dm(incident, role, channel))

    def _open_rca_channel(self, incident: Incident) -> Incident:
        if REF_RCA_CHANNEL in incident.refs:
            return incident
        base = incident.refs.get(REF_CHANNEL_NAME) or render.channel_name(
            incident, self.settings.channel_prefix
        )
        name = render.rca_channel_name(base, self.settings.rca_suffix)
        # The write-up of a private incident stays as private as the incident.
        channel, _ = self.api.create_channel(name, private=not incident.public)
        incident = self.crashbot.set_refs(incident.id, **{REF_RCA_CHANNEL: channel})
        people = [
            a
            for a in (incident.roles.get("commander"), incident.roles.get("technical-lead"))
            if a is not None and a.platform == "slack"
        ]
        self.api.invite(channel, [p.id for p in people])
        self.api.post(channel, *render.rca_intro(incident, people, incident.refs.get(REF_CHANNEL)))
        return incident

    def digest_channel(self) -> str | None:
        """The digest channel's id, or None when none is configured or it does not exist."""
        name = self.settings.digest_channel
        if not name:
            return None
        channel = self.api.channel_id(name)
        if channel is None:
            log.warning("digest channel %r not found; skipping the digest", name)
        return channel

    def _refresh_digest(self, incident: Incident) -> None:
        text, blocks = render.digest(
            incident,
            self.crashbot.policy,
            channel_id=incident.refs.get(REF_CHANNEL),
            status_url=self._status_url(incident),
        )
        channel = incident.refs.get(REF_DIGEST_CHANNEL)
        ts = incident.refs.get(REF_DIGEST_TS)
        if channel and ts:
            try:
                self.api.call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks)
                return
            except SlackApiError as exc:
                if error_code(exc) not in {"message_not_found", "channel_not_found"}:
                    raise
                log.warning("digest message %s/%s is gone; posting a new one", channel, ts)
        channel = self.digest_channel()
        if channel is None:
            return
        ts = self.api.post(channel, text, blocks)
        self.crashbot.set_refs(incident.id, **{REF_DIGEST_CHANNEL: channel, REF_DIGEST_TS: ts})

    def _status_url(self, incident: Incident) -> str | None:
        base = self.crashbot.config.public_url
        host = urlparse(base).hostname or ""
        # No public URL, or a local address nobody in Slack can open.
        if host in {"", "127.0.0.1", "localhost", "::1", "0.0.0.0"}:
            return None
        return f"{base}/incidents/{incident.id}"

    # ------------------------------------------------------------------ escalation

    def page(self, incident: Incident, page: Page) -> None:
        """Post an escalation step in the incident channel (else the digest thread or channel)."""
        rendered = render.page_message(
            incident, page, escalation_mention=self.settings.escalation_mention
        )
        if rendered is None:
            return  # a page step whose target has no Slack user
        text, blocks = rendered
        refs = self.crashbot.get(incident.id).refs  # the channel may be newer than the step
        if refs.get(REF_CHANNEL):
            self.api.post(refs[REF_CHANNEL], text, blocks)
        elif refs.get(REF_DIGEST_CHANNEL) and refs.get(REF_DIGEST_TS):
            self.api.post(refs[REF_DIGEST_CHANNEL], text, blocks, thread_ts=refs[REF_DIGEST_TS])
        else:
            fallback = self.digest_channel()
            if fallback:
                self.api.post(fallback, text, blocks)

    # ------------------------------------------------------------------ reminders

    def remind(self, incident: Incident, reminder: Reminder) -> None:
        """Post a reminder where the responders are: the incident (or RCA) channel, else the digest thread."""
        text, blocks = render.reminder_message(
            incident, reminder, escalation_mention=self.settings.escalation_mention
        )
        refs = incident.refs
        channel = refs.get(REF_CHANNEL)
        # Postmortem work (the RCA, its follow-ups) happens in the RCA channel.
        postmortem = (ReminderKind.MISSING_RCA, ReminderKind.FOLLOW_UP_OVERDUE)
        if reminder.kind in postmortem and refs.get(REF_RCA_CHANNEL):
            channel = refs[REF_RCA_CHANNEL]
        if channel:
            self.api.post(channel, text, blocks)
            if reminder.kind is not ReminderKind.UNACKNOWLEDGED:
                return
        # No channel (or an escalation, which also goes where everyone watches):
        # reply in the digest message's thread.
        digest_channel = refs.get(REF_DIGEST_CHANNEL)
        digest_ts = refs.get(REF_DIGEST_TS)
        if digest_channel and digest_ts:
            self.api.post(digest_channel, text, blocks, thread_ts=digest_ts)
        elif not channel:
            fallback = self.digest_channel()
            if fallback:
                self.api.post(fallback, text, blocks)
