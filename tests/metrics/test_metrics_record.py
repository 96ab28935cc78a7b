"""MTTD, invalid/duplicate incidents and the estimated cost, as users see them.

Through the real store (SQLite, and PostgreSQL when configured), the CLI
(``metrics``, ``show``) and the Markdown postmortem.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner, Result
from support import ALICE, BOB, T0, alert

from crashbot_core import Crashbot, FixedClock
from crashbot_core.cli import build_cli
from crashbot_core.models import Resolution
from crashbot_core.plugins import get_plugin_manager
from crashbot_core.store import Change
from crashbot_core.testing import make_crashbot

M = timedelta(minutes=1)
COST = {"cost": {"hourly_rate": 120, "currency": "EUR", "roles": {"commander": 180}}}


def story(bot: Crashbot, clock: FixedClock) -> int:
    """SEV2 declared by Alice 10 min after it started; Bob takes command at +10, resolves at +60.

    Alice 60 min at 120/h = 120, Bob (commander) 50 min at 180/h = 150: 270 EUR.
    """
    inc = bot.declare(
        "Checkout down", severity="SEV2", started_at=T0 - 10 * M, actor=ALICE, source="cli"
    )
    clock.advance(10 * M)
    bot.assign_role(inc.id, "commander", BOB, actor=ALICE)
    clock.advance(50 * M)
    bot.resolve(inc.id, actor=BOB)
    return inc.id


def close_as(bot: Crashbot, incident_id: int, resolution: Resolution) -> None:
    """What ``close --invalid/--duplicate-of`` will store (built on another branch)."""
    inc = bot.get(incident_id)
    bot.store.commit(
        Change(
            incident=attrs.evolve(inc, resolution=resolution, duplicate_of=None),
            expected_version=inc.version,
        )
    )


@pytest.fixture
def recorded(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The story, plus a false alarm closed as invalid and a duplicate of it."""
    monkeypatch.chdir(tmp_path)
    clock = FixedClock(T0)
    bot = make_crashbot(database_url=database_url, clock=clock, config=COST)
    try:
        story(bot, clock)
        for resolution in (Resolution.INVALID, Resolution.DUPLICATE):
            other = bot.declare("Noise", severity="SEV1", components=["api"], actor=ALICE)
            clock.advance(30 * M)
            bot.resolve(other.id, actor=ALICE)
            close_as(bot, other.id, resolution)
    finally:
        bot.close()
    (tmp_path / "crashbot.toml").write_text(
        '[cost]\nhourly_rate = 120\ncurrency = "EUR"\n[cost.roles]\ncommander = 180\n'
    )
    yield database_url


def cli(database_url: str, *args: str, config: bool = True) -> Result:
    env = {"CRASHBOT_DATABASE_URL": database_url, "CRASHBOT_USER": "bob"}
    if not config:
        env["CRASHBOT_CONFIG"] = str(Path("none.toml").absolute())
        Path("none.toml").write_text("")
    result = CliRunner().invoke(
        build_cli(get_plugin_manager(disabled=())), list(args), env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result


def test_metrics_json_has_mttd_and_leaves_out_invalid_and_duplicate_incidents(
    recorded: str,
) -> None:
    report = json.loads(cli(recorded, "metrics", "--since", "36500d", "--json").stdout)

    assert report["counts"]["total"] == 1
    assert report["counts"]["by_severity"]["SEV1"] == 0
    assert report["counts"]["by_component"] == {}
    assert report["durations"]["mttd"] == {
        "count": 1,
        "mean_seconds": 600.0,
        "median_seconds": 600.0,
        "p90_seconds": 600.0,
    }
    assert report["durations"]["mttr"]["count"] == 1
    assert report["cost"] == {
        "currency": "EUR",
        "total": pytest.approx(270.0),
        "by_severity": {
            "SEV1": 0.0,
            "SEV2": pytest.approx(270.0),
            "SEV3": 0.0,
            "SEV4": 0.0,
        },
    }


def test_metrics_table_and_csv_show_mttd_and_cost(recorded: str) -> None:
    table = cli(recorded, "metrics", "--since", "36500d", "--by", "severity").stdout
    assert "MTTD (detect)" in table
    assert "Estimated cost: 270.00 EUR" in table
    assert "SEV2 270.00 EUR" in table

    rows = list(
        csv.DictReader(io.StringIO(cli(recorded, "metrics", "--since", "36500d", "--csv").stdout))
    )
    assert rows[0]["mttd_mean_seconds"] == "600.000"
    assert (rows[0]["cost"], rows[0]["currency"]) == ("270.00", "EUR")


def test_without_a_rate_the_cost_is_absent_not_zero(recorded: str) -> None:
    report = json.loads(
        cli(recorded, "metrics", "--since", "36500d", "--json", config=False).stdout
    )
    table = cli(recorded, "metrics", "--since", "36500d", config=False).stdout
    shown = json.loads(cli(recorded, "show", "1", "--json", config=False).stdout)

    assert report["cost"] is None
    assert "cost" not in table.lower()
    assert shown["cost"] is None


def test_show_lists_each_persons_time_rate_and_cost(recorded: str) -> None:
    out = cli(recorded, "show", "1").stdout
    data = json.loads(cli(recorded, "show", "1", "--json").stdout)

    assert "Estimated cost: 270.00 EUR (2 people, 1h 50m engaged)" in out
    assert "Bob (commander)" in out
    assert [(p["name"], p["role"], p["seconds"], p["cost"]) for p in data["cost"]["people"]] == [
        ("Alice", None, 3600.0, 120.0),
        ("Bob", "commander", 3000.0, 150.0),
    ]


def test_the_markdown_postmortem_shows_detection_and_the_cost(
    database_url: str, tmp_path: Path
) -> None:
    clock = FixedClock(T0)
    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        config={**COST, "markdown": {"output_dir": str(tmp_path / "pms")}},
    )
    try:
        incident_id = story(bot, clock)
        text = Path(bot.export_postmortem(incident_id, "markdown")).read_text()
    finally:
        bot.close()

    assert "| Detected | 2026-03-02 09:00 UTC (after 10m) |" in text
    assert "| Estimated cost | 270.00 EUR |" in text
    assert "| Bob | commander | 50m | 180.00 EUR | 150.00 EUR |" in text


def test_an_alert_incident_is_detected_when_its_first_alert_started(
    database_url: str, clock: FixedClock
) -> None:
    bot = make_crashbot(database_url=database_url, clock=clock)
    try:
        clock.advance(7 * M)
        fired = attrs.evolve(alert("disk-full", team="core"), started_at=T0)
        incident = bot.ingest_alert(fired).incident
        assert incident is not None
        stored = bot.get(incident.id)
        report = bot.metrics(since=timedelta(days=1))
    finally:
        bot.close()

    assert stored.detected_at == T0
    assert stored.declared_at == T0 + 7 * M
    assert report.durations.mttd.mean == 0.0
    assert report.durations.mtta.count == 0
