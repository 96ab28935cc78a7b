"""Untrusted input at the edge: JSON bodies, instants and text, checked before anything uses them.

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
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from crashbot_core.errors import InvalidInput
from crashbot_core.models import Impact

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
#: A lone surrogate as a character or as a JSON escape (hex digits in either case).
_MAY_HOLD_SURROGATE = re.compile(r"[\ud800-\udfff]|\\u[dD][89a-fA-F]")


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
    # A lone surrogate can only be in the text itself (a str argument; UTF-8
    # cannot encode one) or written as an escape (\ud800): when the text holds
    # neither, no string needs checking, and the walk is over containers only.
    check_json(value, max_depth=max_depth, strings=_MAY_HOLD_SURROGATE.search(text) is not None)
    return value


def check_json(value: Any, *, max_depth: int = MAX_DEPTH, strings: bool = True) -> None:
    """Walk decoded JSON (without recursion) and refuse what :func:`load_json` refuses.

    :param strings: check every string and key for lone surrogates; False when
        the caller knows none can be there.
    """
    if not isinstance(value, dict | list):
        _check_leaf(value, strings)
        return
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth >= max_depth:
            raise MalformedJSON(f"the body is nested deeper than {max_depth} levels")
        if isinstance(item, dict):
            if strings:
                for key in item:
                    _check_string(key)
            children: Any = item.values()
        else:
            children = item
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif isinstance(child, str):
                if strings:
                    _check_string(child)
            elif isinstance(child, float) and not math.isfinite(child):
                raise MalformedJSON("the body holds a number too large for a float")


def _check_leaf(item: Any, strings: bool) -> None:
    if isinstance(item, str):
        if strings:
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


def read_at_most(stream: Any, size: int) -> bytes:
    """Up to ``size`` bytes of a request body stream (anything with ``read``).

    One ``read`` of a chunked body may return less than asked before its end,
    so a size check on a single read would let a too-large body through cut.
    """
    chunks: list[bytes] = []
    got = 0
    while got < size:
        chunk = stream.read(size - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def parse_instant(text: str) -> datetime:
    """Read an instant written as :data:`INSTANT_PATTERN` says, in UTC.

    :raises InvalidInput: for anything else, including impossible dates (February 30).
    """
    wrong = InvalidInput(
        f"{text[:40]!r} is not an instant like 2026-03-02T08:55:00Z (years 1900-2999)"
    )
    if not _INSTANT.fullmatch(text):
        raise wrong
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):  # February 30, or past the year 9999 with its offset
        raise wrong from None


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


# -- text: what every surface's titles, messages, labels and links become ------------------------
#
# The core applies these in its transitions, so the CLI, the HTTP API, Slack,
# Discord and alert intake get the same rules; the OpenAPI document shares the
# patterns, so the API accepts exactly what it documents.

#: Longest title accepted (Slack channel topics and Discord embed titles cut longer ones).
MAX_TITLE = 200
MAX_TEXT = 20_000
#: Labels: at most this many (room for an alert's 64 plus crashbot's own), keys this
#: long (the SQL column holds 255), values this long.
MAX_LABELS = 100
MAX_LABEL_KEY = 128
MAX_LABEL_VALUE = 1024
MAX_URL = 2048
_COMPONENT_KEY = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")

#: A title or label key must hold one character that is neither space nor control.
#: Written so Python's ``re`` and ECMA-262 read it alike: the OpenAPI document uses it too.
VISIBLE_PATTERN = r"[^\s\x00-\x1f\x7f-\x9f]"

#: The http(s) URLs crashbot links to: an ASCII host (international names in punycode,
#: no IP literal in brackets), any path without spaces or control characters.
#: Shared with the OpenAPI document, so the API accepts exactly what it documents.
URL_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://"
    r"(?:[A-Za-z0-9._~%!$&'()*+,;=:-]*@)?"
    r"[A-Za-z0-9._~%!$&'()*+,;=-]+"
    r"(?::[0-9]*)?"
    r"(?:[/?#][^\s\x00-\x1f\x7f-\x9f]*)?$"
)
_URL = re.compile(URL_PATTERN)
# PostgreSQL text cannot hold NUL; no other control character belongs in a title either.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def check_unicode(text: str, what: str) -> str:
    """Refuse text that cannot be stored as UTF-8 (a lone surrogate, e.g. JSON ``"\\ud800"``)."""
    if _SURROGATE.search(text):
        raise InvalidInput(f"the {what} is not valid Unicode text (it holds a lone surrogate)")
    return text


def _one_line(text: str) -> str:
    # Whitespace controls (tab, newline) become spaces first; the others go.
    return " ".join(_CONTROL.sub("", " ".join(text.split())).split())


def clean_title(title: str) -> str:
    """Validate and normalise an incident title: control characters out, whitespace collapsed."""
    text = _one_line(check_unicode(title, "title"))
    if not text:
        raise InvalidInput("the title is empty; say in a few words what is broken")
    if len(text) > MAX_TITLE:
        raise InvalidInput(f"the title is {len(text)} characters long; keep it under {MAX_TITLE}")
    return text


def clean_text(text: str | None, what: str) -> str:
    """Validate free text (descriptions, update messages): control characters but
    newlines and tabs out, surrounding space trimmed."""
    value = _CONTROL_BUT_LINES.sub("", check_unicode(text or "", what)).strip()
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"the {what} is {len(value)} characters long; keep it under {MAX_TEXT}")
    return value


def clean_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Validate and normalise labels: one-line keys and values, bounded to fit their columns."""
    if len(labels) > MAX_LABELS:
        raise InvalidInput(f"{len(labels)} labels; at most {MAX_LABELS}")
    out: dict[str, str] = {}
    for key, value in labels.items():
        k = _one_line(check_unicode(key, "label key"))
        if not k or len(k) > MAX_LABEL_KEY:
            raise InvalidInput(
                f"label key {key[:40]!r} must have 1 to {MAX_LABEL_KEY} visible characters"
            )
        v = _one_line(check_unicode(value, f"label {k!r}"))
        if len(v) > MAX_LABEL_VALUE:
            raise InvalidInput(f"label {k!r} is over {MAX_LABEL_VALUE} characters")
        out[k] = v
    return out


def clean_components(components: Mapping[str, Impact | str]) -> dict[str, Impact]:
    """Validate component keys and impacts."""
    result: dict[str, Impact] = {}
    for key, impact in components.items():
        k = key.strip().lower()
        if not _COMPONENT_KEY.match(k):
            raise InvalidInput(
                f"component key {key[:80]!r} is not valid; "
                "use lower-case letters, digits, '-', '_' or '.'"
            )
        result[k] = impact if isinstance(impact, Impact) else Impact.parse(impact)
    return result


def clean_url(url: str) -> str:
    """Validate an http(s) URL (see :data:`URL_PATTERN`); surrounding space is trimmed."""
    value = url.strip()
    shown = value[:80]
    if len(value) > MAX_URL or not _URL.fullmatch(value):
        raise InvalidInput(f"{shown!r} is not an http(s) URL")
    try:
        parsed = urlparse(value)
    except ValueError:  # e.g. an unbalanced IPv6 bracket: "http://[::1"
        raise InvalidInput(f"{shown!r} is not an http(s) URL") from None
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise InvalidInput(f"{shown!r} is not an http(s) URL")
    return value
