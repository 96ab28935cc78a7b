"""``crashbot metrics``: filters, CSV, units and definitions, on the SQL store."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support import ALICE, T0

from crashbot_core import FixedClock
from crashbot_core.cli import build_cli
from crashbot_core.plugins import get_plugin_manager
from crashbot_core.testing import make_crashbot

# The CLI's clock is the real one; a wide window keeps T0's incidents in it.
WIDE = ["--since", "36500d"]


@pytest.fixture
def seeded(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Three incidents: SEV1 on api (acked in 4m, resolved in 1h), SEV2 on db, SEV4 unacked."""
    monkeypatch.chdir(tmp_path)
    clock = FixedClock(T0)
    bot = make_crashbot(database_url=database_url, clock=clock)
    try:
        one = bot.declare(
            "API down",
            severity="SEV1",
            components=["api"],
            labels={"team": "core"},
            source="slack",
            actor=ALICE,
        )
        clock.advance(timedelta(minutes=4))
        bot.acknowledge(one.id, actor=ALICE)
        clock.advance(timedelta(minutes=56))
        bot.resolve(one.id, actor=ALICE)
        two = bot.declare(
            "DB slow", severity="SEV2", components=["db"], labels={"team": "data"}, source="cli"
        )
        clock.advance(timedelta(minutes=45))
        bot.acknowledge(two.id, actor=ALICE)
        bot.declare("Typo", severity="SEV4", source="cli")
    finally:
        bot.close()
    yield database_url


def run(database_url: str, *args: str) -> Result:
    group = build_cli(get_plugin_manager(disabled=()))
    return CliRunner().invoke(
        group,
        ["metrics", *args],
        env={"CRASHBOT_DATABASE_URL": database_url, "CRASHBOT_USER": "bob"},
        catch_exceptions=False,
    )


def test_table_shows_durations_with_units_and_the_definitions(seeded: str) -> None:
    result = run(seeded, *WIDE, "--by", "severity")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Incident metrics: 3 incidents" in out
    # MTTA over the two acknowledged incidents: 4m and 45m -> mean 24m 30s.
    assert "24m 30s" in out
    assert "p90: nearest rank" in out
    assert "Breached: acknowledged after the response target" in out


def test_filters_narrow_the_selection(seeded: str) -> None:
    def total(*args: str) -> int:
        result = run(seeded, *WIDE, "--json", *args)
        assert result.exit_code == 0, result.output
        return int(json.loads(result.stdout)["counts"]["total"])

    assert total() == 3
    assert total("--severity", "P0", "--severity", "sev2") == 2
    assert total("--component", "db") == 1
    assert total("--label", "team=core") == 1
    assert total("--source", "cli") == 2
    assert total("--source", "cli", "--severity", "SEV4") == 1


def test_csv_has_an_overall_row_and_one_row_per_severity(seeded: str) -> None:
    result = run(seeded, *WIDE, "--csv", "--by", "severity")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["group"], r["key"], r["incidents"]) for r in rows] == [
        ("all", "all", "3"),
        ("severity", "SEV1", "1"),
        ("severity", "SEV2", "1"),
        ("severity", "SEV3", "0"),
        ("severity", "SEV4", "1"),
    ]
    sev2 = rows[2]
    # Acknowledged after 45 minutes against a 30-minute target: breached.
    assert (sev2["mtta_mean_seconds"], sev2["breached"], sev2["evaluated"]) == (
        "2700.000",
        "1",
        "1",
    )
    assert rows[1]["mttr_p90_seconds"] == "3600.000"
    assert rows[3]["mtta_mean_seconds"] == ""


def test_a_malformed_label_is_a_usage_error(seeded: str) -> None:
    # An unreadable option value is a usage error (docs/cli.md): exit 2 with
    # click's usage message naming the option and the expected shape.
    result = run(seeded, "--label", "team")
    assert result.exit_code == 2
    assert "KEY=VALUE" in result.output
    assert "Traceback" not in result.output


def test_json_and_csv_together_is_a_usage_error(seeded: str) -> None:
    assert run(seeded, "--json", "--csv").exit_code == 2
