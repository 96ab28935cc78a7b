"""A real SMTP server in-process (aiosmtpd) that keeps what it receives, and bot helpers."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from crashbot_core import Crashbot, FixedClock
from crashbot_core.testing import make_crashbot

PUBLIC_URL = "https://status.example.com"
SECRET = "test-link-secret-0123456789"
MAIL_FROM = "Example Status <status@example.com>"
USER, PASSWORD = "relay-user", "p@ss word"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpSink:
    """Keeps every mail it accepts: ``(envelope sender, recipients, parsed message)``."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], EmailMessage]] = []
        self.logins: list[tuple[str, str]] = []
        self.refuse = 0
        self._cond = threading.Condition()
        self.controller: Controller | None = None
        self.url = ""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            self.refuse -= 1
            return "451 4.3.0 try again later"
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        with self._cond:
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
            self._cond.notify_all()
        return "250 2.0.0 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        pair = (auth_data.login.decode(), auth_data.password.decode())
        self.logins.append(pair)
        return AuthResult(success=pair == (USER, PASSWORD))

    def messages(self) -> list[EmailMessage]:
        return [m for _, _, m in self.received]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for _, rcpt, m in self.received if address in rcpt]

    def wait_for(self, pred: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred():
                left = deadline - time.monotonic()
                assert left > 0, f"timed out; received {[m['Subject'] for m in self.messages()]}"
                self._cond.wait(left)

    def start(self, scheme: str = "smtp", auth: bool = False, **kwargs: Any) -> SmtpSink:
        port = free_port()
        if auth:
            kwargs.update(authenticator=self.authenticate, auth_require_tls=True)
        self.controller = Controller(self, hostname="127.0.0.1", port=port, **kwargs)
        self.controller.start()
        self.url = f"{scheme}://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def mail_bot(
    database_url: str,
    clock: FixedClock,
    smtp_url: str,
    *,
    email: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    components: dict[str, dict[str, Any]] | None = None,
    public_url: str = PUBLIC_URL,
) -> Crashbot:
    config: dict[str, Any] = {"email": {"secret": SECRET, **(email or {})}}
    config["status"] = {"public_url": public_url, **(status or {})}
    if components is not None:
        config["components"] = components
    return make_crashbot(
        database_url=database_url,
        clock=clock,
        config=config,
        env={"CRASHBOT_SMTP_URL": smtp_url, "CRASHBOT_MAIL_FROM": MAIL_FROM},
    )


def tls_contexts(tmp_path: Any) -> tuple[ssl.SSLContext, str]:
    """A server context with a certificate for 127.0.0.1 from a fresh CA, and that CA's PEM file."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return server, str(path)
