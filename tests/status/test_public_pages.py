"""The public HTML pages, feeds and badge, through the Flask test client."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from status_support import SECRET_NOTE, open_incident, resolved_incident, seed_components

from crashbot_core import Impact


def test_empty_store_shows_all_systems_operational(client):
    resp = client.get("/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "All Systems Operational" in html
    assert "No components are configured." in html
    assert resp.headers["Content-Type"].startswith("text/html")


def test_front_page_shows_open_incident_with_public_updates_newest_first(bot, client):
    seed_components(bot)
    open_incident(bot)
    html = client.get("/").get_data(as_text=True)
    assert "Partial System Outage" in html
    assert "Checkout errors" in html
    newest = html.index("Bad deploy identified.")
    oldest = html.index("Customers see errors at checkout.")
    assert newest < oldest
    assert SECRET_NOTE not in html
    # Components grouped with their current status.
    assert "Core" in html and "Data" in html
    assert "Public API" in html and "Partial outage" in html


def test_banner_follows_worst_component_impact(bot, client):
    seed_components(bot)
    bot.declare("DB down", severity="SEV1", public=True, components={"db": Impact.MAJOR_OUTAGE})
    assert "Major Service Outage" in client.get("/").get_data(as_text=True)


def test_uptime_bar_titles_name_the_days_incidents(bot, clock, client):
    seed_components(bot)
    resolved_incident(bot, clock, "Yesterday's API outage", days_ago=1)
    html = client.get("/").get_data(as_text=True)
    assert 'title="2026-03-01: INC-1 Yesterday&#39;s API outage (major outage)"' in html
    assert "d d-major-outage" in html
    assert 'title="2026-02-28: no incidents"' in html
    assert html.count('class="d ') == 3 * 90


def test_past_incidents_are_listed_by_day(bot, clock, client):
    resolved_incident(bot, clock, "Search was slow", days_ago=2)
    html = client.get("/").get_data(as_text=True)
    assert 'datetime="2026-02-28"' in html
    assert "Search was slow" in html
    assert "No incidents reported." in html


def test_incident_page_shows_public_timeline_only(bot, client):
    inc = open_incident(bot)
    resp = client.get(f"/incidents/{inc.id}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Checkout errors" in html and "Bad deploy identified." in html
    assert SECRET_NOTE not in html


def test_private_and_missing_incidents_are_404(bot, client):
    private = bot.declare("Quiet thing", severity="SEV4", public=False)
    for path in (f"/incidents/{private.id}", "/incidents/999"):
        resp = client.get(path, headers={"Accept": "text/html"})
        assert resp.status_code == 404
        assert "Quiet thing" not in resp.get_data(as_text=True)


def test_user_text_is_escaped(bot, client):
    inc = bot.declare('<script>alert("x")</script>', severity="SEV2", public=True)
    bot.update(inc.id, message="<img src=x onerror=alert(1)>", public=True)
    for path in ("/", f"/incidents/{inc.id}", "/history"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;" in html


def test_history_is_paginated(bot, clock, client):
    for n in range(27):
        resolved_incident(bot, clock, f"Incident number {n}", days_ago=n + 1, hours=1)
    first = client.get("/history").get_data(as_text=True)
    assert "page 1 of 2" in first and "Incident number 0" in first
    assert "Incident number 26" not in first
    second = client.get("/history/page/2")
    assert second.status_code == 200
    assert "Incident number 26" in second.get_data(as_text=True)
    assert client.get("/history?page=2").get_data(as_text=True) == second.get_data(as_text=True)
    assert client.get("/history/page/3").status_code == 404
    assert client.get("/history?page=0").status_code == 404


def test_atom_and_rss_feeds_are_valid_xml_with_escaped_text(bot, client):
    inc = bot.declare("Fish & <chips> down", severity="SEV1", public=True)
    bot.update(inc.id, message="Frying <again> & soon", public=True)
    atom = client.get("/feed.atom")
    assert atom.headers["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(atom.get_data())
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entry = root.find("a:entry", ns)
    assert entry.find("a:title", ns).text == "Fish & <chips> down"
    assert "Frying &lt;again&gt; &amp; soon" in entry.find("a:content", ns).text
    rss = client.get("/feed.rss")
    item = ET.fromstring(rss.get_data()).find("channel/item")
    assert item.find("title").text == "Fish & <chips> down"
    assert client.get("/api/v2/history.atom").get_data() == atom.get_data()
    assert client.get("/api/v2/history.rss").get_data() == rss.get_data()


def test_badge_shows_current_status(bot, client):
    resp = client.get("/badge.svg")
    assert resp.headers["Content-Type"].startswith("image/svg+xml")
    assert "status: operational" in resp.get_data(as_text=True)
    bot.declare("API down", severity="SEV1", public=True, components={"api": "major_outage"})
    assert "status: major outage" in client.get("/badge.svg").get_data(as_text=True)


def test_private_incident_does_not_change_banner_or_badge(bot, client):
    bot.declare("Secret outage", severity="SEV1", public=False, components={"api": "major_outage"})
    assert "All Systems Operational" in client.get("/").get_data(as_text=True)
    assert "operational" in client.get("/badge.svg").get_data(as_text=True)


def test_security_headers_on_pages(client):
    h = client.get("/").headers
    assert "script-src" not in h["Content-Security-Policy"]
    assert "default-src 'none'" in h["Content-Security-Policy"]
    assert "style-src 'self'" in h["Content-Security-Policy"]
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_pages_reference_no_external_assets_and_no_script(bot, client):
    open_incident(bot)
    html = client.get("/").get_data(as_text=True)
    assert "<script" not in html
    assert "http://" not in html.split("<body>")[0] and "https://" not in html.split("<body>")[0]
    assert client.get("/static/style.css").status_code == 200


def test_unknown_path_is_404_json_for_api_clients(client):
    resp = client.get("/api/nothing")
    assert resp.status_code == 404
    assert resp.get_json()["error"] == "not_found"


def test_huge_incident_id_is_404(client):
    assert client.get("/incidents/99999999999999999999999").status_code == 404


def test_an_ongoing_incident_is_listed_under_the_day_it_started(bot, client):
    # Regression: "Past incidents" said "No incidents reported" for today while
    # an incident that started today was ongoing.
    inc = open_incident(bot)
    html = client.get("/").get_data(as_text=True)
    past = html.split('id="past-h"')[1]
    today = past.split('<div class="day">')[1]
    assert 'datetime="2026-03-02"' in today
    assert inc.title in today and "Ongoing" in today
    assert "No incidents reported." not in today
