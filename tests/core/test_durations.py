"""Human durations: parse and format."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crashbot_core.durations import format_duration, parse_duration, parse_since
from crashbot_core.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90s", timedelta(seconds=90)), ("30m", timedelta(minutes=30)), ("2h 30m", timedelta(hours=2, minutes=30)),
     ("1h30m", timedelta(hours=1, minutes=30)), ("1.5h", timedelta(minutes=90)), ("7d", timedelta(days=7)),
     ("2 weeks", timedelta(weeks=2)), (" 5 MIN ", timedelta(minutes=5)), ("1d, 2h", timedelta(hours=26))],
)  # fmt: skip
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "m", "5 parsecs", "-5m", "5m soon", "0m", "0s 0h"])
def test_parse_duration_refuses_what_is_not_a_positive_duration(text: str) -> None:
    with pytest.raises(InvalidInput, match="expected something like 30s, 5m"):
        parse_duration(text)


def test_a_duration_too_long_to_represent_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="cannot read duration"):
        parse_duration("999999999999d")


@given(st.text(max_size=16))
def test_parse_duration_never_fails_with_anything_but_invalid_input(text: str) -> None:
    try:
        value = parse_duration(text)
    except InvalidInput:
        return
    assert value > timedelta(0)


@given(st.integers(min_value=1, max_value=10**7))
def test_formatted_durations_parse_back_to_about_the_same(seconds: int) -> None:
    delta = timedelta(seconds=seconds)
    back = parse_duration(format_duration(delta))
    # Formatting keeps the two largest units, so at most one unit below is lost.
    assert abs(back - delta) < (timedelta(hours=1) if seconds >= 86400 else timedelta(minutes=1))


@pytest.mark.parametrize(
    ("delta", "text"),
    [(None, "—"), (timedelta(0), "0s"), (timedelta(seconds=750), "12m 30s"), (timedelta(hours=3, minutes=5), "3h 5m"),
     (timedelta(days=2, hours=4, minutes=9), "2d 4h"), (timedelta(hours=2), "2h"), (-60.0, "-1m"), (59.6, "1m")],
)  # fmt: skip
def test_format_duration(delta: timedelta | float | None, text: str) -> None:
    assert format_duration(delta) == text


def test_parse_since_uses_the_duration_grammar() -> None:
    assert parse_since("30d") == timedelta(days=30)
    with pytest.raises(InvalidInput):
        parse_since("last month")
