"""The mails themselves: rendered from Jinja2 templates, multipart text and HTML.

HTML templates are autoescaped, so a title or update text can carry no
markup into a mail; subjects are flattened to one line by
:func:`crashbot_email.transport.build`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import jinja2
from attrs import field, frozen

from crashbot_core.models import OutboundMessage, Subscriber, SubscriberKind
from crashbot_email import links
from crashbot_email.settings import EmailSettings

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("crashbot_email", "templates"),
    autoescape=jinja2.select_autoescape(["html", "html.j2"]),
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)

#: What a notice announces (``Notice.kind``) → the words that open its subject.
HEADLINES = {
    "incident_created": "New incident",
    "incident_updated": "Update",
    "incident_resolved": "Resolved",
    "maintenance_scheduled": "Scheduled maintenance",
    "maintenance_started": "Maintenance in progress",
    "maintenance_completed": "Maintenance completed",
}


@frozen
class Notice:
    """One public piece of news for subscribers: an incident update or a maintenance step.

    Built only from public data (see :mod:`crashbot_email.fanout`); every
    subscriber gets each ``key`` once.
    """

    #: Unique per update, e.g. ``incident:42:event:317`` or ``maintenance:7:started``.
    key: str
    #: One of :data:`HEADLINES`.
    kind: str = field()
    title: str
    body: str
    at: datetime
    #: The public page to follow it on.
    url: str
    #: Component keys it concerns (subscribers filter by them; empty: everyone).
    components: tuple[str, ...] = ()
    #: Their display names, for the mail.
    component_names: tuple[str, ...] = ()
    #: ``investigating`` … ``resolved``, ``scheduled`` …; "" when none applies.
    status: str = ""
    #: What webhook subscribers receive (Statuspage's shape); None: e-mail only.
    webhook: dict[str, Any] | None = None
    #: False: webhook subscribers only (Statuspage's component updates).
    mail: bool = True

    @kind.validator
    def _known(self, _: Any, value: str) -> None:
        if value not in HEADLINES:
            raise ValueError(f"unknown notice kind {value!r}; expected one of {sorted(HEADLINES)}")

    @property
    def headline(self) -> str:
        """The words before the title in the subject."""
        return HEADLINES[self.kind]


@frozen
class MailContext:
    """What every subscriber mail needs: the settings, the page name and where links point."""

    settings: EmailSettings
    page_name: str
    base_url: str

    @property
    def secret(self) -> str:
        """The link-signing key (subscriptions are off without one)."""
        return self.settings.secret or ""

    def url(self, purpose: str, subscriber: Subscriber, *, now: datetime | None = None) -> str:
        """A signed link of ``purpose`` for ``subscriber`` (confirm links expire)."""
        expires = None
        if purpose == links.CONFIRM and now is not None:
            expires = now + timedelta(hours=self.settings.confirm_hours)
        token = links.sign(self.secret, purpose, subscriber.id, expires=expires)
        return f"{self.base_url}/subscriptions/{purpose}/{token}"

    def footer(self, subscriber: Subscriber) -> dict[str, str]:
        """Manage and unsubscribe links."""
        return {
            "manage_url": self.url(links.MANAGE, subscriber),
            "unsubscribe_url": self.url(links.UNSUBSCRIBE, subscriber),
        }

    def list_headers(self, subscriber: Subscriber) -> dict[str, str]:
        """RFC 2369 / RFC 8058 headers: one POST to the URL unsubscribes."""
        return {
            "List-Unsubscribe": f"<{self.url(links.UNSUBSCRIBE, subscriber)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }

    def _mail(
        self,
        key: str,
        subscriber: Subscriber,
        template: str,
        subject: str,
        now: datetime,
        **context: Any,
    ) -> OutboundMessage:
        footer = self.footer(subscriber)
        values = {"page_name": self.page_name, "subject": subject, **footer, **context}
        return OutboundMessage(
            key=key,
            kind=SubscriberKind.EMAIL,
            to=subscriber.address,
            subject=subject,
            text=_env.get_template(f"mail/{template}.txt.j2").render(values),
            html=_env.get_template(f"mail/{template}.html.j2").render(values),
            headers=self.list_headers(subscriber),
            created_at=now,
            subscriber_id=subscriber.id,
        )

    def confirmation(self, subscriber: Subscriber, now: datetime) -> OutboundMessage:
        """The double opt-in mail: a link to the confirm page."""
        return self._mail(
            f"confirm:{subscriber.id}:{int(now.timestamp() * 1000)}",
            subscriber,
            "confirm",
            f"Confirm your subscription to {self.page_name} status",
            now,
            address=subscriber.address,
            components=list(subscriber.components),
            confirm_url=self.url(links.CONFIRM, subscriber, now=now),
            confirm_hours=self.settings.confirm_hours,
            # The footer's links would work, but a mail nobody confirmed yet
            # should offer one thing only.
            manage_url="",
        )

    def already_subscribed(self, subscriber: Subscriber, now: datetime) -> OutboundMessage:
        """Sent when a subscribed address asks again: its manage link, nothing revealed on the page."""
        return self._mail(
            f"manage:{subscriber.id}:{int(now.timestamp() * 1000)}",
            subscriber,
            "manage",
            f"Your {self.page_name} status subscription",
            now,
            address=subscriber.address,
        )

    def notice(self, subscriber: Subscriber, notice: Notice, now: datetime) -> OutboundMessage:
        """The mail of ``notice`` for ``subscriber``, keyed (notice, subscriber)."""
        return self._mail(
            f"{notice.key}:{subscriber.id}",
            subscriber,
            "notice",
            f"[{self.page_name}] {notice.headline}: {notice.title}",
            now,
            notice=notice,
        )


def responder_text(incident: Any, what: str, message: str, url: str) -> str:
    """The plain-text body of a responder mail."""
    return _env.get_template("mail/responder.txt.j2").render(
        incident=incident, what=what, message=message, url=url
    )


def names(keys: Sequence[str], known: dict[str, str]) -> tuple[str, ...]:
    """Display names of component ``keys`` (the key when unknown)."""
    return tuple(known.get(k, k) for k in keys)
