"""The email plugin, registered under the ``crashbot`` entry-point group.

Inert until ``CRASHBOT_SMTP_URL`` and ``CRASHBOT_MAIL_FROM`` are set: it
subscribes to the outbox only then. Subscriptions also need ``[email]
secret`` and the status site's public URL (links in mails are absolute).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crashbot_core.hookspecs import hookimpl, subscribed_when
from crashbot_core.models import Event, Incident, Maintenance, MaintenanceUpdate
from crashbot_email.settings import SECTION, EmailSettings, settings_of

if TYPE_CHECKING:
    import click

    from crashbot_core.service import Crashbot


@hookimpl
def crashbot_config_sections() -> dict[str, type[Any]]:
    """``[email]``; ``CRASHBOT_SMTP_URL``, ``CRASHBOT_MAIL_FROM`` and ``CRASHBOT_EMAIL_SECRET``
    override it."""
    return {SECTION: EmailSettings}


def subscriptions_on(crashbot: Crashbot) -> bool:
    """The status page takes subscriptions: relay, sender, secret and public URL are set."""
    return settings_of(crashbot).subscriptions_on and bool(crashbot.config.public_url)


def _configured(crashbot: Crashbot) -> bool:
    return settings_of(crashbot).can_send


@hookimpl
@subscribed_when(_configured)
def crashbot_incident_event(crashbot: Crashbot, incident: Incident, event: Event) -> None:
    """Mail the responders; queue subscriber mails and webhook calls for public news."""
    from crashbot_email import fanout, responder

    settings = settings_of(crashbot)
    if subscriptions_on(crashbot):
        # Queued first: it is idempotent, so a failing responder mail below
        # (retried with this delivery) cannot queue anything twice.
        for notice in fanout.notices_for_event(crashbot, incident, event):
            fanout.publish(crashbot, notice)
    responder.deliver(crashbot, settings, incident, event)


@hookimpl
def crashbot_maintenance_event(
    crashbot: Crashbot, maintenance: Maintenance, update: MaintenanceUpdate
) -> None:
    """Queue subscriber mails and webhook calls: maintenance scheduled, started, completed.

    Only queued here (one insert per subscriber, idempotent by step): the
    worker sends them, so a request that scheduled a maintenance never waits
    on SMTP.
    """
    if not _configured(crashbot) or not subscriptions_on(crashbot):
        return
    from crashbot_email import fanout

    notice = fanout.notice_for_maintenance(crashbot, maintenance, update)
    if notice is not None:
        fanout.publish(crashbot, notice)


@hookimpl
def crashbot_worker_round(crashbot: Crashbot) -> None:
    """Send the queued subscriber mails and webhook calls, up to ``[email] rate_limit``."""
    if not _configured(crashbot):
        return
    from crashbot_email.sender import send_round

    send_round(crashbot)


@hookimpl
def crashbot_web(app: Any, crashbot: Crashbot) -> None:
    """Mount the subscribe form's routes: subscribe, confirm, manage, one-click unsubscribe."""
    from crashbot_email.web import mount

    mount(app, crashbot)


@hookimpl
def crashbot_cli(group: click.Group) -> None:
    """Add ``crashbot subscribers list | export | import``."""
    from crashbot_email.cli import subscribers

    group.add_command(subscribers)
