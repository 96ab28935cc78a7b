"""The admin incident read answered below Flask: the same answers as Flask, or Flask answers.

``GET /api/incidents/<id>`` is served by :class:`crashbot_status.admin_read.AdminReads`
when the request is an ordinary one. Each test sends the same request to an
app with the fast paths (the default) and to one without, and requires the
same status, headers and bytes.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, request_started
from status_support import auth

from crashbot_core import Crashbot
from crashbot_core.hookspecs import hookimpl
from crashbot_status import create_app

REQUEST_ID = {"X-Request-ID": "test-request-0001"}


@pytest.fixture
def flask_only(bot: Crashbot) -> Flask:
    """The same service's app without the layers below Flask."""
    return create_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 0, "STATUS_FAST_PATH": False})


def answer(app: Flask, path: str, headers: dict[str, str]) -> tuple[int, list[Any], bytes]:
    resp = app.test_client().get(path, headers={**headers, **REQUEST_ID})
    return resp.status_code, sorted(resp.headers.items()), resp.get_data()


def flask_requests(app: Flask) -> list[str]:
    """The requests that entered Flask from now on (its request_started signal)."""
    seen: list[str] = []
    request_started.connect(lambda sender, **extra: seen.append("flask"), app, weak=False)
    return seen


def test_an_incident_read_is_answered_below_flask_with_the_same_response(
    bot: Crashbot, app: Flask, flask_only: Flask, read_token: str
) -> None:
    inc = bot.declare("DB slow", severity="SEV2", labels={"team": "db"})
    bot.update(inc.id, message="internal note")
    bot.add_follow_up(inc.id, "Add an index")
    entered = flask_requests(app)

    for path in (f"/api/incidents/{inc.ref}", f"/api/incidents/{inc.id}"):
        fast = answer(app, path, auth(read_token))
        assert fast == answer(flask_only, path, auth(read_token))
        assert fast[0] == 200
    assert entered == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/incidents/{ref_lower}",
        "/api/incidents/0{id}",
        "/api/incidents/999999",
        "/api/incidents/99999999999999999999",
        "/api/incidents/INC-x",
        "/api/incidents/{ref}?verbose=1",
        "/api/incidents/{ref}/",
    ],
)
def test_unusual_incident_reads_get_flasks_answer(
    bot: Crashbot, app: Flask, flask_only: Flask, read_token: str, path: str
) -> None:
    inc = bot.declare("DB slow", severity="SEV2")
    url = path.format(ref=inc.ref, ref_lower=inc.ref.lower(), id=inc.id)

    assert answer(app, url, auth(read_token)) == answer(flask_only, url, auth(read_token))


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}, auth("cb_unknown")],
)
def test_reads_without_a_good_token_get_flasks_401(
    bot: Crashbot, app: Flask, flask_only: Flask, headers: dict[str, str]
) -> None:
    inc = bot.declare("DB slow", severity="SEV2")
    path = f"/api/incidents/{inc.ref}"

    refused = answer(app, path, headers)
    assert refused == answer(flask_only, path, headers)
    assert refused[0] == 401


def test_a_revoked_token_is_refused_on_the_very_next_read(
    bot: Crashbot, app: Flask, read_token: str
) -> None:
    inc = bot.declare("DB slow", severity="SEV2")
    client = app.test_client()
    assert client.get(f"/api/incidents/{inc.ref}", headers=auth(read_token)).status_code == 200

    bot.revoke_token("reader")

    resp = client.get(f"/api/incidents/{inc.ref}", headers=auth(read_token))
    assert resp.status_code == 401
    assert resp.get_json()["error"] == "unauthorized"


def test_a_plugin_hook_on_requests_still_runs_for_the_incident_read(
    bot: Crashbot, read_token: str
) -> None:
    seen: list[str] = []

    class Audit:
        @hookimpl
        def crashbot_web(self, app: Flask, crashbot: Crashbot) -> None:
            app.before_request(lambda: seen.append("audited") and None)

    bot.pm.register(Audit(), name="audit")
    inc = bot.declare("DB slow", severity="SEV2")
    app = create_app(bot, {"TESTING": True})

    resp = app.test_client().get(f"/api/incidents/{inc.ref}", headers=auth(read_token))

    assert resp.status_code == 200
    assert seen == ["audited"]
