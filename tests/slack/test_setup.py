"""Settings, the manifest, the CLI, mounting on Flask, and Socket Mode dispatch."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fake_slack import FakeSlack
from slack_support import InlineExecutor, NeverExecutor, SlackDriver, slack_env

from crashbot_core import ConfigError, Crashbot, FixedClock
from crashbot_core.cli import build_cli
from crashbot_core.config import load_config
from crashbot_core.plugins import get_plugin_manager
from crashbot_core.testing import make_crashbot
from crashbot_slack.manifest import BOT_SCOPES, build_manifest
from crashbot_slack.runtime import runtime_for
from crashbot_slack.settings import DEFAULT_ALIASES, SlackSettings


def test_settings_come_from_the_environment_and_the_file() -> None:
    cfg = load_config(
        data={
            "slack": {
                "react_emoji": "fire",
                "aliases": {"/sev": "severity"},
                "channel_prefix": "incident",
            }
        },
        env={
            "SLACK_BOT_TOKEN": "xoxb-1",
            "INCIDENTS_DIGEST_CHANNEL": "#ops",
            "SLACK_API_URL": "https://slack-gov.com/api",
        },
        sections={"slack": SlackSettings},
    )
    s = cfg.section("slack")
    assert s.enabled and s.digest_channel == "#ops" and s.react_emoji == "fire"
    assert s.aliases == {"/sev": "severity"} and s.channel_prefix == "incident"
    assert s.base_url == "https://slack-gov.com/api/"


def test_defaults_are_inert_and_keep_the_seed_aliases() -> None:
    s = load_config(data={}, env={}, sections={"slack": SlackSettings}).section("slack")
    assert not s.enabled
    assert s.aliases == DEFAULT_ALIASES and s.api_url == "https://slack.com/api/"


def test_a_typo_in_the_slack_section_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"react_emoj.*\$\.slack"):
        load_config(
            data={"slack": {"react_emoj": "fire"}}, env={}, sections={"slack": SlackSettings}
        )


def test_an_alias_to_an_unknown_subcommand_fails_at_start() -> None:
    with pytest.raises(ConfigError, match=r"/boom.*'explode'.*\$\.slack"):
        load_config(
            data={"slack": {"aliases": {"/boom": "explode"}}},
            env={},
            sections={"slack": SlackSettings},
        )


def test_listener_threads_must_be_sensible() -> None:
    with pytest.raises(ConfigError, match=r"expected 1 to 256 threads, found 0"):
        load_config(
            data={"slack": {"listener_threads": 0}}, env={}, sections={"slack": SlackSettings}
        )


def test_manifest_lists_commands_scopes_and_urls() -> None:
    m = build_manifest(SlackSettings(), "https://status.example.com/")
    commands = {c["command"]: c for c in m["features"]["slash_commands"]}
    assert set(commands) == {"/incident", "/create", "/update", "/close"}
    assert all(
        c["url"] == "https://status.example.com/slack/events" and c["should_escape"]
        for c in commands.values()
    )
    assert (
        m["settings"]["interactivity"]["request_url"] == "https://status.example.com/slack/events"
    )
    assert m["settings"]["event_subscriptions"]["bot_events"] == [
        "reaction_added",
        "app_home_opened",
    ]
    assert m["features"]["app_home"]["home_tab_enabled"] is True
    assert {"commands", "chat:write", "channels:manage", "users:read", "reactions:read"} <= set(
        m["oauth_config"]["scopes"]["bot"]
    )
    # Private incidents get private channels: creating and managing them needs groups:write.
    assert "groups:write" in m["oauth_config"]["scopes"]["bot"]
    assert not m["settings"]["socket_mode_enabled"]


def test_socket_mode_manifest_has_no_request_urls() -> None:
    m = build_manifest(SlackSettings(), "https://ignored", socket_mode=True)
    assert m["settings"]["socket_mode_enabled"]
    assert "request_url" not in m["settings"]["interactivity"]
    assert all("url" not in c for c in m["features"]["slash_commands"])


def test_cli_prints_the_manifest(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        build_cli(get_plugin_manager()),
        ["slack", "manifest", "--base-url", "https://bot.example.com"],
        env={"CRASHBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.output)
    assert (
        manifest["settings"]["event_subscriptions"]["request_url"]
        == "https://bot.example.com/slack/events"
    )
    assert manifest["oauth_config"]["scopes"]["bot"] == BOT_SCOPES
    assert not (tmp_path / "x.db").exists()  # the manifest needs no database


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["slack", "run"], {}, "SLACK_BOT_TOKEN is not set"),
        (["slack", "run", "--socket"], {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN"),
        (["slack", "run"], {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
    ],
)
def test_cli_run_explains_missing_settings(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    env = {**env, "CRASHBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    result = CliRunner().invoke(build_cli(get_plugin_manager()), args, env=env)
    assert result.exit_code == 1
    assert message in result.output


def test_web_hook_mounts_slack_events_only_when_configured(
    slack_bot: Crashbot, bot: Crashbot
) -> None:
    from flask import Flask

    configured, plain = Flask("a"), Flask("b")
    slack_bot.pm.hook.crashbot_web(app=configured, crashbot=slack_bot)
    bot.pm.hook.crashbot_web(app=plain, crashbot=bot)
    assert "/slack/events" in {r.rule for r in configured.url_map.iter_rules()}
    assert "/slack/events" not in {r.rule for r in plain.url_map.iter_rules()}


def test_socket_mode_dispatch_runs_commands_without_signatures(
    slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    from slack_bolt.request import BoltRequest

    runtime = runtime_for(slack_bot)
    assert runtime is not None
    app = runtime.app(verify_requests=False, listener_executor=InlineExecutor())
    # What slack_bolt.adapter.socket_mode hands to the app for a slash command envelope.
    payload = {
        "command": "/incident",
        "text": "declare Socket declared sev2",
        "user_id": "UALICE",
        "channel_id": "CGENERAL1",
        "channel_name": "general",
        "team_id": "T0001",
        "response_url": fake_slack.response_url(),
        "trigger_id": "t",
    }
    response = app.dispatch(BoltRequest(body=payload, mode="socket_mode"))
    assert response.status == 200
    assert slack_bot.get(1).title == "Socket declared"
    assert fake_slack.called("conversations.create")


def stored(database_url: str, clock: FixedClock) -> list[Any]:
    """The incidents as another process sees them: committed, not in some session."""
    other = make_crashbot(database_url=database_url, clock=clock)
    try:
        return other.list()
    finally:
        other.close()


def test_a_declare_is_committed_before_slack_gets_its_200(
    slack_bot: Crashbot, fake_slack: FakeSlack, database_url: str, clock: FixedClock
) -> None:
    from crashbot_slack.web import create_app

    never = NeverExecutor()
    client = SlackDriver(create_app(slack_bot, listener_executor=never).test_client(), fake_slack)
    r = client.command("declare DB down sev1")
    assert r.status_code == 200
    assert r.get_json()["text"].startswith("Declared INC-1 (SEV1): DB down")
    [inc] = stored(database_url, clock)
    assert (inc.title, inc.severity, inc.source) == ("DB down", "SEV1", "slack")
    # The channel came from the outbox after the commit (inline in tests), not from the listener.
    assert inc.refs["slack.channel"] and never.dropped == 0


def test_buttons_and_forms_commit_before_their_ack(
    slack_bot: Crashbot, fake_slack: FakeSlack, database_url: str, clock: FixedClock
) -> None:
    from crashbot_slack.web import create_app

    never = NeverExecutor()
    client = SlackDriver(create_app(slack_bot, listener_executor=never).test_client(), fake_slack)
    submitted = client.submit(
        "crashbot_declare", {"title": {"value": {"type": "plain_text_input", "value": "DB down"}}}
    )
    assert submitted.status_code == 200 and not submitted.data  # the form closes
    assert client.button("crashbot_ack", "1").status_code == 200
    update = {"message": {"value": {"type": "plain_text_input", "value": "failing over"}}}
    assert client.submit("crashbot_update", update, private_metadata="1").status_code == 200
    [inc] = stored(database_url, clock)
    assert inc.title == "DB down" and inc.acknowledged_at is not None
    assert slack_bot.timeline(1)[-1].data["message"] == "failing over"
    # Only confirmations were left for after the acks (a DM, a response_url reply).
    assert never.dropped == 2


def test_only_opening_a_form_waits_for_after_the_ack(
    slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    from crashbot_slack.web import create_app

    never = NeverExecutor()
    client = SlackDriver(create_app(slack_bot, listener_executor=never).test_client(), fake_slack)
    r = client.command("")
    assert r.status_code == 200 and not r.data
    assert "views.open" not in fake_slack.methods() and never.dropped == 1


def test_a_wrong_ref_for_the_update_form_is_answered_in_the_ack(
    slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    from crashbot_slack.web import create_app

    never = NeverExecutor()
    client = SlackDriver(create_app(slack_bot, listener_executor=never).test_client(), fake_slack)
    r = client.command("update INC-9")
    assert "no incident INC-9" in r.get_json()["text"]
    assert never.dropped == 0


def test_workspace_id_refuses_other_workspaces(
    database_url: str, clock: FixedClock, fake_slack: FakeSlack
) -> None:
    from crashbot_slack.web import create_app

    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        env=slack_env(fake_slack, SLACK_WORKSPACE_ID="T0001"),
    )
    try:
        driver = SlackDriver(
            create_app(bot, listener_executor=InlineExecutor()).test_client(), fake_slack
        )
        assert driver.command("declare ours").status_code == 200
        body = urllib.parse.urlencode(
            {
                "command": "/incident",
                "text": "declare theirs",
                "team_id": "T9999",
                "user_id": "UX",
                "channel_id": "C1",
                "response_url": fake_slack.response_url(),
                "trigger_id": "t",
            }
        )
        assert driver.post(body, "application/x-www-form-urlencoded").status_code == 403
        assert [i.title for i in bot.list()] == ["ours"]
    finally:
        bot.close()


def test_manifest_warns_when_slack_cannot_reach_the_request_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    local = runner.invoke(build_cli(), ["slack", "manifest", "--url", "http://127.0.0.1:8080"])
    public = runner.invoke(
        build_cli(), ["slack", "manifest", "--url", "https://crashbot.example.com"]
    )
    private = runner.invoke(build_cli(), ["slack", "manifest", "--url", "http://10.1.2.3:8080"])
    socket = runner.invoke(build_cli(), ["slack", "manifest", "--socket"])

    assert local.exit_code == public.exit_code == private.exit_code == socket.exit_code == 0
    assert "warning: the request URL" in local.stderr
    assert "is local, and Slack cannot reach it; pass --url" in local.stderr
    assert "warning" in private.stderr
    assert public.stderr == "" and socket.stderr == ""
    # No URL at all (no --url, no [status] public_url) is refused, naming the ways out.
    missing = runner.invoke(build_cli(), ["slack", "manifest"])
    assert missing.exit_code == 2 and "--url URL or [status] public_url" in missing.stderr
    manifest = json.loads(public.stdout)
    urls = json.dumps(manifest)
    assert "https://crashbot.example.com/slack/events" in urls
