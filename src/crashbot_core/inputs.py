"""Untrusted input at the edge: JSON bodies and instants, checked before anything uses them.

Every HTTP surface (admin API, alert intake) decodes bodies with
:func:`load_json`, so the same garbage gets the same answer everywhere: a
:class:`MalformedJSON` (HTTP 400) instead of a crash deep inside the store
for NUL-free but unstorable text, numbers Python refuses to convert, or
nesting that exhausts the recursion limit.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from crashbot_core.errors import InvalidInput

#: Deepest nesting accepted in a JSON body; no payload crashbot reads comes close.
MAX_DEPTH = 32

#: An instant as the HTTP API takes it: RFC 3339 with ``T`` and a zone, years 1900-2999.
#: The bounds keep every offset arithmetic inside what ``datetime`` can hold (an
#: instant in year 1 with ``+14:00`` has no UTC equivalent). Written so Python's
#: ``re`` and ECMA-262 read it alike: the OpenAPI document uses it too.
INSTANT_PATTERN = (
    r"^(?:19|2[0-9])[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})$"
)
#: A calendar date, same years as :data:`INSTANT_PATTERN`.
DATE_PATTERN = r"^(?:19|2[0-9])[0-9]{2}-[0-9]{2}-[0-9]{2}$"

_INSTANT = re.compile(INSTANT_PATTERN)
_DATE = re.compile(DATE_PATTERN)
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class MalformedJSON(InvalidInput):
    """The body is not JSON crashbot can use (HTTP 400, not a store error)."""

    code = "bad_json"
    http_status = 400


def load_json(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Decode a UTF-8 JSON document that is safe to hand to any store.

    :raises MalformedJSON: not UTF-8, not JSON, ``NaN``/``Infinity`` or a number
        too large for a float, an integer over Python's 4,300-digit limit,
        nesting deeper than ``max_depth``, or a lone surrogate (``"\\ud800"``) in
        any string or key.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise MalformedJSON(f"the body is not UTF-8 (byte {exc.start})") from None
    else:
        text = data
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise MalformedJSON(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise MalformedJSON(f"the body is nested deeper than {max_depth} levels") from None
    except ValueError:  # int() refuses more than sys.get_int_max_str_digits() digits
        raise MalformedJSON("the body holds a number with too many digits") from None
    check_json(value, max_depth=max_depth)
    return value


def check_json(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Walk decoded JSON (without recursion) and refuse what :func:`load_json` refuses."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                raise MalformedJSON(f"the body is nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_string(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            _check_string(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise MalformedJSON("the body holds a number too large for a float")


def _check_string(text: str) -> None:
    if _SURROGATE.search(text):
        raise MalformedJSON(
            "the body holds a lone surrogate (such as \\ud800): that is not Unicode text"
        )


def _reject_constant(name: str) -> Any:
    raise MalformedJSON(f"the body is not valid JSON: {name} is not a JSON value")


def parse_instant(text: str) -> datetime:
    """Read an instant written as :data:`INSTANT_PATTERN` says, in UTC.

    :raises InvalidInput: for anything else, including impossible dates (February 30).
    """
    if _INSTANT.fullmatch(text):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
        except (ValueError, OverflowError):
            pass
    raise InvalidInput(
        f"{text[:40]!r} is not an instant like 2026-03-02T08:55:00Z (years 1900-2999)"
    )


def parse_date_or_instant(text: str) -> datetime:
    """A date (midnight UTC) or an instant; see :func:`parse_instant`.

    :raises InvalidInput: for anything else.
    """
    if _DATE.fullmatch(text):
        try:
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        except ValueError:
            raise InvalidInput(f"{text!r} is not a real date") from None
    return parse_instant(text)


def is_instant(text: str) -> bool:
    """True when :func:`parse_instant` accepts ``text``."""
    try:
        parse_instant(text)
    except InvalidInput:
        return False
    return True


def is_date(text: str) -> bool:
    """True for a real calendar date written as :data:`DATE_PATTERN` says."""
    if not _DATE.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True
