"""``[email]``: the SMTP relay, the sender, responder mail and subscriber mail limits."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from attrs import define, field

from crashbot_core.config import env_field

#: Section name in crashbot.toml.
SECTION = "email"
#: URL schemes of ``CRASHBOT_SMTP_URL``.
SMTP_SCHEMES = ("smtp", "smtps", "smtp+starttls")


def _smtp_url(_: Any, attribute: Any, value: str | None) -> None:
    if not value:
        return
    parts = urlsplit(value)
    if parts.scheme not in SMTP_SCHEMES or not parts.hostname:
        raise ValueError(
            f"expected smtp://host:port, smtps://… or smtp+starttls://…, found {parts.scheme}://…"
        )


def _single_line(_: Any, attribute: Any, value: str | None) -> None:
    if value and ("\r" in value or "\n" in value):
        raise ValueError(f"{attribute.name} must be one line")


@define
class EmailSettings:
    """``[email]`` in crashbot.toml; the relay, sender and secret may come from the environment."""

    #: The relay: ``smtp://host:25`` (plain, a local relay), ``smtp+starttls://user:pw@host:587``
    #: or ``smtps://user:pw@host:465``; credentials percent-encoded in the URL.
    smtp_url: str | None = env_field("CRASHBOT_SMTP_URL", validator=_smtp_url)
    #: The ``From`` of every mail, e.g. ``Example Status <status@example.com>``.
    mail_from: str | None = env_field("CRASHBOT_MAIL_FROM", validator=_single_line)
    #: Key of the HMAC that signs confirm, manage and unsubscribe links
    #: (any long random string; changing it voids links already sent).
    secret: str | None = env_field("CRASHBOT_EMAIL_SECRET")
    #: Responder mail: these addresses hear when an incident of ``severities`` is
    #: declared or resolved (private incidents included: it is internal mail).
    notify: list[str] = field(factory=list)
    #: Severity levels that send responder mail.
    severities: list[str] = field(factory=lambda: ["SEV1"])
    #: Status-page subscriptions (form, confirm, manage, unsubscribe); they also need
    #: ``smtp_url``, ``mail_from`` and ``secret``.
    subscriptions: bool = True
    #: Most subscriber mails and webhook calls one worker sends per round.
    rate_limit: int = 60
    #: Subscribe requests allowed per client address per clock hour (then 429), counted
    #: in the store so the limit holds across processes and replicas.
    subscribe_limit: int = 5
    #: Hours a confirmation link stays valid.
    confirm_hours: int = 72
    #: A CA bundle (PEM) that verifies the relay's certificate (a private CA).
    smtp_ca_file: str | None = None
    #: Seconds to wait for the relay or a webhook.
    timeout: float = 10.0

    @property
    def can_send(self) -> bool:
        """A relay and a sender are set: mail can go out."""
        return bool(self.smtp_url and self.mail_from)

    @property
    def subscriptions_on(self) -> bool:
        """The status page takes subscriptions."""
        return self.subscriptions and self.can_send and bool(self.secret)


def settings_of(crashbot: Any) -> EmailSettings:
    """The ``[email]`` settings, or the defaults when the section was not loaded."""
    found = crashbot.config.section(SECTION)
    return found if isinstance(found, EmailSettings) else EmailSettings()
