"""/health, /metrics (Prometheus), OpenAPI document, CLI token creation, demo seeding."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from status_support import SECRET_TITLE, auth, open_incident

from crashbot_core import hookimpl
from crashbot_core.cli import build_cli
from crashbot_core.testing import make_crashbot, registered
from crashbot_status import create_app, demo


def test_health_ok(client):
    resp = client.get("/health")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}  # nothing that moves with private activity
    assert resp.headers["Cache-Control"] == "no-store"


def test_health_is_503_when_the_store_cannot_read(bot, client, monkeypatch):
    def broken():
        raise OSError("disk on fire")

    monkeypatch.setattr(bot.store, "change_token", broken)
    resp = client.get("/health")
    assert resp.status_code == 503
    assert resp.get_json() == {"status": "failing"}


def test_health_details_need_a_read_token(bot, client, read_token):
    detailed = client.get("/health", headers=auth(read_token))
    assert detailed.status_code == 200
    store = detailed.get_json()["store"]
    assert store["readable"] is store["writable"] is True
    assert store["change_token"] == bot.store.change_token()
    bad = client.get("/health", headers=auth("cbt_not-a-token"))
    assert bad.status_code == 401 and bad.get_json()["error"] == "unauthorized"


def _samples(text):
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


class _Down:
    """A chat plugin whose API is down."""

    @hookimpl
    def crashbot_incident_event(self, incident, event):
        raise RuntimeError("boom")


def test_prometheus_metrics(bot, clock, client):
    inc = open_incident(bot)
    bot.acknowledge(inc.id)
    client.get("/")
    client.get("/nope")
    with registered(bot.pm, _Down(), "chat"):
        bot.update(inc.id, message="internal note")  # its delivery to "chat" fails
    resp = client.get("/metrics", headers=auth(bot.create_token("prometheus", "read")[0]))
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    s = _samples(resp.get_data(as_text=True))
    assert s[("crashbot_incidents_open", (("severity", "SEV2"),))] == 1
    assert s[("crashbot_incidents_open", (("severity", "SEV1"),))] == 0
    assert s[("crashbot_mtta_seconds", ())] == 0.0
    # Declared at once: detected when declared, when it started.
    assert s[("crashbot_mttd_seconds", ())] == 0.0
    assert (
        s[
            (
                "crashbot_incident_duration_seconds",
                (("metric", "mttd"), ("stat", "p90"), ("window", "90d")),
            )
        ]
        == 0.0
    )
    assert (
        s[("crashbot_http_requests_total", (("method", "GET"), ("route", "/"), ("status", "200")))]
        == 1
    )
    assert (
        s[
            (
                "crashbot_http_requests_total",
                (("method", "GET"), ("route", "unmatched"), ("status", "404")),
            )
        ]
        == 1
    )
    assert ("crashbot_http_request_duration_seconds_count", (("route", "/"),)) in s
    assert s[("crashbot_delivery_failures", (("plugin", "chat"), ("state", "failed")))] == 1
    assert s[("crashbot_store_up", ())] == 1


def test_each_app_has_its_own_registry(bot):
    a, b = create_app(bot, {"STATUS_PUBLIC_METRICS": True}), create_app(bot)
    a.test_client().get("/")
    assert 'route="/"' in a.test_client().get("/metrics").get_data(as_text=True)
    text_b = b.test_client().get("/metrics", headers=auth(bot.create_token("p", "read")[0]))
    assert text_b.status_code == 200
    assert 'route="/"' not in text_b.get_data(as_text=True)


def test_openapi_lists_every_admin_route(client):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    assert set(paths["/api/incidents/{incident_id}"]) >= {"get", "patch"}
    for p in (
        "/api/incidents",
        "/api/incidents/{incident_id}/updates",
        "/api/incidents/{incident_id}/resolve",
        "/api/incidents/{incident_id}/rca",
        "/api/metrics",
        "/api/list",
        "/api/v2/summary.json",
    ):
        assert p in paths


def test_cli_token_create_prints_secret_once_and_it_authenticates(
    bot, database_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("CRASHBOT_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(build_cli(), ["token", "create", "deploy-bot", "--scope", "write"])
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[0]
    assert secret.startswith("cbt_")
    client = create_app(bot, {"CHANGE_TOKEN_TTL": 0}).test_client()
    assert (
        client.post("/api/incidents", json={"title": "x"}, headers=auth(secret)).status_code == 201
    )
    again = CliRunner().invoke(build_cli(), ["token", "create", "deploy-bot"])
    assert again.exit_code == 1 and "exists already" in again.output


def test_demo_seed_is_idempotent_and_believable(bot, client):
    message = demo.seed(bot)
    assert message.startswith("seeded")
    total = bot.store.count_incidents(demo.IncidentFilter())
    assert total > 15
    assert demo.seed(bot) == "demo data already present; not seeding again"
    assert bot.store.count_incidents(demo.IncidentFilter()) == total
    levels = {i.severity for i in bot.list()}
    assert levels == {"SEV1", "SEV2", "SEV3", "SEV4"}
    open_ = bot.list(open=True)
    assert len(open_) == 1 and open_[0].public
    html = client.get("/").get_data(as_text=True)
    assert "Webhook deliveries delayed for some customers" in html
    assert "Core platform" in html and "Delivery" in html
    assert "Queue depth" not in html  # the internal note stays internal


def test_demo_leaves_a_store_with_real_incidents_alone(bot):
    bot.declare("A real one")
    assert demo.seed(bot) == "the store already holds incidents; not adding demo data"
    assert bot.store.count_incidents(demo.IncidentFilter()) == 1


def test_plugins_mount_routes_through_crashbot_web(bot):
    from crashbot_core.hookspecs import hookimpl
    from crashbot_core.testing import registered

    class Mounts:
        @hookimpl
        def crashbot_web(self, app, crashbot):
            @app.post("/slack/events")
            def events():
                return {"ok": True, "name": crashbot.config.general.name}

    with registered(bot.pm, Mounts()):
        app = create_app(bot)
    assert app.extensions["crashbot"] is bot
    resp = app.test_client().post("/slack/events")
    assert resp.get_json() == {"ok": True, "name": "crashbot"}
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_metrics_need_a_read_token_by_default(bot, client, read_token):
    bot.declare(SECRET_TITLE, severity="SEV1", public=False)
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.get_json()["error"] == "unauthorized"
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"crashbot_incidents_open" not in anonymous.data
    assert client.get("/metrics", headers=auth("cbt_wrong")).status_code == 401
    scraped = client.get("/metrics", headers=auth(read_token))
    assert scraped.status_code == 200
    samples = _samples(scraped.get_data(as_text=True))
    assert samples[("crashbot_incidents_open", (("severity", "SEV1"),))] == 1


@pytest.mark.parametrize("how", ["toml", "env"])
def test_public_metrics_setting_opens_metrics(database_url, how):
    bot = make_crashbot(
        database_url=database_url,
        config={"status": {"public_metrics": True}} if how == "toml" else None,
        env={"CRASHBOT_STATUS_PUBLIC_METRICS": "true"} if how == "env" else None,
    )
    try:
        resp = create_app(bot).test_client().get("/metrics")
        assert resp.status_code == 200
        assert "crashbot_incidents_open" in resp.get_data(as_text=True)
    finally:
        bot.close()


def test_invented_methods_do_not_grow_the_metrics(bot, client, read_token):
    def scrape():
        return client.get("/metrics", headers=auth(read_token)).get_data(as_text=True)

    for path in ("/", "/nope"):  # every series the flood below may touch, once
        client.open(path, method="GET")
        client.open(path, method="BREW")
    scrape()
    before = scrape()
    for n in range(3000):
        resp = client.open("/" if n % 2 else f"/nope{n}", method=f"X{n}FOO")
        assert resp.status_code in (404, 405)
    after = scrape()
    assert len(after.splitlines()) == len(before.splitlines())  # no new series
    s = _samples(after)
    methods = {dict(labels).get("method") for (name, labels) in s if "method" in dict(labels)}
    assert methods == {"GET", "other"}
    flood = (("method", "other"), ("route", "unmatched"), ("status", "404"))
    assert s[("crashbot_http_requests_total", flood)] == 1 + 1500
    assert len(after) < len(before) + 100  # only counter values grew by a digit or two


def _read_only(database_url):
    """The same database, opened so that every write is refused (as a read-only file or standby)."""
    import sqlalchemy as sa

    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///file:{url.database}?mode=ro&uri=true"
    options = url.query.get("options", "")
    return url.update_query_dict(
        {"options": f"{options} -cdefault_transaction_read_only=on".strip()}
    ).render_as_string(hide_password=False)


def test_health_fails_when_the_store_cannot_be_written(bot, database_url, read_token):
    open_incident(bot)
    read_only = make_crashbot(database_url=_read_only(database_url))
    try:
        client = create_app(read_only, {"HEALTH_TTL": 0, "CHANGE_TOKEN_TTL": 0}).test_client()
        assert client.get("/").status_code == 200  # reads still work
        resp = client.get("/health")
        assert resp.status_code == 503
        assert resp.get_json() == {"status": "failing"}
        details = client.get("/health", headers=auth(read_token)).get_json()["store"]
        assert details["readable"] is True and details["writable"] is False
        assert "read" in details["error"].lower()  # "readonly database" / "read-only transaction"
        write_token = bot.create_token("writer", "write")[0]
        refused = client.post("/api/incidents", json={"title": "x"}, headers=auth(write_token))
        assert refused.status_code == 503
        assert refused.get_json()["error"] == "store_unavailable"
    finally:
        read_only.close()
