"""Fixtures: an SMTP server (aiosmtpd) and a service that mails through it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from email_support import SmtpSink, mail_bot

from crashbot_core import Crashbot, FixedClock


@pytest.fixture(autouse=True)
def _no_mail_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CRASHBOT_SMTP_URL", "CRASHBOT_MAIL_FROM", "CRASHBOT_EMAIL_SECRET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def bot(database_url: str, clock: FixedClock, smtp: SmtpSink) -> Iterator[Crashbot]:
    service = mail_bot(
        database_url,
        clock,
        smtp.url,
        email={"notify": ["oncall@example.com", "lead@example.com"], "severities": ["SEV1"]},
        components={"api": {"name": "API"}, "db": {"name": "Database"}},
    )
    try:
        yield service
    finally:
        service.close()
