"""The ``crashbot`` command line (click).

Exit codes: 0 on success, 1 with a one-line reason on a domain or config
error (no such incident, illegal transition, bad setting) or any other
failure (an unwritable database), 2 on usage errors. With ``--json`` the
error is a JSON object on standard output, shaped as the HTTP API's:
``{"error": code, "reason": message}``. Plugins add commands through the
``crashbot_cli`` hook.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

import click
import pluggy

from crashbot_core.errors import CrashbotError
from crashbot_core.models import Actor
from crashbot_core.plugins import get_plugin_manager
from crashbot_core.service import Crashbot

F = TypeVar("F", bound=Callable[..., Any])

#: Who the CLI acts as when ``--as`` is not given.
USER_ENV = "CRASHBOT_USER"
#: Set to show the traceback of an unexpected failure instead of one line.
DEBUG_ENV = "CRASHBOT_DEBUG"


class CliState:
    """Shared by every command: the plugin manager, the config path and a lazily built service."""

    def __init__(self, pm: pluggy.PluginManager, config_path: str | None, user: str | None) -> None:
        self.pm = pm
        self.config_path = config_path
        self.user = user
        self._bot: Crashbot | None = None

    def crashbot(self) -> Crashbot:
        """The service, built on first use (so ``--help`` never touches the database)."""
        if self._bot is None:
            self._bot = Crashbot.from_config(self.config_path, pm=self.pm)
        return self._bot

    def actor(self) -> Actor:
        """The person running the command."""
        name = self.user or os.environ.get(USER_ENV) or _login_name()
        return Actor(platform="cli", id=name, name=name)

    def failed_store(self, exc: BaseException) -> str | None:
        """The database (password hidden) when ``exc`` was raised inside the store, else None.

        The core knows no SQL library; it knows which module its store comes
        from, and a failure raised from there is the database's.
        """
        if self._bot is None:
            return None
        module = type(self._bot.store).__module__
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_globals.get("__name__") == module:
                return re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", self._bot.config.database_url)
            tb = tb.tb_next
        return None

    def close(self) -> None:
        """Close the service if it was built."""
        if self._bot is not None:
            self._bot.close()
            self._bot = None


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


pass_state = click.make_pass_decorator(CliState)


def json_option(f: F) -> F:
    """``--json``: machine-readable output."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(f)


# Characters that drive a terminal or reorder what it shows: C0 and C1
# controls, DEL, and the bidirectional overrides and isolates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(m: re.Match[str]) -> str:
    c = m.group()
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def printable(text: object, *, multiline: bool = False) -> str:
    """Text safe to print on a terminal: control characters shown as escapes (``\\x1b``, ``\\r``).

    A title holding ``\\x1b[2J`` or ``\\r`` must not clear the screen or
    overwrite the line before it. ``multiline`` keeps newlines as they are.
    """
    value = str(text)
    if multiline:
        return "\n".join(_UNSAFE.sub(_visible, line) for line in value.split("\n"))
    return _UNSAFE.sub(_visible, value)


def echo_json(data: Any) -> None:
    """Print data as indented JSON (terminal-driving characters as ``\\uXXXX`` escapes)."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    # json escapes C0 controls itself; these others can only sit inside strings.
    click.echo(_UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain-text table with aligned columns; cells are made :func:`printable`."""
    cells = [[str(h) for h in headers]] + [
        ["" if c is None else printable(c) for c in r] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


#: ``ctx.meta`` key: the command line asked for ``--json``.
_JSON_KEY = "crashbot.json"


def _wants_json(args: Sequence[str]) -> bool:
    """Whether the command line asks for ``--json`` (before any ``--``)."""
    for arg in args:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


def _one_line(text: str) -> str:
    return printable(" ".join(text.split()))


def exit_with_error(ctx: click.Context, code: str, reason: str, status: int) -> NoReturn:
    """Report an error as one line (or, with ``--json``, a JSON object) and exit."""
    if ctx.meta.get(_JSON_KEY):
        echo_json({"error": code, "reason": reason})
    else:
        click.echo(f"error: {_one_line(reason)}", err=True)
    ctx.exit(status)


class CrashbotGroup(click.Group):
    """The top-level group: every failure becomes one line (or JSON) and an exit status.

    Domain errors and unexpected failures (a read-only database file, a
    server gone away) exit 1; usage errors exit 2 with click's usage message,
    or with ``--json`` as ``{"error": "usage_error", "reason": …}``.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Note whether the command asks for JSON, so even usage errors answer in it."""
        ctx.meta[_JSON_KEY] = _wants_json(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, turning :class:`CrashbotError` and surprises into exit 1."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except click.ClickException as exc:
            if not ctx.meta.get(_JSON_KEY):
                raise
            code = "usage_error" if isinstance(exc, click.UsageError) else "error"
            exit_with_error(ctx, code, exc.format_message(), exc.exit_code)
        except CrashbotError as exc:
            exit_with_error(ctx, exc.code, exc.message, 1)
        except BrokenPipeError:
            # The reader went away (``crashbot show 1 | head``): nothing to tell it.
            # Python would fail again flushing stdout at exit; point it at devnull.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(1)
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            # Not a bug report for the user to read: what failed, in one line.
            first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
            name = type(exc).__name__
            reason = first if name in first else f"{name}: {first}" if first else name
            state = ctx.find_object(CliState)
            database = state.failed_store(exc) if state is not None else None
            if database is not None:
                # A read-only file, a server gone away: the deployment to fix, not a bug.
                exit_with_error(ctx, "store_error", f"database {database!r}: {reason}", 1)
            exit_with_error(
                ctx, "internal_error", f"{reason} (set {DEBUG_ENV}=1 for the traceback)", 1
            )
        finally:
            state = ctx.find_object(CliState)
            if state is not None:
                state.close()


def build_cli(pm: pluggy.PluginManager | None = None) -> click.Group:
    """The ``crashbot`` group with core commands and every plugin's ``crashbot_cli`` commands."""
    pm = pm or get_plugin_manager()

    @click.group(cls=CrashbotGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        envvar="CRASHBOT_CONFIG",
        help="Path to crashbot.toml (default: ./crashbot.toml if present).",
    )
    @click.option(
        "--as",
        "user",
        metavar="NAME",
        help=f"Act as this user (default: ${USER_ENV} or your login).",
    )
    @click.version_option(package_name="crashbot", prog_name="crashbot")
    @click.pass_context
    def cli(ctx: click.Context, config_path: str | None, user: str | None) -> None:
        """Declare, run and resolve incidents; serve the status page."""
        ctx.obj = CliState(pm, config_path, user)

    from crashbot_core.cli import admin, follow_ups, incidents, postmortem, reports

    for module in (admin, incidents, follow_ups, reports, postmortem):
        module.register(cli)
    pm.hook.crashbot_cli(group=cli)
    return cli


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        cli = build_cli()
    except CrashbotError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    cli.main(args=list(argv) if argv is not None else None, prog_name="crashbot")
