"""What every ``crashbot`` command shares: the state, ``--json``, safe printing, errors.

Plugins import these from :mod:`crashbot_core.cli`; the core's command
modules import them from here, so the package's ``__init__`` (which loads the
command modules) is never imported back by them.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

import click
import pluggy

from crashbot_core import logs
from crashbot_core.models import Actor
from crashbot_core.service import Crashbot

F = TypeVar("F", bound=Callable[..., Any])

#: Seconds a command waits for its chat deliveries before it exits.
CLI_DELIVERY_BUDGET = 10.0

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
            logs.configure_from(self._bot.config.logging, long_running=False)
            # A command delivers its events before it exits, within a bound;
            # the worker retries what fails or is left over.
            self._bot.outbox.inline_budget = CLI_DELIVERY_BUDGET
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
JSON_KEY = "crashbot.json"


def wants_json(args: Sequence[str]) -> bool:
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
    if ctx.meta.get(JSON_KEY):
        echo_json({"error": code, "reason": reason})
    else:
        click.echo(f"error: {_one_line(reason)}", err=True)
    ctx.exit(status)
