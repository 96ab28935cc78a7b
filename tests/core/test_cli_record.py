"""``crashbot close``, ``crashbot edit``, ``crashbot declare --retrospective`` and ``list --all``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from crashbot_core.cli import build_cli
from crashbot_core.plugins import get_plugin_manager


class Cli:
    """Runs commands against ``database_url`` as user ``bob``."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.group = build_cli(get_plugin_manager(disabled=()))

    def __call__(self, *args: str) -> Result:
        env = {"CRASHBOT_DATABASE_URL": self.database_url, "CRASHBOT_USER": "bob"}
        return CliRunner().invoke(self.group, list(args), env=env, catch_exceptions=False)

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.exit_code == 0, (args, result.output, result.stderr)
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))


@pytest.fixture
def cli(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    return Cli(database_url)


def test_close_as_invalid_and_as_duplicate_then_list_all(cli: Cli) -> None:
    cli.ok("declare", "Checkout down")
    cli.ok("declare", "Pager test")
    cli.ok("declare", "Checkout 500s")

    invalid = cli.ok("close", "2", "--invalid", "-m", "synthetic check")
    duplicate = cli.ok("close", "INC-3", "--duplicate-of", "1")

    assert invalid == "INC-2 closed as invalid\n"
    assert duplicate == "INC-3 closed as a duplicate of INC-1\n"
    assert [i["ref"] for i in cli.json("list")] == ["INC-1"]
    everything = {i["ref"]: (i["status"], i["resolution"]) for i in cli.json("list", "--all")}
    assert everything == {
        "INC-1": ("investigating", None),
        "INC-2": ("resolved", "invalid"),
        "INC-3": ("resolved", "duplicate"),
    }
    table = cli.ok("list", "--all")
    assert "invalid" in table and "duplicate of #1" in table
    shown = cli.ok("show", "1")
    assert "merged  INC-3 merged in (0 alerts, 0 follow-ups)" in shown
    assert "closed  duplicate of INC-1" in cli.ok("show", "3")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["close", "1", "--duplicate-of", "1"], "cannot be a duplicate of itself"),
        (["close", "1", "--duplicate-of", "42"], "no incident INC-42"),
    ],
)
def test_close_errors_are_one_line_exit_1(cli: Cli, args: list[str], message: str) -> None:
    cli.ok("declare", "Checkout down")

    result = cli(*args)

    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["close", "1"],
        ["close", "1", "--invalid", "--duplicate-of", "2"],
        ["declare", "Old outage", "--retrospective", "--started-at", "2026-01-10T09:00Z"],
        ["declare", "Checkout down", "--resolved-at", "2026-01-10T09:00Z"],
    ],
)
def test_close_and_retrospective_usage_errors_exit_2(cli: Cli, args: list[str]) -> None:
    assert cli(*args).exit_code == 2


def test_a_retrospective_incident_is_recorded_resolved(cli: Cli) -> None:
    out = cli.ok(
        "declare",
        "Checkout down overnight",
        "--severity",
        "SEV1",
        "--retrospective",
        "--started-at",
        "2026-01-10T01:00Z",
        "--detected-at",
        "2026-01-10T01:20Z",
        "--acknowledged-at",
        "2026-01-10T01:25Z",
        "--mitigated-at",
        "2026-01-10T02:00Z",
        "--resolved-at",
        "2026-01-10T02:30Z",
    )

    assert out == "INC-1 recorded (SEV1, resolved)\n"
    stored = cli.json("show", "1")
    assert (stored["detected_at"], stored["resolved_at"], stored["resolution"]) == (
        "2026-01-10T01:20:00Z",
        "2026-01-10T02:30:00Z",
        "resolved",
    )
    assert [e["kind"] for e in stored["timeline"]] == ["recorded"]


def test_edit_is_audited_and_keeps_times_in_order(cli: Cli) -> None:
    cli.ok(
        "declare",
        "Checkout down",
        "--retrospective",
        "--started-at",
        "2026-01-10T01:00Z",
        "--resolved-at",
        "2026-01-10T02:30Z",
    )

    out = cli.ok(
        "edit", "1", "--title", "Checkout down (EU)", "--mitigated-at", "2026-01-10T02:00Z"
    )
    refused = cli("edit", "1", "--mitigated-at", "2026-01-10T03:00Z")

    assert out == "INC-1 edited\n"
    shown = cli.ok("show", "1")
    assert "bob           edited  title: Checkout down → Checkout down (EU)" in shown
    assert "edited  mitigated_at: none → 2026-01-10T02:00:00Z" in shown
    assert refused.exit_code == 1
    assert "resolved_at (2026-01-10T02:30:00Z) is before mitigated_at" in refused.stderr
