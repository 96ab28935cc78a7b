"""``crashbot import statuspage``: one crashbot's public history into another, and real Statuspage pages."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from pytest_httpserver import HTTPServer
from support import POSTGRES_URL, T0, postgres_schema

from crashbot_core import Crashbot, FixedClock
from crashbot_core.cli import build_cli
from crashbot_core.models import Impact, Status
from crashbot_core.store import IncidentFilter
from crashbot_core.testing import make_crashbot
from crashbot_status import create_app, demo


@pytest.fixture
def target_url(tmp_path: Path) -> Iterator[str]:
    """A second, empty database (same backend as ``database_url``)."""
    if POSTGRES_URL:
        with postgres_schema() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'target.db'}"


def _json(bot: Crashbot, path: str) -> Any:
    client = create_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 0}).test_client()
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_json()


def _import(url: str, source: str) -> Result:
    return CliRunner().invoke(
        build_cli(), ["import", "statuspage", source], env={"CRASHBOT_DATABASE_URL": url}
    )


def _comparable(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The incidents without what names the page or the store's own ids."""
    out = []
    for inc in doc["incidents"]:
        inc = {k: v for k, v in inc.items() if k not in {"id", "shortlink", "page_id"}}
        inc["incident_updates"] = [
            {k: v for k, v in u.items() if k not in {"id", "incident_id"}}
            for u in inc["incident_updates"]
        ]
        inc["components"] = [
            {k: v for k, v in c.items() if k not in {"page_id", "created_at", "updated_at"}}
            for c in inc["components"]
        ]
        out.append(inc)
    return out


def _serve(httpserver: HTTPServer, incidents: Any, components: Any) -> str:
    httpserver.expect_request("/api/v2/incidents.json").respond_with_json(incidents)
    httpserver.expect_request("/api/v2/components.json").respond_with_json(components)
    return httpserver.url_for("/").rstrip("/")


def test_one_crashbot_imported_into_an_empty_one_serves_the_same_public_json(
    bot: Crashbot, target_url: str, httpserver: HTTPServer
) -> None:
    demo.seed(bot)
    # Impact began before anyone declared it.
    late = bot.declare(
        "Queue backlog", severity="SEV1", public=True, started_at=T0 - timedelta(hours=2)
    )
    bot.update(late.id, status="monitoring", message="Draining the backlog.", public=True)
    # Something private on the source, which the public JSON never shows.
    secret = bot.declare("Secret database migration", public=False)
    bot.update(secret.id, message="internal only", public=False)
    source_incidents = _json(bot, "/api/v2/incidents.json")
    source_components = _json(bot, "/api/v2/components.json")
    assert len(source_incidents["incidents"]) > 10
    url = _serve(httpserver, source_incidents, source_components)

    result = _import(target_url, url)

    assert result.exit_code == 0, result.output
    count = len(source_incidents["incidents"])
    assert f"imported {count} new incidents, updated 0, 0 unchanged" in result.output
    target = make_crashbot(database_url=target_url, clock=FixedClock(T0))
    try:
        imported = _json(target, "/api/v2/incidents.json")
        assert _comparable(imported) == _comparable(source_incidents)
        strip = {"page_id", "created_at", "updated_at"}
        assert [
            {k: v for k, v in c.items() if k not in strip}
            for c in _json(target, "/api/v2/components.json")["components"]
        ] == [
            {k: v for k, v in c.items() if k not in strip} for c in source_components["components"]
        ]
        everything = target.store.list_incidents(IncidentFilter())
        assert all(i.public and i.source == "import:statuspage" for i in everything)
        assert "Secret database migration" not in json.dumps(imported)
        assert not any(
            "internal only" in str(e.data) for i in everything for e in target.timeline(i.id)
        )
    finally:
        target.close()

    again = _import(target_url, url)

    assert again.exit_code == 0, again.output
    assert (
        f"imported 0 new incidents, updated 0, {count} unchanged; 0 new components" in again.output
    )


STATUSPAGE_INCIDENTS: dict[str, Any] = {
    "page": {
        "id": "kctbh9vrtdwd",
        "name": "GitHub",
        "url": "https://www.githubstatus.com",
        "time_zone": "Etc/UTC",
        "updated_at": "2026-03-01T10:40:01.000Z",
    },
    "incidents": [
        {
            "id": "p31zjtct2jer",
            "name": "Disruption with some GitHub services",
            "status": "resolved",
            "created_at": "2026-02-27T19:20:13.745Z",
            "updated_at": "2026-02-27T20:01:40.412Z",
            "monitoring_at": None,
            "resolved_at": "2026-02-27T20:01:40.395Z",
            "impact": "minor",
            "shortlink": "https://stspg.io/p31zjtct2jer",
            "started_at": "2026-02-27T19:20:13.738Z",
            "page_id": "kctbh9vrtdwd",
            "incident_updates": [
                {
                    "id": "9v2xl6ghqm0t",
                    "status": "resolved",
                    "body": "This incident has been resolved.",
                    "incident_id": "p31zjtct2jer",
                    "created_at": "2026-02-27T20:01:40.395Z",
                    "updated_at": "2026-02-27T20:01:40.395Z",
                    "display_at": "2026-02-27T20:01:40.395Z",
                    "affected_components": [
                        {
                            "code": "br0l2tvcx85d",
                            "name": "Actions",
                            "old_status": "degraded_performance",
                            "new_status": "operational",
                        }
                    ],
                    "deliver_notifications": True,
                    "custom_tweet": None,
                    "tweet_id": None,
                },
                {
                    "id": "zqbv7sx1m3wd",
                    "status": "investigating",
                    "body": "We are investigating reports of degraded performance for Actions",
                    "incident_id": "p31zjtct2jer",
                    "created_at": "2026-02-27T19:20:13.816Z",
                    "updated_at": "2026-02-27T19:20:13.816Z",
                    "display_at": "2026-02-27T19:20:13.816Z",
                    "affected_components": [
                        {
                            "code": "br0l2tvcx85d",
                            "name": "Actions",
                            "old_status": "operational",
                            "new_status": "degraded_performance",
                        }
                    ],
                    "deliver_notifications": True,
                    "custom_tweet": None,
                    "tweet_id": None,
                },
            ],
            "components": [
                {
                    "id": "br0l2tvcx85d",
                    "name": "Actions",
                    "status": "operational",
                    "created_at": "2019-11-13T18:02:19.432Z",
                    "updated_at": "2026-02-27T20:01:40.320Z",
                    "position": 11,
                    "description": "Workflows, Compute and Orchestration for GitHub Actions",
                    "showcase": False,
                    "start_date": None,
                    "group_id": None,
                    "page_id": "kctbh9vrtdwd",
                    "group": False,
                    "only_show_if_degraded": False,
                }
            ],
            "reminder_intervals": None,
        },
        {
            "id": "mnt0sched000",
            "name": "Scheduled database maintenance",
            "status": "completed",
            "created_at": "2026-02-20T01:00:00.000Z",
            "impact": "maintenance",
            "incident_updates": [],
            "components": [],
        },
    ],
}

STATUSPAGE_COMPONENTS: dict[str, Any] = {
    "page": STATUSPAGE_INCIDENTS["page"],
    "components": [
        {
            "id": "grp0platform",
            "name": "Platform",
            "status": "operational",
            "position": 1,
            "description": None,
            "group_id": None,
            "group": True,
            "components": ["br0l2tvcx85d"],
        },
        {
            "id": "br0l2tvcx85d",
            "name": "Actions",
            "status": "operational",
            "position": 2,
            "description": "Workflows, Compute and Orchestration for GitHub Actions",
            "group_id": "grp0platform",
            "group": False,
        },
    ],
}


def test_a_statuspage_hosted_page_imports_incidents_updates_and_components(
    database_url: str, httpserver: HTTPServer
) -> None:
    url = _serve(httpserver, STATUSPAGE_INCIDENTS, STATUSPAGE_COMPONENTS)

    result = _import(database_url, url)

    assert result.exit_code == 0, result.output
    assert "imported 1 new incidents" in result.output
    assert "1 new components" in result.output
    bot = make_crashbot(database_url=database_url)
    try:
        (incident,) = bot.list()
        assert incident.title == "Disruption with some GitHub services"
        assert incident.severity == "SEV3"  # minor
        assert incident.status is Status.RESOLVED
        assert incident.public
        assert incident.components == {"br0l2tvcx85d": Impact.DEGRADED_PERFORMANCE}
        assert incident.refs["import"] == "statuspage:kctbh9vrtdwd:p31zjtct2jer"
        assert incident.resolved_at is not None
        assert incident.resolved_at.isoformat() == "2026-02-27T20:01:40.395000+00:00"
        timeline = bot.timeline(incident.id)
        assert [(e.kind.value, e.public, e.at.isoformat()) for e in timeline] == [
            ("declared", True, "2026-02-27T19:20:13.816000+00:00"),
            ("update_posted", True, "2026-02-27T20:01:40.395000+00:00"),
        ]
        assert timeline[0].data["description"].startswith("We are investigating")
        (component,) = [c for c in bot.components() if c.key == "br0l2tvcx85d"]
        assert (component.name, component.group) == ("Actions", "Platform")
    finally:
        bot.close()


def test_a_newer_copy_of_the_page_adds_only_the_new_updates(
    database_url: str, tmp_path: Path
) -> None:
    older = copy.deepcopy(STATUSPAGE_INCIDENTS)
    incident = older["incidents"][0]
    incident.update(status="investigating", resolved_at=None)
    incident["incident_updates"] = incident["incident_updates"][1:]
    folder = tmp_path / "page"
    folder.mkdir()
    (folder / "incidents.json").write_text(json.dumps(older))
    (folder / "components.json").write_text(json.dumps(STATUSPAGE_COMPONENTS))
    assert _import(database_url, str(folder)).exit_code == 0
    (folder / "incidents.json").write_text(json.dumps(STATUSPAGE_INCIDENTS))

    result = _import(database_url, str(folder / "incidents.json"))

    assert result.exit_code == 0, result.output
    assert "imported 0 new incidents, updated 1, 0 unchanged" in result.output
    bot = make_crashbot(database_url=database_url)
    try:
        (incident_now,) = bot.list()
        assert incident_now.status is Status.RESOLVED
        assert len(bot.timeline(incident_now.id)) == 2
    finally:
        bot.close()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("not json", "is not JSON"),
        ('{"incidents": [{"id": "x", "status": "resolved"}]}', "has no created_at"),
        (
            '{"incidents": [{"id": "x", "status": "resolved", "created_at": "yesterday"}]}',
            "is not an ISO 8601 time",
        ),
    ],
)
def test_bad_documents_are_refused_in_one_line_and_import_nothing(
    database_url: str, tmp_path: Path, content: str, reason: str
) -> None:
    (tmp_path / "incidents.json").write_text(content)

    result = _import(database_url, str(tmp_path / "incidents.json"))

    assert result.exit_code == 1
    assert reason in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_an_unreachable_page_is_one_line(database_url: str, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v2/incidents.json").respond_with_data("gone", status=404)

    result = _import(database_url, httpserver.url_for("/"))

    assert result.exit_code == 1
    assert "HTTP 404" in result.output
    assert "Traceback" not in result.output
