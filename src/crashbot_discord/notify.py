"""Delivering incident events to Discord: webhooks, incident threads, digests, DMs.

Called from the ``crashbot_incident_event`` hook, after the incident is
saved. Anything raised here marks this plugin's delivery failed and the
worker retries it (a 429 raises ``RetryAfter`` so the retry waits as long as
Discord asked). A delivery is several posts (one per webhook route, the
thread, the digest, a DM); when one fails after others went through, the
finished steps are remembered on the incident (ref ``discord.done``) so the
retry does not post them twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from crashbot_core.models import Actor, Event, EventKind, Incident, Reminder
from crashbot_core.service import Crashbot
from crashbot_discord import render
from crashbot_discord.rest import DiscordHTTPError, DiscordRest
from crashbot_discord.settings import DiscordSettings, WebhookRoute

log = logging.getLogger("crashbot.discord")

#: Incident refs this plugin stores.
THREAD_REF = "discord.thread"
#: Label on an incident declared by reaction: ``CHANNEL_ID:MESSAGE_ID`` of the message.
MESSAGE_LABEL = "discord.message"
DIGEST_REF = "discord.digest_message"
DONE_REF = "discord.done"

#: Discord error codes: unknown message (deleted digest), cannot DM this user.
UNKNOWN_MESSAGE = 10008
CANNOT_DM_USER = 50007

_clients: dict[tuple[str, str | None, float], DiscordRest] = {}
_clients_lock = threading.Lock()


def rest_client(settings: DiscordSettings) -> DiscordRest:
    """A pooled REST client for these settings (one per base URL and token per process)."""
    key = (settings.api_base_url, settings.bot_token, settings.timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = DiscordRest(
                settings.api_base_url, settings.bot_token, timeout=settings.timeout
            )
            _clients[key] = client
        return client


def route_matches(route: WebhookRoute, incident: Incident, event: Event) -> bool:
    """Whether a webhook route wants this event (severity, kind, public-only filters)."""
    if route.public_only and not (incident.public and event.public):
        return False
    if route.severities and incident.severity not in route.severities:
        return False
    return not (route.kinds and event.kind.value not in route.kinds)


def _done_steps(refs: dict[str, str], event: Event) -> set[str]:
    value = refs.get(DONE_REF, "")
    event_id, _, names = value.partition(":")
    if event_id != str(event.id):
        return set()
    return {n for n in names.split(",") if n}


class DeliveryJob:
    """One event's delivery: named steps, each run once even across retries."""

    def __init__(self, crashbot: Crashbot, incident: Incident, event: Event) -> None:
        self.crashbot = crashbot
        self.incident = incident
        self.event = event
        # Refs as stored now: the incident handed to the hook may predate a
        # thread created while delivering an earlier event of the same command.
        self.refs = dict(crashbot.get(incident.id).refs)
        self.done = _done_steps(self.refs, event)
        self.finished: list[str] = []

    def step(self, name: str, action: Callable[[], None]) -> None:
        """Run ``action`` unless a previous attempt finished it; remember progress on failure."""
        if name in self.done:
            return
        try:
            action()
        except Exception:
            if self.finished:
                names = ",".join(sorted(self.done | set(self.finished)))
                self.crashbot.set_refs(self.incident.id, **{DONE_REF: f"{self.event.id}:{names}"})
            raise
        self.finished.append(name)

    def set_ref(self, key: str, value: str) -> None:
        """Store a Discord id on the incident (no event)."""
        self.crashbot.set_refs(self.incident.id, **{key: value})
        self.refs[key] = value


def deliver(
    crashbot: Crashbot, incident: Incident, event: Event, settings: DiscordSettings
) -> None:
    """Deliver one event to every configured Discord destination."""
    if not (settings.webhooks_enabled or settings.bot_enabled):
        return
    job = DeliveryJob(crashbot, incident, event)
    rest = rest_client(settings)
    base_url = crashbot.config.public_url
    policy = crashbot.policy
    message = render.event_message(
        incident, event, policy=policy, roles=crashbot.roles, base_url=base_url
    )

    def post_to(url: str) -> Callable[[], None]:
        return lambda: rest.execute_webhook(url, message)

    for i, route in enumerate(settings.routes()):
        if route_matches(route, incident, event):
            job.step(f"webhook{i}", post_to(route.url))

    if not settings.bot_enabled:
        return
    if settings.incidents_channel_id and event.kind is not EventKind.REMINDER_SENT:
        # Reminders reach the thread through crashbot_reminder, with a ping.
        job.step("thread", lambda: _post_in_thread(job, rest, settings, message))
        job.step("member", lambda: _add_to_thread(job, rest))
    if event.kind is EventKind.DECLARED and MESSAGE_LABEL in incident.labels:
        job.step("origin", lambda: _reply_to_origin(job, rest))
    if settings.digest_channel_id:
        job.step("digest", lambda: _refresh_digest(job, rest, settings))
    if (
        event.kind is EventKind.CLOSED
        and event.data.get("resolution") == "duplicate"
        and job.refs.get(THREAD_REF)
    ):
        # Merged: the story goes on in the original's thread.
        job.step("archive", lambda: rest.archive_thread(job.refs[THREAD_REF]))
    if event.kind is EventKind.ROLE_ASSIGNED and settings.dm_roles:
        job.step("dm", lambda: _dm_role(job, rest))


def _post_in_thread(
    job: DeliveryJob, rest: DiscordRest, settings: DiscordSettings, message: dict[str, Any]
) -> None:
    incident = job.incident
    thread_id = job.refs.get(THREAD_REF)
    if thread_id is None:
        level = job.crashbot.policy.get(incident.severity)
        # Old or closed incidents get no new thread; levels may opt out of one.
        if not incident.is_open or not level.channel:
            return
        # A private incident gets a private thread. Its privacy is the one it
        # was declared with (the declared event is public exactly when the
        # incident was), not a publish that happened before a retry got here.
        public = job.event.public if job.event.kind is EventKind.DECLARED else incident.public
        thread = rest.create_thread(
            settings.incidents_channel_id or 0, render.thread_name(incident), private=not public
        )
        thread_id = str(thread["id"])
        job.set_ref(THREAD_REF, thread_id)
    rest.create_message(thread_id, message)


def _discord_user_id(data: Any) -> str | None:
    """The Discord user id of an actor (or an event's ``user`` dict), if it is one."""
    if isinstance(data, Actor):
        platform, uid = data.platform, data.id
    elif isinstance(data, dict):
        platform, uid = str(data.get("platform", "")), str(data.get("id", ""))
    else:
        return None
    return uid if platform == "discord" and uid.isdigit() else None


def _add_to_thread(job: DeliveryJob, rest: DiscordRest) -> None:
    """Put the declarer (on declare) or the new role holder into the thread.

    A private thread is seen only by its members, and members of a public one
    follow it: as Slack invites them to the incident channel.
    """
    thread_id = job.refs.get(THREAD_REF)
    if thread_id is None:
        return
    event = job.event
    if event.kind is EventKind.DECLARED:
        user_id = _discord_user_id(job.incident.declared_by)
    elif event.kind is EventKind.ROLE_ASSIGNED:
        user_id = _discord_user_id(event.data.get("user"))
    else:
        return
    if user_id is not None:
        rest.add_thread_member(thread_id, user_id)


def _reply_to_origin(job: DeliveryJob, rest: DiscordRest) -> None:
    """Answer the message an incident was declared from (react-to-create), in its channel."""
    channel_id, _, message_id = job.incident.labels[MESSAGE_LABEL].partition(":")
    if not (channel_id.isdigit() and message_id.isdigit()):
        return
    payload = render.origin_reply(job.incident, job.refs.get(THREAD_REF), message_id)
    try:
        rest.create_message(channel_id, payload)
    except DiscordHTTPError as exc:
        # The message (or the bot's access to its channel) is gone: nothing to answer.
        if exc.status in (403, 404):
            log.info("could not answer the message %s was declared from: %s", job.incident.ref, exc)
            return
        raise


def _refresh_digest(job: DeliveryJob, rest: DiscordRest, settings: DiscordSettings) -> None:
    incident = job.incident
    channel = settings.digest_channel_id or 0
    payload = render.digest_message(
        incident,
        policy=job.crashbot.policy,
        base_url=job.crashbot.config.public_url,
        thread_id=job.refs.get(THREAD_REF),
    )
    message_id = job.refs.get(DIGEST_REF)
    if message_id is not None:
        try:
            rest.edit_message(channel, message_id, payload)
            return
        except DiscordHTTPError as exc:
            if exc.code != UNKNOWN_MESSAGE:
                raise
            log.info("digest message of %s was deleted; posting a new one", incident.ref)
    elif not incident.is_open and job.event.kind is not EventKind.RECORDED:
        # Old incidents get no digest, but one recorded after the fact gets its one line.
        return
    posted = rest.create_message(channel, payload)
    job.set_ref(DIGEST_REF, str(posted["id"]))


def _dm_role(job: DeliveryJob, rest: DiscordRest) -> None:
    user = job.event.data.get("user") or {}
    if user.get("platform") != "discord" or not str(user.get("id", "")).isdigit():
        return
    role = job.crashbot.roles.get(str(job.event.data.get("role")))
    payload = render.role_dm(job.incident, role.name, role.description, policy=job.crashbot.policy)
    try:
        channel = rest.open_dm(user["id"])
        rest.create_message(channel["id"], payload)
    except DiscordHTTPError as exc:
        # A user who closed their DMs stays closed: retrying would never succeed.
        if exc.status == 403 or exc.code == CANNOT_DM_USER:
            log.info("cannot DM %s about role %s: %s", user.get("id"), role.key, exc)
            return
        raise


def remind(
    crashbot: Crashbot, incident: Incident, reminder: Reminder, settings: DiscordSettings
) -> None:
    """Post a due reminder in the incident's thread (bot mode only).

    Webhook mode sees reminders as ``reminder_sent`` events instead. The
    reminder is already claimed, so a failure is logged, not raised.
    """
    if not settings.bot_enabled:
        return
    thread_id = crashbot.get(incident.id).refs.get(THREAD_REF)
    if thread_id is None:
        return
    try:
        rest_client(settings).create_message(thread_id, render.reminder_message(incident, reminder))
    except Exception as exc:
        log.warning("reminder %s for %s not posted: %s", reminder.key, incident.ref, exc)
