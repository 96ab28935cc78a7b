"""Headless Chromium: subscribe on the status page, confirm from the mail, hear, unsubscribe in one click."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from email_support import SmtpSink, free_port, mail_bot, text_of
from support import ALICE
from werkzeug.serving import make_server

from crashbot_core import Crashbot, FixedClock
from crashbot_core.worker import Worker
from crashbot_status import create_app

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


@pytest.fixture
def live(database_url: str, clock: FixedClock, smtp: SmtpSink) -> Iterator[tuple[str, Crashbot]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bot = mail_bot(
        database_url, clock, smtp.url, public_url=base, components={"api": {"name": "API"}}
    )
    server = make_server("127.0.0.1", port, create_app(bot, {"CHANGE_TOKEN_TTL": 0}), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base, bot
    finally:
        server.shutdown()
        thread.join(5)
        bot.close()


def test_subscribe_confirm_hear_and_unsubscribe_in_chromium(
    live: tuple[str, Crashbot], smtp: SmtpSink, tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    base, bot = live
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(java_script_enabled=False)
            page.goto(base + "/")
            page.fill("#subscribe-email", "ann@example.com")
            page.click("form.subscribe-form button[type=submit]")
            assert "Check your inbox" in page.content()

            Worker(bot).run_once()
            [confirmation] = smtp.to("ann@example.com")
            link = re.search(rf"{base}/subscriptions/confirm/\S+", text_of(confirmation))
            assert link
            page.goto(link.group(0))
            assert bot.store.find_subscriber("ann@example.com").confirmed_at is None  # type: ignore[attr-defined]
            page.click("text=Confirm subscription")
            assert "Subscription confirmed" in page.content()
            page.screenshot(path=str(tmp_path / "confirmed.png"))

            bot.declare(
                "Checkout down", actor=ALICE, public=True, components={"api": "major_outage"}
            )
            Worker(bot).run_once()
            mail = smtp.to("ann@example.com")[-1]
            assert mail["Subject"].endswith("New incident: Checkout down")
            target = re.fullmatch(r"<(.+)>", mail["List-Unsubscribe"])
            assert target

            # What a mail client does for RFC 8058 one-click unsubscribe.
            response = page.request.post(
                target.group(1),
                data="List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert response.status == 200
        finally:
            browser.close()

    bot.declare("Another outage", actor=ALICE, public=True)
    Worker(bot).run_once()
    assert len(smtp.to("ann@example.com")) == 2
