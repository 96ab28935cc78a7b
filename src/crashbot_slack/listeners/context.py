"""What listeners share: finding the incident a request is about, and error replies."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from crashbot_core.errors import CrashbotError, InvalidInput
from crashbot_core.models import Actor, Incident
from crashbot_core.store import IncidentFilter
from crashbot_slack.notifier import REF_CHANNEL, REF_COMMS_CHANNEL, REF_RCA_CHANNEL
from crashbot_slack.render import escape

if TYPE_CHECKING:
    from crashbot_slack.runtime import SlackRuntime

log = logging.getLogger("crashbot.slack")

#: What a user sees when something unexpected broke (details go to the log).
OOPS = ":warning: Something went wrong on crashbot's side; nothing was lost. Try again in a moment."


def incident_in_channel(
    runtime: SlackRuntime, channel_id: str, channel_name: str = ""
) -> Incident | None:
    """The incident whose channel (or RCA or comms channel) this is, or None.

    The channel name carries the id (``inc-20260302-42-…``), so the usual case
    is one lookup; the refs must still match, so a look-alike name is ignored.
    """
    if not channel_id:
        return None
    prefix = re.escape(runtime.settings.channel_prefix)
    m = re.match(rf"^{prefix}-\d{{8}}-(\d+)(?:-|$)", channel_name or "")
    if m:
        found = runtime.crashbot.store.get_incident(int(m.group(1)))
        if found is not None and channel_id in _rooms(found):
            return found
        return None
    # A renamed channel, or a private one (Slack sends "privategroup" for its
    # name): look through the open incidents' refs. RCA channels of resolved
    # incidents keep their "…-rca" name and are found above.
    for inc in runtime.crashbot.list(IncidentFilter(open=True, limit=500)):
        if channel_id in _rooms(inc):
            return inc
    return None


def _rooms(incident: Incident) -> set[str]:
    """The Slack channels that belong to ``incident``: its own, RCA and comms channels."""
    refs = incident.refs
    return {
        c for c in (refs.get(k) for k in (REF_CHANNEL, REF_RCA_CHANNEL, REF_COMMS_CHANNEL)) if c
    }


def target_incident(
    runtime: SlackRuntime, ref: str | None, implied: Incident | None, command: str
) -> Incident:
    """The incident a command is about: the ref given, else the channel's incident.

    :raises CrashbotError: naming what to do instead.
    """
    if ref:
        return runtime.crashbot.get(ref)
    if implied is not None:
        return implied
    raise InvalidInput(
        "which incident? Run this in the incident's channel, or give its ref first, "
        f"e.g. `{command} update {runtime.crashbot.config.ref_prefix}-4 rolled back`"
    )


def request_actor(runtime: SlackRuntime, user: dict[str, Any]) -> Actor:
    """Who sent an interactivity request (``body["user"]``), named without calling Slack."""
    name = user.get("username") or user.get("name")
    return runtime.api.known_actor(str(user["id"]), str(name) if name else None)


#: Runs a piece of work after the ack (see :func:`after_ack`).
Later = Callable[[Callable[[], None]], None]


def after_ack(executor: Executor) -> Later:
    """Submit chat-only work (opening a modal, a confirmation) to ``executor``.

    Nothing submitted here changes an incident: every command is committed
    before its ack, so a process killed after the ack loses at most a
    confirmation or a form that did not open. bolt's lazy listeners would do
    the same, but deep-copy the whole request for each one; the closures here
    hold only what the work needs.
    """

    def later(work: Callable[[], None]) -> None:
        def run() -> None:
            try:
                work()
            except Exception:
                log.exception("Slack work after the ack failed")

        executor.submit(run)

    return later


def outcome(work: Callable[[], str]) -> str:
    """Run ``work`` (a service call, committed when it returns) for the ack's reply.

    Domain errors become the reply, escaped (messages quote what the user
    typed: "unknown severity '<!channel>'"); anything else is logged and
    answered with :data:`OOPS`, never a 500.
    """
    try:
        return work()
    except CrashbotError as exc:
        return f":warning: {escape(exc.message)}"
    except Exception:
        log.exception("Slack command failed")
        return OOPS


def guarded(reply: Callable[[str], Any], work: Callable[[], Any]) -> None:
    """Run ``work``; domain errors and surprises become an ephemeral reply, never a 500."""
    try:
        work()
    except CrashbotError as exc:
        # Messages quote what the user typed ("unknown severity '<!channel>'").
        reply(f":warning: {escape(exc.message)}")
    except Exception:
        log.exception("Slack listener failed")
        try:
            reply(OOPS)
        except Exception:
            log.exception("could not tell the user about the failure")
