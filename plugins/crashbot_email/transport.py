"""Sending mail: ``CRASHBOT_SMTP_URL`` to an :mod:`smtplib` connection.

``smtp://host:port`` speaks plain SMTP (a relay on localhost or the same
network), ``smtp+starttls://`` upgrades with STARTTLS before anything else is
said, ``smtps://`` is TLS from the first byte. A user and password in the URL
(percent-encoded) log in after TLS is up; without TLS they are refused rather
than sent in clear.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

from attrs import frozen

from crashbot_email.settings import EmailSettings

DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class MailError(Exception):
    """The relay refused a mail or could not be reached (the worker retries it)."""


@frozen
class Relay:
    """Where and how to connect, parsed from ``CRASHBOT_SMTP_URL``."""

    scheme: str
    host: str
    port: int
    user: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> Relay:
        """Read ``smtp://``, ``smtp+starttls://`` or ``smtps://`` with optional credentials."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"not an SMTP URL: {parts.scheme}://…")
        return cls(
            scheme=parts.scheme,
            host=parts.hostname,
            port=parts.port or DEFAULT_PORTS[parts.scheme],
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def single_line(text: str, limit: int = 200) -> str:
    """``text`` on one line (CR, LF and other controls become spaces), at most ``limit`` chars."""
    flat = "".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in text)
    flat = " ".join(flat.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def build(
    *,
    sender: str,
    to: str | list[str],
    subject: str,
    text: str,
    html: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """A mail: plain text, with an HTML alternative when given (multipart/alternative).

    Header values are set through :class:`email.message.EmailMessage`, which
    refuses CR and LF, and the subject is flattened first: no header injection.
    """
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to) if isinstance(to, list) else to
    msg["Subject"] = single_line(subject)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or None)
    msg["Auto-Submitted"] = "auto-generated"
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def send(settings: EmailSettings, msg: EmailMessage) -> None:
    """Hand ``msg`` to the relay of ``settings.smtp_url``.

    :raises MailError: the relay is unreachable or refused the mail.
    """
    if not settings.smtp_url:
        raise MailError("no relay: set CRASHBOT_SMTP_URL")
    relay = Relay.parse(settings.smtp_url)
    context = ssl.create_default_context(cafile=settings.smtp_ca_file)
    try:
        smtp: smtplib.SMTP
        if relay.scheme == "smtps":
            smtp = smtplib.SMTP_SSL(
                relay.host, relay.port, timeout=settings.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(relay.host, relay.port, timeout=settings.timeout)
        with smtp:
            if relay.scheme == "smtp+starttls":
                smtp.starttls(context=context)
            if relay.user:
                if relay.scheme == "smtp":
                    raise MailError("credentials in an smtp:// URL would go in clear; use TLS")
                smtp.login(relay.user, relay.password or "")
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"{relay.host}:{relay.port}: {exc}") from exc
