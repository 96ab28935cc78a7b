"""Subscriber addresses: e-mail syntax (no DNS look-up at request time) and webhook URLs."""

from __future__ import annotations

from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from crashbot_core.errors import InvalidInput

#: Longest e-mail address accepted (RFC 5321's path limit).
MAX_ADDRESS = 254


def normalise_address(text: str) -> str:
    """A syntactically valid address, lower-cased; no DNS look-up.

    :raises InvalidInput: not an address one can mail.
    """
    text = text.strip()
    if not text or len(text) > MAX_ADDRESS:
        raise InvalidInput("enter an e-mail address (at most 254 characters)")
    try:
        found = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"that is not an e-mail address we can write to: {exc}") from None
    return str(found.normalized).lower()


def webhook_url(text: str) -> str:
    """An ``http(s)://`` URL with a host, as given.

    :raises InvalidInput: anything else.
    """
    text = text.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(text) > 2048:
        raise InvalidInput(f"not a webhook URL (http:// or https://): {text[:80]!r}")
    return text
