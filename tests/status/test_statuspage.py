"""Statuspage v2 JSON, checked field by field against the published shapes.

The reference shapes are Statuspage's public API payloads (summary.json,
components.json, incidents.json, … as served by live pages such as
discordstatus.com/api/v2): same keys, same enums, ``page.time_zone``,
``incidents[].components`` as full component objects, ``started_at``, and
``incident_updates`` newest first.
"""

from __future__ import annotations

import pytest
from status_support import SECRET_NOTE, open_incident, resolved_incident, seed_components

PAGE_KEYS = {"id", "name", "url", "time_zone", "updated_at"}
STATUS_KEYS = {"indicator", "description"}
COMPONENT_KEYS = {
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "position",
    "description",
    "showcase",
    "start_date",
    "group_id",
    "page_id",
    "group",
    "only_show_if_degraded",
}
INCIDENT_KEYS = {
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "monitoring_at",
    "resolved_at",
    "impact",
    "shortlink",
    "started_at",
    "page_id",
    "incident_updates",
    "components",
}
UPDATE_KEYS = {
    "id",
    "status",
    "body",
    "incident_id",
    "created_at",
    "updated_at",
    "display_at",
    "affected_components",
    "deliver_notifications",
    "custom_tweet",
    "tweet_id",
}
AFFECTED_KEYS = {"code", "name", "old_status", "new_status"}
COMPONENT_STATUSES = {
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
}
TS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"

ENDPOINTS = [
    "/api/v2/summary.json",
    "/api/v2/status.json",
    "/api/v2/components.json",
    "/api/v2/incidents.json",
    "/api/v2/incidents/unresolved.json",
    "/api/v2/scheduled-maintenances.json",
    "/api/v2/scheduled-maintenances/upcoming.json",
    "/api/v2/scheduled-maintenances/active.json",
]


@pytest.fixture
def populated(bot, clock):
    seed_components(bot)
    resolved_incident(bot, clock, "Old API outage", days_ago=3)
    return open_incident(bot)


def check_page(page):
    assert set(page) == PAGE_KEYS
    assert page["time_zone"] == "Etc/UTC"
    assert page["name"] == "crashbot"
    # No [status] public_url: the link base is the request's own (Flask's test client host).
    assert page["url"] == "http://localhost"


def check_component(c):
    assert set(c) - {"components"} == COMPONENT_KEYS
    assert c["status"] in COMPONENT_STATUSES
    assert isinstance(c["position"], int) and isinstance(c["group"], bool)
    assert c["showcase"] is False and c["only_show_if_degraded"] is False
    assert c["start_date"] is None


def check_incident(inc):
    import re

    assert set(inc) == INCIDENT_KEYS
    assert inc["status"] in {"investigating", "identified", "monitoring", "resolved", "postmortem"}
    assert inc["impact"] in {"none", "minor", "major", "critical"}
    for key in ("created_at", "updated_at", "started_at"):
        assert re.match(TS, inc[key]), inc[key]
    assert inc["shortlink"] == f"http://localhost/incidents/{inc['id']}"
    times = [u["created_at"] for u in inc["incident_updates"]]
    assert times == sorted(times, reverse=True), "updates newest first"
    for u in inc["incident_updates"]:
        assert set(u) == UPDATE_KEYS
        assert u["incident_id"] == inc["id"]
        assert u["deliver_notifications"] is True
        assert u["custom_tweet"] is None and u["tweet_id"] is None
        for a in u["affected_components"] or []:
            assert set(a) == AFFECTED_KEYS
    for c in inc["components"]:
        check_component(c)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_every_endpoint_answers_get_and_head_with_cors(client, path):
    get = client.get(path)
    assert get.status_code == 200
    assert get.headers["Access-Control-Allow-Origin"] == "*"
    assert get.headers["Content-Type"] == "application/json"
    check_page(get.get_json()["page"])
    head = client.head(path)
    assert head.status_code == 200 and head.get_data() == b""
    assert head.headers["ETag"] == get.headers["ETag"]


def test_summary_matches_the_published_shape(client, populated):
    doc = client.get("/api/v2/summary.json").get_json()
    assert list(doc) == ["page", "components", "incidents", "scheduled_maintenances", "status"]
    check_page(doc["page"])
    assert doc["status"] == {"indicator": "major", "description": "Partial System Outage"}
    assert doc["scheduled_maintenances"] == []
    for c in doc["components"]:
        check_component(c)
    assert [i["name"] for i in doc["incidents"]] == ["Checkout errors"]
    inc = doc["incidents"][0]
    check_incident(inc)
    assert inc["status"] == "identified" and inc["impact"] == "major"
    assert inc["monitoring_at"] is None and inc["resolved_at"] is None
    assert [c["id"] for c in inc["components"]] == ["api"]
    assert inc["components"][0]["status"] == "partial_outage"
    bodies = [u["body"] for u in inc["incident_updates"]]
    assert bodies == ["Bad deploy identified.", "Customers see errors at checkout."]
    assert SECRET_NOTE not in str(doc)
    first = inc["incident_updates"][-1]["affected_components"]
    assert first == [
        {
            "code": "api",
            "name": "Public API",
            "old_status": "operational",
            "new_status": "partial_outage",
        }
    ]


def test_component_groups_are_group_components_listing_members(client, populated):
    comps = client.get("/api/v2/components.json").get_json()["components"]
    groups = [c for c in comps if c["group"]]
    assert [g["name"] for g in groups] == ["Core", "Data"]
    core = groups[0]
    assert core["components"] == ["api", "web"]
    assert core["status"] == "partial_outage"
    members = {c["id"]: c for c in comps if not c["group"]}
    assert members["api"]["group_id"] == core["id"]
    assert members["db"]["status"] == "operational"
    assert [c["position"] for c in comps] == list(range(1, len(comps) + 1))


def test_status_json_for_a_quiet_page(client):
    doc = client.get("/api/v2/status.json").get_json()
    assert doc["status"] == {"indicator": "none", "description": "All Systems Operational"}


def test_incidents_json_lists_resolved_and_open_with_times(client, populated):
    doc = client.get("/api/v2/incidents.json").get_json()
    assert list(doc) == ["page", "incidents"]
    names = [i["name"] for i in doc["incidents"]]
    assert names == ["Checkout errors", "Old API outage"]
    old = doc["incidents"][1]
    check_incident(old)
    assert old["status"] == "resolved"
    assert old["resolved_at"] is not None and old["monitoring_at"] is not None
    assert old["monitoring_at"] < old["resolved_at"]
    assert old["incident_updates"][0]["status"] == "resolved"
    assert old["incident_updates"][0]["affected_components"][0]["new_status"] == "operational"


def test_unresolved_json_has_only_open_incidents(client, populated):
    doc = client.get("/api/v2/incidents/unresolved.json").get_json()
    assert [i["name"] for i in doc["incidents"]] == ["Checkout errors"]


@pytest.mark.parametrize("path", ENDPOINTS[-3:])
def test_maintenances_are_the_empty_shape(client, path):
    doc = client.get(path).get_json()
    assert list(doc) == ["page", "scheduled_maintenances"]
    assert doc["scheduled_maintenances"] == []


@pytest.mark.parametrize(
    ("severity", "impact"),
    [("SEV1", "critical"), ("SEV2", "major"), ("SEV3", "minor"), ("SEV4", "none")],
)
def test_severity_maps_to_impact(bot, client, severity, impact):
    bot.declare("Something", severity=severity, public=True)
    assert client.get("/api/v2/incidents.json").get_json()["incidents"][0]["impact"] == impact


@pytest.mark.parametrize(
    ("impact", "indicator", "description"),
    [
        ("degraded_performance", "minor", "Partially Degraded Service"),
        ("partial_outage", "major", "Partial System Outage"),
        ("major_outage", "critical", "Major Service Outage"),
        ("under_maintenance", "maintenance", "Service Under Maintenance"),
    ],
)
def test_component_impact_maps_to_page_indicator(bot, client, impact, indicator, description):
    bot.declare("Something", severity="SEV3", public=True, components={"api": impact})
    status = client.get("/api/v2/status.json").get_json()["status"]
    assert status == {"indicator": indicator, "description": description}


def test_private_incidents_are_absent(bot, client):
    bot.declare("Hidden", severity="SEV1", public=False, components={"api": "major_outage"})
    for path in ENDPOINTS:
        assert "Hidden" not in client.get(path).get_data(as_text=True)
    assert client.get("/api/v2/summary.json").get_json()["incidents"] == []
