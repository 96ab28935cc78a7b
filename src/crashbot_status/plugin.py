"""The status plugin: ``crashbot serve``, ``crashbot status export``, ``crashbot token``."""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from attrs import define, field

from crashbot_core.cli import CliState, echo_json, json_option, pass_state, printable, table
from crashbot_core.config import env_field
from crashbot_core.errors import CrashbotError
from crashbot_core.hookspecs import hookimpl
from crashbot_core.serialize import token_dict
from crashbot_core.service import Crashbot
from crashbot_status.links import parse_networks, parse_public_url

log = logging.getLogger("crashbot.status")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    type=click.IntRange(1),
    help="HTTP worker processes  [default: the CPU count]",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=4,
    show_default=True,
    help="Threads per worker process for requests not answered from the cache "
    "(admin API, alert intake, chat, forms).",
)
@click.option(
    "--reload",
    is_flag=True,
    help="Development: one process, restarted when a source file changes.",
)
@click.option("--demo", is_flag=True, help="Seed a demo history into the store first (once).")
@click.option(
    "--no-worker",
    is_flag=True,
    help="Run no outbox worker (reminders, deliveries): `crashbot worker` runs elsewhere.",
)
@click.option(
    "--access-log/--no-access-log",
    default=None,
    help="One line per request on standard output  [default: [status] access_log]",
)
@click.option(
    "--graceful-timeout",
    type=click.IntRange(0),
    default=30,
    show_default=True,
    help="Seconds requests in flight get to finish after SIGTERM.",
)
@pass_state
def serve(
    state: CliState,
    host: str,
    port: int,
    workers: int | None,
    threads: int,
    reload: bool,
    demo: bool,
    no_worker: bool,
    access_log: bool | None,
    graceful_timeout: int,
) -> None:
    """Serve the status site, the APIs and the outbox worker (production server).

    gunicorn manages WORKERS uvicorn processes, each answering cached pages
    and revalidations in its event loop, and one outbox worker process
    (reminders and deliveries), restarting any that dies. SIGTERM lets
    requests in flight and the delivery in progress finish.
    """
    try:
        from crashbot_status import serving
    except ImportError as exc:
        raise CrashbotError(
            f"crashbot serve needs the status extra ({exc.name} is missing): "
            "pip install 'crashbot[status]'"
        ) from None
    from crashbot_status import demo as demo_mod

    # Open (and migrate) the store once here, before any process starts, so a
    # bad setting or database fails now, in one line.
    bot = state.crashbot()
    if demo:
        click.echo(demo_mod.seed(bot))
    settings = bot.config.section("status") or StatusSettings()
    state.close()  # forked processes open their own connections
    options = serving.ServeOptions(
        workers=1 if reload else workers or serving.default_workers(),
        outbox_worker=not no_worker,
        access_log=settings.access_log if access_log is None else access_log,
        # [logging] format is the setting; [status] log_format its deprecated alias.
        log_format="json"
        if "json" in (str(bot.config.logging.format), settings.log_format)
        else "text",
        graceful_timeout=graceful_timeout,
        threads=threads,
    )
    try:
        sock = socket.create_server((host, port))
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise CrashbotError(f"cannot listen on {host}:{port}: {reason}") from None
    bound = sock.getsockname()[1]
    click.echo(f"crashbot status site on http://{host}:{bound}/ (Ctrl-C to stop)")
    if reload:
        sock.close()
        if state.config_path:
            os.environ["CRASHBOT_CONFIG"] = state.config_path
        serving.run_reloading(host, bound, options)
        return

    def make_bot() -> Crashbot:
        return Crashbot.from_config(state.config_path, pm=state.pm)

    serving.run(options, sock, make_bot)


@click.group()
def status() -> None:
    """The public status site."""


@status.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@pass_state
def export(state: CliState, directory: Path) -> None:
    """Write the whole public site (pages, feeds, badge, JSON) as static files into DIRECTORY."""
    from crashbot_status import create_app
    from crashbot_status.export import export_site

    app = create_app(state.crashbot(), {"CHANGE_TOKEN_TTL": 0})
    files = export_site(app, directory)
    click.echo(f"wrote {len(files)} files to {directory}")


@click.group()
def token() -> None:
    """API tokens for the admin API."""


@token.command("create")
@click.argument("name")
@click.option("--scope", type=click.Choice(["read", "write"]), default="read", show_default=True)
@pass_state
def token_create(state: CliState, name: str, scope: str) -> None:
    """Create a bearer token; the secret is printed once and never stored."""
    secret, tok = state.crashbot().create_token(name, scope)
    click.echo(secret)
    click.echo(f"token {tok.name!r} ({tok.scope.value}) created; store the secret now", err=True)


def _minute(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "—"


@token.command("list")
@json_option
@pass_state
def token_list(state: CliState, as_json: bool) -> None:
    """Tokens with scope, creation, last use (to the minute) and revocation; never a secret."""
    bot = state.crashbot()
    tokens = bot.list_tokens()
    if as_json:
        echo_json([token_dict(t) for t in tokens])
        return
    if tokens:
        rows = [
            (
                t.name,
                t.scope.value,
                _minute(t.created_at),
                _minute(t.last_used_at) if t.last_used_at else "never",
                f"revoked {_minute(t.revoked_at)}" if t.revoked_at else "active",
            )
            for t in tokens
        ]
        click.echo(table(rows, ["NAME", "SCOPE", "CREATED", "LAST USED", "STATE"]))
    else:
        click.echo("no API tokens (crashbot token create NAME --scope read|write)")
    if bot.config.general.api_token:
        click.echo("CRASHBOT_API_TOKEN is set: a write token from the environment, stored nowhere")


@token.command("revoke")
@click.argument("name")
@pass_state
def token_revoke(state: CliState, name: str) -> None:
    """Revoke a token: from the next request on, it gets 401 on every replica."""
    tok = state.crashbot().revoke_token(name)
    click.echo(f"token {printable(tok.name)!r} revoked at {_minute(tok.revoked_at)} UTC")


@hookimpl
def crashbot_cli(group: click.Group) -> None:
    """Add ``serve``, ``status export``, ``token create|list|revoke`` and ``import statuspage``."""
    from crashbot_status.statuspage_import import import_statuspage

    group.add_command(serve)
    group.add_command(status)
    group.add_command(token)
    importer = group.commands.get("import")
    if isinstance(importer, click.Group):
        importer.add_command(import_statuspage)


#: Values of ``[status] log_format``.
LOG_FORMATS = ("text", "json")


# Validators of [status]: a bad value fails at start, naming the key.
def _valid_public_url(_: Any, attribute: Any, value: str) -> None:
    _named(attribute, parse_public_url, value)


def _valid_networks(_: Any, attribute: Any, value: list[str]) -> None:
    _named(attribute, parse_networks, value)


def _valid_log_format(_: Any, attribute: Any, value: str) -> None:
    if value not in LOG_FORMATS:
        raise ValueError(f"log_format: expected one of 'text', 'json', found {value!r}")


def _named(attribute: Any, parse: Any, value: Any) -> None:
    try:
        parse(value)
    except ValueError as exc:
        raise ValueError(f"{attribute.name}: {exc}") from None


@define
class StatusSettings:
    """``[status]`` in ``crashbot.toml``: settings of the status site."""

    #: Who may see ``/insights``: ``public`` (public incidents only), ``token``
    #: (a read-scoped bearer token; every incident) or ``off``
    #: (``CRASHBOT_STATUS_INSIGHTS``). See docs/metrics.md.
    insights: str = env_field("CRASHBOT_STATUS_INSIGHTS", "public")
    #: Serve ``/metrics`` without a token (``CRASHBOT_STATUS_PUBLIC_METRICS``).
    #: Off by default: the metrics count private incidents, so Prometheus
    #: scrapes with a read-scoped bearer token. See docs/http-api.md.
    public_metrics: bool = env_field("CRASHBOT_STATUS_PUBLIC_METRICS", False)
    #: Where people open the status site, such as ``https://status.example.com``
    #: (``CRASHBOT_PUBLIC_URL``): the start of every absolute link (feeds,
    #: ``/api/list``, Statuspage's ``page.url`` and ``shortlink``, chat
    #: messages). Empty: links follow each request's host. See docs/deployment.md.
    public_url: str = env_field("CRASHBOT_PUBLIC_URL", "", validator=_valid_public_url)
    #: Proxies (addresses or networks, such as ``["127.0.0.1", "10.0.0.0/8"]``)
    #: whose ``X-Forwarded-Proto``/``-Host``/``-Port`` are believed when
    #: ``public_url`` is empty (``CRASHBOT_TRUSTED_PROXIES``, comma-separated).
    #: From any other peer those headers are ignored.
    trusted_proxies: list[str] = field(
        factory=list, validator=_valid_networks, metadata={"env": "CRASHBOT_TRUSTED_PROXIES"}
    )
    #: ``crashbot serve`` logs one line per request (``CRASHBOT_ACCESS_LOG``).
    access_log: bool = env_field("CRASHBOT_ACCESS_LOG", True)
    #: Deprecated: ``[logging] format``. ``json`` here still makes ``crashbot serve``
    #: write its access and error logs as JSON lines (``CRASHBOT_LOG_FORMAT``).
    log_format: str = env_field("CRASHBOT_LOG_FORMAT", "text", validator=_valid_log_format)


@hookimpl
def crashbot_config_sections() -> dict[str, type[Any]]:
    """Declare ``[status]``."""
    return {"status": StatusSettings}
