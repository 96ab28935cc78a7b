"""Hook specifications: everything a plugin can implement.

Implement a hook by decorating a function of the same name with
:data:`crashbot_core.hookimpl` in a module registered under the ``crashbot``
entry-point group. Arguments may be omitted from an implementation's
signature; pluggy passes only those it names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pluggy

if TYPE_CHECKING:
    import click

    from crashbot_core.config import Config
    from crashbot_core.escalation import Page
    from crashbot_core.models import (
        Alert,
        Event,
        FollowUp,
        Incident,
        Maintenance,
        MaintenanceUpdate,
        Reminder,
    )
    from crashbot_core.service import Crashbot
    from crashbot_core.store import Store

PROJECT_NAME = "crashbot"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: Attribute :func:`subscribed_when` sets on a hook implementation.
SUBSCRIBED_WHEN_ATTR = "crashbot_subscribed_when"

_F = TypeVar("_F", bound=Callable[..., Any])


def subscribed_when(predicate: Callable[[Crashbot], bool]) -> Callable[[_F], _F]:
    """Subscribe a ``crashbot_incident_event`` implementation only while ``predicate`` holds.

    Every implementation of ``crashbot_incident_event`` is a subscriber: each
    event gets a tracked delivery row for it, written in the event's
    transaction. A plugin that does nothing until it is configured (no token,
    no webhook) can say so, and events committed while ``predicate(crashbot)``
    is false record no delivery for it. Those events are never delivered to
    it later, as for a plugin installed after them. The predicate runs on
    every command, so keep it to reading settings. If it raises, the plugin
    stays subscribed: a delivery too many is cheaper than one lost.

    Use it under ``@hookimpl``::

        @hookimpl
        @subscribed_when(lambda crashbot: bool(settings_of(crashbot).token))
        def crashbot_incident_event(crashbot, incident, event): ...
    """

    def mark(function: _F) -> _F:
        setattr(function, SUBSCRIBED_WHEN_ATTR, predicate)
        return function

    return mark


class PostmortemExporter(Protocol):
    """What ``crashbot_postmortem_exporters`` returns: a named exporter."""

    #: Used in ``crashbot postmortem ID --to NAME``.
    name: str

    def export(
        self, incident: Incident, timeline: Sequence[Event], follow_ups: Sequence[FollowUp]
    ) -> str:
        """Publish the postmortem and return where it now lives (URL or file path)."""
        ...


class AlertSource(Protocol):
    """What ``crashbot_alert_sources`` returns: a named alert parser."""

    #: Used in ``POST /api/alerts/<name>``.
    name: str

    def verify(self, headers: dict[str, str], body: bytes, secret: str | None) -> bool:
        """True when the request is authentic (vendor signature), False otherwise."""
        ...

    def parse(self, headers: dict[str, str], body: bytes) -> list[Alert]:
        """Turn the vendor's payload into alerts; raise ``InvalidInput`` on a malformed body."""
        ...


# ---------------------------------------------------------------------------
# Storage
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def crashbot_open_store(config: Config) -> Store | None:
    """Open the store named by ``config.database_url``.

    Called once when a :class:`~crashbot_core.service.Crashbot` is built.
    Stops at the first non-None result, so a plugin returns None for URLs it
    does not handle.

    :param config: the loaded configuration.
    :returns: an object implementing :class:`crashbot_core.store.Store`, or None.
    """


# ---------------------------------------------------------------------------
# Notification
# ---------------------------------------------------------------------------


@hookspec
def crashbot_incident_event(crashbot: Crashbot, incident: Incident, event: Event) -> None:
    """Deliver one timeline event: post to chat, refresh a digest, send a DM, page.

    Called after the event's transaction committed, once per (event, plugin).
    Raising marks this plugin's delivery as failed; the worker retries it
    later with backoff. The incident itself is never rolled back. Raise
    :class:`crashbot_core.delivery.RetryAfter` to ask for a specific delay.
    An implementation must tolerate being called again for the same event
    (retries after a crash).

    :param crashbot: the service, for follow-up calls (e.g. ``set_refs``).
    :param incident: the incident as of this event.
    :param event: the event to deliver.
    """


@hookspec
def crashbot_reminder(crashbot: Crashbot, incident: Incident, reminder: Reminder) -> None:
    """Deliver a reminder that fell due (update nudge, escalation, stale, missing RCA, overdue follow-up).

    Called by the worker once per reminder occurrence across all workers.

    :param crashbot: the service.
    :param incident: the incident the reminder is about.
    :param reminder: what is due, with a ready-made ``message``.
    """


@hookspec
def crashbot_maintenance_event(
    crashbot: Crashbot, maintenance: Maintenance, update: MaintenanceUpdate
) -> None:
    """Hear of a maintenance's new public update: scheduled, updated, started, completed, cancelled.

    Called once per update, right after the transaction that saved it
    committed, in the process that saved it (a command, or the worker that
    started or completed it on time: exactly once across workers).
    ``update.status`` says what happened (``scheduled`` for the announcement,
    ``in_progress`` when it starts, ``completed``, ``cancelled``). The call
    is not retried and may be inside a request: queue slow work (mail, chat)
    in your own store or outbox and return at once. Raising is logged; the
    maintenance stays saved.

    :param crashbot: the service.
    :param maintenance: the maintenance as saved (its ``updates`` include ``update``).
    :param update: the new public update.
    """


@hookspec
def crashbot_page(crashbot: Crashbot, incident: Incident, page: Page) -> None:
    """Carry out one escalation step (``[escalation.KEY]``) that fell due.

    Called through the outbox, like ``crashbot_incident_event``: once per
    step across all workers, retried with backoff when it raises, and never
    after the incident was acknowledged or resolved. A ``notify`` step
    (``page.target == "channel"``) tells the incident's channel; a ``page``
    step pages ``page.oncall`` on every surface it has an address for (a
    Slack mention, a PagerDuty service, an Opsgenie team). An implementation
    does what its own surface can and ignores the rest; it must tolerate
    being called again for the same step (``page.key``). Mark it with
    :func:`subscribed_when` to get no delivery while it is not configured.

    :param crashbot: the service.
    :param incident: the incident being escalated, as of the step.
    :param page: the step: ``step``, ``action`` (``notify`` or ``page``),
        ``target``, ``oncall`` (the target's addresses), ``message``, ``key``.
    """


@hookspec
def crashbot_worker_round(crashbot: Crashbot) -> None:
    """Do a plugin's own queued work: send queued mails, call queued webhooks.

    Called by every worker (``crashbot worker``, the thread of ``crashbot
    serve``) on each round and whenever a commit wakes it. Any number of
    workers run at once, so lease what you take from the store. An exception
    is logged and the round goes on with the next plugin. Keep a round short
    (a rate limit per round, not a loop until the queue is empty).

    :param crashbot: the service.
    """


# ---------------------------------------------------------------------------
# Extension points collected from every plugin
# ---------------------------------------------------------------------------


@hookspec
def crashbot_postmortem_exporters() -> Sequence[PostmortemExporter]:
    """Offer postmortem exporters.

    Called when the service starts; results from all plugins are collected.

    :returns: exporters, each with a unique ``name`` and an ``export`` method.
    """
    raise AssertionError("hookspec")


@hookspec
def crashbot_alert_sources() -> Sequence[AlertSource]:
    """Offer alert sources for ``POST /api/alerts/<name>``.

    Called when the service starts; results from all plugins are collected.

    :returns: sources, each with a unique ``name``, ``verify`` and ``parse``.
    """
    raise AssertionError("hookspec")


@hookspec
def crashbot_config_sections() -> dict[str, type[Any]]:
    """Declare a plugin's own settings.

    Called while loading configuration. Each returned section name is a
    top-level table in ``crashbot.toml`` structured into the given attrs class
    (with ``forbid_extra_keys``). A field whose metadata has ``env`` is read
    from that environment variable when set.

    :returns: ``{"section": SettingsClass}``.
    """
    raise AssertionError("hookspec")


# ---------------------------------------------------------------------------
# Entry points: CLI and web
# ---------------------------------------------------------------------------


@hookspec
def crashbot_cli(group: click.Group) -> None:
    """Add subcommands to the ``crashbot`` command line.

    Called once when the CLI is built, before arguments are parsed.

    :param group: the top-level click group; call ``group.add_command``.
    """


@hookspec
def crashbot_web(app: Any, crashbot: Crashbot) -> None:
    """Mount routes on the status site's Flask app (e.g. Slack's ``/slack/events``).

    Called once by ``crashbot_status.create_app`` after its own routes exist.

    :param app: the ``flask.Flask`` application.
    :param crashbot: the service the app serves.
    """
