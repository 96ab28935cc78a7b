"""Private incidents and internal updates never reach public output, not even as a changed ETag.

A property over random texts for what is shown, and a walk of every GET
route of the app for what answers differently after private activity.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

import attrs
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from status_support import (
    SECRET_NOTE,
    SECRET_TITLE,
    open_incident,
    resolved_incident,
    seed_components,
)

from crashbot_core import Crashbot, FixedClock
from crashbot_core.models import Alert, AlertStatus
from crashbot_core.testing import make_crashbot
from crashbot_status import create_app
from crashbot_status.export import export_site
from crashbot_status.views import STATIC_PATHS

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 <>&'\"-_.!?é€"
secret_text = st.text(alphabet=ALPHABET, min_size=6, max_size=40).map(
    lambda s: f"S3CR3T {s} T3RC3S"
)


def forms(text: str) -> set[str]:
    """The ways a leaked text could be spelled in HTML, XML or JSON output."""
    return {
        text,
        html.escape(text),
        html.escape(text, quote=False),
        xml_escape(text),
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
    }


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    title=secret_text,
    note=secret_text,
    public_note=st.booleans(),
    severity=st.sampled_from(["SEV1", "SEV2", "SEV3", "SEV4"]),
)
def test_private_data_never_in_public_output(tmp_path_factory, title, note, public_note, severity):
    bot = make_crashbot(tmp_path_factory.mktemp("priv"), clock=FixedClock(T0))
    try:
        private = bot.declare(
            title, severity=severity, public=False, components={"api": "major_outage"}
        )
        bot.update(private.id, message=note, public=public_note, status="identified")
        visible = bot.declare(
            "Visible incident", severity="SEV2", public=True, components={"api": "partial_outage"}
        )
        bot.update(visible.id, message=note, public=False)
        bot.resolve(private.id, message=note)
        app = create_app(bot, {"CHANGE_TOKEN_TTL": 0})
        client = app.test_client()
        paths = [
            *STATIC_PATHS,
            f"/incidents/{private.id}",
            f"/incidents/{visible.id}",
            "/history/page/1",
        ]
        bodies = [client.get(p).get_data(as_text=True) for p in paths]
        out = tmp_path_factory.mktemp("export")
        bodies += [f.read_text(encoding="utf-8") for f in export_site(app, out)]
        needles = forms(title) | forms(note)
        for body in bodies:
            for needle in needles:
                assert needle not in body
        assert any("Visible incident" in b for b in bodies)
    finally:
        bot.close()


# ---------------------------------------------------------------------------- the route walk


def walk_paths(app: Flask, incident_ids: list[int], pages: int) -> list[str]:
    """Every GET route of the app, each parameter filled with every interesting value.

    A rule with an argument the walk cannot fill fails it, so a new route
    cannot go unwalked.
    """
    values: dict[str, list[str]] = {
        "incident_id": [str(i) for i in incident_ids],
        "page": [str(n) for n in range(1, pages + 2)],
        "filename": ["style.css"],
        # The subscription links (crashbot_email): a forged token must leak nothing either.
        "token": ["forged.token"],
        # A maintenance the test scheduled, and one that does not exist.
        "maintenance_id": ["1", "2"],
    }
    paths: list[str] = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()):
            continue
        unknown = set(rule.arguments) - set(values)
        assert not unknown, f"the walk does not know how to fill {unknown} in {rule.rule}"
        combos: list[dict[str, str]] = [{}]
        for arg in sorted(rule.arguments):
            combos = [{**c, arg: v} for c in combos for v in values[arg]]
        with app.test_request_context():
            for combo in combos:
                paths.append(app.url_map.bind("").build(rule.endpoint, combo))
    return sorted(set(paths))


Answer = tuple[int, str | None, bytes]


def walk(client: FlaskClient, paths: list[str]) -> dict[str, Answer]:
    """(status, ETag, body) of every path, asked as a browser and as an API client would."""
    out: dict[str, Answer] = {}
    for path in paths:
        for accept in ("text/html,*/*", "application/json"):
            resp = client.get(path, headers={"Accept": accept})
            assert resp.status_code < 500, (path, resp.status_code)
            out[f"{accept} {path}"] = (resp.status_code, resp.headers.get("ETag"), resp.data)
    return out


def test_private_activity_leaves_every_public_answer_unchanged(
    bot: Crashbot, clock: FixedClock
) -> None:
    seed_components(bot)
    resolved_incident(bot, clock, "Yesterday's blip", days_ago=1)
    visible = open_incident(bot)
    private = bot.declare(SECRET_TITLE, severity="SEV1", public=False, components=["db"])
    bot.schedule_maintenance(
        "Database upgrade",
        starts_at=clock.now() + timedelta(days=1),
        ends_at=clock.now() + timedelta(days=1, hours=2),
        components=["db"],
    )
    app = create_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 0, "HEALTH_TTL": 0})
    client = app.test_client()
    paths = walk_paths(app, [visible.id, private.id, private.id + 1, private.id + 2], pages=1)
    assert "/metrics" in paths and "/health" in paths and f"/incidents/{private.id}" in paths
    before = walk(client, paths)
    token = bot.store.change_token()

    clock.advance(minutes=7)
    bot.update(private.id, message=SECRET_NOTE, status="identified", severity="SEV2")
    bot.acknowledge(private.id)
    bot.update(visible.id, message=SECRET_NOTE, public=False)  # internal note, public incident
    another = bot.declare(SECRET_TITLE + " again", severity="SEV1", public=False)
    assert another.id == private.id + 1
    bot.resolve(private.id, message=SECRET_NOTE)
    assert bot.store.change_token() != token  # the store did move
    after = walk(client, paths)

    changed = sorted(k for k in before if before[k] != after[k])
    assert changed == [], [(k, before[k][:2], after[k][:2]) for k in changed]
    served = b"".join(body for _, _, body in after.values())
    assert SECRET_TITLE.encode() not in served and SECRET_NOTE.encode() not in served


def test_a_public_change_moves_the_etags_of_what_shows_it(bot: Crashbot) -> None:
    seed_components(bot)
    visible = open_incident(bot)
    app = create_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 0})
    client = app.test_client()
    first = {p: client.get(p).headers["ETag"] for p in ("/", "/api/list", "/api/v2/status.json")}
    bot.update(visible.id, message="Rolled back; errors are dropping.", public=True)
    after = {p: client.get(p, headers={"If-None-Match": first[p]}) for p in first}
    for path in ("/", "/api/list"):
        assert after[path].status_code == 200
        assert after[path].headers["ETag"] != first[path]
        assert b"Rolled back" in after[path].data
    # The overall status did not change, so status.json's bytes and ETag did not either.
    assert after["/api/v2/status.json"].status_code == 304


def test_alert_text_never_reaches_a_public_output(
    database_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    # An alert declares a public SEV1, resolves, fires again (reopening it):
    # its title, description and labels name hosts and accounts; the public
    # sees only the configured sentences.
    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        config={"alerts": {"action": "declare", "public_title": "Checkout is degraded"}},
    )
    try:
        leak = Alert(
            source="generic",
            fingerprint="db-7",
            status=AlertStatus.FIRING,
            title="disk full on db-7.corp acct 4411",
            description="SELECT * FROM payroll WHERE acct=4411",
            severity="SEV1",
            labels={"host": "db-7.corp"},
        )
        declared = bot.ingest_alert(leak).incident
        assert declared is not None and declared.public
        bot.ingest_alert(attrs.evolve(leak, status=AlertStatus.RESOLVED))
        bot.resolve(declared.id)
        clock.advance(minutes=5)
        assert bot.ingest_alert(leak).action == "reopened"
        app = create_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 0, "HEALTH_TTL": 0})
        paths = [p for p in walk_paths(app, [declared.id], pages=1) if p != "/metrics"]
        answers = walk(app.test_client(), paths)
        export = export_site(app, tmp_path / "site")
    finally:
        bot.close()

    served = b"".join(body for _, _, body in answers.values())
    for secret in ("db-7", "4411", "payroll"):
        assert secret.encode() not in served, secret
    assert b"Checkout is degraded" in answers[f"text/html,*/* /incidents/{declared.id}"][2]
    assert b"We are investigating reports of a problem." in served
    assert b"The problem has recurred; we are investigating again." in served
    exported = b"".join(p.read_bytes() for p in export)
    assert export and b"db-7" not in exported and b"4411" not in exported


def test_an_unpublished_incident_leaves_every_public_output(bot: Crashbot) -> None:
    seed_components(bot)
    gone = bot.declare("Payments degraded zq7u", severity="SEV2", components=["api"])
    bot.update(gone.id, message="Card payments fail for some", public=True)
    app = create_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 0})
    paths = walk_paths(app, [gone.id], pages=1)
    client = app.test_client()
    shown = b"".join(body for _, _, body in walk(client, paths).values())
    assert b"zq7u" in shown and b"Card payments fail" in shown

    bot.unpublish(gone.id)
    hidden = walk(client, paths)

    served = b"".join(body for _, _, body in hidden.values())
    assert b"zq7u" not in served and b"Card payments fail" not in served
    assert hidden[f"text/html,*/* /incidents/{gone.id}"][0] == 404


def test_invalid_and_duplicate_incidents_leave_every_public_output(bot: Crashbot) -> None:
    seed_components(bot)
    kept = bot.declare("Checkout down kq2p", severity="SEV2", components=["api"])
    false_alarm = bot.declare("Pager test wv8m", severity="SEV1", components=["api"])
    bot.update(false_alarm.id, message="Synthetic check wv8m fired", public=True)
    dup = bot.declare("Checkout errors yh4t", severity="SEV2", components=["api"])
    bot.update(dup.id, message="Errors at checkout yh4t", public=True)
    app = create_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 0})
    paths = walk_paths(app, [kept.id, false_alarm.id, dup.id], pages=1)
    client = app.test_client()
    shown = b"".join(body for _, _, body in walk(client, paths).values())
    assert b"wv8m" in shown and b"yh4t" in shown

    bot.close_incident(false_alarm.id, "invalid", message="a test page")
    bot.close_incident(dup.id, "duplicate", duplicate_of=kept.id)
    hidden = walk(client, paths)

    served = b"".join(body for _, _, body in hidden.values())
    assert b"wv8m" not in served and b"yh4t" not in served
    assert b"kq2p" in served
    for gone in (false_alarm.id, dup.id):
        assert hidden[f"text/html,*/* /incidents/{gone}"][0] == 404
    listing = json.loads(hidden["application/json /api/list"][2])
    assert [i["id"] for i in listing["open"]] == [kept.id]
    assert listing["closed"] == []
