"""Incident metrics: the pure-Python reference implementation.

This module *defines* crashbot's numbers. A store may compute the same report
in SQL (SQLite or PostgreSQL), and a test holds the two equal, so every
definition below is exact and uses only operations both engines have.

Selection
    An incident is in the report when ``since <= started_at < until``; either
    bound may be omitted. Open and resolved, public and private incidents all
    count; incidents closed as ``invalid`` or ``duplicate`` count nowhere (not
    in durations, counts, breaches or cost).

Durations (seconds, float, microsecond precision)
    * **MTTD** (time to detect) = ``detected - started_at``, where ``detected``
      is ``detected_at`` or, when that is unset, ``declared_at`` (alert
      intake sets ``detected_at`` to the first alert's start); every incident
      has one
    * **MTTA** (time to acknowledge) = ``acknowledged_at - started_at``
    * **MTTM** (time to mitigate) = ``mitigated_at - started_at``; ``mitigated_at``
      is the first time the incident reached *monitoring* (or resolve, if it
      never did)
    * **MTTR** (time to resolve) = ``resolved_at - started_at``

    Each is taken over the incidents where the later timestamp is set; the
    others are left out (not counted as zero). A negative difference — a
    ``started_at`` entered late, after the acknowledgement — is clamped to 0
    rather than dropped, so the incident still counts. For each metric:

    * ``count``: the number of values ``n``;
    * ``mean``: the arithmetic mean, ``sum / n``;
    * ``median``: the classic median of the sorted values ``v[1..n]``:
      ``v[(n+1)/2]`` for odd ``n``, the mean of ``v[n/2]`` and ``v[n/2+1]`` for
      even ``n``;
    * ``p90``: nearest rank, ``v[ceil(0.9 * n)]`` (1-based) — always one of the
      observed values, never interpolated.

    With ``n == 0`` every statistic is ``None``. A SQL implementation should
    agree to within a millisecond (SQLite's date arithmetic is not exact to the
    microsecond).

Counts
    * ``total``: incidents selected;
    * ``by_severity``: every level of the policy in policy order (most severe
      first), 0 when none; levels found on incidents but no longer in the
      policy follow, sorted by key;
    * ``by_status``: every status in lifecycle order (investigating,
      identified, monitoring, resolved), 0 when none;
    * ``by_period``: the UTC calendar month of ``started_at`` as ``YYYY-MM``,
      only months that have incidents, ascending;
    * ``by_component``: per component key, the number of incidents that affect
      it (an incident counts once for each of its components, so these may sum
      to more than ``total``; incidents without components appear in none),
      sorted by key.

    The severity and status used are the incident's current ones.

Response-target breaches (per severity, same key order as ``by_severity``)
    ``deadline = policy.get(severity).response_deadline(started_at)``. An
    incident *breached* when it was acknowledged after the deadline
    (``acknowledged_at > deadline``) or is still unacknowledged when the
    deadline has passed (``acknowledged_at is None and now > deadline``). It is
    *evaluated* when the outcome is known: it has been acknowledged, or the
    deadline has passed. Unacknowledged incidents still within their target
    are not evaluated yet, so they do not lower the rate. ``rate = breached /
    evaluated``, ``None`` when nothing was evaluated.

Cost (only when hourly rates are configured; see :mod:`crashbot_core.cost`)
    ``total`` and ``by_severity`` (same keys as ``counts.by_severity``): the
    sum of :func:`crashbot_core.cost.incident_cost` over the selected
    incidents, open ones engaged up to ``now``. Without rates the report has
    no cost (``None``), never a cost of zero.

Groups (``by=``)
    ``severity``: one group per level, as in ``by_severity`` (empty levels
    included); ``month``: one per ``YYYY-MM`` present; ``component``: one per
    component key present. Each group holds the durations and counts above,
    computed over the incidents in that group alone.

The report's classes and their JSON form (``to_dict()``) live in
:mod:`crashbot_core.metrics_report`, the text and CSV renderings in
:mod:`crashbot_core.metrics_format`; every name is importable from here too.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from crashbot_core.cost import CostRates, Engagement, format_money, incident_cost
from crashbot_core.errors import InvalidInput
from crashbot_core.metrics_format import format_report
from crashbot_core.metrics_report import (
    DEFINITIONS,
    BreachStats,
    CostSummary,
    Counts,
    Durations,
    DurationStats,
    GroupSummary,
    MetricsReport,
)
from crashbot_core.models import Incident, Status
from crashbot_core.severity import SeverityPolicy

__all__ = [
    "DEFINITIONS",
    "GROUP_BY",
    "BreachStats",
    "CostSummary",
    "Counts",
    "DurationStats",
    "Durations",
    "GroupSummary",
    "MetricsReport",
    "compute",
    "duration_stats",
    "format_money",
    "format_report",
]

#: The values accepted by ``compute(by=...)`` (besides ``None``).
GROUP_BY: tuple[str, ...] = ("severity", "month", "component")


# --------------------------------------------------------------------------
# Computation
# --------------------------------------------------------------------------


def duration_stats(values: Iterable[float]) -> DurationStats:
    """Count, mean, classic median and nearest-rank p90 of ``values`` (seconds).

    >>> duration_stats([60, 120, 600]).mean
    260.0
    """
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return DurationStats(count=0, mean=None, median=None, p90=None)
    mid = n // 2
    median = ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    # Nearest rank: 1-based rank ceil(0.9 n). Integer arithmetic avoids
    # ceil(0.9 * 10) == 10.000000000000002 style float surprises.
    rank = -(-9 * n // 10)
    return DurationStats(
        count=n,
        mean=math.fsum(ordered) / n,
        median=float(median),
        p90=float(ordered[rank - 1]),
    )


def compute(
    incidents: Iterable[Incident],
    policy: SeverityPolicy,
    *,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    by: str | None = None,
    rates: CostRates | None = None,
    engagements: Mapping[int, Sequence[Engagement]] | None = None,
) -> MetricsReport:
    """Compute the metrics report; see the module docstring for exact definitions.

    :param incidents: any iterable, read once (a generator is fine).
    :param policy: gives the levels to report and their response targets.
    :param now: judges unacknowledged incidents against their deadline.
    :param since: keep incidents with ``started_at >= since`` (inclusive).
    :param until: keep incidents with ``started_at < until`` (exclusive).
    :param by: ``None``, ``"severity"``, ``"month"`` or ``"component"``: adds ``groups``.
    :param rates: hourly rates; with them the report has a ``cost``.
    :param engagements: incident id -> its people (:func:`crashbot_core.cost.engagements`),
        for the cost; an incident missing from it engaged nobody.
    :raises InvalidInput: for an unknown ``by`` or a naive datetime.
    """
    if by is not None and by not in GROUP_BY:
        raise InvalidInput(f"cannot group metrics by {by!r}; expected one of {', '.join(GROUP_BY)}")
    _require_aware(now=now, since=since, until=until)

    selected = [
        inc
        for inc in incidents
        if inc.counts
        and (since is None or inc.started_at >= since)
        and (until is None or inc.started_at < until)
    ]
    severity_keys = _severity_keys(selected, policy)

    groups: dict[str, GroupSummary] = {}
    if by is not None:
        members: dict[str, list[Incident]]
        if by == "severity":
            members = {key: [] for key in severity_keys}
            for inc in selected:
                members[inc.severity].append(inc)
        else:
            members = {}
            for inc in selected:
                keys = [_month(inc)] if by == "month" else list(inc.components)
                for key in keys:
                    members.setdefault(key, []).append(inc)
            members = dict(sorted(members.items()))
        groups = {
            key: GroupSummary(
                key=key, durations=_durations(group), counts=_counts(group, severity_keys)
            )
            for key, group in members.items()
        }

    return MetricsReport(
        now=now,
        since=since,
        until=until,
        durations=_durations(selected),
        counts=_counts(selected, severity_keys),
        breaches=_breaches(selected, policy, severity_keys, now),
        by=by,
        groups=groups,
        cost=None if rates is None else _cost(selected, severity_keys, rates, engagements, now),
    )


def _cost(
    incidents: Sequence[Incident],
    severity_keys: Sequence[str],
    rates: CostRates,
    engagements: Mapping[int, Sequence[Engagement]] | None,
    now: datetime,
) -> CostSummary:
    people = engagements or {}
    by_severity = dict.fromkeys(severity_keys, 0.0)
    for inc in incidents:
        by_severity[inc.severity] += incident_cost(inc, people.get(inc.id, ()), rates, now)
    return CostSummary(
        currency=rates.currency, total=math.fsum(by_severity.values()), by_severity=by_severity
    )


def _require_aware(**values: datetime | None) -> None:
    # Comparing naive and aware datetimes raises a bare TypeError deep inside;
    # say which argument is wrong instead.
    for name, value in values.items():
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"metrics {name}= must be timezone-aware (UTC), got {value}")


def _severity_keys(incidents: Sequence[Incident], policy: SeverityPolicy) -> list[str]:
    known = policy.keys
    dropped = sorted({inc.severity for inc in incidents} - set(known))
    return known + dropped


def _month(incident: Incident) -> str:
    return incident.started_at.astimezone(UTC).strftime("%Y-%m")


def _seconds(start: datetime, end: datetime | None) -> float | None:
    if end is None:
        return None
    # Clamp: a started_at back-filled later than the ack is a data-entry
    # artefact, and the incident should still count (as 0), not vanish.
    return max(0.0, (end - start).total_seconds())


def _stats(incidents: Sequence[Incident], attr: str) -> DurationStats:
    # ``detected`` (a property) never is None: every incident has a detection time.
    values = (_seconds(inc.started_at, getattr(inc, attr)) for inc in incidents)
    return duration_stats(v for v in values if v is not None)


def _durations(incidents: Sequence[Incident]) -> Durations:
    return Durations(
        mttd=_stats(incidents, "detected"),
        mtta=_stats(incidents, "acknowledged_at"),
        mttm=_stats(incidents, "mitigated_at"),
        mttr=_stats(incidents, "resolved_at"),
    )


def _counts(incidents: Sequence[Incident], severity_keys: Sequence[str]) -> Counts:
    severities = Counter(inc.severity for inc in incidents)
    statuses = Counter(inc.status for inc in incidents)
    periods = Counter(_month(inc) for inc in incidents)
    components = Counter(key for inc in incidents for key in inc.components)
    return Counts(
        total=len(incidents),
        by_severity={key: severities.get(key, 0) for key in severity_keys},
        by_status={status.value: statuses.get(status, 0) for status in Status},
        by_period=dict(sorted(periods.items())),
        by_component=dict(sorted(components.items())),
    )


def _breaches(
    incidents: Sequence[Incident],
    policy: SeverityPolicy,
    severity_keys: Sequence[str],
    now: datetime,
) -> dict[str, BreachStats]:
    breached: Counter[str] = Counter()
    evaluated: Counter[str] = Counter()
    for inc in incidents:
        deadline = policy.get(inc.severity).response_deadline(inc.started_at)
        if inc.acknowledged_at is not None:
            evaluated[inc.severity] += 1
            if inc.acknowledged_at > deadline:
                breached[inc.severity] += 1
        elif now > deadline:
            evaluated[inc.severity] += 1
            breached[inc.severity] += 1
    return {
        key: BreachStats(severity=key, breached=breached[key], evaluated=evaluated[key])
        for key in severity_keys
    }


def filter_criteria(
    policy: SeverityPolicy,
    *,
    severities: Iterable[str] = (),
    component: str | None = None,
    label: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """Turn user-facing filters into ``Crashbot.metrics(**criteria)`` keywords.

    Shared by ``crashbot metrics`` and ``GET /api/metrics`` so both accept the
    same spellings: any severity name (``P1``, ``high``), ``label`` as
    ``key=value``.

    :raises InvalidInput: on an unknown severity or a label without ``=``.
    """
    criteria: dict[str, Any] = {}
    levels = tuple(policy.parse(s).key for s in severities)
    if levels:
        criteria["severities"] = levels
    if component:
        criteria["component"] = component
    if label is not None:
        key, sep, value = label.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"label {label!r} is not KEY=VALUE (for example team=payments)")
        criteria["label"] = (key.strip(), value.strip())
    if source:
        criteria["source"] = source
    return criteria
