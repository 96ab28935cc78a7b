"""Subscriptions end to end through the Flask app, the worker and a real SMTP server."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from email_support import PUBLIC_URL, SmtpSink, html_of, mail_bot, text_of
from flask import Flask
from flask.testing import FlaskClient
from support import ALICE

from crashbot_core import Crashbot, FixedClock
from crashbot_core.models import DeliveryState
from crashbot_core.worker import Worker
from crashbot_email import fanout
from crashbot_sqlalchemy import schema
from crashbot_sqlalchemy.store import SqlStore
from crashbot_status import create_app


@pytest.fixture
def app(bot: Crashbot) -> Iterator[Flask]:
    yield create_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 0})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _work(bot: Crashbot) -> None:
    Worker(bot).run_once()


def _link(msg: object, kind: str) -> str:
    found = re.search(rf"{PUBLIC_URL}(/subscriptions/{kind}/[\w.\-=]+)", text_of(msg))  # type: ignore[arg-type]
    assert found, text_of(msg)  # type: ignore[arg-type]
    return found.group(1)


def _subscribe(
    client: FlaskClient, bot: Crashbot, smtp: SmtpSink, address: str, **form: object
) -> str:
    r = client.post("/subscriptions", data={"email": address, **form})
    assert r.status_code == 202, r.text
    _work(bot)
    confirm = _link(smtp.to(address)[-1], "confirm")
    assert client.post(confirm).status_code == 200
    return confirm


def test_subscribe_confirm_mail_and_one_click_unsubscribe(
    bot: Crashbot, client: FlaskClient, smtp: SmtpSink
) -> None:
    r = client.post("/subscriptions", data={"email": "Ann@Example.COM"})
    assert r.status_code == 202
    assert "Check your inbox" in r.text
    assert smtp.received == []  # the request queued it; the worker sends it
    _work(bot)
    [confirmation] = smtp.to("ann@example.com")
    assert confirmation["Subject"] == "Confirm your subscription to crashbot status"
    confirm = _link(confirmation, "confirm")

    bot.declare("Before confirming", actor=ALICE, public=True)
    _work(bot)
    assert len(smtp.to("ann@example.com")) == 1  # unconfirmed: nothing but the confirmation

    # A mail scanner's GET confirms nothing; the page's POST does.
    page = client.get(confirm)
    assert page.status_code == 200 and '<form method="post">' in page.text
    assert bot.store.find_subscriber("ann@example.com").confirmed_at is None  # type: ignore[attr-defined]
    assert client.post(confirm).status_code == 200
    sub = bot.store.find_subscriber("ann@example.com")  # type: ignore[attr-defined]
    assert sub.active and sub.consent_at is not None

    inc = bot.declare(
        "Checkout <b>down</b>",
        actor=ALICE,
        public=True,
        description="Payments fail & retry",
        components={"api": "major_outage"},
    )
    _work(bot)
    mail = smtp.to("ann@example.com")[-1]
    assert mail["Subject"] == "[crashbot] New incident: Checkout <b>down</b>"
    assert mail.get_content_type() == "multipart/alternative"
    assert "Payments fail & retry" in text_of(mail)
    assert "Checkout &lt;b&gt;down&lt;/b&gt;" in html_of(mail)
    assert "Payments fail &amp; retry" in html_of(mail)
    assert "<b>down</b>" not in html_of(mail)
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.fullmatch(
        rf"<{PUBLIC_URL}(/subscriptions/unsubscribe/\S+)>", mail["List-Unsubscribe"]
    )
    assert unsubscribe

    bot.update(inc.id, actor=ALICE, message="internal: it was the cache", public=False)
    bot.update(inc.id, actor=ALICE, status="identified", message="Cause found", public=True)
    bot.resolve(inc.id, actor=ALICE, message="All good")
    _work(bot)
    subjects = [m["Subject"] for m in smtp.to("ann@example.com")[1:]]
    assert subjects == [
        "[crashbot] New incident: Checkout <b>down</b>",
        "[crashbot] Update: Checkout <b>down</b>",
        "[crashbot] Resolved: Checkout <b>down</b>",
    ]
    assert all("the cache" not in text_of(m) for m in smtp.messages())

    # RFC 8058: one POST with this body, no cookie, no confirmation step.
    r = client.post(
        unsubscribe.group(1),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status_code == 200
    before = len(smtp.messages())
    bot.declare("After leaving", actor=ALICE, public=True)
    _work(bot)
    assert len(smtp.messages()) == before


def test_each_subscriber_gets_each_update_once_when_the_delivery_is_retried(
    bot: Crashbot, client: FlaskClient, smtp: SmtpSink
) -> None:
    _subscribe(client, bot, smtp, "ann@example.com")
    inc = bot.declare("Outage", actor=ALICE, public=True)
    [event] = [e for e in bot.timeline(inc.id) if e.kind.value == "declared"]

    # The outbox retries a delivery whose first run did queue the mails
    # (a crash after queueing, a responder relay failing): nothing more is queued.
    for _ in range(3):
        for notice in fanout.notices_for_event(bot, bot.get(inc.id), event):
            fanout.publish(bot, notice)
    _work(bot)
    _work(bot)

    assert [m["Subject"] for m in smtp.to("ann@example.com")][1:] == [
        "[crashbot] New incident: Outage"
    ]


def test_a_refused_mail_is_retried_and_sent_once(
    bot: Crashbot, client: FlaskClient, smtp: SmtpSink
) -> None:
    _subscribe(client, bot, smtp, "ann@example.com")
    bot.declare("Outage", actor=ALICE, public=True)
    smtp.refuse = 1
    _work(bot)
    [msg] = [m for m in bot.store.messages() if m.key.startswith("incident:")]  # type: ignore[attr-defined]
    assert (msg.state, msg.attempts) == (DeliveryState.FAILED, 1)
    _work(bot)  # not due yet
    bot.clock.advance(minutes=5)  # type: ignore[attr-defined]
    _work(bot)
    _work(bot)
    assert [m["Subject"] for m in smtp.to("ann@example.com")][1:] == [
        "[crashbot] New incident: Outage"
    ]


def test_private_incidents_and_alert_text_are_never_mailed(
    bot: Crashbot, client: FlaskClient, smtp: SmtpSink
) -> None:
    _subscribe(client, bot, smtp, "ann@example.com")
    inc = bot.declare("Secret db migration", actor=ALICE, public=False)
    bot.update(inc.id, actor=ALICE, message="customer acme affected", public=True)
    bot.resolve(inc.id, actor=ALICE)
    _work(bot)
    assert len(smtp.to("ann@example.com")) == 1  # the confirmation only


def test_component_filters_choose_who_hears(
    bot: Crashbot, client: FlaskClient, smtp: SmtpSink
) -> None:
    _subscribe(client, bot, smtp, "api@example.com", components="api")
    _subscribe(client, bot, smtp, "all@example.com")
    bot.declare("DB slow", actor=ALICE, public=True, components={"db": "degraded_performance"})
    bot.declare("API down", actor=ALICE, public=True, components={"api": "major_outage"})
    _work(bot)
    assert [m["Subject"] for m in smtp.to("api@example.com")][1:] == [
        "[crashbot] New incident: API down"
    ]
    assert len(smtp.to("all@example.com")) == 3


def test_the_manage_page_changes_components_and_unsubscribes(
    bot: Crashbot, client: FlaskClient, smtp: SmtpSink
) -> None:
    _subscribe(client, bot, smtp, "ann@example.com")
    bot.declare("Outage", actor=ALICE, public=True)
    _work(bot)
    manage = re.search(
        rf"{PUBLIC_URL}(/subscriptions/manage/\S+)", text_of(smtp.to("ann@example.com")[-1])
    )
    assert manage
    page = client.get(manage.group(1))
    assert "ann@example.com" in page.text and 'value="db"' in page.text
    r = client.post(manage.group(1), data={"components": ["db"]})
    assert r.status_code == 200 and "Saved." in r.text
    assert bot.store.find_subscriber("ann@example.com").components == ("db",)  # type: ignore[attr-defined]
    assert client.post(manage.group(1), data={"components": ["nope"]}).status_code == 400


def test_links_are_signed_and_confirm_links_expire(
    bot: Crashbot, client: FlaskClient, smtp: SmtpSink
) -> None:
    client.post("/subscriptions", data={"email": "ann@example.com"})
    _work(bot)
    confirm = _link(smtp.to("ann@example.com")[0], "confirm")
    sid = bot.store.find_subscriber("ann@example.com").id  # type: ignore[attr-defined]
    assert client.post(f"/subscriptions/confirm/{sid}.9999999999.forged").status_code == 404
    assert client.post(confirm.replace("confirm/", "confirm/x")).status_code == 404
    assert client.post(f"/subscriptions/unsubscribe/{sid}").status_code == 404
    bot.clock.advance(hours=73)  # type: ignore[attr-defined]
    r = client.post(confirm)
    assert r.status_code == 404 and "expired" in r.text
    assert not bot.store.find_subscriber("ann@example.com").active  # type: ignore[attr-defined]


def test_asking_again_reveals_nothing_and_sends_the_manage_link(
    bot: Crashbot, client: FlaskClient, smtp: SmtpSink
) -> None:
    _subscribe(client, bot, smtp, "ann@example.com")
    again = client.post("/subscriptions", data={"email": "ann@example.com"})
    fresh = client.post("/subscriptions", data={"email": "bob@example.com"})
    assert again.status_code == fresh.status_code == 202
    assert again.text.replace("ann", "bob") == fresh.text
    _work(bot)
    assert smtp.to("ann@example.com")[-1]["Subject"] == "Your crashbot status subscription"


@pytest.mark.parametrize(
    "address",
    [
        "",
        "not-an-address",
        "a@b",
        "ann@example.com\r\nBcc: x@example.com",
        "x" * 250 + "@example.com",
    ],
)
def test_bad_addresses_get_a_clear_400(client: FlaskClient, address: str) -> None:
    r = client.post(
        "/subscriptions", data={"email": address}, headers={"Accept": "application/json"}
    )
    assert r.status_code == 400
    assert r.json is not None and r.json["error"] == "invalid_input"


def test_the_form_is_rate_limited_per_client_address(client: FlaskClient) -> None:
    for i in range(5):
        r = client.post("/subscriptions", data={"email": f"u{i}@example.com"})
        assert r.status_code == 202
    r = client.post(
        "/subscriptions", data={"email": "u9@example.com"}, headers={"Accept": "application/json"}
    )
    assert r.status_code == 429
    assert r.json is not None and r.json["error"] == "too_many_requests"
    assert int(r.headers["Retry-After"]) > 0
    other = client.post(
        "/subscriptions", data={"email": "v@example.com"}, environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert other.status_code == 202


@pytest.fixture
def second_app(database_url: str, clock: FixedClock, smtp: SmtpSink) -> Iterator[Flask]:
    """Another service and app on the same database: a second process, or a replica."""
    other = mail_bot(database_url, clock, smtp.url, components={"api": {"name": "API"}})
    try:
        yield create_app(other, {"TESTING": True, "CHANGE_TOKEN_TTL": 0})
    finally:
        other.close()


def test_the_limit_holds_across_processes_sharing_the_database(
    client: FlaskClient, second_app: Flask
) -> None:
    clients = [client, second_app.test_client()]
    for i in range(5):
        r = clients[i % 2].post("/subscriptions", data={"email": f"u{i}@example.com"})
        assert r.status_code == 202

    for c in clients:
        r = c.post("/subscriptions", data={"email": "u9@example.com"})
        assert r.status_code == 429
        assert "too many subscription requests from your address" in r.text


def test_concurrent_requests_to_two_processes_let_at_most_the_limit_through(
    app: Flask, second_app: Flask
) -> None:
    start = threading.Barrier(8)
    codes: list[int] = []

    def post(n: int) -> None:
        c = (app, second_app)[n % 2].test_client()
        start.wait()
        for m in range(2):
            codes.append(
                c.post("/subscriptions", data={"email": f"t{n}-{m}@example.com"}).status_code
            )

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(codes) == [202] * 5 + [429] * 11


def test_the_limit_lifts_when_its_hour_is_over(client: FlaskClient, bot: Crashbot) -> None:
    bot.clock.advance(minutes=10)  # type: ignore[attr-defined]
    for i in range(5):
        assert client.post("/subscriptions", data={"email": f"u{i}@example.com"}).status_code == 202
    refused = client.post("/subscriptions", data={"email": "u5@example.com"})
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == str(50 * 60)

    bot.clock.advance(minutes=49, seconds=59)  # type: ignore[attr-defined]
    r = client.post("/subscriptions", data={"email": "u5@example.com"})
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "1"
    bot.clock.advance(seconds=1)  # type: ignore[attr-defined]

    assert client.post("/subscriptions", data={"email": "u5@example.com"}).status_code == 202


def test_the_store_counts_by_a_keyed_hash_never_the_client_address(
    client: FlaskClient, bot: Crashbot
) -> None:
    address = "203.0.113.77"
    r = client.post(
        "/subscriptions", data={"email": "a@example.com"}, environ_base={"REMOTE_ADDR": address}
    )
    assert r.status_code == 202

    assert isinstance(bot.store, SqlStore)
    with bot.store.engine.connect() as conn:
        keys = list(conn.execute(sa.select(schema.rate_limits.c.key)).scalars())
    assert len(keys) == 1
    assert address not in keys[0]
    # Keyed: hashing every IPv4 address would not find it.
    assert hashlib.sha256(address.encode()).hexdigest()[:40] not in keys[0]
    assert keys[0].startswith("subscribe:")


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_count(
    database_url: str, clock: FixedClock, smtp: SmtpSink
) -> None:
    bot = mail_bot(database_url, clock, smtp.url, status={"trusted_proxies": ["127.0.0.1"]})
    try:
        client = create_app(bot, {"TESTING": True}).test_client()
        for i in range(5):
            r = client.post(
                "/subscriptions",
                data={"email": f"u{i}@example.com"},
                headers={"X-Forwarded-For": "198.51.100.1"},
            )
            assert r.status_code == 202
        forwarded = {"X-Forwarded-For": "198.51.100.1"}
        other = {"X-Forwarded-For": "198.51.100.2"}
        assert (
            client.post(
                "/subscriptions", data={"email": "x@example.com"}, headers=forwarded
            ).status_code
            == 429
        )
        assert (
            client.post(
                "/subscriptions", data={"email": "y@example.com"}, headers=other
            ).status_code
            == 202
        )
    finally:
        bot.close()


def test_the_front_page_has_a_form_without_javascript(client: FlaskClient) -> None:
    page = client.get("/")
    assert '<form class="subscribe-form" method="post" action="/subscriptions">' in page.text
    assert 'name="components" value="api"' in page.text
    assert "<script" not in page.text


def test_without_a_secret_there_are_no_subscriptions(
    database_url: str, clock: object, smtp: SmtpSink
) -> None:
    from crashbot_core.testing import make_crashbot

    bot = make_crashbot(
        database_url=database_url,
        clock=clock,  # type: ignore[arg-type]
        config={"status": {"public_url": PUBLIC_URL}},
        env={"CRASHBOT_SMTP_URL": smtp.url, "CRASHBOT_MAIL_FROM": "s@example.com"},
    )
    try:
        client = create_app(bot, {"TESTING": True}).test_client()
        assert client.post("/subscriptions", data={"email": "a@example.com"}).status_code == 404
        assert "subscribe-form" not in client.get("/").text
    finally:
        bot.close()
