"""The ``crashbot`` command line through click's CliRunner (same process).

The same session runs as real processes in ``tests/test_cli_e2e.py``.
"""

from __future__ import annotations

import json
import os
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
        (["update", "1"], "error: nothing to update"),
        (["ack", "1"], "error: cannot acknowledge: the incident is already acknowledged"),
        (["declare", "   "], "error: the title is empty"),
        (["follow-up", "done", "42"], "error: no follow-up 42"),
        (["show", "FOO-1"], "error: 'FOO-1' is not an incident id"),
        (["unassign", "1", "scribe"], "error: nobody is Scribe of INC-1"),
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


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["declare", "DB down", "--started-at", "yesterday"], "Invalid value for '--started-at': 'yesterday' is not an ISO 8601 date or time"),
        (["declare", "DB down", "--started-at", "0001-01-01T00:00:00+14:00"], "Invalid value for '--started-at'"),
        (["declare", "DB down", "-c", "api=meltdown"], "Invalid value for '--component' / '-c': unknown impact 'meltdown'"),
        (["declare", "DB down", "-l", "team"], "Invalid value for '--label' / '-l': 'team' is not KEY=VALUE"),
        (["list", "--since", "forever"], "Invalid value for '--since': 'forever' is not an age like 30d"),
        (["list", "--since", "3000000d"], "Invalid value for '--since': look-back window '3000000d' is too long"),
        (["list", "--status", "bogus"], "Invalid value for '--status': 'bogus' is not one of"),
        (["show", "abc"], "Invalid value for 'ID': 'abc' is not an incident id"),
        (["show", "1" * 19], f"Invalid value for 'ID': '{'1' * 19}' is not an incident id"),
        (["ack", "INC-"], "Invalid value for 'ID': 'INC-' is not an incident id"),
        (["update", "1", "--status", "bogus"], "Invalid value for '--status': 'bogus' is not one of 'investigating', 'identified', 'monitoring', 'resolved'"),
        (["unassign", "x", "ic"], "Invalid value for 'ID': 'x' is not an incident id"),
        (["follow-up", "abc", "Add alerts"], "Invalid value for ID: 'abc' is not an incident id"),
        (["metrics", "--since", "forever"], "Invalid value for '--since'"),
        (["metrics", "--until", "someday"], "Invalid value for '--until': 'someday' is not an ISO 8601"),
        (["metrics", "--label", "team"], "Invalid value for '--label': 'team' is not KEY=VALUE"),
    ],
)  # fmt: skip
def test_bad_option_values_are_usage_errors_exit_2(cli: Cli, args: list[str], error: str) -> None:
    cli.ok("declare", "DB down")
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"Usage: cli {args[0]} ")
    assert lines[-1].startswith(f"Error: {error}"), lines[-1]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "status", "error", "reason"),
    [
        (["show", "999"], 1, "not_found", "no incident INC-999"),
        (["ack", "1"], 1, "illegal_transition", "cannot acknowledge: the incident is already acknowledged"),
        (["declare", "DB down", "-s", "SEV9"], 1, "invalid_input", "unknown severity 'SEV9'"),
        (["show", "abc"], 2, "usage_error", "Invalid value for 'ID': 'abc' is not an incident id"),
        (["list", "--since", "forever"], 2, "usage_error", "Invalid value for '--since'"),
        (["update", "1", "--status", "bogus"], 2, "usage_error", "Invalid value for '--status'"),
        (["list", "--bogus"], 2, "usage_error", "No such option '--bogus'"),
    ],
)  # fmt: skip
def test_errors_with_json_are_json_shaped_as_the_http_apis(
    cli: Cli, args: list[str], status: int, error: str, reason: str
) -> None:
    cli.ok("declare", "DB down")
    cli.ok("ack", "1")
    result = cli(*args, "--json")
    assert result.exit_code == status, result.output
    body = json.loads(result.stdout)
    assert set(body) == {"error", "reason"}
    assert body["error"] == error
    assert body["reason"].startswith(reason), body
    assert result.stderr == ""


def test_a_json_flag_after_double_dash_is_an_argument(cli: Cli) -> None:
    assert cli.ok("declare", "--", "--json") == "INC-1 declared (SEV4, investigating)\n"
    result = cli("show", "--", "--json")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1].startswith("Error: Invalid value for 'ID': '--json'")


def test_unassign_takes_a_role_away(cli: Cli) -> None:
    cli.ok("declare", "DB down")
    cli.ok("assign", "1", "ic", "alice")
    assert cli.ok("unassign", "INC-1", "ic") == (
        "INC-1 Incident commander unassigned (SEV4, investigating)\n"
    )
    shown = cli.json("show", "1")
    assert "commander" not in shown["roles"]
    assert shown["timeline"][-1]["kind"] == "role_unassigned"
    assert shown["timeline"][-1]["actor"]["id"] == "bob"
    result = cli("unassign", "1", "ic")
    assert (result.exit_code, result.stderr) == (
        1,
        "error: nobody is Incident commander of INC-1\n",
    )


HOSTILE_TITLE = "\x1b[2J\x1b[31mred\x1b[0m \x9b\u202eevil\x07"


def test_terminal_output_shows_control_characters_as_escapes(cli: Cli) -> None:
    cli.ok("declare", HOSTILE_TITLE, "-d", "first\nsecond\x1b]0;title\x07")
    cli.ok("update", "1", "-m", "done\rOVERWRITTEN")
    cli.ok("follow-up", "1", "fix \x1b[1mit")
    for out in (cli.ok("list"), cli.ok("show", "1")):
        assert not any(c in out for c in "\x1b\r\x07\x9b\u202e"), repr(out)
        assert "red" in out
    stored = cli.json("show", "1")
    if "\x1b" in stored["title"]:  # unless input validation strips control characters
        assert "\\x1b[31mred\\x1b[0m \\x9b\\u202eevil\\x07" in cli.ok("list")
    shown = cli.ok("show", "1")
    assert "done\\rOVERWRITTEN" in shown or "done OVERWRITTEN" in shown
    assert "  first\n  second" in shown
    # JSON keeps the text exact, and escapes what a terminal would act on.
    raw = cli("show", "1", "--json").stdout
    assert not any(c in raw for c in "\x1b\r\x07\x9b\u202e")
    assert json.loads(raw)["title"] == stored["title"]


def test_a_read_only_database_fails_writes_with_one_line(tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    db_file = db_dir / "crashbot.db"
    url = f"sqlite:///{db_file}"
    Cli(tmp_path, url).ok("declare", "DB down")
    cli = Cli(tmp_path, read_only_sqlite(db_dir, db_file))
    try:
        assert "DB down" in cli.ok("list")
        for args in (["declare", "Another"], ["ack", "1"]):
            result = cli(*args)
            assert result.exit_code == 1, result.output
            assert result.stdout == ""
            [line] = result.stderr.splitlines()
            assert line.startswith("error: database 'sqlite:///")
            assert "readonly database" in line or "unable to open" in line, line
        result = cli("declare", "Another", "--json")
        assert result.exit_code == 1
        assert json.loads(result.stdout)["error"] == "store_error"
    finally:
        db_dir.chmod(0o755)
        db_file.chmod(0o644)


def read_only_sqlite(db_dir: Path, db_file: Path) -> str:
    """Make the file and its folder read-only; the URL to open it by.

    root ignores file modes, so there SQLite is also told to open the file read-only.
    """
    db_file.chmod(0o444)
    db_dir.chmod(0o555)
    if os.geteuid() == 0:
        return f"sqlite:///file:{db_file}?mode=ro&uri=true"
    return f"sqlite:///{db_file}"


class Exploding:
    """A plugin whose hook fails in a way nobody planned for."""

    @hookimpl
    def crashbot_cli(self, group: click.Group) -> None:
        @group.command()
        def explode() -> None:
            """Fail."""
            raise KeyError("surprise")


def test_an_unexpected_failure_is_one_line_unless_debugging(
    tmp_path: Path, database_url: str
) -> None:
    pm = get_plugin_manager(disabled=())
    pm.register(Exploding(), name="exploding")
    cli = Cli(tmp_path, database_url, pm=pm)
    result = cli("explode")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: KeyError: 'surprise' (set CRASHBOT_DEBUG=1 for the traceback)\n"
    )
    with pytest.raises(KeyError):
        cli("explode", env={"CRASHBOT_DEBUG": "1"})


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


def test_a_misspelt_component_is_one_line_listing_the_known_ones(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "crashbot.toml").write_text('[components.api]\nname = "API"\n')

    refused = cli("declare", "Checkout down", "--component", "apii", "--public")
    added = cli("declare", "Queue stuck", "--component", "queue", "--new-component")

    assert refused.exit_code == 1
    assert refused.stderr.strip().splitlines() == [
        "error: unknown component 'apii'; known: api (add it under [components] in "
        "crashbot.toml, or add it with --new-component)"
    ]
    assert added.exit_code == 0, added.output
    assert [i["title"] for i in cli.json("list")] == ["Queue stuck"]


def test_publish_and_unpublish(cli: Cli) -> None:
    cli.ok("declare", "Checkout slow", "--severity", "SEV4")

    published = cli.ok("publish", "1", "-m", "Checkout is slow for some customers.")
    again = cli("publish", "1")
    unpublished = cli.ok("unpublish", "1")

    assert published == "INC-1 published (SEV4, investigating)\n"
    assert again.exit_code == 1 and "INC-1 is public already" in again.stderr
    assert unpublished == "INC-1 unpublished (SEV4, investigating)\n"
    assert cli.json("show", "1")["public"] is False


def test_init_on_a_database_with_incidents_says_so_and_changes_nothing(cli: Cli) -> None:
    assert "database ready at" in cli.ok("init")
    cli.ok("declare", "Already here")

    again = cli.ok("init")

    assert "already holds 1 incident; nothing in it was changed" in again
    assert "database ready" not in again


def test_postmortem_without_to_prints_markdown_and_records_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    # The first hour: Markdown needs no credentials, so `crashbot postmortem ID`
    # prints it instead of demanding --to.
    for args in SESSION[:6]:
        cli.ok(*args)
    before = cli.json("show", "1")
    text = cli.ok("postmortem", "1")
    assert text.startswith("# ") and "Checkout API returns 500s" in text
    assert "Bad deploy of v1.2.3" in text
    after = cli.json("show", "1")
    assert after == before  # nothing recorded, no RCA linked
    assert not list(tmp_path.glob("postmortems/*.md"))
    # --out alone writes the Markdown file and records the export.
    out = tmp_path / "pm.md"
    line = cli.ok("postmortem", "1", "--out", str(out))
    assert out.read_text(encoding="utf-8") == text
    assert "exported to markdown" in line
