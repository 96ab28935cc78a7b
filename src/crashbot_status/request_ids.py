"""A request id per HTTP request: assigned, answered in ``X-Request-ID``, logged, passed on.

An incoming ``X-Request-ID`` (from a proxy or the caller) is kept when it is
well-formed (8-128 of letters, digits, ``.``, ``_``, ``:``, ``-``); anything
else gets a fresh random id. While the request runs, the id is in the log
context (:func:`crashbot_core.logs.log_context`), so every line logged for
it carries it, and the commands it runs store it on their events; the
worker's delivery lines then carry the same id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from crashbot_core.logs import log_context, new_request_id

log = logging.getLogger("crashbot.request")

HEADER = "X-Request-ID"
_ENVIRON_KEY = "HTTP_X_REQUEST_ID"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class RequestIds:
    """WSGI middleware around the whole status app (fast paths included)."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Run the request with its id in the log context; log one line when it answers."""
        rid = new_request_id(environ.get(_ENVIRON_KEY))
        environ[_ENVIRON_KEY] = rid

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = [(k, v) for k, v in headers if k.lower() != HEADER.lower()]
            headers.append((HEADER, rid))
            log.info(
                "%s %s %s",
                environ.get("REQUEST_METHOD", ""),
                environ.get("PATH_INFO", ""),
                status.split(" ", 1)[0],
            )
            return start_response(status, headers, exc_info)

        with log_context(request_id=rid):
            return self.app(environ, start)
