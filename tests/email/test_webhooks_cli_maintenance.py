"""Webhook subscribers (Statuspage's payloads, HMAC-signed), the maintenance hook-in, the CLI."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import tempfile
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from email_support import SmtpSink
from pytest_httpserver import HTTPServer
from support import ALICE, T0

from crashbot_core import Crashbot, FixedClock
from crashbot_core.cli import build_cli
from crashbot_core.models import Subscriber
from crashbot_core.plugins import get_plugin_manager
from crashbot_core.worker import Worker
from crashbot_email import fanout


def _webhook(bot: Crashbot, url: str, *, components: tuple[str, ...] = ()) -> Subscriber:
    sub = Subscriber(
        id="hook1",
        kind="webhook",
        address=url,
        consent_at=T0,
        confirmed_at=T0,
        components=components,
        secret="hook-secret",
    )
    return bot.store.save_subscriber(sub)  # type: ignore[attr-defined, no-any-return]


def test_webhook_subscribers_get_statuspage_payloads_signed_with_hmac(
    bot: Crashbot, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    _webhook(bot, httpserver.url_for("/hook"))
    inc = bot.declare(
        "API down", actor=ALICE, public=True, components={"api": "major_outage"}, description="5xx"
    )
    bot.set_components(inc.id, {"api": "partial_outage"}, actor=ALICE)
    bot.declare("Private", actor=ALICE, public=False)
    Worker(bot).run_once()

    bodies = []
    for request, _ in httpserver.log:
        body = request.get_data()
        expected = hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
        assert request.headers["X-Crashbot-Signature"] == f"sha256={expected}"
        assert request.headers["Content-Type"] == "application/json"
        bodies.append(json.loads(body))
    created, component = bodies
    assert set(created) == {"meta", "page", "incident"}
    assert created["meta"]["unsubscribe"].startswith("https://status.example.com/subscriptions/")
    assert created["page"]["status_indicator"] in {"none", "minor", "major", "critical"}
    assert created["incident"]["name"] == "API down"
    assert created["incident"]["incident_updates"][0]["body"] == "5xx"
    assert component["component_update"]["old_status"] == "major_outage"
    assert component["component_update"]["new_status"] == "partial_outage"
    assert component["component"]["id"] == "api"
    assert "Private" not in json.dumps(bodies)


def test_maintenance_notices_go_out_like_incidents(
    bot: Crashbot, smtp: SmtpSink, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    _webhook(bot, httpserver.url_for("/hook"))
    mailed = Subscriber(
        id="ann", kind="email", address="ann@example.com", consent_at=T0, confirmed_at=T0
    )
    bot.store.save_subscriber(mailed)  # type: ignore[attr-defined]
    notice = fanout.maintenance_notice(
        bot,
        maintenance_id=7,
        step="scheduled",
        title="Database upgrade",
        body="Read-only for 10 minutes.",
        at=T0,
        components=["db"],
        webhook={"scheduled_maintenance": {"id": "7"}},
    )
    assert fanout.publish(bot, notice) == 2
    assert fanout.publish(bot, notice) == 0
    Worker(bot).run_once()

    [mail] = smtp.to("ann@example.com")
    assert mail["Subject"] == "[crashbot] Scheduled maintenance: Database upgrade"
    assert "https://status.example.com/maintenance/7" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    [(request, _)] = httpserver.log
    assert json.loads(request.get_data())["scheduled_maintenance"] == {"id": "7"}


def _run(bot: Crashbot, *args: str, stdin: str | None = None) -> tuple[int, str]:
    config = Path(tempfile.mkdtemp()) / "crashbot.toml"
    config.write_text('[components.api]\nname = "API"\n')
    env = {
        "CRASHBOT_CONFIG": str(config),
        "CRASHBOT_DATABASE_URL": bot.config.database_url,
        "CRASHBOT_SMTP_URL": "smtp://127.0.0.1:1",
        "CRASHBOT_MAIL_FROM": "s@example.com",
    }
    group = build_cli(get_plugin_manager(disabled=()))
    result = CliRunner().invoke(group, list(args), input=stdin, env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_subscribers_import_list_and_export_csv(bot: Crashbot, tmp_path: Path) -> None:
    path = tmp_path / "subs.csv"
    path.write_text(
        "address,kind,components,consent_at,confirmed_at\n"
        "Ann@Example.com,email,,2026-01-02T10:00:00Z,2026-01-02T10:05:00Z\n"
        "https://hooks.example.com/x,webhook,api,2026-01-03T00:00:00+00:00,2026-01-03T00:00:00Z\n"
        "bob@example.com,,,2026-01-04T00:00:00Z,\n"
    )
    code, out = _run(bot, "subscribers", "import", str(path))
    assert (code, out.strip()) == (0, "imported 3 new and 0 existing subscribers")

    code, out = _run(bot, "subscribers", "list", "--json")
    rows = json.loads(out)
    assert [(r["address"], r["state"], r["components"]) for r in rows] == [
        ("ann@example.com", "active", ""),
        ("https://hooks.example.com/x", "active", "api"),
        ("bob@example.com", "unconfirmed", ""),
    ]
    assert rows[1]["secret"]  # a webhook gets a signing secret

    code, out = _run(bot, "subscribers", "export")
    exported = list(csv.DictReader(io.StringIO(out)))
    assert [r["consent_at"] for r in exported] == [
        "2026-01-02T10:00:00+00:00",
        "2026-01-03T00:00:00+00:00",
        "2026-01-04T00:00:00+00:00",
    ]
    # Export, then import: the same subscribers, updated in place.
    code, out = _run(bot, "subscribers", "import", "-", stdin=_csv(exported))
    assert out.strip() == "imported 0 new and 3 existing subscribers"


def _csv(rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def test_a_bad_row_imports_nothing(bot: Crashbot, tmp_path: Path) -> None:
    path = tmp_path / "subs.csv"
    path.write_text(
        "address,consent_at\nok@example.com,2026-01-02T10:00:00Z\nnot-an-address,2026-01-02T10:00:00Z\n"
    )
    code, out = _run(bot, "subscribers", "import", str(path))
    assert code == 1
    assert "line 3" in out
    path.write_text("address,consent_at\nok@example.com,\n")
    code, out = _run(bot, "subscribers", "import", str(path))
    assert code == 1 and "consent_at is required" in out
    assert _run(bot, "subscribers", "list", "--json")[1].strip() == "[]"


def test_a_scheduled_maintenance_mails_subscribers_when_announced_started_and_completed(
    bot: Crashbot, smtp: SmtpSink, clock: FixedClock
) -> None:
    # The maintenance hook (crashbot_maintenance_event) queues the notices; the
    # worker sends them: announced at scheduling, then started, then completed.
    bot.store.save_subscriber(  # type: ignore[attr-defined]
        Subscriber(
            id="ann", kind="email", address="ann@example.com", consent_at=T0, confirmed_at=T0
        )
    )
    m = bot.schedule_maintenance(
        "Database upgrade",
        starts_at=clock.now() + timedelta(hours=1),
        ends_at=clock.now() + timedelta(hours=2),
        components=["db"],
        message="Writes pause for a few minutes.",
    )
    worker = Worker(bot)
    worker.run_once()
    clock.advance(timedelta(hours=1, minutes=1))
    worker.run_once()  # starts it, queues "started"
    worker.run_once()
    clock.advance(timedelta(hours=1))
    worker.run_once()  # completes it, queues "completed"
    worker.run_once()
    worker.run_once()  # nothing new: each step is mailed once

    subjects = [mail["Subject"] for mail in smtp.to("ann@example.com")]
    assert subjects[0] == "[crashbot] Scheduled maintenance: Database upgrade"
    assert len(subjects) == 3 and len(set(subjects)) == 3
    first = smtp.to("ann@example.com")[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Writes pause for a few minutes." in first
    assert f"https://status.example.com/maintenance/{m.id}" in first


def test_subscribers_add_registers_a_webhook_and_remove_unsubscribes_it(bot: Crashbot) -> None:
    code, out = _run(bot, "subscribers", "add", "https://hooks.example.com/status")
    assert code == 0
    assert out.splitlines()[0] == (
        "added webhook subscriber https://hooks.example.com/status (every component)"
    )
    secret = out.splitlines()[1].removeprefix("signing secret: ")
    [row] = json.loads(_run(bot, "subscribers", "list", "--json")[1])
    assert (row["kind"], row["state"], row["secret"]) == ("webhook", "active", secret)

    # Adding it again narrows it to a component and keeps its secret.
    code, out = _run(
        bot, "subscribers", "add", "https://hooks.example.com/status", "--component", "api"
    )
    assert out.splitlines() == [
        "updated webhook subscriber https://hooks.example.com/status (api)",
        f"signing secret: {secret}",
    ]

    code, out = _run(bot, "subscribers", "remove", "https://hooks.example.com/status")
    assert (code, out.strip()) == (0, "unsubscribed https://hooks.example.com/status")
    [row] = json.loads(_run(bot, "subscribers", "list", "--json")[1])
    assert row["state"] == "unsubscribed" and row["consent_at"]


def test_subscribers_add_refuses_mail_addresses_unknown_components_and_bad_urls(
    bot: Crashbot,
) -> None:
    code, out = _run(bot, "subscribers", "add", "ann@example.com")
    assert code == 1 and "double opt-in" in out
    code, out = _run(bot, "subscribers", "add", "https://h.example.com/x", "--component", "nope")
    assert code == 1 and "unknown components: nope" in out
    code, out = _run(bot, "subscribers", "add", "ftp://h.example.com/x")
    assert code == 1 and "not a webhook URL" in out
    code, out = _run(bot, "subscribers", "remove", "nobody@example.com")
    assert code == 1 and "no subscriber 'nobody@example.com'" in out
    assert _run(bot, "subscribers", "list", "--json")[1].strip() == "[]"
