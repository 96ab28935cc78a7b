"""``/insights`` on the status app: charts, tables, access modes, privacy; Prometheus gauges."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector
from support import ALICE

from crashbot_core import Crashbot, FixedClock
from crashbot_core.errors import ConfigError
from crashbot_core.testing import make_crashbot
from crashbot_status import create_app
from crashbot_status.insights import build_insights, metric_families, month_labels

SVG = "{http://www.w3.org/2000/svg}"


def make_app(bot: Crashbot, mode: str | None) -> Flask:
    settings: dict[str, object] = {"TESTING": True, "CHANGE_TOKEN_TTL": 0}
    if mode is not None:
        settings["STATUS_INSIGHTS"] = mode
    return create_app(bot, settings)


@pytest.fixture
def history(bot: Crashbot, clock: FixedClock) -> Crashbot:
    """Feb 2026: a public SEV1 (back-dated); Mar 2026: a public SEV3, a private SEV2 acked in 10m."""
    one = bot.declare(
        "Checkout down",
        severity="SEV1",
        public=True,
        started_at=clock.now() - timedelta(days=20),
    )
    bot.acknowledge(one.id, actor=ALICE)
    bot.resolve(one.id, actor=ALICE)
    bot.declare("Search slow", severity="SEV3", public=True)
    secret = bot.declare("Secret merger <b>", severity="SEV2", public=False)
    clock.advance(timedelta(minutes=10))
    bot.acknowledge(secret.id, actor=ALICE)
    return bot


def svgs(html: str) -> list[ET.Element]:
    """The wide drawing of every chart (each chart also has a narrow one for phones)."""
    every = [ET.fromstring(m) for m in re.findall(r"<svg.*?</svg>", html, flags=re.S)]
    return [s for s in every if "chart-wide" in s.get("class", "")]


def test_public_page_draws_four_accessible_charts_and_data_tables(history: Crashbot) -> None:
    resp = make_app(history, None).test_client().get("/insights")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    charts = svgs(html)
    assert [c.find(f"{SVG}title").text for c in charts] == [  # type: ignore[union-attr]
        "Time to detect per month",
        "Time to acknowledge per month",
        "Time to resolve per month",
        "Incidents per severity per month",
    ]
    assert all(c.get("role") == "img" and c.find(f"{SVG}desc") is not None for c in charts)
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    assert "<caption>Incidents per severity per month</caption>" in html
    assert '<th scope="col">MTTD mean</th>' in html
    assert resp.headers["Cache-Control"].startswith("public")


def test_public_page_counts_public_incidents_only(history: Crashbot) -> None:
    html = make_app(history, "public").test_client().get("/insights").get_data(as_text=True)
    assert "Secret merger" not in html
    assert "2 incidents in total" in html
    # The private SEV2 is not in any count: its column is all zeros.
    sev_table = html.split('class="history insights-severity"')[1]
    march = re.search(r"<th scope=\"row\">2026-03</th>(.*?)</tr>", sev_table, flags=re.S)
    assert march is not None
    assert re.findall(r"<td>(\d+)</td>", march.group(1)) == ["0", "0", "1", "0"]


def test_token_mode_needs_a_read_token_and_then_counts_every_incident(
    history: Crashbot,
) -> None:
    client = make_app(history, "token").test_client()
    denied = client.get("/insights", headers={"Accept": "application/json"})
    assert denied.status_code == 401
    assert denied.get_json()["error"] == "unauthorized"
    secret, _ = history.create_token("viewer", "read")
    resp = client.get("/insights", headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "3 incidents in total" in html
    assert resp.headers["Cache-Control"] == "private, no-store"


def test_off_mode_hides_the_page(history: Crashbot) -> None:
    assert make_app(history, "off").test_client().get("/insights").status_code == 404


def test_a_bad_setting_fails_when_the_app_is_built(bot: Crashbot) -> None:
    with pytest.raises(ConfigError, match="expected one of public, token, off"):
        make_app(bot, "everyone")


def test_insights_cover_twelve_months_with_gaps_for_empty_ones(history: Crashbot) -> None:
    data = build_insights(history, public_only=False)
    assert data.months == month_labels(history.now())
    assert data.months[-1] == history.now().strftime("%Y-%m") and len(data.months) == 12
    assert data.totals[-3:] == [0, 1, 2]
    assert data.trends["MTTA mean"][-3] is None
    # The private SEV2 was acknowledged ten minutes after it started.
    assert data.trends["MTTA mean"][-1] == 600.0


def test_month_labels_cross_the_year() -> None:
    assert month_labels(datetime(2026, 2, 3, tzinfo=UTC), 4) == [
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
    ]


class _Report(Collector):
    def __init__(self, bot: Crashbot) -> None:
        self.bot = bot

    def collect(self):  # type: ignore[no-untyped-def]
        yield from metric_families(self.bot.metrics(since=timedelta(days=90)))


def test_prometheus_gauges_come_from_the_same_report(history: Crashbot) -> None:
    registry = CollectorRegistry()
    registry.register(_Report(history))
    text = generate_latest(registry).decode()
    assert 'crashbot_incidents_in_window{severity="SEV2",window="90d"} 1.0' in text
    assert 'crashbot_incident_duration_seconds{metric="mtta",stat="p90",window="90d"}' in text
    # SEV3 (2h target) started "now" and is unacknowledged: nothing evaluated yet.
    assert 'crashbot_response_breach_ratio{severity="SEV3",window="90d"} NaN' in text
    assert 'crashbot_response_breaches{severity="SEV2",window="90d"} 0.0' in text


@pytest.mark.parametrize(
    ("config", "env", "status"),
    [
        ({"status": {"insights": "off"}}, {}, 404),
        ({"status": {"insights": "token"}}, {}, 401),
        ({}, {"CRASHBOT_STATUS_INSIGHTS": "off"}, 404),
        ({}, {}, 200),
    ],
)
def test_the_mode_comes_from_crashbot_toml_or_the_environment(
    database_url: str, config: dict[str, object], env: dict[str, str], status: int
) -> None:
    bot = make_crashbot(database_url=database_url, config=config, env=env)
    try:
        resp = make_app(bot, None).test_client().get("/insights")
        assert resp.status_code == status
    finally:
        bot.close()


def test_an_unknown_key_in_the_status_section_is_refused(database_url: str) -> None:
    with pytest.raises(ConfigError, match="insight"):
        make_crashbot(database_url=database_url, config={"status": {"insight": "public"}})


def test_page_explains_figures_in_words_not_field_formulas(history: Crashbot) -> None:
    # Regression: captions read "acknowledged_at - started_at" and "ceil(0.9 * n)".
    html = make_app(history, "public").test_client().get("/insights").get_data(as_text=True)
    text = re.sub(r"<svg.*?</svg>", "", html, flags=re.S)
    for jargon in ("_at - ", "started_at", "ceil(", "YYYY-MM"):
        assert jargon not in text, jargon
    assert "until a responder acknowledged it" in text
