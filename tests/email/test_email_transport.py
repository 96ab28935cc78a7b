"""The relay: CRASHBOT_SMTP_URL's forms against a real SMTP server, and responder mail."""

from __future__ import annotations

from pathlib import Path

import pytest
from email_support import MAIL_FROM, PASSWORD, USER, SmtpSink, text_of, tls_contexts
from support import ALICE

from crashbot_core import Crashbot
from crashbot_core.models import DeliveryState
from crashbot_email import transport
from crashbot_email.settings import EmailSettings


def _mail(settings: EmailSettings, subject: str = "Hello") -> None:
    msg = transport.build(sender=MAIL_FROM, to="ann@example.com", subject=subject, text="Hi")
    transport.send(settings, msg)


def test_plain_smtp_to_a_local_relay(smtp: SmtpSink) -> None:
    _mail(EmailSettings(smtp_url=smtp.url, mail_from=MAIL_FROM))

    [(sender, rcpt, msg)] = smtp.received
    assert (sender, rcpt, msg["Subject"], msg["From"]) == (
        "status@example.com",
        ["ann@example.com"],
        "Hello",
        MAIL_FROM,
    )


def test_starttls_with_credentials_in_the_url(tmp_path: Path) -> None:
    server_ctx, ca_file = tls_contexts(tmp_path)
    sink = SmtpSink().start(
        scheme="smtp+starttls", auth=True, tls_context=server_ctx, require_starttls=True
    )
    try:
        url = sink.url.replace("://", f"://{USER}:p%40ss%20word@")
        _mail(EmailSettings(smtp_url=url, mail_from=MAIL_FROM, smtp_ca_file=ca_file))
    finally:
        sink.stop()
    assert sink.logins == [(USER, PASSWORD)]
    assert [m["Subject"] for m in sink.messages()] == ["Hello"]


def test_smtps_is_tls_from_the_first_byte(tmp_path: Path) -> None:
    server_ctx, ca_file = tls_contexts(tmp_path)
    sink = SmtpSink().start(scheme="smtps", ssl_context=server_ctx)
    try:
        _mail(EmailSettings(smtp_url=sink.url, mail_from=MAIL_FROM, smtp_ca_file=ca_file))
    finally:
        sink.stop()
    assert [m["Subject"] for m in sink.messages()] == ["Hello"]


def test_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    server_ctx, _ = tls_contexts(tmp_path)
    sink = SmtpSink().start(scheme="smtp+starttls", tls_context=server_ctx)
    try:
        with pytest.raises(transport.MailError):
            _mail(EmailSettings(smtp_url=sink.url, mail_from=MAIL_FROM))
    finally:
        sink.stop()
    assert sink.received == []


def test_credentials_never_go_in_clear(smtp: SmtpSink) -> None:
    url = smtp.url.replace("://", f"://{USER}:x@")
    with pytest.raises(transport.MailError, match="in clear"):
        _mail(EmailSettings(smtp_url=url, mail_from=MAIL_FROM))
    assert smtp.received == []


def test_a_subject_cannot_inject_headers(smtp: SmtpSink) -> None:
    _mail(
        EmailSettings(smtp_url=smtp.url, mail_from=MAIL_FROM),
        subject="Down\r\nBcc: victim@example.com\nX-Evil: 1",
    )
    [(_, rcpt, msg)] = smtp.received
    assert rcpt == ["ann@example.com"]
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert msg["Subject"] == "Down Bcc: victim@example.com X-Evil: 1"


def test_bad_smtp_urls_fail_at_start() -> None:
    for url in ("http://relay:25", "smtp://", "smtps:relay"):
        with pytest.raises(ValueError):
            EmailSettings(smtp_url=url)


def test_responders_hear_when_a_sev1_is_declared_and_resolved(
    bot: Crashbot, smtp: SmtpSink
) -> None:
    inc = bot.declare(
        "Payments failing", severity="SEV1", actor=ALICE, public=False, description="card 500s"
    )
    bot.update(inc.id, actor=ALICE, message="internal: rolled back", public=False)
    bot.resolve(inc.id, actor=ALICE, message="fixed")
    bot.declare("Slow search", severity="SEV3", actor=ALICE)

    subjects = [m["Subject"] for m in smtp.messages()]
    assert subjects == [
        "[SEV1] INC-1 declared: Payments failing",
        "[SEV1] INC-1 resolved: Payments failing",
    ]
    first = smtp.received[0]
    assert first[1] == ["oncall@example.com", "lead@example.com"]
    assert "card 500s" in text_of(first[2])
    assert "Visibility: private" in text_of(first[2])


def test_a_relay_that_refuses_is_retried_by_the_worker(bot: Crashbot, smtp: SmtpSink) -> None:
    smtp.refuse = 1
    bot.declare("Payments failing", severity="SEV1", actor=ALICE)
    assert smtp.received == []
    [failed] = [d for d in bot.deliveries() if d.plugin == "email"]
    assert failed.state is DeliveryState.FAILED

    bot.clock.advance(minutes=5)  # type: ignore[attr-defined]
    bot.retry_deliveries()

    assert [m["Subject"] for m in smtp.messages()] == ["[SEV1] INC-1 declared: Payments failing"]
