"""``crashbot status export DIR``: the public site as static files."""

from __future__ import annotations

import json

from click.testing import CliRunner
from status_support import (
    SECRET_NOTE,
    SECRET_TITLE,
    open_incident,
    resolved_incident,
    seed_components,
)

from crashbot_core.cli import build_cli
from crashbot_status.export import export_site, target


def test_target_paths(tmp_path):
    assert target(tmp_path, "/") == tmp_path / "index.html"
    assert target(tmp_path, "/incidents/3") == tmp_path / "incidents/3/index.html"
    assert target(tmp_path, "/api/v2/summary.json") == tmp_path / "api/v2/summary.json"
    assert target(tmp_path, "/api/list") == tmp_path / "api/list"
    assert target(tmp_path, "/history/page/2") == tmp_path / "history/page/2/index.html"


def test_export_writes_pages_feeds_badge_and_json(bot, clock, app, tmp_path):
    seed_components(bot)
    old = resolved_incident(bot, clock, "Old outage", days_ago=4)
    inc = open_incident(bot)
    secret = bot.declare(SECRET_TITLE, severity="SEV1", public=False)
    out = tmp_path / "site"
    files = export_site(app, out)
    for rel in (
        "index.html",
        "history/index.html",
        "feed.atom",
        "feed.rss",
        "badge.svg",
        "api/list",
        "api/v2/summary.json",
        "api/v2/status.json",
        "api/v2/components.json",
        "api/v2/incidents.json",
        "api/v2/incidents/unresolved.json",
        "api/v2/scheduled-maintenances.json",
        "api/v2/scheduled-maintenances/upcoming.json",
        "api/v2/scheduled-maintenances/active.json",
        "static/style.css",
        f"incidents/{inc.id}/index.html",
        f"incidents/{old.id}/index.html",
    ):
        assert (out / rel).is_file(), rel
    assert not (out / f"incidents/{secret.id}").exists()
    listing = json.loads((out / "api/list").read_text())
    assert [i["title"] for i in listing["open"]] == ["Checkout errors"]
    assert (out / "index.html").read_text() == app.test_client().get("/").get_data(as_text=True)
    for f in files:
        text = f.read_bytes().decode("utf-8", "replace")
        assert SECRET_TITLE not in text and SECRET_NOTE not in text, f


def test_cli_export(bot, database_url, tmp_path, monkeypatch):
    open_incident(bot)
    monkeypatch.setenv("CRASHBOT_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(build_cli(), ["status", "export", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    assert "Checkout errors" in (tmp_path / "out/index.html").read_text()
