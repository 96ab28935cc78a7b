"""The ``crashbot`` command line through click's CliRunner (same process).

The same session runs as real processes in ``tests/test_cli_e2e.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from crashbot_core import Event, Incident, hookimpl
from crashbot_core.cli import build_cli
from crashbot_core.plugins import get_plugin_manager
from crashbot_core.testing import make_crashbot

SESSION = [
    ["init"],
    ["declare", "Checkout API returns 500s", "--severity", "P1", "--component", "api", "--public"],
    ["ack", "1"],
    ["update", "1", "--status", "identified", "--message", "Bad deploy of v1.2.3", "--public"],
    ["assign", "1", "commander", "alice"],
    ["update", "1", "--status", "monitoring", "--message", "Rolled back"],
    ["resolve", "1", "--message", "Error rate back to normal"],
    ["rca", "1", "https://wiki.example.com/rca/1"],
]


class Cli:
    """Runs commands against ``database_url`` as user ``bob``."""

    def __init__(self, cwd: Path, database_url: str, pm: Any = None) -> None:
        self.cwd = cwd
        self.database_url = database_url
        self.pm = pm or get_plugin_manager(disabled=())
        self.group = build_cli(self.pm)

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        runner = CliRunner()
        environ = {"CRASHBOT_DATABASE_URL": self.database_url, "CRASHBOT_USER": "bob"}
        environ.update(env or {})
        return runner.invoke(self.group, list(args), env=environ, catch_exceptions=False)

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.exit_code == 0, (args, result.output, result.stderr)
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run where crashbot.toml is written and read."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> Iterator[Cli]:
    yield Cli(tmp_path, database_url)


def test_the_readme_session(cli: Cli, tmp_path: Path, database_url: str) -> None:
    outputs = [cli.ok(*args) for args in SESSION]
    assert (tmp_path / "crashbot.toml").exists()
    assert outputs[1] == "INC-1 declared (SEV2, investigating)\n"
    assert outputs[2] == "INC-1 acknowledged (SEV2, investigating)\n"
    assert outputs[4] == "INC-1 Incident commander: alice (SEV2, identified)\n"
    assert outputs[6] == "INC-1 resolved (SEV2, resolved)\n"

    listed = cli.json("list")
    assert [(i["ref"], i["status"], i["severity"], i["public"]) for i in listed] == [
        ("INC-1", "resolved", "SEV2", True)
    ]
    shown = cli.json("show", "1")
    assert shown["rca_url"] == "https://wiki.example.com/rca/1"
    assert shown["components"] == {"api": "partial_outage"}
    assert shown["roles"]["commander"]["id"] == "alice"
    assert shown["declared_by"]["id"] == "bob"
    assert [(e["kind"], e["public"]) for e in shown["timeline"]] == [
        ("declared", True),
        ("acknowledged", False),
        ("update_posted", True),
        ("role_assigned", False),
        ("status_changed", True),
        ("update_posted", False),
        ("resolved", True),
        ("rca_linked", True),
    ]
    metrics = cli.json("metrics")
    assert metrics["counts"]["total"] == 1
    assert metrics["durations"]["mttr"]["count"] == 1

    # What the commands stored, read back through the service.
    bot = make_crashbot(database_url=database_url)
    try:
        inc = bot.get("INC-1")
        assert inc.status.value == "resolved" and inc.version == 7  # one save per command
        assert inc.acknowledged_at is not None and inc.resolved_at is not None
        assert inc.acknowledged_at <= inc.mitigated_at <= inc.resolved_at  # type: ignore[operator]
    finally:
        bot.close()


def test_text_listing_and_show(cli: Cli) -> None:
    for args in SESSION[1:4]:
        cli.ok(*args)
    listing = cli.ok("list").splitlines()
    assert listing[0].split() == [
        "REF", "SEV", "STATUS", "TITLE", "STARTED", "(UTC)", "DURATION", "COMMANDER", "VISIBILITY",
    ]  # fmt: skip
    assert listing[2].startswith("INC-1  SEV2  identified  Checkout API returns 500s")
    shown = cli.ok("show", "INC-1")
    assert "severity   SEV2 (High)" in shown
    assert "update_posted  Bad deploy of v1.2.3" in shown
    assert cli.ok("list", "--open", "--severity", "SEV1") == "no incidents\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "7"], "error: no incident INC-7"),
        (["ack", "INC-9"], "error: no incident INC-9"),
        (["rca", "1", "https://wiki.example.com/rca/1"], "error: cannot link an RCA: the incident is investigating"),
        (["declare", "DB down", "--severity", "SEV9"], "error: unknown severity 'SEV9'; expected one of SEV1/P0/critical"),
        (["update", "1", "--status", "fixed"], "error: unknown status 'fixed'"),
        (["update", "1"], "error: nothing to update"),
        (["ack", "1"], "error: cannot acknowledge: the incident is already acknowledged"),
        (["show", "abc"], "error: 'abc' is not an incident id"),
        (["list", "--since", "forever"], "error: cannot read duration 'forever'"),
        (["declare", "DB down", "-c", "api=meltdown"], "error: unknown impact 'meltdown'"),
        (["declare", "   "], "error: the title is empty"),
        (["follow-up", "done", "42"], "error: no follow-up 42"),
    ],
)  # fmt: skip
def test_domain_errors_exit_1_with_one_line(cli: Cli, args: list[str], message: str) -> None:
    cli.ok("declare", "DB down")
    cli.ok("ack", "1")
    result = cli(*args)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(message), result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["declare"],
        ["frobnicate"],
        ["list", "--limit", "0"],
        ["metrics", "--by", "weekday"],
        ["follow-up", "1", "x", "--due", "tomorrow"],
        ["update", "1", "--bogus"],
    ],
)
def test_usage_errors_exit_2(cli: Cli, args: list[str]) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert "Usage: " in result.stderr
    assert "Traceback" not in result.output


def test_bad_config_exits_1_naming_file_and_key(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "crashbot.toml").write_text("[crashbot]\nname = 5\n")
    result = cli("list")
    assert result.exit_code == 1
    assert (
        result.stderr == "error: crashbot.toml: expected a string, found int 5 @ $.crashbot.name\n"
    )
    result = cli("--config", "missing.toml", "list")
    assert (result.exit_code, result.stderr) == (1, "error: missing.toml: no such config file\n")


def test_unreachable_database_exits_1(cli: Cli, tmp_path: Path) -> None:
    result = cli("list", env={"CRASHBOT_DATABASE_URL": f"sqlite:///{tmp_path}/no/such/dir/x.db"})
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: cannot open database 'sqlite:///{tmp_path}/no/such/dir/x.db'"
    )
    assert len(result.stderr.splitlines()) == 1


def test_init_keeps_an_existing_file(cli: Cli, tmp_path: Path) -> None:
    cli.ok("init")
    (tmp_path / "crashbot.toml").write_text("# mine\n")
    assert "exists; keeping it" in cli.ok("init")
    assert (tmp_path / "crashbot.toml").read_text() == "# mine\n"
    cli.ok("init", "--force")
    assert "[crashbot]" in (tmp_path / "crashbot.toml").read_text()


def test_the_written_config_loads(cli: Cli, tmp_path: Path) -> None:
    cli.ok("init")
    from crashbot_core import load_config

    assert load_config(tmp_path / "crashbot.toml", env={}).ref_prefix == "INC"


def test_plugins_lists_the_builtin_store_and_its_hooks(cli: Cli) -> None:
    data = cli.json("plugins")
    by_name = {p["name"]: p for p in data["plugins"]}
    assert by_name["sqlalchemy"]["hooks"] == ["crashbot_open_store"]
    assert by_name["sqlalchemy"]["distribution"].startswith("crashbot ")
    text = cli.ok("plugins")
    assert any(line.split()[:2] == ["sqlalchemy", "crashbot"] for line in text.splitlines())


def test_a_disabled_store_plugin_is_a_one_line_error(tmp_path: Path, database_url: str) -> None:
    cli = Cli(tmp_path, database_url, pm=get_plugin_manager(disabled=["sqlalchemy"]))
    listed = cli.json("plugins")
    assert "sqlalchemy" not in {p["name"] for p in listed["plugins"]}
    assert listed["disabled"] == ["sqlalchemy"]
    assert "disabled: sqlalchemy (CRASHBOT_DISABLED_PLUGINS)" in cli.ok("plugins")
    result = cli("list")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no installed plugin can open database")


class Broken:
    """A notifier whose chat API is down."""

    @hookimpl
    def crashbot_incident_event(self, incident: Incident, event: Event) -> None:
        raise ConnectionError("chat is down")


def test_failed_deliveries_are_listed(tmp_path: Path, database_url: str) -> None:
    pm = get_plugin_manager(disabled=())
    pm.register(Broken(), name="broken")
    cli = Cli(tmp_path, database_url, pm=pm)
    assert cli.ok("deliveries", "--failed") == "no failed deliveries\n"
    assert cli.ok("declare", "DB down") == "INC-1 declared (SEV4, investigating)\n"
    failed = cli.json("deliveries", "--failed")
    assert [(d["event_id"], d["plugin"], d["state"], d["attempts"]) for d in failed] == [
        (1, "broken", "failed", 1)
    ]
    assert failed[0]["last_error"] == "ConnectionError: chat is down"
    assert "broken" in cli.ok("deliveries", "--failed")


def test_follow_ups(cli: Cli) -> None:
    cli.ok("declare", "DB down")
    assert cli.ok("follow-up", "1", "Alert on lag", "--owner", "carol", "--due", "2026-12-31") == (
        "follow-up #1 added: Alert on lag\n"
    )
    assert cli.json("follow-up", "done", "1")["done"] is True
    shown = cli.ok("show", "1")
    assert "[x] #1 Alert on lag @carol due 2026-12-31" in shown


def test_plugin_commands_come_from_the_crashbot_cli_hook(tmp_path: Path, database_url: str) -> None:
    class Extra:
        @hookimpl
        def crashbot_cli(self, group: click.Group) -> None:
            @group.command()
            def hello() -> None:
                """Say hello."""
                click.echo("hello from a plugin")

    pm = get_plugin_manager(disabled=())
    pm.register(Extra(), name="extra")
    assert Cli(tmp_path, database_url, pm=pm).ok("hello") == "hello from a plugin\n"


def test_help_never_opens_the_database(tmp_path: Path) -> None:
    cli = Cli(tmp_path, "mysql://nowhere/x")
    assert "declare" in cli.ok("--help")
    assert "--severity" in cli.ok("declare", "--help")
