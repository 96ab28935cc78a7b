"""``crashbot follow-ups``: the follow-ups of every incident, as a terminal shows them.

The command runs on the real clock, so due dates are set relative to today
in the configured time zone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from crashbot_core import Actor
from crashbot_core.cli import build_cli
from crashbot_core.plugins import get_plugin_manager
from crashbot_core.testing import make_crashbot

BOB = Actor("slack", "UBOB", "Bob")
#: UTC+14 and UTC-12: their dates differ by a day or two, never agree.
AHEAD, BEHIND = "Pacific/Kiritimati", "Etc/GMT+12"

Run = Callable[..., Result]


def today_in(zone: str) -> date:
    return datetime.now(ZoneInfo(zone)).date()


@pytest.fixture
def run(tmp_path: Path, database_url: str) -> Iterator[Run]:
    """``crashbot ARGS`` with ``[crashbot] time_zone = ZONE`` (default: far ahead of UTC)."""
    group = build_cli(get_plugin_manager(disabled=()))

    def invoke(*args: str, zone: str = AHEAD) -> Result:
        config = tmp_path / "crashbot.toml"
        config.write_text(f'[crashbot]\ntime_zone = "{zone}"\n', encoding="utf-8")
        env = {
            "CRASHBOT_DATABASE_URL": database_url,
            "CRASHBOT_CONFIG": str(config),
            "CRASHBOT_USER": "carol",
        }
        return CliRunner().invoke(group, list(args), env=env, catch_exceptions=False)

    yield invoke


@pytest.fixture
def seeded(database_url: str) -> dict[str, date]:
    """INC-1 and INC-2 with follow-ups: overdue, due today (ahead), undated, done."""
    bot = make_crashbot(database_url=database_url)
    today = today_in(AHEAD)
    try:
        bot.declare("Checkout returns 500s", actor=BOB)
        bot.declare("Search is slow", actor=BOB)
        alice = Actor("cli", "alice", "alice")
        bot.add_follow_up(1, "Add an alert", actor=BOB, owner=alice, due=today - timedelta(3))
        bot.add_follow_up(2, "Add an index", actor=BOB, owner=BOB, due=today)
        bot.add_follow_up(1, "Write the runbook", actor=BOB)
        done = bot.add_follow_up(2, "Page the DBA", actor=BOB, due=today - timedelta(9))
        bot.complete_follow_up(done.id, actor=BOB)
    finally:
        bot.close()
    return {"late": today - timedelta(3), "today": today, "done": today - timedelta(9)}


def lines(result: Result) -> list[str]:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout.splitlines()


def test_open_follow_ups_of_every_incident_soonest_due_first(
    run: Run, seeded: dict[str, date]
) -> None:
    late, today = seeded["late"], seeded["today"]

    assert lines(run("follow-ups")) == [
        "ID  INCIDENT  TITLE              OWNER  DUE         STATE",
        "--  --------  -----------------  -----  ----------  --------------",
        f"1   INC-1     Add an alert       alice  {late}  overdue 3 days",
        f"2   INC-2     Add an index       Bob    {today}  open",
        "3   INC-1     Write the runbook  —      —           open",
    ]


def test_overdue_counts_from_today_in_the_configured_time_zone(
    run: Run, seeded: dict[str, date]
) -> None:
    assert [line.split()[0] for line in lines(run("follow-ups", "--overdue"))[2:]] == ["1"]
    # Behind UTC by 12 hours it is a day or two earlier: nothing is overdue yet.
    if seeded["late"] >= today_in(BEHIND):
        assert lines(run("follow-ups", "--overdue", zone=BEHIND)) == ["no overdue follow-ups"]


def test_owner_matches_the_name_or_the_id_and_all_adds_done_ones(
    run: Run, seeded: dict[str, date]
) -> None:
    mine = lines(run("follow-ups", "--owner", "ubob"))
    assert mine == lines(run("follow-ups", "--owner", "@bob"))
    assert [line.split()[:2] for line in mine[2:]] == [["2", "INC-2"]]
    everything = lines(run("follow-ups", "--all"))
    assert everything[2].split() == [
        "4",
        "INC-2",
        "Page",
        "the",
        "DBA",
        "—",
        str(seeded["done"]),
        "done",
    ]
    assert lines(run("follow-ups", "--owner", "nobody")) == ["no open follow-ups owned by nobody"]
    bad = run("follow-ups", "--owner", " @ ")
    assert bad.exit_code == 2 and "--owner" in bad.stderr


def test_json_names_the_incident_and_whether_it_is_overdue(
    run: Run, seeded: dict[str, date]
) -> None:
    result = run("follow-ups", "--json", "--overdue")

    [item] = json.loads(result.stdout)
    assert item["id"] == 1 and item["title"] == "Add an alert"
    assert item["incident"] == {"id": 1, "ref": "INC-1", "title": "Checkout returns 500s"}
    assert (item["due"], item["overdue"], item["owner"]["name"]) == (
        str(seeded["late"]),
        True,
        "alice",
    )


def test_control_characters_in_owner_names_are_shown_escaped(run: Run, database_url: str) -> None:
    run("declare", "Checkout returns 500s")
    run("follow-up", "1", "Add an alert", "--owner", "eve\x1b[2J\rroot")

    listed = run("follow-ups")

    assert "\x1b" not in listed.stdout and "\r" not in listed.stdout
    assert "eve\\x1b[2J\\rroot" in listed.stdout
