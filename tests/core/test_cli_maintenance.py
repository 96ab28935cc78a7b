"""``crashbot maintenance …`` against a real store: output, JSON, exit statuses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cli import Cli


@pytest.fixture
def cli(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    monkeypatch.chdir(tmp_path)
    yield Cli(tmp_path, database_url)


def test_schedule_list_update_start_complete(cli: Cli) -> None:
    scheduled = cli.ok(
        "maintenance", "schedule", "Database upgrade", "--starts-at", "2099-01-01T02:00",
        "--ends-at", "2099-01-01T04:00Z", "-c", "db", "-m", "Writes pause.",
    )  # fmt: skip
    listed = cli.ok("maintenance", "list")
    cli.ok("maintenance", "update", "MNT-1", "-m", "On track.", "--ends-at", "2099-01-01T05:00Z")
    started = cli.ok("maintenance", "start", "mnt-1")
    verifying = cli.json("maintenance", "update", "1", "--status", "verifying")
    done = cli.json("maintenance", "complete", "#1", "-m", "Done.")
    shown = cli.ok("maintenance", "show", "1")

    assert scheduled == (
        "MNT-1 scheduled: Database upgrade (scheduled, 2099-01-01 02:00 to 2099-01-01 04:00 UTC)\n"
    )
    assert "MNT-1  scheduled  2099-01-01 02:00  2099-01-01 04:00  db" in listed
    assert started.startswith("MNT-1 started: Database upgrade (in_progress, ")
    assert verifying["status"] == "verifying"
    assert done["status"] == "completed" and done["created_by"]["id"] == "bob"
    assert [u["body"] for u in done["updates"]][:2] == ["Writes pause.", "On track."]
    assert "completed: Done." in shown
    assert cli.json("maintenance", "list", "--status", "scheduled") == []


def test_domain_errors_exit_1_with_one_line(cli: Cli) -> None:
    cli.ok(
        "maintenance", "schedule", "Upgrade", "--starts-at", "2099-01-01T02:00",
        "--ends-at", "2099-01-01T04:00",
    )  # fmt: skip

    early = cli("maintenance", "complete", "1")
    missing = cli("maintenance", "start", "MNT-9")
    backwards = cli(
        "maintenance", "schedule", "X", "--starts-at", "2099-01-02", "--ends-at", "2099-01-01"
    )
    usage = cli("maintenance", "schedule", "X", "--starts-at", "2099-01-02")

    assert early.exit_code == 1
    assert early.stderr.strip().splitlines() == [
        "error: cannot complete MNT-1: it is scheduled; only one in progress or verifying "
        "completes (cancel it instead)"
    ]
    assert missing.exit_code == 1 and "no maintenance MNT-9" in missing.stderr
    assert backwards.exit_code == 1 and "before it starts" in backwards.stderr
    assert usage.exit_code == 2
