"""What a metrics report holds, and its JSON form.

:func:`crashbot_core.metrics.compute` (or a store's SQL) builds these;
``to_dict()`` is what ``crashbot metrics --json`` and ``GET /api/metrics``
return. The exact definitions of every number are in :mod:`crashbot_core.metrics`,
which re-exports every name defined here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from attrs import field, frozen

#: Short definitions shipped with every report (``to_dict()["definitions"]``).
DEFINITIONS: dict[str, str] = {
    "selection": "Incidents with since <= started_at < until (UTC); incidents closed as "
    "invalid or duplicate are left out.",
    "mttd": "Time to detect: detected_at (else declared_at) - started_at, over all incidents.",
    "mtta": "Time to acknowledge: acknowledged_at - started_at, over acknowledged incidents.",
    "mttm": "Time to mitigate: mitigated_at (first time monitoring) - started_at, "
    "over mitigated incidents.",
    "mttr": "Time to resolve: resolved_at - started_at, over resolved incidents.",
    "negative": "A negative duration (timestamps entered late) counts as 0.",
    "mean": "Arithmetic mean of the durations.",
    "median": "Middle value of the sorted durations; the mean of the two middle values "
    "when their number is even.",
    "p90": "Nearest rank: the value at rank ceil(0.9 * n) of the n sorted durations.",
    "by_period": "UTC calendar month (YYYY-MM) of started_at.",
    "by_component": "An incident counts once for each component it affects.",
    "cost": "Sum over people engaged (event authors and role holders) of hourly rate x "
    "time from their first engagement to resolve (now while open); absent without a rate.",
    "breach": "Acknowledged after the severity's response deadline, or still unacknowledged "
    "once it has passed; rate = breached / evaluated, where evaluated excludes "
    "unacknowledged incidents still within their target.",
}


@frozen
class DurationStats:
    """Count, mean, median and p90 of one duration metric, in seconds."""

    #: How many incidents had the later timestamp set.
    count: int
    #: Arithmetic mean; None when ``count`` is 0.
    mean: float | None
    #: Classic median; None when ``count`` is 0.
    median: float | None
    #: Nearest-rank 90th percentile; None when ``count`` is 0.
    p90: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: ``count``, ``mean_seconds``, ``median_seconds``, ``p90_seconds``."""
        return {
            "count": self.count,
            "mean_seconds": self.mean,
            "median_seconds": self.median,
            "p90_seconds": self.p90,
        }


@frozen
class Durations:
    """MTTD, MTTA, MTTM and MTTR over a set of incidents."""

    mttd: DurationStats
    mtta: DurationStats
    mttm: DurationStats
    mttr: DurationStats

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data keyed ``mttd``, ``mtta``, ``mttm``, ``mttr``."""
        return {
            "mttd": self.mttd.to_dict(),
            "mtta": self.mtta.to_dict(),
            "mttm": self.mttm.to_dict(),
            "mttr": self.mttr.to_dict(),
        }


@frozen
class Counts:
    """How many incidents, in total and broken down (see the module docstring for order)."""

    total: int
    #: Level key -> incidents; every policy level present, in policy order.
    by_severity: dict[str, int]
    #: Status value -> incidents; every status present, in lifecycle order.
    by_status: dict[str, int]
    #: ``YYYY-MM`` (UTC month of ``started_at``) -> incidents, ascending.
    by_period: dict[str, int]
    #: Component key -> incidents affecting it, sorted by key.
    by_component: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (plain dicts of ints)."""
        return {
            "total": self.total,
            "by_severity": dict(self.by_severity),
            "by_status": dict(self.by_status),
            "by_period": dict(self.by_period),
            "by_component": dict(self.by_component),
        }


@frozen
class BreachStats:
    """Response-target breaches of one severity level."""

    severity: str
    #: Incidents acknowledged late, or unacknowledged past the deadline.
    breached: int
    #: Incidents whose outcome is known (acknowledged, or deadline passed).
    evaluated: int

    @property
    def rate(self) -> float | None:
        """``breached / evaluated``; None when nothing was evaluated."""
        return self.breached / self.evaluated if self.evaluated else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: ``breached``, ``evaluated``, ``rate``."""
        return {"breached": self.breached, "evaluated": self.evaluated, "rate": self.rate}


@frozen
class CostSummary:
    """Estimated cost of the selected incidents (see :mod:`crashbot_core.cost`)."""

    currency: str
    total: float
    #: Level key -> cost; same keys and order as ``counts.by_severity``.
    by_severity: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: ``currency``, ``total``, ``by_severity``."""
        return {
            "currency": self.currency,
            "total": self.total,
            "by_severity": dict(self.by_severity),
        }


@frozen
class GroupSummary:
    """Durations and counts of the incidents in one group (one severity, month or component)."""

    key: str
    durations: Durations
    counts: Counts

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: ``durations`` and ``counts``."""
        return {"durations": self.durations.to_dict(), "counts": self.counts.to_dict()}


@frozen
class MetricsReport:
    """Everything ``crashbot metrics`` and ``GET /api/metrics`` show."""

    #: The instant breaches were judged against.
    now: datetime
    since: datetime | None
    until: datetime | None
    durations: Durations
    counts: Counts
    #: Level key -> breaches; same keys and order as ``counts.by_severity``.
    breaches: dict[str, BreachStats]
    #: ``None``, ``"severity"``, ``"month"`` or ``"component"``.
    by: str | None = None
    #: Group key -> summary when ``by`` is set; empty otherwise.
    groups: dict[str, GroupSummary] = field(factory=dict)
    #: Estimated cost; None when no hourly rate is configured.
    cost: CostSummary | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready plain data; datetimes as ISO 8601, seconds as floats or None.

        ``groups`` is ``null`` when the report was not grouped.
        """
        return {
            "window": {
                "since": _iso(self.since),
                "until": _iso(self.until),
                "now": _iso(self.now),
            },
            "durations": self.durations.to_dict(),
            "counts": self.counts.to_dict(),
            "breaches": {key: b.to_dict() for key, b in self.breaches.items()},
            "cost": self.cost.to_dict() if self.cost is not None else None,
            "by": self.by,
            "groups": (
                {key: g.to_dict() for key, g in self.groups.items()}
                if self.by is not None
                else None
            ),
            "definitions": dict(DEFINITIONS),
        }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None
