"""Signed links in mails: confirm, manage and unsubscribe, verified without server state.

A link carries the subscriber id, for confirm links an expiry, and an
HMAC-SHA256 of both under ``[email] secret``, each purpose keyed apart so a
manage link cannot be replayed as a confirm link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

#: Purposes of a signed link.
CONFIRM, MANAGE, UNSUBSCRIBE = "confirm", "manage", "unsubscribe"


def _mac(secret: str, purpose: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}\0{payload}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def sign(secret: str, purpose: str, subscriber_id: str, *, expires: datetime | None = None) -> str:
    """The signed token of a link: ``ID.SIG`` or ``ID.EXPIRY.SIG`` (Unix seconds)."""
    payload = subscriber_id if expires is None else f"{subscriber_id}.{int(expires.timestamp())}"
    return f"{payload}.{_mac(secret, purpose, payload)}"


def verify(secret: str, purpose: str, token: str, *, now: datetime) -> str | None:
    """The subscriber id a valid, unexpired token names, or None."""
    payload, _, mac = token.rpartition(".")
    if not payload or not hmac.compare_digest(mac, _mac(secret, purpose, payload)):
        return None
    sid, _, expiry = payload.partition(".")
    if expiry and (not expiry.isdigit() or int(expiry) < now.timestamp()):
        return None
    return sid
