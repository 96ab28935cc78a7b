"""The metrics report of :mod:`crashbot_core.metrics`, computed in SQL.

The pure-Python reference defines every number; this module reproduces it on
SQLite and PostgreSQL without loading incidents, so ``crashbot metrics`` and
``GET /api/metrics`` stay fast on years of history. A property test holds the
two equal (counts exactly, durations to a millisecond).

How it stays fast
    On write, the store fills derived columns (:func:`derived_columns`,
    migration ``0002_metrics``): the three durations in seconds — computed in
    Python exactly as the reference does, clamped at 0 — the UTC month of
    ``started_at`` and the "next business day" response deadline. The
    component mirror rows (``incident_components``) carry the same values.
    Then:

    * counts, sums (for means) and response-target breaches are one
      ``GROUP BY severity, month, status`` over a covering index, and one
      over ``incident_components`` for the per-component figures;
    * medians and p90 are nearest-rank picks: ``ORDER BY seconds LIMIT 1
      OFFSET rank - 1`` answered from an index on ``(group, seconds,
      started_at)`` — an index-only walk, no sort (SQLite has no percentile
      function; on PostgreSQL this also beat ``percentile_disc``, which is
      kept behind :data:`PG_PERCENTILE_AGGREGATES`).

Breaches per severity level: a level with a fixed ``respond_within`` ``d``
breached when ``tta_seconds > d`` (acknowledged) or, unacknowledged, when
``started_at < now - d``; a "next business day" level (and a level no longer
in the policy) compares ``acknowledged_at`` or ``now`` with ``nbd_deadline``.
Both are exact: the seconds are the same floats the reference compares.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from attrs import define, field
from sqlalchemy.engine import Connection

from crashbot_core.cost import CostRates, Engagement, engagement_end
from crashbot_core.errors import InvalidInput
from crashbot_core.metrics import (
    GROUP_BY,
    BreachStats,
    CostSummary,
    Counts,
    Durations,
    DurationStats,
    GroupSummary,
    MetricsReport,
)
from crashbot_core.models import Incident, Status
from crashbot_core.severity import Severity, SeverityPolicy
from crashbot_core.store import IncidentFilter
from crashbot_sqlalchemy import schema as t

__all__ = [
    "DURATION_COLUMNS",
    "component_columns",
    "compute_sql",
    "derived_columns",
    "engagement_from",
    "engagement_rows",
]

#: Report metric -> derived column holding its seconds.
DURATION_COLUMNS: dict[str, str] = {
    "mttd": "ttd_seconds",
    "mtta": "tta_seconds",
    "mttm": "ttm_seconds",
    "mttr": "ttr_seconds",
}

# The rule of Severity.response_deadline for a level without a fixed target.
_NEXT_BUSINESS_DAY = Severity(key="", priority="", label="", rank=0)

#: On PostgreSQL, pick medians and p90 with ``percentile_disc`` (one sort per
#: metric and group) instead of the index seeks SQLite uses. Off: on a million
#: incidents the seeks measured faster, most of all per month (see
#: docs/performance.md), and they need no sort memory.
PG_PERCENTILE_AGGREGATES = False

# percentile_disc(p) picks rank ceil(p * n) in float arithmetic; a hair under
# 0.9 keeps 0.9 * n from rounding up past an exact integer (exact for n < 1e10).
_P90 = 0.9 - 1e-12


# --------------------------------------------------------------------------
# Derived columns (written by the store on every incident write)
# --------------------------------------------------------------------------


def _seconds(start: datetime, end: datetime | None) -> float | None:
    # The reference's definition, to the bit: clamp negatives to 0.
    return None if end is None else max(0.0, (end - start).total_seconds())


#: Width of one cube row's duration part: ``count(col), sum(col)`` per duration column.
_SPAN = 2 * len(DURATION_COLUMNS)


def derived_columns(incident: Incident) -> dict[str, Any]:
    """The metrics columns of an incident row: durations, UTC month, next-business-day deadline.

    All None for an incident closed as invalid or duplicate: every metrics
    query requires ``started_month``, so such incidents count nowhere.
    """
    if not incident.counts:
        return {
            **dict.fromkeys(DURATION_COLUMNS.values()),
            "started_month": None,
            "nbd_deadline": None,
        }
    started = incident.started_at
    return {
        "ttd_seconds": _seconds(started, incident.detected),
        "tta_seconds": _seconds(started, incident.acknowledged_at),
        "ttm_seconds": _seconds(started, incident.mitigated_at),
        "ttr_seconds": _seconds(started, incident.resolved_at),
        "started_month": started.astimezone(UTC).strftime("%Y-%m"),
        "nbd_deadline": _NEXT_BUSINESS_DAY.response_deadline(started.astimezone(UTC)),
    }


def engagement_rows(incident: Incident, people: Sequence[Engagement]) -> list[dict[str, Any]]:
    """The ``incident_engagements`` rows of ``incident`` (id set) and its people."""
    end = engagement_end(incident)
    month = derived_columns(incident)["started_month"]
    return [
        {
            "incident_id": incident.id,
            "person": e.person,
            "name": e.name,
            "role": e.role or "",
            "engaged_from": e.since,
            "engaged_seconds": None if end is None else max(0.0, (end - e.since).total_seconds()),
            "severity": incident.severity,
            "started_at": incident.started_at,
            "started_month": month,
        }
        for e in people
    ]


def engagement_from(row: Mapping[str, Any]) -> Engagement:
    """An :class:`~crashbot_core.cost.Engagement` back from its stored row."""
    return Engagement(
        person=row["person"], name=row["name"], since=row["engaged_from"], role=row["role"] or None
    )


def _cost(
    conn: Connection,
    flt: IncidentFilter,
    rates: CostRates,
    now: datetime,
    severity_keys: Sequence[str],
) -> CostSummary:
    """Cost per severity: stored seconds of closed incidents, ``now - since`` of open ones."""
    e = t.incident_engagements.c
    where = [*_component_conditions(flt, t.incident_engagements), e.started_month.is_not(None)]
    by_severity = dict.fromkeys(severity_keys, 0.0)
    closed = conn.execute(
        sa.select(e.severity, e.role, sa.func.sum(e.engaged_seconds))
        .where(*where, e.engaged_seconds.is_not(None))
        .group_by(e.severity, e.role)
    )
    for severity, role, seconds in closed:
        by_severity[severity] = (
            by_severity.get(severity, 0.0) + rates.rate(role or None) * float(seconds) / 3600
        )
    # Open incidents are few: their people's rows come back one by one.
    still_open = conn.execute(
        sa.select(e.severity, e.role, e.engaged_from).where(*where, e.engaged_seconds.is_(None))
    )
    for severity, role, since in still_open:
        seconds = max(0.0, (now - since).total_seconds())
        by_severity[severity] = (
            by_severity.get(severity, 0.0) + rates.rate(role or None) * seconds / 3600
        )
    return CostSummary(
        currency=rates.currency, total=math.fsum(by_severity.values()), by_severity=by_severity
    )


def component_columns(incident: Incident) -> dict[str, Any]:
    """What an ``incident_components`` row mirrors of its incident, for per-component metrics."""
    derived = derived_columns(incident)
    return {
        "severity": incident.severity,
        "status": Status(incident.status).value,
        "started_at": incident.started_at,
        "started_month": derived["started_month"],
        "tta_seconds": derived["tta_seconds"],
        "ttm_seconds": derived["ttm_seconds"],
        "ttr_seconds": derived["ttr_seconds"],
        "ttd_seconds": derived["ttd_seconds"],
    }


# --------------------------------------------------------------------------
# Accumulating the grouped rows
# --------------------------------------------------------------------------


@define
class _Acc:
    """Counts and duration sums of one group, filled from grouped SQL rows."""

    total: int = 0
    severity: Counter[str] = field(factory=Counter)
    status: Counter[str] = field(factory=Counter)
    period: Counter[str] = field(factory=Counter)
    component: Counter[str] = field(factory=Counter)
    n: dict[str, int] = field(factory=lambda: dict.fromkeys(DURATION_COLUMNS.values(), 0))
    sums: dict[str, float] = field(factory=lambda: dict.fromkeys(DURATION_COLUMNS.values(), 0.0))

    def add(self, severity: str, month: str, status: str, row: Sequence[Any]) -> None:
        """Add one cube row: ``count(*)`` then ``count(col), sum(col)`` per duration column."""
        count = int(row[0])
        self.total += count
        self.severity[severity] += count
        self.status[status] += count
        self.period[month] += count
        for i, col in enumerate(DURATION_COLUMNS.values()):
            self.n[col] += int(row[1 + 2 * i])
            self.sums[col] += float(row[2 + 2 * i] or 0.0)

    def counts(self, severity_keys: Sequence[str]) -> Counts:
        """The report's :class:`Counts`, ordered as the reference orders them."""
        return Counts(
            total=self.total,
            by_severity={key: self.severity.get(key, 0) for key in severity_keys},
            by_status={s.value: self.status.get(s.value, 0) for s in Status},
            by_period=dict(sorted((k, v) for k, v in self.period.items() if v)),
            by_component=dict(sorted((k, v) for k, v in self.component.items() if v)),
        )


def _duration_aggregates(table: sa.Table) -> list[sa.ColumnElement[Any]]:
    out: list[sa.ColumnElement[Any]] = []
    for col in DURATION_COLUMNS.values():
        out += [sa.func.count(table.c[col]), sa.func.sum(table.c[col])]
    return out


# --------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------


def _incident_conditions(flt: IncidentFilter) -> list[sa.ColumnElement[bool]]:
    # The store's list filters, so metrics select exactly what list_incidents does.
    from crashbot_sqlalchemy.store import _conditions

    return _conditions(flt)


def _component_conditions(
    flt: IncidentFilter, table: sa.Table = t.incident_components
) -> list[sa.ColumnElement[bool]]:
    """The same selection on mirror rows (``incident_components``, ``incident_engagements``)."""
    ic = table.c
    where: list[sa.ColumnElement[bool]] = []
    if flt.since is not None:
        where.append(ic.started_at >= flt.since)
    if flt.until is not None:
        where.append(ic.started_at < flt.until)
    if flt.severities:
        where.append(ic.severity.in_(list(flt.severities)))
    others = _unmirrored(flt)
    if others is not None:
        # Criteria the mirror does not carry: ask the incidents table.
        where.append(
            ic.incident_id.in_(sa.select(t.incidents.c.id).where(*_incident_conditions(others)))
        )
    return where


def _unmirrored(flt: IncidentFilter) -> IncidentFilter | None:
    """``flt`` without the criteria the component mirror applies itself; None when nothing is left."""
    rest = IncidentFilter(
        open=flt.open,
        statuses=flt.statuses,
        public=flt.public,
        component=flt.component,
        label=flt.label,
        source=flt.source,
    )
    return None if rest == IncidentFilter() else rest


# --------------------------------------------------------------------------
# Breaches
# --------------------------------------------------------------------------


def _breach_columns(
    policy: SeverityPolicy, now: datetime
) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[Any]]:
    """``sum(breached)`` and ``sum(evaluated)`` expressions for the incidents cube."""
    c = t.incidents.c
    late_whens: list[tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]] = []
    overdue_whens: list[tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]] = []
    for level in policy:
        if level.respond_within is None:
            continue
        is_level = c.severity == level.key
        late_whens.append((is_level, c.tta_seconds > level.respond_within.total_seconds()))
        overdue_whens.append((is_level, c.started_at < now - level.respond_within))
    # Levels without a fixed target, and levels dropped from the policy
    # (SeverityPolicy.get gives those "next business day" too).
    late_nbd = c.acknowledged_at > c.nbd_deadline
    overdue_nbd = c.nbd_deadline < now
    late = sa.case(*late_whens, else_=late_nbd) if late_whens else late_nbd
    overdue = sa.case(*overdue_whens, else_=overdue_nbd) if overdue_whens else overdue_nbd
    acked = c.acknowledged_at.is_not(None)
    breached = sa.case((sa.and_(acked, late), 1), (sa.and_(~acked, overdue), 1), else_=0)
    evaluated = sa.case((acked, 1), (overdue, 1), else_=0)
    return sa.func.sum(breached), sa.func.sum(evaluated)


# --------------------------------------------------------------------------
# Percentiles
# --------------------------------------------------------------------------


def _ranks(n: int) -> tuple[int, int, int]:
    """1-based ranks of the two middle values (equal for odd n) and the nearest-rank p90."""
    return (n + 1) // 2, n // 2 + 1, -(-9 * n // 10)


def _stats(
    n: int, total: float, lo: float | None, hi: float | None, p90: float | None
) -> DurationStats:
    if n == 0 or lo is None or hi is None or p90 is None:
        return DurationStats(count=0, mean=None, median=None, p90=None)
    return DurationStats(
        count=n, mean=total / n, median=(lo + hi) / 2 if lo != hi else float(lo), p90=float(p90)
    )


def _offset_pick(
    conn: Connection,
    column: sa.ColumnElement[Any],
    where: Sequence[sa.ColumnElement[bool]],
    n: int,
) -> tuple[float, float, float]:
    """(lower middle, upper middle, p90) by ``ORDER BY column LIMIT … OFFSET rank - 1``.

    With an index on (group, column, started_at) this is an index-only walk:
    SQLite and PostgreSQL step through index entries without sorting anything.
    """
    lo_rank, hi_rank, p90_rank = _ranks(n)
    base = sa.select(column).where(*where, column.is_not(None)).order_by(column)
    middle = [
        float(v)
        for v in conn.execute(base.limit(hi_rank - lo_rank + 1).offset(lo_rank - 1)).scalars()
    ]
    p90 = float(conn.execute(base.limit(1).offset(p90_rank - 1)).scalar_one())
    return middle[0], middle[-1], p90


def _indexed_durations(
    conn: Connection,
    table: sa.Table,
    where: Sequence[sa.ColumnElement[bool]],
    acc: _Acc,
) -> Durations:
    out: dict[str, DurationStats] = {}
    for metric, col in DURATION_COLUMNS.items():
        n = acc.n[col]
        if n == 0:
            out[metric] = DurationStats(count=0, mean=None, median=None, p90=None)
            continue
        lo, hi, p90 = _offset_pick(conn, table.c[col], where, n)
        out[metric] = _stats(n, acc.sums[col], lo, hi, p90)
    return Durations(**out)


def _pg_percentiles(
    conn: Connection,
    table: sa.Table,
    where: Sequence[sa.ColumnElement[bool]],
    group: sa.ColumnElement[Any] | None,
) -> dict[str | None, dict[str, tuple[float, float, float] | None]]:
    """(lower middle, upper middle, p90) per column and group (key None: no grouping).

    One ``percentile_disc`` over an array of fractions sorts each column once
    per group: 0.5 gives rank ceil(n/2), a hair above 0.5 gives rank
    floor(n/2) + 1 (the two middle values for an even n, the middle twice
    for an odd one) and ``_P90`` rank ceil(0.9 n).
    """
    fractions: sa.ColumnElement[Any] = sa.literal_column(
        f"ARRAY[0.5, {0.5 + 1e-12!r}, {_P90!r}]::float8[]"
    )
    columns = [
        sa.func.percentile_disc(fractions).within_group(table.c[col]).label(col)
        for col in DURATION_COLUMNS.values()
    ]
    query = sa.select(*([group] if group is not None else []), *columns).where(*where)
    if group is not None:
        query = query.group_by(group)
    out: dict[str | None, dict[str, tuple[float, float, float] | None]] = {}
    for row in conn.execute(query):
        values = list(row)
        key = values.pop(0) if group is not None else None
        out[key] = {
            col: None if picks is None or picks[0] is None else (picks[0], picks[1], picks[2])
            for col, picks in zip(DURATION_COLUMNS.values(), values, strict=True)
        }
    return out


def _pg_durations(
    acc: _Acc, picks: Mapping[str, tuple[float, float, float] | None] | None
) -> Durations:
    out: dict[str, DurationStats] = {}
    for metric, col in DURATION_COLUMNS.items():
        chosen = picks.get(col) if picks else None
        if chosen is None:
            out[metric] = _stats(0, 0.0, None, None, None)
        else:
            out[metric] = _stats(acc.n[col], acc.sums[col], *chosen)
    return Durations(**out)


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------


def _require_aware(**values: datetime | None) -> None:
    for name, value in values.items():
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"metrics {name}= must be timezone-aware (UTC), got {value}")


def compute_sql(
    conn: Connection,
    policy: SeverityPolicy,
    *,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    by: str | None = None,
    rates: CostRates | None = None,
    **criteria: Any,
) -> MetricsReport:
    """The report :func:`crashbot_core.metrics.compute` gives, read with SQL on ``conn``.

    With ``rates`` the cost comes from ``incident_engagements`` (two queries,
    whatever the number of incidents).

    :param criteria: :class:`~crashbot_core.store.IncidentFilter` fields
        (``severities``, ``statuses``, ``open``, ``public``, ``component``,
        ``label``, ``source``) narrowing the selection; ``limit``, ``offset``
        and ``newest_first`` are ignored (a report covers every match).
    :raises InvalidInput: unknown ``by`` or criterion, or a naive datetime.
    """
    if by is not None and by not in GROUP_BY:
        raise InvalidInput(f"cannot group metrics by {by!r}; expected one of {', '.join(GROUP_BY)}")
    _require_aware(now=now, since=since, until=until)
    for ignored in ("limit", "offset", "newest_first"):
        criteria.pop(ignored, None)
    try:
        flt = IncidentFilter(since=since, until=until, **criteria)
    except TypeError:
        accepted = "severities, statuses, open, public, component, label, source"
        raise InvalidInput(
            f"unknown metrics filter in {sorted(criteria)}; expected some of {accepted}"
        ) from None
    postgres = conn.dialect.name == "postgresql"
    if postgres and PG_PERCENTILE_AGGREGATES:
        # Sorting a million durations fits in memory with room to spare;
        # the 4 MB default would spill each percentile's sort to disk.
        conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")

    i = t.incidents.c
    where = _incident_conditions(flt)
    # Invalid and duplicate incidents have no month and no durations (see
    # derived_columns): counts require the month (in every covering index);
    # the percentile walks already skip NULL durations, and their indexes
    # hold no month, so they are left as they were.
    counted = i.started_month.is_not(None)
    breached_sum, evaluated_sum = _breach_columns(policy, now)
    cube = conn.execute(
        sa.select(
            i.severity,
            i.started_month,
            i.status,
            sa.func.count(),
            *_duration_aggregates(t.incidents),
            breached_sum,
            evaluated_sum,
        )
        .where(*where, counted)
        .group_by(i.severity, i.started_month, i.status)
    ).all()

    overall = _Acc()
    by_sev: dict[str, _Acc] = {}
    by_month: dict[str, _Acc] = {}
    breached: Counter[str] = Counter()
    evaluated: Counter[str] = Counter()
    for row in cube:
        severity, month, status = row[0], row[1], row[2]
        data = row[3 : 4 + _SPAN]
        overall.add(severity, month, status, data)
        by_sev.setdefault(severity, _Acc()).add(severity, month, status, data)
        by_month.setdefault(month, _Acc()).add(severity, month, status, data)
        breached[severity] += int(row[4 + _SPAN] or 0)
        evaluated[severity] += int(row[5 + _SPAN] or 0)

    known = policy.keys
    severity_keys = known + sorted(set(by_sev) - set(known))

    # Per-component counts (and sums, for by=component) from the mirror rows,
    # grouped only as finely as the report needs.
    ic = t.incident_components.c
    comp_where = _component_conditions(flt)
    comp_counted = ic.started_month.is_not(None)
    by_comp: dict[str, _Acc] = {}
    if by == "component":
        comp_query = (
            sa.select(
                ic.component,
                ic.severity,
                ic.started_month,
                ic.status,
                sa.func.count(),
                *_duration_aggregates(t.incident_components),
            )
            .where(*comp_where, comp_counted)
            .group_by(ic.component, ic.severity, ic.started_month, ic.status)
        )
        for row in conn.execute(comp_query):
            component, severity, month, status = row[0], row[1], row[2], row[3]
            count = int(row[4])
            overall.component[component] += count
            by_sev.setdefault(severity, _Acc()).component[component] += count
            by_month.setdefault(month, _Acc()).component[component] += count
            by_comp.setdefault(component, _Acc()).add(severity, month, status, row[4 : 5 + _SPAN])
    else:
        sub = {"severity": ic.severity, "month": ic.started_month}.get(by or "")
        keys = [ic.component] if sub is None else [ic.component, sub]
        comp_query = (
            sa.select(*keys, sa.func.count()).where(*comp_where, comp_counted).group_by(*keys)
        )
        for row in conn.execute(comp_query):
            component, count = row[0], int(row[-1])
            overall.component[component] += count
            if by == "severity":
                by_sev.setdefault(row[1], _Acc()).component[component] += count
            elif by == "month":
                by_month.setdefault(row[1], _Acc()).component[component] += count

    if by == "component" and by_comp:
        # Which other components the incidents of each component group affect.
        other = t.incident_components.alias("other")
        pairs = conn.execute(
            sa.select(ic.component, other.c.component, sa.func.count())
            .join_from(t.incident_components, other, other.c.incident_id == ic.incident_id)
            .where(*comp_where, comp_counted)
            .group_by(ic.component, other.c.component)
        )
        for component, co, count in pairs:
            by_comp[component].component[co] += int(count)

    # Durations: overall and per group.
    groups_src: dict[str, _Acc] = {}
    if by == "severity":
        groups_src = {key: by_sev.get(key, _Acc()) for key in severity_keys}
    elif by == "month":
        groups_src = dict(sorted(by_month.items()))
    elif by == "component":
        groups_src = dict(sorted(by_comp.items()))
    groups_src = {k: v for k, v in groups_src.items() if v.total or by == "severity"}

    group_durations: dict[str, Durations] = {}
    if postgres and PG_PERCENTILE_AGGREGATES:
        overall_durations = _pg_durations(
            overall, _pg_percentiles(conn, t.incidents, where, None).get(None)
        )
        if by is not None and groups_src:
            if by == "component":
                picks = _pg_percentiles(conn, t.incident_components, comp_where, ic.component)
            else:
                col = i.severity if by == "severity" else i.started_month
                picks = _pg_percentiles(conn, t.incidents, where, col)
            group_durations = {
                key: _pg_durations(acc, picks.get(key)) for key, acc in groups_src.items()
            }
    else:
        overall_durations = _indexed_durations(conn, t.incidents, where, overall)
        for key, acc in groups_src.items():
            if by == "component":
                group_durations[key] = _indexed_durations(
                    conn, t.incident_components, [*comp_where, ic.component == key], acc
                )
            else:
                col = i.severity if by == "severity" else i.started_month
                group_durations[key] = _indexed_durations(
                    conn, t.incidents, [*where, col == key], acc
                )

    groups = {
        key: GroupSummary(key=key, durations=group_durations[key], counts=acc.counts(severity_keys))
        for key, acc in groups_src.items()
    }
    return MetricsReport(
        now=now,
        since=since,
        until=until,
        durations=overall_durations,
        counts=overall.counts(severity_keys),
        breaches={
            key: BreachStats(severity=key, breached=breached[key], evaluated=evaluated[key])
            for key in severity_keys
        },
        by=by,
        groups=groups,
        cost=None if rates is None else _cost(conn, flt, rates, now, severity_keys),
    )
