"""Reading and writing human durations: ``"5m"``, ``"2h 30m"``, ``"1d"``, ``"12m 30s"``."""

from __future__ import annotations

import re
from datetime import timedelta

from crashbot_core.errors import InvalidInput

_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}  # fmt: skip
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")


def parse_duration(text: str) -> timedelta:
    """Parse ``"90s"``, ``"30m"``, ``"2h 30m"``, ``"1.5h"``, ``"7d"``, ``"2 weeks"``.

    :raises InvalidInput: when the text is not a positive duration.
    """
    norm = text.strip().lower()
    pos = 0
    total = 0.0
    matched = False
    for m in _PART.finditer(norm):
        if norm[pos : m.start()].strip(" ,"):
            break
        unit = _UNITS.get(m.group(2))
        if unit is None:
            break
        total += float(m.group(1)) * unit
        pos = m.end()
        matched = True
    error = InvalidInput(
        f"cannot read duration {text!r}; expected something like 30s, 5m, 2h, 1h30m or 7d"
    )
    # Zero would make "every 0m" reminders fire without end; it is never meant.
    if not matched or norm[pos:].strip(" ,") or total <= 0:
        raise error
    try:
        return timedelta(seconds=total)
    except OverflowError:  # longer than timedelta can hold (~2.7 million years)
        raise error from None


def format_duration(delta: timedelta | float | None) -> str:
    """Format a duration for people: ``"12m 30s"``, ``"3h 5m"``, ``"2d 4h"``; ``"—"`` for None."""
    if delta is None:
        return "—"
    seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
    sign = "-" if seconds < 0 else ""
    s = round(abs(seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        parts = [f"{days}d", f"{hours}h"] if hours else [f"{days}d"]
    elif hours:
        parts = [f"{hours}h", f"{minutes}m"] if minutes else [f"{hours}h"]
    elif minutes:
        parts = [f"{minutes}m", f"{s}s"] if s else [f"{minutes}m"]
    else:
        parts = [f"{s}s"]
    return sign + " ".join(parts)


#: Longest look-back window: 10,000 weeks (about 190 years). Longer ones would reach
#: before year 1 when subtracted from now, which datetime cannot represent.
MAX_SINCE = timedelta(weeks=10_000)


def parse_since(text: str) -> timedelta:
    """Parse a look-back window such as ``30d`` or ``12w`` (same grammar as durations).

    :raises InvalidInput: when it is no duration or longer than :data:`MAX_SINCE`.
    """
    window = parse_duration(text)
    if window > MAX_SINCE:
        raise InvalidInput(
            f"look-back window {text[:40]!r} is too long; at most 10000w (about 190 years)"
        )
    return window
