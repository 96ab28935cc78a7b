"""Parsers of user input in the bot: yes/no boxes of the forms."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crashbot_core import InvalidInput
from crashbot_discord.bot import parse_bool


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", True),
        (" Public ", True),
        ("no", False),
        ("internal", False),
        ("", None),
        ("  ", None),
    ],
)
def test_yes_no_boxes(text: str, expected: bool | None) -> None:
    assert parse_bool(text, "public") is expected


@given(st.text(max_size=20))
def test_any_text_is_a_bool_none_or_a_clear_error(text: str) -> None:
    try:
        value = parse_bool(text, "public")
    except InvalidInput as exc:
        assert exc.message.startswith("public: expected yes or no, found ")
    else:
        assert value in (True, False, None)
