"""/health, /metrics (Prometheus), OpenAPI document, CLI token creation, demo seeding."""

from __future__ import annotations

from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from status_support import auth, open_incident

from crashbot_core.cli import build_cli
from crashbot_core.models import DeliveryState
from crashbot_status import create_app, demo


def test_health_ok(client):
    resp = client.get("/health")
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "ok"


def test_health_is_503_when_the_store_cannot_read(bot, client, monkeypatch):
    def broken():
        raise OSError("disk on fire")

    monkeypatch.setattr(bot.store, "change_token", broken)
    resp = client.get("/health")
    assert resp.status_code == 503
    assert resp.get_json() == {"status": "unavailable", "store": "unreadable"}


def _samples(text):
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_prometheus_metrics(bot, clock, client):
    inc = open_incident(bot)
    bot.acknowledge(inc.id)
    client.get("/")
    client.get("/nope")
    bot.store.mark_delivery(1, "slack", DeliveryState.FAILED, at=clock.now(), error="boom")
    resp = client.get("/metrics")
    assert resp.headers["Content-Type"].startswith("text/plain")
    s = _samples(resp.get_data(as_text=True))
    assert s[("crashbot_incidents_open", (("severity", "SEV2"),))] == 1
    assert s[("crashbot_incidents_open", (("severity", "SEV1"),))] == 0
    assert s[("crashbot_mtta_seconds", ())] == 0.0
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
    assert s[("crashbot_delivery_failures", (("plugin", "slack"), ("state", "failed")))] == 1


def test_each_app_has_its_own_registry(bot):
    a, b = create_app(bot), create_app(bot)
    a.test_client().get("/")
    text_b = b.test_client().get("/metrics").get_data(as_text=True)
    assert 'route="/"' not in text_b


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
