"""``/incident maintenance …``: parsed text, then signed slash commands against the store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from slack_support import SlackDriver
from test_commands import reply

from crashbot_core import Crashbot
from crashbot_slack.command_text import CommandError, ParsedCommand, parse


def test_maintenance_text_parses_into_steps() -> None:
    assert parse("maintenance") == ParsedCommand(action="maintenance", step="list")
    assert parse("maint list") == ParsedCommand(action="maintenance", step="list")
    assert parse(
        "maintenance schedule 2026-03-10T02:00 2026-03-10T04:00+01:00 components=db,api DB upgrade"
    ) == ParsedCommand(
        action="maintenance",
        step="schedule",
        title="DB upgrade",
        starts_at=datetime(2026, 3, 10, 2, 0, tzinfo=UTC),
        ends_at=datetime(2026, 3, 10, 3, 0, tzinfo=UTC),
        components=("db", "api"),
    )
    assert parse("maintenance complete MNT-3 all done") == ParsedCommand(
        action="maintenance", step="complete", ref="MNT-3", message="all done"
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("maintenance schedule tomorrow 2026-03-10T04:00 Upgrade", "not a time"),
        ("maintenance schedule 2026-03-10T02:00 2026-03-10T04:00", "Usage"),
        ("maintenance start", "Which maintenance"),
        ("maintenance update MNT-1", "Usage"),
        ("maintenance reboot MNT-1", "Usage"),
    ],
)
def test_bad_maintenance_text_says_how_to_write_it(text: str, says: str) -> None:
    with pytest.raises(CommandError, match=says):
        parse(text)


def test_scheduling_starting_and_listing_from_slack(
    slack: SlackDriver, slack_bot: Crashbot
) -> None:
    scheduled = reply(
        slack.command("maintenance schedule 2026-03-03T02:00 2026-03-03T04:00 Database upgrade")
    )
    listed = reply(slack.command("maintenance"))
    started = reply(slack.command("maintenance start MNT-1 Going early."))
    refused = reply(slack.command("maintenance cancel MNT-1"))

    m = slack_bot.get_maintenance(1)
    assert (
        scheduled == "Scheduled MNT-1: Database upgrade, 2026-03-03 02:00 to 2026-03-03 04:00 UTC."
    )
    assert "MNT-1 Database upgrade — scheduled" in listed
    assert started == "MNT-1 is now in progress."
    assert "cannot cancel MNT-1: it is in_progress" in refused
    assert m.status.value == "in_progress"
    assert m.created_by is not None and m.created_by.id == "UALICE"
    assert [u.body for u in m.updates][-1] == "Going early."
