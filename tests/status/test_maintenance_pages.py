"""Scheduled maintenance on the status site: Statuspage shapes field by field, the page,
the banner's data, uptime, feeds, ``/maintenance.ics`` and the admin API."""

from __future__ import annotations

from datetime import timedelta

import icalendar
import pytest
from status_support import auth, open_incident, resolved_incident, seed_components
from support import ALICE, T0
from test_statuspage import AFFECTED_KEYS, COMPONENT_KEYS, PAGE_KEYS, UPDATE_KEYS

from crashbot_core import Crashbot, FixedClock, Impact
from crashbot_status import ical

HOUR = timedelta(hours=1)
UPCOMING = "/api/v2/scheduled-maintenances/upcoming.json"
ACTIVE = "/api/v2/scheduled-maintenances/active.json"
ALL = "/api/v2/scheduled-maintenances.json"
#: Statuspage's scheduled maintenance: an incident's keys plus its window.
MAINTENANCE_KEYS = {
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
    "scheduled_for",
    "scheduled_until",
}


@pytest.fixture
def planned(bot: Crashbot) -> Crashbot:
    """Components, and MNT-1 on db from T0+1h to T0+3h (scheduled by Alice)."""
    seed_components(bot)
    bot.schedule_maintenance(
        "Database upgrade",
        starts_at=T0 + HOUR,
        ends_at=T0 + 3 * HOUR,
        components=["db"],
        message="Writes pause; reads keep working.",
        actor=ALICE,
    )
    return bot


def test_upcoming_json_has_the_scheduled_maintenance_field_by_field(planned, client) -> None:
    doc = client.get(UPCOMING).get_json()

    assert set(doc) == {"page", "scheduled_maintenances"}
    assert set(doc["page"]) == PAGE_KEYS
    [m] = doc["scheduled_maintenances"]
    assert set(m) == MAINTENANCE_KEYS
    assert m["id"] == "1"
    assert m["name"] == "Database upgrade"
    assert m["status"] == "scheduled"
    assert m["impact"] == "maintenance"
    assert m["created_at"] == m["updated_at"] == "2026-03-02T09:00:00.000Z"
    assert m["scheduled_for"] == "2026-03-02T10:00:00.000Z"
    assert m["scheduled_until"] == "2026-03-02T12:00:00.000Z"
    assert (m["monitoring_at"], m["resolved_at"]) == (None, None)
    assert m["shortlink"] == "http://localhost/maintenance/1"
    assert m["page_id"] == doc["page"]["id"]
    [comp] = m["components"]
    assert set(comp) == COMPONENT_KEYS
    assert (comp["id"], comp["name"], comp["status"]) == ("db", "Database", "operational")
    [u] = m["incident_updates"]
    assert set(u) == UPDATE_KEYS
    assert (u["status"], u["body"], u["incident_id"]) == (
        "scheduled",
        "Writes pause; reads keep working.",
        "1",
    )
    assert u["created_at"] == u["display_at"] == "2026-03-02T09:00:00.000Z"
    [affected] = u["affected_components"]
    assert set(affected) == AFFECTED_KEYS
    assert affected == {
        "code": "db",
        "name": "Database",
        "old_status": "operational",
        "new_status": "operational",
    }
    assert client.get(ACTIVE).get_json()["scheduled_maintenances"] == []


def test_in_progress_the_page_is_under_maintenance_everywhere(
    planned, client, clock: FixedClock
) -> None:
    clock.advance(hours=1)
    planned.run_due_maintenances()

    status = client.get("/api/v2/status.json").get_json()["status"]
    comps = {
        c["id"]: c["status"] for c in client.get("/api/v2/components.json").get_json()["components"]
    }
    [active] = client.get(ACTIVE).get_json()["scheduled_maintenances"]
    summary = client.get("/api/v2/summary.json").get_json()
    html = client.get("/").get_data(as_text=True)

    assert status == {"indicator": "maintenance", "description": "Service Under Maintenance"}
    assert comps["db"] == "under_maintenance" and comps["api"] == "operational"
    assert comps["group-data"] == "under_maintenance"
    assert active["status"] == "in_progress"
    assert active["started_at"] == "2026-03-02T10:00:00.000Z"
    assert active["components"][0]["status"] == "under_maintenance"
    newest = active["incident_updates"][0]
    assert (newest["status"], newest["body"]) == (
        "in_progress",
        planned.config.maintenance.start_message,
    )
    assert newest["affected_components"][0]["new_status"] == "under_maintenance"
    assert [m["id"] for m in summary["scheduled_maintenances"]] == ["1"]
    assert client.get(UPCOMING).get_json()["scheduled_maintenances"] == []
    assert "Under maintenance: " in html and "Database upgrade" in html
    assert "Maintenance" in client.get("/badge.svg").get_data(as_text=True).title()


def test_an_incident_outranks_maintenance_on_its_component(
    planned, client, clock: FixedClock
) -> None:
    clock.advance(hours=1)
    planned.run_due_maintenances()
    planned.declare(
        "Replica lag", severity="SEV2", public=True, components={"db": Impact.PARTIAL_OUTAGE}
    )

    doc = client.get("/api/v2/summary.json").get_json()

    assert {c["id"]: c["status"] for c in doc["components"]}["db"] == "partial_outage"
    assert doc["status"]["indicator"] == "major"


def test_completed_it_is_listed_with_resolved_at_and_the_page_is_operational(
    planned, client, clock: FixedClock
) -> None:
    clock.advance(hours=1)
    planned.run_due_maintenances()
    clock.advance(minutes=30)
    planned.update_maintenance(1, status="verifying", message="Checking replicas.")
    clock.advance(hours=2)
    planned.run_due_maintenances()

    [m] = client.get(ALL).get_json()["scheduled_maintenances"]

    assert m["status"] == "completed"
    assert m["monitoring_at"] == "2026-03-02T10:30:00.000Z"
    assert m["resolved_at"] == "2026-03-02T12:30:00.000Z"
    assert [u["status"] for u in m["incident_updates"]] == [
        "completed",
        "verifying",
        "in_progress",
        "scheduled",
    ]
    assert m["incident_updates"][0]["affected_components"][0]["new_status"] == "operational"
    assert client.get("/api/v2/status.json").get_json()["status"]["indicator"] == "none"
    assert client.get(UPCOMING).get_json()["scheduled_maintenances"] == []
    assert client.get("/api/v2/summary.json").get_json()["scheduled_maintenances"] == []


def test_a_cancelled_maintenance_keeps_only_its_own_page(planned, client) -> None:
    planned.cancel_maintenance(1, message="Postponed.")

    page = client.get("/maintenance/1")

    assert page.status_code == 200 and "Postponed." in page.get_data(as_text=True)
    for path in (ALL, UPCOMING, ACTIVE):
        assert client.get(path).get_json()["scheduled_maintenances"] == []
    assert "Database upgrade" not in client.get("/").get_data(as_text=True)


def test_the_front_page_lists_upcoming_maintenance_and_its_page_has_the_updates(
    planned, client, clock: FixedClock
) -> None:
    clock.advance(minutes=10)
    planned.update_maintenance(1, message="Still on for 10:00 UTC.")

    front = client.get("/").get_data(as_text=True)
    page = client.get("/maintenance/1").get_data(as_text=True)

    assert "Scheduled maintenance" in front and 'href="/maintenance/1"' in front
    assert "Still on for 10:00 UTC." in front
    assert "Writes pause; reads keep working." in page and "Still on for 10:00 UTC." in page
    assert "MNT-1" in page and "Database" in page
    assert client.get("/maintenance/99").status_code == 404


def test_who_scheduled_it_appears_in_no_public_output(planned, client) -> None:
    for path in (
        "/",
        "/maintenance/1",
        ALL,
        "/api/v2/summary.json",
        "/feed.atom",
        "/maintenance.ics",
    ):
        body = client.get(path).get_data(as_text=True)
        assert "alice" not in body.lower(), path


def test_uptime_does_not_count_an_outage_inside_the_maintenance_window(
    planned, client, clock: FixedClock
) -> None:
    clock.advance(hours=1)
    planned.run_due_maintenances()
    # A major outage on db for the whole window: planned downtime, not lost uptime.
    inc = planned.declare(
        "DB offline for upgrade",
        severity="SEV1",
        public=True,
        components={"db": Impact.MAJOR_OUTAGE},
    )
    clock.advance(hours=2)
    planned.resolve(inc.id)
    planned.run_due_maintenances()
    resolved_incident(
        planned, clock, "API down", days_ago=1, components={"api": Impact.MAJOR_OUTAGE}
    )

    html = client.get("/").get_data(as_text=True)

    db_bar = html.split("Database:", 1)[1].split("uptime", 1)[0]
    api_bar = html.split("Public API:", 1)[1].split("uptime", 1)[0]
    assert "100.00%" in db_bar
    assert "100.00%" not in api_bar
    assert "MNT-1 Database upgrade (under maintenance)" in html


def test_feeds_carry_maintenances_beside_incidents(planned, client) -> None:
    open_incident(planned)

    atom = client.get("/feed.atom").get_data(as_text=True)
    rss = client.get("/feed.rss").get_data(as_text=True)

    for feed in (atom, rss):
        assert "[Maintenance] Database upgrade" in feed
        assert "http://localhost/maintenance/1" in feed
        assert "Checkout errors" in feed
    assert "tag:crashbot,2026:Maintenance/1" in atom


def test_maintenance_ics_is_an_rfc_5545_calendar_of_upcoming_windows(
    planned, client, clock: FixedClock
) -> None:
    planned.schedule_maintenance(
        "Network; switches, and \\ cables",
        starts_at=T0 + 24 * HOUR,
        ends_at=T0 + 26 * HOUR,
        components=["api", "web"],
        message="Line one.\nLine two with a long text " + "x" * 120,
    )
    planned.schedule_maintenance("Called off", starts_at=T0 + 48 * HOUR, ends_at=T0 + 50 * HOUR)
    planned.cancel_maintenance(3)

    r = client.get("/maintenance.ics")
    raw = r.get_data()

    assert r.headers["Content-Type"] == "text/calendar; charset=utf-8"
    lines = raw.split(b"\r\n")
    assert raw.endswith(b"END:VCALENDAR\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in lines) <= 75
    cal = icalendar.Calendar.from_ical(raw)
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert set(events) == {
        "maintenance-1@localhost",
        "maintenance-2@localhost",
        "maintenance-3@localhost",
    }
    net = events["maintenance-2@localhost"]
    assert str(net["SUMMARY"]) == "[Maintenance] Network; switches, and \\ cables"
    assert net.decoded("DTSTART") == T0 + 24 * HOUR
    assert net.decoded("DTEND") == T0 + 26 * HOUR
    assert "Line one.\nLine two" in str(net["DESCRIPTION"])
    assert "Public API, Web app" in str(net["DESCRIPTION"])
    assert str(events["maintenance-3@localhost"]["STATUS"]) == "CANCELLED"
    assert str(events["maintenance-1@localhost"]["STATUS"]) == "CONFIRMED"
    assert "DTSTAMP" in net
    clock.advance(hours=4)
    planned.run_due_maintenances()
    later = icalendar.Calendar.from_ical(client.get("/maintenance.ics").get_data())
    assert "maintenance-1@localhost" not in {str(e["UID"]) for e in later.walk("VEVENT")}


def test_folding_never_splits_a_utf8_character() -> None:
    line = "SUMMARY:" + "é" * 80

    folded = ical.fold(line).encode()

    parts = folded.split(b"\r\n")
    assert all(len(p) <= 75 for p in parts)
    assert b"".join(p[1:] if i else p for i, p in enumerate(parts)).decode() == line


def test_the_store_change_token_invalidates_cached_pages(
    planned, client, clock: FixedClock
) -> None:
    first = client.get(UPCOMING)
    clock.advance(hours=1)
    planned.run_due_maintenances()  # the worker, not a request: only the store knows

    again = client.get(UPCOMING, headers={"If-None-Match": first.headers["ETag"]})

    assert again.status_code == 200
    assert again.get_json()["scheduled_maintenances"] == []


# ------------------------------------------------------------------ admin API


def test_admin_api_schedules_lists_updates_and_completes(bot, client, write_token) -> None:
    seed_components(bot)
    h = auth(write_token)

    created = client.post(
        "/api/maintenances",
        json={
            "title": "Database upgrade",
            "starts_at": "2026-03-02T10:00:00Z",
            "ends_at": "2026-03-02T12:00:00Z",
            "components": ["db"],
            "message": "Writes pause.",
        },
        headers=h,
    )
    assert created.status_code == 201, created.get_json()
    assert created.headers["Location"] == "/api/maintenances/1"
    body = created.get_json()
    assert (body["ref"], body["status"], body["components"], body["auto"]) == (
        "MNT-1",
        "scheduled",
        ["db"],
        True,
    )
    assert body["created_by"]["id"] == "writer"

    patched = client.patch("/api/maintenances/MNT-1", json={"message": "On track."}, headers=h)
    started = client.post("/api/maintenances/1/start", headers=h)
    verifying = client.patch("/api/maintenances/1", json={"status": "verifying"}, headers=h)
    done = client.post("/api/maintenances/1/complete", json={"message": "Done."}, headers=h)
    listed = client.get("/api/maintenances?status=completed", headers=h)

    assert patched.status_code == 200 and patched.get_json()["updates"][-1]["body"] == "On track."
    assert started.get_json()["status"] == "in_progress"
    assert verifying.get_json()["status"] == "verifying"
    assert done.get_json()["status"] == "completed"
    assert [m["ref"] for m in listed.get_json()["maintenances"]] == ["MNT-1"]
    assert client.get("/api/maintenances?status=scheduled", headers=h).get_json() == {
        "maintenances": []
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        ("post", "/api/maintenances", {"title": "x"}, 422, "starts_at"),
        (
            "post",
            "/api/maintenances",
            {"title": "x", "starts_at": "tomorrow", "ends_at": "2026-03-02T12:00:00Z"},
            422,
            "starts_at",
        ),
        (
            "post",
            "/api/maintenances",
            {
                "title": "x",
                "starts_at": "2026-03-02T12:00:00Z",
                "ends_at": "2026-03-02T10:00:00Z",
            },
            409,
            "ends",
        ),
        ("post", "/api/maintenances/1/complete", {}, 409, "cannot complete MNT-1"),
        ("post", "/api/maintenances/7/start", {}, 404, "MNT-7"),
        ("get", "/api/maintenances/drop%20table", None, 422, "not a maintenance id"),
        ("patch", "/api/maintenances/1", {}, 422, ""),
        ("patch", "/api/maintenances/1", {"status": "completed"}, 422, "status"),
    ],
)
def test_admin_api_refuses_bad_requests_with_a_reason(
    planned, client, write_token, method, path, body, status, says
) -> None:
    kwargs = {"headers": auth(write_token)}
    if body is not None:
        kwargs["json"] = body

    r = getattr(client, method)(path, **kwargs)

    assert r.status_code == status, r.get_json()
    assert says in r.get_json()["reason"]


def test_admin_api_needs_a_write_token_to_change_and_a_token_to_read(
    planned, client, read_token
) -> None:
    assert client.get("/api/maintenances").status_code == 401
    assert client.get("/api/maintenances", headers=auth(read_token)).status_code == 200
    assert client.post("/api/maintenances/1/cancel", headers=auth(read_token)).status_code == 403
    assert planned.get_maintenance(1).status.value == "scheduled"


def test_the_openapi_document_describes_the_maintenance_routes(client) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]

    assert {"post", "get"} <= set(paths["/api/maintenances"])
    assert {"get", "patch"} <= set(paths["/api/maintenances/{maintenance_id}"])
    for step in ("start", "complete", "cancel"):
        assert "post" in paths[f"/api/maintenances/{{maintenance_id}}/{step}"]
    upcoming = paths[UPCOMING]["get"]["responses"]["200"]["content"]["application/json"]
    items = upcoming["schema"]["properties"]["scheduled_maintenances"]["items"]
    assert items["properties"]["impact"] == {"const": "maintenance"}
