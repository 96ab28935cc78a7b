"""Discord is told a command is done only after its change is committed.

The fake Discord API looks at the store (through a second service, so only
committed rows count) at the moment each interaction answer arrives.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from discord_interactions import Harness, command
from fake_discord import API, FakeDiscord, Recorded

from crashbot_core import Crashbot, FixedClock
from crashbot_core.testing import make_crashbot

CALLBACK = re.compile(rf"{API}/interactions/\d+/[^/]+/callback")
EDIT = re.compile(rf"{API}/webhooks/\d+/[^/]+/messages/@original")


@pytest.fixture
def answers(
    discord_api: FakeDiscord, database_url: str, clock: FixedClock
) -> Iterator[list[tuple[Any, list[str]]]]:
    """(answer body, titles stored when it reached Discord) for every interaction answer."""
    reader = make_crashbot(database_url=database_url, clock=clock)
    seen: list[tuple[Any, list[str]]] = []

    def look(request: Recorded) -> None:
        if CALLBACK.fullmatch(request.path) or (
            request.method == "PATCH" and EDIT.fullmatch(request.path)
        ):
            seen.append((request.json, [i.title for i in reader.list()]))

    discord_api.on_request = look
    try:
        yield seen
    finally:
        discord_api.on_request = None
        reader.close()


def test_a_declare_is_stored_before_discord_gets_its_answer(
    discord_client: Harness, answers: list[tuple[Any, list[str]]], bot_mode: Crashbot
) -> None:
    discord_client.feed(command("declare", title="Checkout down", severity="SEV1"))
    [(answer, stored_then)] = answers
    assert answer["type"] == 4 and answer["data"]["content"].startswith("Declared **INC-1**")
    assert stored_then == ["Checkout down"]


def test_a_slow_command_is_deferred_and_its_answer_still_follows_the_commit(
    discord_client: Harness,
    answers: list[tuple[Any, list[str]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from crashbot_discord import bot

    monkeypatch.setattr(bot, "DEFER_AFTER", 0.0)  # every command counts as slow
    discord_client.feed(command("declare", title="Checkout down", severity="SEV1"))
    (deferred, _), (answer, stored_then) = answers
    # "Thinking…" claims nothing; the answer that says done comes after the commit.
    assert deferred["type"] == 5
    assert answer["content"].startswith("Declared **INC-1**")
    assert stored_then == ["Checkout down"]
