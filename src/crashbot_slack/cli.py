"""``crashbot slack run [--socket]`` and ``crashbot slack manifest``."""

from __future__ import annotations

import json
import threading

import click

from crashbot_core.errors import ConfigError
from crashbot_core.logs import configure_from
from crashbot_slack.manifest import build_manifest
from crashbot_slack.runtime import runtime_for, settings_of
from crashbot_slack.settings import SlackSettings


def is_local(url: str) -> bool:
    """True when Slack cannot reach ``url``: localhost, a loopback or private address, no host."""
    import ipaddress
    from urllib.parse import urlparse

    host = (urlparse(url).hostname or "").lower()
    if not host or host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


@click.group("slack")
def slack_group() -> None:
    """Run the Slack bot or print its app manifest."""


@slack_group.command("manifest")
@click.option(
    "--url",
    "--base-url",
    "base_url",
    metavar="URL",
    help="Where Slack reaches this server, e.g. https://crashbot.example.com "
    "(default: [status] public_url).",
)
@click.option("--socket", is_flag=True, help="A Socket Mode app (no request URLs).")
@click.pass_context
def manifest_command(ctx: click.Context, base_url: str | None, socket: bool) -> None:
    """Print the Slack app manifest (JSON): paste it at api.slack.com/apps."""
    from crashbot_core.cli import CliState
    from crashbot_core.config import load_config
    from crashbot_core.plugins import collect_sections

    state = ctx.find_object(CliState)
    # The manifest needs settings only, not a database.
    cfg = load_config(
        state.config_path if state else None,
        sections=collect_sections(state.pm) if state else {"slack": SlackSettings},
    )
    settings = cfg.section("slack") or SlackSettings()
    url = base_url or cfg.public_url
    if not url and not socket:
        raise click.UsageError(
            "say where Slack reaches this server: --url URL or [status] public_url "
            "(CRASHBOT_PUBLIC_URL), or use --socket"
        )
    if not socket and is_local(url):
        # The manifest is valid, and Slack would accept it, but its requests
        # would go nowhere: say so before the user pastes it.
        click.echo(
            f"warning: the request URL {url.rstrip('/')}/slack/events is local, and Slack cannot "
            "reach it; pass --url with this server's public https address, or use --socket",
            err=True,
        )
    click.echo(
        json.dumps(
            build_manifest(settings, url, socket_mode=socket, name=cfg.general.name), indent=2
        )
    )


@slack_group.command("run")
@click.option("--socket", is_flag=True, help="Use Socket Mode (SLACK_APP_TOKEN) instead of HTTP.")
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP: interface to bind.")
@click.option("--port", default=3000, show_default=True, type=int, help="HTTP: port.")
@click.option(
    "--worker/--no-worker", default=True, show_default=True, help="Also run reminders and retries."
)
@click.pass_context
def run_command(ctx: click.Context, socket: bool, host: str, port: int, worker: bool) -> None:
    """Run the Slack bot alone (HTTP on /slack/events, or Socket Mode)."""
    from crashbot_core.cli import CliState

    state = ctx.find_object(CliState)
    assert state is not None
    bot = state.crashbot()
    settings = settings_of(bot)
    runtime = runtime_for(bot)
    if runtime is None or settings is None:
        raise ConfigError("slack: SLACK_BOT_TOKEN is not set; the Slack bot has nothing to run as")
    if socket and not settings.app_token:
        raise ConfigError("slack: --socket needs SLACK_APP_TOKEN (an xapp- app-level token)")
    if not socket and not settings.signing_secret:
        raise ConfigError("slack: HTTP mode needs SLACK_SIGNING_SECRET (or use --socket)")
    configure_from(bot.config.logging, long_running=True)
    stop = threading.Event()
    # Acks never wait on Slack: the worker makes the channel and the posts.
    bot.defer_deliveries()
    if worker:
        from crashbot_core.worker import Worker

        threading.Thread(
            target=Worker(bot).run, args=(stop,), name="crashbot-worker", daemon=True
        ).start()
    try:
        if socket:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            handler = SocketModeHandler(runtime.app(verify_requests=False), settings.app_token)
            handler.start()  # type: ignore[no-untyped-call]
        else:
            from crashbot_slack.web import status_app_or_own

            status_app_or_own(bot).run(host=host, port=port, threaded=True)
    finally:
        stop.set()
