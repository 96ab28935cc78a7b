"""Logs of every crashbot process: text or one JSON object per line, with context.

``[logging] format`` (``CRASHBOT_LOG_FORMAT``) is the one setting for the
CLI, ``crashbot worker``, ``crashbot serve``, ``crashbot slack run`` and
``crashbot discord run``. JSON lines (python-json-logger) carry ``time``,
``level``, ``logger``, ``message`` and, when known, ``request_id``,
``incident`` and ``plugin``. Those three come from context variables set
with :func:`log_context`: the status site sets the request id per request,
and the outbox sets all three while it delivers, reading the request id the
command stored on its events, so the worker's delivery lines carry the id
of the HTTP request that caused them.

Text lines carry no ANSI colour codes unless the stream is a terminal.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import secrets
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

__all__ = ["configure_from", "configure_logging", "log_context", "new_request_id", "request_id"]

#: Context fields added to every record (None when unknown).
CONTEXT_FIELDS = ("request_id", "incident", "plugin")
#: Event data key of the request id a command ran under.
REQUEST_ID_KEY = "request_id"

_context: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"crashbot_{name}", default=None) for name in CONTEXT_FIELDS
}
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:\-]{8,128}")
_OURS = "crashbot_handler"
_LEVEL_COLOURS = {"WARNING": "\x1b[33m", "ERROR": "\x1b[31m", "CRITICAL": "\x1b[1;31m"}


def request_id() -> str | None:
    """The request id of the work in progress, if any."""
    return _context["request_id"].get()


def new_request_id(incoming: str | None = None) -> str:
    """``incoming`` (an ``X-Request-ID``) when well-formed, else a fresh random id."""
    if incoming and _WELL_FORMED.fullmatch(incoming):
        return incoming
    return secrets.token_hex(16)


@contextlib.contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Add ``request_id``, ``incident`` and/or ``plugin`` to every record logged inside."""
    tokens = [(_context[k], _context[k].set(v)) for k, v in fields.items() if k in _context]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Copies the context variables onto each record (``record.request_id`` …)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always True: it only adds attributes."""
        for name, var in _context.items():
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: time, level, logger, message, request_id, incident, plugin."""

    def __init__(self) -> None:
        super().__init__(json_ensure_ascii=False)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        """The fixed fields first, then what the record adds (``extra=``)."""
        log_data["time"] = (
            datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
        log_data["level"] = record.levelname.lower()
        log_data["logger"] = record.name
        log_data["message"] = record.getMessage()
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                log_data[name] = value
        for key, value in message_dict.items():
            log_data.setdefault(key, value)
        if record.exc_info and "exc_info" not in log_data:
            log_data["exception"] = self.formatException(record.exc_info)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message [request_id=… incident=… plugin=…]``; colour on a terminal."""

    def __init__(self, *, colour: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        """The line, with the context that is set."""
        line = super().format(record)
        extra = " ".join(
            f"{name}={getattr(record, name)}"
            for name in CONTEXT_FIELDS
            if getattr(record, name, None) is not None
        )
        if extra:
            line = f"{line} [{extra}]"
        colour = _LEVEL_COLOURS.get(record.levelname) if self.colour else None
        return f"{colour}{line}\x1b[0m" if colour else line


def formatter(log_format: str, stream: IO[str] | None = None) -> logging.Formatter:
    """The formatter for ``log_format`` (``text`` or ``json``) writing to ``stream``."""
    if str(log_format) == "json":
        return JsonFormatter()
    isatty = getattr(stream, "isatty", None)
    return TextFormatter(colour=bool(isatty and isatty()))


def configure_logging(
    log_format: str = "text", level: str = "INFO", *, stream: IO[str] | None = None
) -> logging.Handler:
    """Send every log record of this process to ``stream`` (stderr) in ``log_format``.

    Replaces the root logger's handlers, so calling it again (a CLI command
    run twice in one process, tests) does not double the lines.
    """
    target = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(target)
    handler.setFormatter(formatter(log_format, target))
    handler.addFilter(ContextFilter())
    # On the handler too: a library that sets its own logger's level (werkzeug
    # sets INFO) would otherwise print below the level asked for.
    handler.setLevel(level.upper())
    setattr(handler, _OURS, True)
    root = logging.getLogger()
    # Only our own earlier handler goes: others (pytest's capture, an
    # embedding application's) stay.
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


def configure_from(settings: Any, *, long_running: bool) -> logging.Handler:
    """:func:`configure_logging` from ``[logging]`` (:class:`crashbot_core.config.LoggingSettings`).

    :param long_running: a worker, server or bot logs INFO by default; a
        one-shot CLI command only WARNING and worse, so its output stays its own.
    """
    level = settings.level or ("INFO" if long_running else "WARNING")
    return configure_logging(str(settings.format), level)
