"""Headless Chromium: the "Under maintenance" banner, the upcoming list and a maintenance's page."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from status_support import seed_components
from test_browser import ARGS, CHROMIUM, _require_chromium
from werkzeug.serving import make_server

from crashbot_core import Crashbot, FixedClock
from crashbot_status import create_app

pytestmark = pytest.mark.browser


@pytest.fixture
def chromium() -> Iterator[object]:
    """A headless Chromium (Debian's)."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def site(bot: Crashbot, clock: FixedClock) -> Iterator[str]:
    """A live server: MNT-1 on the database in progress, MNT-2 on the API tomorrow."""
    seed_components(bot)
    now = clock.now()
    bot.schedule_maintenance(
        "Database upgrade",
        starts_at=now + timedelta(minutes=5),
        ends_at=now + timedelta(hours=2),
        components=["db"],
        message="Writes pause; reads keep working.",
    )
    bot.schedule_maintenance(
        "API gateway swap",
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=1, hours=1),
        components=["api"],
    )
    clock.advance(minutes=5)
    bot.run_due_maintenances()
    server = make_server("127.0.0.1", 0, create_app(bot, {"CHANGE_TOKEN_TTL": 0}), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@pytest.mark.parametrize("width", [1200, 390])
def test_the_under_maintenance_banner_and_pills_show_in_progress_work(
    site: str, chromium, tmp_path, width: int
) -> None:
    page = chromium.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    resp = page.goto(site + "/")
    page.screenshot(path=str(tmp_path / f"maintenance-{width}.png"), full_page=True)

    assert resp is not None and resp.status == 200 and errors == []
    assert page.locator("h1").first.inner_text() == "Service Under Maintenance"
    banner = page.locator(".maintenance-banner")
    assert banner.count() == 1
    assert banner.locator("h2").inner_text() == "Under maintenance: Database upgrade"
    assert "Scheduled maintenance is now in progress." in banner.inner_text()
    assert banner.is_visible()
    bg = page.evaluate(
        "getComputedStyle(document.querySelector('.maintenance-banner')).backgroundColor"
    )
    assert bg == "rgb(5, 80, 174)"
    db = page.locator(".component", has_text="Database")
    assert db.locator(".pill").inner_text() == "Under maintenance"
    assert page.locator(".component", has_text="Public API").locator(".pill").inner_text() == (
        "Operational"
    )
    upcoming = page.locator("section[aria-labelledby='upcoming-h']")
    assert "API gateway swap" in upcoming.inner_text()
    assert "Database upgrade" not in upcoming.inner_text()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0


def test_the_banner_links_to_the_maintenance_page_with_its_updates(site: str, chromium) -> None:
    page = chromium.new_page()
    page.goto(site + "/")

    page.locator(".maintenance-banner a").click()

    page.wait_for_url("**/maintenance/1")
    assert page.locator("h1").inner_text() == "Database upgrade"
    updates = page.locator(".updates .update").all_inner_texts()
    assert len(updates) == 2
    assert "In progress" in updates[0] and "Scheduled" in updates[1]
    assert page.locator(".facts").inner_text().count("Database") == 1
