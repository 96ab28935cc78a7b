"""``/insights``: MTTA/MTTR trends and incidents per severity per month, as SVG charts.

The numbers are ``Crashbot.metrics(by="month")`` — the same report as
``crashbot metrics`` and ``GET /api/metrics``, computed in SQL by the store.
Who may see the page is a setting (:func:`insights_mode`):

* ``public`` (default): anyone; the figures cover **public incidents only**,
  so a private incident never shows, not even as a count;
* ``token``: a read-scoped bearer token is required; every incident counts;
* ``off``: the page answers 404.

:func:`metric_families` turns a report into Prometheus gauges, for the status
site's ``/metrics`` collector.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from attrs import frozen
from flask import Blueprint, Response, abort, current_app, render_template
from prometheus_client.core import GaugeMetricFamily

from crashbot_core.durations import format_duration
from crashbot_core.errors import ConfigError
from crashbot_core.metrics import DEFINITIONS, MetricsReport
from crashbot_core.models import TokenScope
from crashbot_core.service import Crashbot
from crashbot_status import charts

#: The page's definitions in plain words. The metrics report (``DEFINITIONS``)
#: names fields, as an API should (``acknowledged_at - started_at``); a reader
#: of the status page wants what the number means.
PAGE_DEFINITIONS: dict[str, str] = {
    **DEFINITIONS,
    "selection": "Incidents that started in the months shown (UTC).",
    "mttd": "Time to detect: from the start of an incident until someone noticed it "
    "(an alert fired or it was declared).",
    "mtta": "Time to acknowledge: from the start of an incident until a responder "
    "acknowledged it, over the incidents acknowledged so far.",
    "mttm": "Time to mitigate: from the start of an incident until its impact was "
    "contained (it reached monitoring, or was resolved).",
    "mttr": "Time to resolve: from the start of an incident until it was resolved, "
    "over resolved incidents.",
    "negative": "A time recorded before the incident's start (entered late) counts as zero.",
    "mean": "The average.",
    "median": "The middle value: half of the incidents took longer, half less.",
    "p90": "9 in 10 incidents took this long or less.",
    "by_period": "Incidents are grouped by the calendar month (UTC) in which they started.",
}

__all__ = [
    "MODES",
    "Insights",
    "bp",
    "build_insights",
    "insights_mode",
    "metric_families",
    "month_labels",
]

bp = Blueprint("insights", __name__)

#: Accepted values of the ``[status] insights`` setting.
MODES = ("public", "token", "off")
#: Months shown on the page, the current one included.
MONTHS = 12
#: Flask config key that overrides the setting (tests, embedding apps).
CONFIG_KEY = "STATUS_INSIGHTS"


def insights_mode(crashbot: Crashbot, app_config: Any = None) -> str:
    """``public``, ``token`` or ``off``: Flask config ``STATUS_INSIGHTS``, else ``[status] insights``.

    :raises ValueError: for any other value, naming the accepted ones.
    """
    value = None
    if app_config is not None:
        value = app_config.get(CONFIG_KEY)
    if value is None:
        section = crashbot.config.section("status")
        value = getattr(section, "insights", None) if section is not None else None
    mode = str(value or "public").strip().lower()
    if mode not in MODES:
        raise ValueError(f"status insights: found {value!r}, expected one of {', '.join(MODES)}")
    return mode


@bp.record_once
def _check_setting(state: Any) -> None:
    # A typo in the setting fails when the app is built, not on the first visit.
    bot = state.app.extensions.get("crashbot")
    if bot is not None:
        try:
            insights_mode(bot, state.app.config)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


def month_labels(now: datetime, months: int = MONTHS) -> list[str]:
    """``YYYY-MM`` of the last ``months`` calendar months (UTC), oldest first, ending with now's."""
    now = now.astimezone(UTC)
    year, month = now.year, now.month
    out: list[str] = []
    for _ in range(months):
        out.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return out[::-1]


def _month_start(label: str) -> datetime:
    year, month = label.split("-")
    return datetime(int(year), int(month), 1, tzinfo=UTC)


@frozen
class Insights:
    """Everything the insights page shows, as plain numbers (seconds, counts)."""

    months: list[str]
    #: Metric name ("MTTA mean" …) -> one value per month (None: no incident measured).
    trends: dict[str, list[float | None]]
    #: Severity key -> incidents started in each month.
    per_severity: dict[str, list[int]]
    #: Severity key -> "#rrggbb" from the policy.
    colors: dict[str, str]
    #: Severity key -> "SEV1 · Critical" style label.
    severity_labels: dict[str, str]
    totals: list[int]
    report: MetricsReport
    public_only: bool


def build_insights(
    crashbot: Crashbot, *, public_only: bool, now: datetime | None = None, months: int = MONTHS
) -> Insights:
    """Monthly figures for the last ``months`` months (empty months included, as gaps/zeros)."""
    now = now or crashbot.now()
    labels = month_labels(now, months)
    criteria: dict[str, Any] = {"public": True} if public_only else {}
    report: MetricsReport = crashbot.metrics(since=_month_start(labels[0]), by="month", **criteria)
    groups = report.groups
    trends: dict[str, list[float | None]] = {}
    for name, metric, stat in (
        ("MTTD mean", "mttd", "mean"),
        ("MTTD median", "mttd", "median"),
        ("MTTA mean", "mtta", "mean"),
        ("MTTA median", "mtta", "median"),
        ("MTTR mean", "mttr", "mean"),
        ("MTTR median", "mttr", "median"),
    ):
        row: list[float | None] = []
        for m in labels:
            g = groups.get(m)
            row.append(getattr(getattr(g.durations, metric), stat) if g is not None else None)
        trends[name] = row
    keys = list(report.counts.by_severity)
    per_severity = {
        key: [groups[m].counts.by_severity.get(key, 0) if m in groups else 0 for m in labels]
        for key in keys
    }
    policy = crashbot.policy
    colors = {key: charts.safe_color(policy.get(key).color, i) for i, key in enumerate(keys)}
    names = {
        key: key if policy.get(key).label == key else f"{key} · {policy.get(key).label}"
        for key in keys
    }
    totals = [groups[m].counts.total if m in groups else 0 for m in labels]
    return Insights(
        months=labels,
        trends=trends,
        per_severity=per_severity,
        colors=colors,
        severity_labels=names,
        totals=totals,
        report=report,
        public_only=public_only,
    )


def render_charts(data: Insights) -> dict[str, str]:
    """The page's SVG charts (``mttd``, ``mtta``, ``mttr``, ``severity``) as markup strings."""
    scope = "public incidents" if data.public_only else "all incidents"
    span = f"{data.months[0]} to {data.months[-1]}"
    return {
        "mttd": charts.line_chart(
            "Time to detect per month",
            f"Mean and median time from start to detection of {scope}, by month of "
            f"start, {span}. The table below lists the same values.",
            data.months,
            [(k, v) for k, v in data.trends.items() if k.startswith("MTTD")],
            ident="chart-mttd",
        ),
        "mtta": charts.line_chart(
            "Time to acknowledge per month",
            f"Mean and median time from start to acknowledgement of {scope}, by month "
            f"of start, {span}. The table below lists the same values.",
            data.months,
            [(k, v) for k, v in data.trends.items() if k.startswith("MTTA")],
            ident="chart-mtta",
        ),
        "mttr": charts.line_chart(
            "Time to resolve per month",
            f"Mean and median time from start to resolution of {scope}, by month of "
            f"start, {span}. The table below lists the same values.",
            data.months,
            [(k, v) for k, v in data.trends.items() if k.startswith("MTTR")],
            ident="chart-mttr",
        ),
        "severity": charts.bar_chart(
            "Incidents per severity per month",
            f"Number of {scope} started each month, stacked by severity, {span}. "
            "The table below lists the same counts.",
            data.months,
            [(data.severity_labels[k], v) for k, v in data.per_severity.items()],
            colors=[data.colors[k] for k in data.per_severity],
            ident="chart-severity",
        ),
    }


def _authorised() -> None:
    # The admin API's bearer check, so tokens mean the same everywhere (401 JSON/HTML).
    from crashbot_status.admin import requires

    requires(TokenScope.READ)(lambda: None)()


@bp.get("/insights")
def insights() -> Response:
    """The insights page (public, token-protected or off, by configuration)."""
    bot: Crashbot = current_app.extensions["crashbot"]
    mode = insights_mode(bot, current_app.config)
    if mode == "off":
        abort(404)
    if mode == "token":
        _authorised()
    data = build_insights(bot, public_only=mode == "public")
    body = render_template(
        "insights.html",
        page_name=bot.config.general.name,
        data=data,
        charts=render_charts(data),
        rows=table_rows(data),
        duration=format_duration,
        definitions=PAGE_DEFINITIONS,
    )
    resp = Response(body, content_type="text/html; charset=utf-8")
    if mode == "public":
        resp.headers["Cache-Control"] = (
            f"public, max-age={int(current_app.config.get('STATUS_MAX_AGE', 10))}"
        )
    else:
        resp.headers["Cache-Control"] = "private, no-store"
    return resp


# ---------------------------------------------------------------------------- Prometheus


def metric_families(report: MetricsReport, window: str = "90d") -> Iterator[GaugeMetricFamily]:
    """Prometheus gauges from a metrics report (for the status site's ``/metrics`` collector).

    * ``crashbot_incident_duration_seconds{metric, stat, window}``: mttd/mtta/mttm/mttr
      by mean/median/p90 (NaN when nothing was measured);
    * ``crashbot_incidents_in_window{severity, window}``;
    * ``crashbot_response_breaches{severity, window}``, ``crashbot_response_evaluated``
      and ``crashbot_response_breach_ratio`` (NaN when nothing was evaluated).
    """
    nan = float("nan")
    durations = GaugeMetricFamily(
        "crashbot_incident_duration_seconds",
        "Time to detect, acknowledge, mitigate and resolve incidents started in the window, "
        "in seconds.",
        labels=["metric", "stat", "window"],
    )
    for metric in ("mttd", "mtta", "mttm", "mttr"):
        stats = getattr(report.durations, metric)
        for stat in ("mean", "median", "p90"):
            value = getattr(stats, stat)
            durations.add_metric([metric, stat, window], nan if value is None else float(value))
    yield durations

    counts = GaugeMetricFamily(
        "crashbot_incidents_in_window",
        "Incidents started in the window, by current severity.",
        labels=["severity", "window"],
    )
    for key, n in report.counts.by_severity.items():
        counts.add_metric([key, window], n)
    yield counts

    breached = GaugeMetricFamily(
        "crashbot_response_breaches",
        "Incidents acknowledged after their response target (or unacknowledged past it).",
        labels=["severity", "window"],
    )
    evaluated = GaugeMetricFamily(
        "crashbot_response_evaluated",
        "Incidents whose response-target outcome is known.",
        labels=["severity", "window"],
    )
    ratio = GaugeMetricFamily(
        "crashbot_response_breach_ratio",
        "Breached / evaluated, per severity.",
        labels=["severity", "window"],
    )
    for key, b in report.breaches.items():
        breached.add_metric([key, window], b.breached)
        evaluated.add_metric([key, window], b.evaluated)
        ratio.add_metric([key, window], nan if b.rate is None else b.rate)
    yield breached
    yield evaluated
    yield ratio


def table_rows(data: Insights) -> Sequence[dict[str, Any]]:
    """One row per month for the page's data tables."""
    rows = []
    for i, month in enumerate(data.months):
        rows.append(
            {
                "month": month,
                "total": data.totals[i],
                "trends": {name: values[i] for name, values in data.trends.items()},
                "severity": {key: values[i] for key, values in data.per_severity.items()},
            }
        )
    return rows


@bp.app_context_processor
def _navigation() -> dict[str, bool]:
    # Only a public insights page gets a link: a token-protected one would
    # answer every visitor with 401.
    return {"insights_public": insights_public(current_app)}


def insights_public(app: Any) -> bool:
    """True when ``/insights`` is public (linked in the navigation and exported)."""
    return insights_mode(app.extensions["crashbot"], app.config) == "public"
