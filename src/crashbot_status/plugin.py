"""The status plugin: ``crashbot serve``, ``crashbot status export``, ``crashbot token``."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import click
from attrs import define

from crashbot_core.cli import CliState, echo_json, json_option, pass_state, printable, table
from crashbot_core.config import env_field
from crashbot_core.errors import CrashbotError
from crashbot_core.hookspecs import hookimpl
from crashbot_core.serialize import token_dict
from crashbot_core.worker import Worker

log = logging.getLogger("crashbot.status")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--demo", is_flag=True, help="Seed a demo history into the store first (once).")
@click.option("--no-worker", is_flag=True, help="Do not run the reminder/delivery worker thread.")
@pass_state
def serve(state: CliState, host: str, port: int, demo: bool, no_worker: bool) -> None:
    """Serve the status site and APIs (threaded WSGI server) with the worker thread."""
    from werkzeug.serving import make_server

    from crashbot_status import create_app
    from crashbot_status import demo as demo_mod

    bot = state.crashbot()
    if demo:
        click.echo(demo_mod.seed(bot))
    # No request waits on chat: commits only write delivery rows, and the
    # worker (this process's thread, or `crashbot worker`) delivers them.
    bot.defer_deliveries()
    app = create_app(bot)
    try:
        # Bind here: werkzeug's own bind prints a two-line hint and exits.
        sock = socket.create_server((host, port))
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise CrashbotError(f"cannot listen on {host}:{port}: {reason}") from None
    server = make_server(host, port, app, threaded=True, fd=sock.fileno())
    stop = threading.Event()
    worker: threading.Thread | None = None
    if not no_worker:
        worker = threading.Thread(
            target=Worker(bot).run, args=(stop,), name="crashbot-worker", daemon=True
        )
        worker.start()

    def _shutdown(signum: int, frame: FrameType | None) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _shutdown)
    click.echo(f"crashbot status site on http://{host}:{sock.getsockname()[1]}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
        if worker is not None:
            # Let the delivery in progress finish; claimed work not started is
            # handed back by the worker, and leases cover a harder stop.
            worker.join(timeout=WORKER_STOP_TIMEOUT)


#: Seconds ``serve`` waits on shutdown for the worker's delivery in progress.
WORKER_STOP_TIMEOUT = 30.0


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
    """Add ``serve``, ``status export`` and ``token create|list|revoke``."""
    group.add_command(serve)
    group.add_command(status)
    group.add_command(token)


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


@hookimpl
def crashbot_config_sections() -> dict[str, type[Any]]:
    """Declare ``[status]``."""
    return {"status": StatusSettings}
