"""Prometheus metrics on a per-app :class:`CollectorRegistry` (never the global one).

HTTP request counts and latencies are counted as requests pass; incident
figures (open by severity, MTTA/MTTR, failed deliveries) are read from the
store at scrape time by a custom collector, so several processes report the
same numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from crashbot_core.models import DeliveryState
from crashbot_core.service import Crashbot
from crashbot_core.store import IncidentFilter
from crashbot_status.insights import metric_families

log = logging.getLogger("crashbot.status")

#: Window of the MTTA/MTTR gauges.
METRICS_WINDOW = timedelta(days=90)

#: HTTP methods counted under their own name; any other (clients may send
#: any token as a method) is counted as :data:`OTHER_METHOD`, so invented
#: methods cannot grow the exposition without bound.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
)
OTHER_METHOD = "other"


def method_label(method: str) -> str:
    """The ``method`` label value of a request: its name when standard, else ``other``."""
    return method if method in KNOWN_METHODS else OTHER_METHOD


class IncidentCollector(Collector):
    """Reads incident figures from the store at each scrape."""

    def __init__(self, crashbot: Crashbot) -> None:
        self.crashbot = crashbot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Whether the store answered, then (when it did) the figures read from it."""
        up = GaugeMetricFamily(
            "crashbot_store_up", "1 when the store answered this scrape, else 0."
        )
        try:
            # Collected in full first: a scrape shows all store figures or none.
            families = list(self._from_store())
        except Exception as exc:  # an unreachable store must not turn the scrape into a 500
            log.warning("metrics: the store cannot be read: %s", exc)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield from families

    def _from_store(self) -> Iterator[GaugeMetricFamily]:
        """Open incidents by severity, MTTA/MTTR over 90 days, failed deliveries."""
        bot = self.crashbot
        open_g = GaugeMetricFamily(
            "crashbot_incidents_open", "Open incidents by severity.", labels=["severity"]
        )
        counts = {key: 0 for key in bot.policy.keys}
        for inc in bot.store.list_incidents(IncidentFilter(open=True)):
            counts[inc.severity] = counts.get(inc.severity, 0) + 1
        for key, n in counts.items():
            open_g.add_metric([key], n)
        yield open_g

        report = bot.metrics(since=METRICS_WINDOW)
        durations = report.to_dict().get("durations", {})
        for name, help_text in (
            ("mttd", "Mean time to detect over the last 90 days, in seconds."),
            ("mtta", "Mean time to acknowledge over the last 90 days, in seconds."),
            ("mttm", "Mean time to mitigate over the last 90 days, in seconds."),
            ("mttr", "Mean time to resolve over the last 90 days, in seconds."),
        ):
            gauge = GaugeMetricFamily(f"crashbot_{name}_seconds", help_text)
            value = (durations.get(name) or {}).get("mean_seconds")
            gauge.add_metric([], float("nan") if value is None else float(value))
            yield gauge
        yield from metric_families(report)

        failed = GaugeMetricFamily(
            "crashbot_delivery_failures",
            "Event deliveries currently failed (retrying) or dead (gave up), by plugin.",
            labels=["plugin", "state"],
        )
        counts = bot.store.count_deliveries(states=(DeliveryState.FAILED, DeliveryState.DEAD))
        for (plugin, state), n in sorted(counts.items()):
            failed.add_metric([plugin, state.value], n)
        yield failed


class Metrics:
    """The app's registry with its HTTP instruments."""

    def __init__(self, crashbot: Crashbot) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "crashbot_http_requests",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "crashbot_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.registry.register(IncidentCollector(crashbot))
        # labels() resolves its child under a lock on every call; the fast
        # paths call this for every request, so children are kept here.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request."""
        method = method_label(method)
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
