"""Shared parsing helpers: strict JSON shape checks that fail with a path, and bounds.

Every vendor payload goes through these, so garbage turns into
:class:`~crashbot_core.errors.InvalidInput` naming where it broke (``$.alerts[3].labels``)
and nothing a parser returns can overflow a database column.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlparse

from crashbot_core import inputs
from crashbot_core.errors import InvalidInput


class MalformedBody(InvalidInput):
    """The body is not JSON at all (HTTP 400), as opposed to JSON of the wrong shape (422)."""

    code = "bad_json"
    http_status = 400


#: Bounds on what one alert may carry; larger values are cut, not refused.
MAX_LABELS = 64
MAX_LABEL_KEY = 128
MAX_LABEL_VALUE = 1024
MAX_TITLE = 1000
MAX_DESCRIPTION = 20_000
MAX_FINGERPRINT = 200
MAX_SEVERITY = 64
MAX_URL = 2048


#: Deepest nesting accepted in a vendor payload (Sentry's are the deepest, around 10).
MAX_DEPTH = 64


def load_json(body: bytes) -> Any:
    """Decode a UTF-8 JSON body with the core's rules (:func:`crashbot_core.inputs.load_json`).

    :raises MalformedBody: (HTTP 400) for anything that is not JSON text a store
        can hold: bad UTF-8 or syntax, NaN, integers over 4,300 digits, nesting
        deeper than :data:`MAX_DEPTH`, lone surrogates such as ``"\\ud800"``.
    """
    try:
        return inputs.load_json(body, max_depth=MAX_DEPTH)
    except inputs.MalformedJSON as exc:
        raise MalformedBody(exc.message) from None


def obj(value: Any, path: str) -> dict[str, Any]:
    """``value`` as a JSON object, or InvalidInput naming ``path``."""
    if not isinstance(value, dict):
        raise InvalidInput(f"{path}: expected an object, found {_kind(value)}")
    return value


def opt_obj(data: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
    """An optional object member (missing or null: empty)."""
    value = data.get(key)
    if value is None:
        return {}
    return obj(value, f"{path}.{key}")


def arr(value: Any, path: str) -> list[Any]:
    """``value`` as a JSON array, or InvalidInput naming ``path``."""
    if not isinstance(value, list):
        raise InvalidInput(f"{path}: expected an array, found {_kind(value)}")
    return value


def text(data: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str:
    """A string member; numbers are accepted as their text (ids often arrive as either)."""
    value = data.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"{path}.{key}: required, missing")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(f"{path}.{key}: expected a string, found {_kind(value)}")
    return str(value)


def labels(value: Any, path: str) -> dict[str, str]:
    """A ``{name: value}`` map of strings (numbers and booleans become text), bounded."""
    if value is None:
        return {}
    data = obj(value, path)
    out: dict[str, str] = {}
    for key, raw in data.items():
        if len(out) >= MAX_LABELS:
            break
        if raw is None:
            continue
        if isinstance(raw, bool):
            raw = "true" if raw else "false"
        if not isinstance(raw, str | int | float):
            raise InvalidInput(f"{path}.{key}: expected a string, found {_kind(raw)}")
        k = clean_line(str(key), MAX_LABEL_KEY)
        if k:
            out[k] = clean_line(str(raw), MAX_LABEL_VALUE)
    return out


def clean_line(value: str, limit: int) -> str:
    """One line of text: control characters out, whitespace collapsed, cut to ``limit``."""
    return " ".join(_CONTROL.sub(" ", value).split())[:limit]


def clean_text(value: str, limit: int = MAX_DESCRIPTION) -> str:
    """Free text: NUL and other control characters (bar newlines and tabs) out, cut to ``limit``."""
    return _CONTROL_BUT_NEWLINES.sub("", value).strip()[:limit]


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_NEWLINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def url(value: str) -> str | None:
    """An http(s) URL, or None (a relative or javascript: link is dropped, not followed)."""
    value = value.strip()
    if not value or len(value) > MAX_URL or _CONTROL.search(value):
        return None
    try:
        parsed = urlparse(value)
    except ValueError:
        return None
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        return None
    return value


def fingerprint(*parts: str) -> str:
    """A stable fingerprint from identifying parts (hashed when long or composite)."""
    if len(parts) == 1 and 0 < len(parts[0]) <= MAX_FINGERPRINT and not _CONTROL.search(parts[0]):
        return parts[0]
    joined = "\x1f".join(parts)
    return "sha256:" + hashlib.sha256(joined.encode()).hexdigest()[:40]


def group(value: str) -> str | None:
    """A sender's group key, bounded like a fingerprint (hashed when long); empty: None."""
    if not value.strip():
        return None
    return fingerprint(value)


#: Largest ``truncatedAlerts`` taken at its word (a bigger number is cut to it).
MAX_OMITTED = 1_000_000


def count(value: Any, path: str) -> int:
    """A non-negative count such as ``truncatedAlerts`` (missing or null: 0), bounded.

    :raises InvalidInput: for anything but a whole number (or its text).
    """
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise InvalidInput(f"{path}: expected a whole number, found {_kind(value)}")
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 12:
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{path}: expected a whole number, found {str(value)[:40]!r}")
    return min(value, MAX_OMITTED)


def labels_fingerprint(values: Mapping[str, str]) -> str:
    """A fingerprint from a label set, independent of key order."""
    return fingerprint(*[f"{k}={values[k]}" for k in sorted(values)], "labels")


def severity(value: str) -> str | None:
    """A severity hint, bounded; empty means none."""
    cleaned = clean_line(value, MAX_SEVERITY)
    return cleaned or None


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)


def timestamp(value: Any, path: str) -> datetime | None:
    """An RFC 3339 time (Go's nanoseconds and zero time included) or epoch seconds/ms.

    Go's zero time (``0001-01-01T00:00:00Z``, Alertmanager's "no end") and
    empty values give None. A time without a zone is read as UTC.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"{path}: expected a time, found {_kind(value)}")
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        number = float(value)
        if number > 1e11:  # milliseconds since the epoch (Datadog's $DATE)
            number /= 1000
        try:
            return datetime.fromtimestamp(number, UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidInput(f"{path}: {value!r} is not a usable epoch time") from None
    if not isinstance(value, str):
        raise InvalidInput(f"{path}: expected a time, found {_kind(value)}")
    m = _RFC3339.fullmatch(value.strip())
    if not m:
        raise InvalidInput(f"{path}: {value[:40]!r} is not an RFC 3339 time")
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    if year <= 1:
        return None
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    tz: timezone = UTC
    if m.group(9):
        offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        tz = timezone(offset if m.group(9) == "+" else -offset)
    try:
        return datetime(year, month, day, hour, minute, min(second, 59), micro, tz).astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidInput(f"{path}: {value[:40]!r} is not a real date") from None


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``body`` keyed with ``secret`` (Sentry's and GitHub's scheme)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time string comparison."""
    return hmac.compare_digest(a.encode(), b.encode())


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
