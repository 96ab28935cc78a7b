"""The admin API's incident read below Flask: ``GET /api/incidents/<id>`` with a read token.

Incident bots poll this route more than any other admin request, and Flask's
request machinery (context, routing, hooks, response finalising) costs about
as much CPU as its three queries. This WSGI layer answers it directly when
nothing about the request is unusual: a GET without a query string, a bearer
token the store accepts (checked on every request, as under Flask, so a
revocation applies at once), an id in a plain form (``42``, ``INC-42``) and
an incident that exists. Anything else (no token or a bad one, another form
of id, an unknown incident, a store error) goes to the Flask app, which
answers it, errors included, exactly as it always has.

The answer is the same response: the same serialisation and JSON provider,
the security headers and ``Cache-Control: no-store`` that the app's
``after_request`` adds, and the same request metric. It is only installed
when no plugin added request hooks or WSGI middleware that Flask would have
run for this route (see :func:`crashbot_status.app.create_app`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask

from crashbot_core.models import MAX_ID, TokenScope
from crashbot_core.service import Crashbot
from crashbot_status.admin import record_data
from crashbot_status.cache import WSGIApp

if TYPE_CHECKING:
    from wsgiref.types import StartResponse

#: The route this layer answers, as Flask names it (for the request metric).
RULE = "/api/incidents/<incident_id>"
_PREFIX = "/api/incidents/"


class AdminReads:
    """WSGI layer serving ``GET /api/incidents/<id>`` without Flask; the rest goes to ``app``.

    :param finish: what the app's ``after_request`` does to an API response
        (security headers, ``Cache-Control``), applied to the headers here.
    :param observe: the request metric, as the app records it.
    """

    def __init__(
        self,
        app: WSGIApp,
        flask_app: Flask,
        finish: Callable[[Any, str], None],
        observe: Callable[[str, str, int, float], None],
    ) -> None:
        self.app = app
        self.flask_app = flask_app
        self.bot: Crashbot = flask_app.extensions["crashbot"]
        self.finish = finish
        self.observe = observe
        self._ids: tuple[str, re.Pattern[str]] | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer the incident read when it is an ordinary one, else delegate."""
        path: str = environ.get("PATH_INFO", "")
        if (
            not path.startswith(_PREFIX)
            or environ.get("REQUEST_METHOD") != "GET"
            or environ.get("QUERY_STRING")
        ):
            return self.app(environ, start_response)
        started = time.perf_counter()
        key = self._key(path[len(_PREFIX) :])
        scheme, _, secret = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        secret = secret.strip()
        if key is None or scheme.lower() != "bearer" or not secret:
            return self.app(environ, start_response)
        try:
            self.bot.authenticate(secret, TokenScope.READ)
            record = self.bot.incident_record(key)
        except Exception:
            # Refused, unknown, the store failing: the app answers (and logs)
            # it, as it always has.
            return self.app(environ, start_response)
        resp = self.flask_app.json.response(record_data(record))
        self.finish(resp, path)
        self.observe("GET", RULE, resp.status_code, time.perf_counter() - started)
        return resp(environ, start_response)  # type: ignore[operator,no-any-return]

    def _key(self, text: str) -> int | None:
        """The id in ``42`` or ``INC-42`` (the prefix as configured), else None."""
        prefix = self.bot.config.ref_prefix
        if self._ids is None or self._ids[0] != prefix:
            self._ids = (prefix, re.compile(rf"(?:{re.escape(prefix)}-)?([1-9][0-9]{{0,9}})"))
        m = self._ids[1].fullmatch(text)
        if m is None:
            return None
        number = int(m.group(1))
        return number if number <= MAX_ID else None
