"""The metrics reference implementation: the numbers users see in ``crashbot metrics``."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crashbot_core.errors import InvalidInput
from crashbot_core.metrics import compute, duration_stats, format_report
from crashbot_core.models import Impact, Incident, Resolution, Status
from crashbot_core.severity import DEFAULT_POLICY

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
NOW = datetime(2026, 6, 1, tzinfo=UTC)
M = timedelta(minutes=1)


def make(
    id: int = 1,
    *,
    severity: str = "SEV2",
    status: Status = Status.RESOLVED,
    started: datetime = T0,
    ack: timedelta | None = None,
    mitigated: timedelta | None = None,
    resolved: timedelta | None = None,
    components: dict[str, Impact] | None = None,
) -> Incident:
    """An incident whose timestamps are offsets from ``started``."""
    return Incident(
        id=id,
        ref=f"INC-{id}",
        title=f"incident {id}",
        severity=severity,
        status=status,
        declared_at=started,
        started_at=started,
        acknowledged_at=started + ack if ack is not None else None,
        mitigated_at=started + mitigated if mitigated is not None else None,
        resolved_at=started + resolved if resolved is not None else None,
        components=components or {},
    )


# ------------------------------------------------------------------ durations


def test_mtta_of_1m_2m_10m_is_mean_4m20s_median_2m_p90_10m() -> None:
    incidents = [make(1, ack=1 * M), make(2, ack=2 * M), make(3, ack=10 * M)]

    mtta = compute(incidents, DEFAULT_POLICY, now=NOW).durations.mtta

    assert (mtta.count, mtta.mean, mtta.median, mtta.p90) == (3, 260.0, 120.0, 600.0)


def test_median_of_an_even_count_is_the_mean_of_the_two_middle_values() -> None:
    stats = duration_stats([60, 120, 300, 900])

    assert stats.median == 210.0


def test_p90_is_nearest_rank_never_interpolated() -> None:
    # ceil(0.9 * 10) = 9: the 9th of 1..10, not 9.1.
    assert duration_stats(range(1, 11)).p90 == 9.0
    # ceil(0.9 * 11) = 10.
    assert duration_stats(range(1, 12)).p90 == 10.0
    assert duration_stats([42]).p90 == 42.0


def test_durations_only_count_incidents_where_the_later_timestamp_is_set() -> None:
    incidents = [
        make(1, ack=1 * M, mitigated=10 * M, resolved=60 * M),
        make(2, status=Status.INVESTIGATING, ack=3 * M),
        make(3, status=Status.INVESTIGATING),
    ]

    d = compute(incidents, DEFAULT_POLICY, now=NOW).durations

    assert (d.mtta.count, d.mttm.count, d.mttr.count) == (2, 1, 1)
    assert d.mtta.mean == 120.0
    assert d.mttm.mean == 600.0
    assert d.mttr.mean == 3600.0


def test_negative_duration_from_late_entered_start_counts_as_zero() -> None:
    incidents = [make(1, ack=-5 * M), make(2, ack=4 * M)]

    mtta = compute(incidents, DEFAULT_POLICY, now=NOW).durations.mtta

    assert mtta.count == 2
    assert mtta.mean == 120.0


def test_no_incidents_gives_zero_counts_and_none_values() -> None:
    report = compute([], DEFAULT_POLICY, now=NOW, by="month")

    assert report.counts.total == 0
    assert report.durations.mttr.count == 0
    assert report.durations.mttr.mean is None
    assert report.durations.mttr.p90 is None
    assert report.breaches["SEV1"].rate is None
    assert report.groups == {}
    data = report.to_dict()
    assert data["durations"]["mtta"] == {
        "count": 0,
        "mean_seconds": None,
        "median_seconds": None,
        "p90_seconds": None,
    }
    assert "no incidents" in format_report(report)


def test_a_generator_is_read_once_and_gives_the_same_report_as_a_list() -> None:
    incidents = [make(i, ack=i * M, components={"api": Impact.MAJOR_OUTAGE}) for i in range(1, 6)]

    def gen() -> Iterator[Incident]:
        yield from incidents

    assert compute(gen(), DEFAULT_POLICY, now=NOW, by="severity") == compute(
        incidents, DEFAULT_POLICY, now=NOW, by="severity"
    )


# ------------------------------------------------------------------ selection


def test_since_is_inclusive_and_until_exclusive_on_started_at() -> None:
    since = datetime(2026, 3, 1, tzinfo=UTC)
    until = datetime(2026, 4, 1, tzinfo=UTC)
    incidents = [
        make(1, started=since - timedelta(microseconds=1)),
        make(2, started=since),
        make(3, started=until - timedelta(microseconds=1)),
        make(4, started=until),
    ]

    report = compute(incidents, DEFAULT_POLICY, now=NOW, since=since, until=until)

    assert report.counts.total == 2


def test_naive_window_bounds_are_refused_with_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="since= must be timezone-aware"):
        compute([], DEFAULT_POLICY, now=NOW, since=datetime(2026, 1, 1))


def test_unknown_group_is_refused_naming_the_accepted_ones() -> None:
    with pytest.raises(InvalidInput, match="severity, month, component"):
        compute([], DEFAULT_POLICY, now=NOW, by="week")


# ------------------------------------------------------------------ counts


def test_by_severity_lists_every_level_in_policy_order_even_with_zero() -> None:
    incidents = [make(1, severity="SEV3"), make(2, severity="SEV1"), make(3, severity="SEV3")]

    by_severity = compute(incidents, DEFAULT_POLICY, now=NOW).counts.by_severity

    assert list(by_severity.items()) == [("SEV1", 1), ("SEV2", 0), ("SEV3", 2), ("SEV4", 0)]


def test_a_level_dropped_from_the_policy_is_still_counted_after_the_policy_levels() -> None:
    incidents = [make(1, severity="SEV5"), make(2, severity="SEV1")]

    by_severity = compute(incidents, DEFAULT_POLICY, now=NOW).counts.by_severity

    assert list(by_severity) == ["SEV1", "SEV2", "SEV3", "SEV4", "SEV5"]
    assert by_severity["SEV5"] == 1


def test_by_status_lists_every_status_in_lifecycle_order() -> None:
    incidents = [make(1, status=Status.MONITORING), make(2), make(3)]

    by_status = compute(incidents, DEFAULT_POLICY, now=NOW).counts.by_status

    assert list(by_status.items()) == [
        ("investigating", 0),
        ("identified", 0),
        ("monitoring", 1),
        ("resolved", 2),
    ]


def test_by_month_uses_the_utc_month_of_started_at_at_its_edges() -> None:
    plus_two = timezone(timedelta(hours=2))
    incidents = [
        make(1, started=datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        make(2, started=datetime(2026, 2, 1, 0, 0, tzinfo=UTC)),
        # 01:00 on 1 March at UTC+2 is still February in UTC.
        make(3, started=datetime(2026, 3, 1, 1, 0, tzinfo=plus_two)),
        make(4, started=datetime(2025, 12, 15, tzinfo=UTC)),
    ]

    report = compute(incidents, DEFAULT_POLICY, now=NOW, by="month")

    assert list(report.counts.by_period.items()) == [("2025-12", 1), ("2026-01", 1), ("2026-02", 2)]
    assert list(report.groups) == ["2025-12", "2026-01", "2026-02"]
    assert report.groups["2026-02"].counts.total == 2


def test_an_incident_counts_once_for_each_component_it_affects() -> None:
    incidents = [
        make(1, components={"api": Impact.MAJOR_OUTAGE, "db": Impact.PARTIAL_OUTAGE}),
        make(2, components={"api": Impact.DEGRADED_PERFORMANCE}),
        make(3),
    ]

    report = compute(incidents, DEFAULT_POLICY, now=NOW, by="component")

    assert report.counts.total == 3
    assert report.counts.by_component == {"api": 2, "db": 1}
    assert list(report.groups) == ["api", "db"]
    assert report.groups["api"].counts.total == 2


def test_groups_by_severity_include_empty_levels_with_their_own_durations() -> None:
    incidents = [
        make(1, severity="SEV1", ack=2 * M),
        make(2, severity="SEV1", ack=4 * M),
        make(3, severity="SEV3", ack=30 * M),
    ]

    groups = compute(incidents, DEFAULT_POLICY, now=NOW, by="severity").groups

    assert list(groups) == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert groups["SEV1"].durations.mtta.mean == 180.0
    assert groups["SEV2"].counts.total == 0
    assert groups["SEV2"].durations.mtta.mean is None
    assert groups["SEV3"].durations.mtta.p90 == 1800.0


# ------------------------------------------------------------------ breaches


def test_sev1_acknowledged_after_five_minutes_breaches_and_at_five_does_not() -> None:
    incidents = [
        make(1, severity="SEV1", ack=5 * M),
        make(2, severity="SEV1", ack=5 * M + timedelta(seconds=1)),
    ]

    breach = compute(incidents, DEFAULT_POLICY, now=NOW).breaches["SEV1"]

    assert (breach.breached, breach.evaluated, breach.rate) == (1, 2, 0.5)


def test_unacknowledged_incident_breaches_only_once_its_deadline_has_passed() -> None:
    incident = make(1, severity="SEV2", status=Status.INVESTIGATING)

    within = compute([incident], DEFAULT_POLICY, now=T0 + 30 * M).breaches["SEV2"]
    past = compute([incident], DEFAULT_POLICY, now=T0 + 31 * M).breaches["SEV2"]

    # Still within its target: not judged yet, so it does not lower the rate.
    assert (within.breached, within.evaluated, within.rate) == (0, 0, None)
    assert (past.breached, past.evaluated, past.rate) == (1, 1, 1.0)


def test_sev4_friday_incident_acknowledged_on_monday_is_not_a_breach() -> None:
    friday = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)
    monday = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)
    tuesday = datetime(2026, 3, 10, 0, 0, 1, tzinfo=UTC)
    on_monday = make(1, severity="SEV4", started=friday, ack=monday - friday)
    on_tuesday = make(2, severity="SEV4", started=friday, ack=tuesday - friday)

    breach = compute([on_monday, on_tuesday], DEFAULT_POLICY, now=NOW).breaches["SEV4"]

    assert (breach.breached, breach.evaluated) == (1, 2)


# ------------------------------------------------------------------ output


def test_to_dict_is_json_ready_and_carries_the_definitions() -> None:
    incidents = [make(1, severity="SEV1", ack=1 * M, resolved=90 * M)]
    since = datetime(2026, 1, 1, tzinfo=UTC)

    data = compute(incidents, DEFAULT_POLICY, now=NOW, since=since, by="severity").to_dict()

    assert json.loads(json.dumps(data)) == data
    assert data["window"] == {"since": since.isoformat(), "until": None, "now": NOW.isoformat()}
    assert data["durations"]["mttr"]["mean_seconds"] == 5400.0
    assert data["counts"]["by_severity"]["SEV1"] == 1
    assert data["breaches"]["SEV1"] == {"breached": 0, "evaluated": 1, "rate": 0.0}
    assert data["groups"]["SEV1"]["durations"]["mtta"]["p90_seconds"] == 60.0
    assert "nearest rank" in data["definitions"]["p90"].lower()


def test_ungrouped_report_has_null_groups_in_json() -> None:
    assert compute([], DEFAULT_POLICY, now=NOW).to_dict()["groups"] is None


def test_format_report_shows_durations_with_units_and_a_definitions_footer() -> None:
    incidents = [
        make(1, severity="SEV1", ack=1 * M, resolved=1 * M + timedelta(hours=2)),
        make(2, severity="SEV1", ack=6 * M, resolved=45 * M),
        make(3, severity="SEV2", ack=10 * M + timedelta(seconds=30), resolved=3 * 60 * M),
    ]

    text = format_report(compute(incidents, DEFAULT_POLICY, now=NOW, by="severity"))

    mtta_line = next(line for line in text.splitlines() if line.startswith("MTTA"))
    assert "5m 50s" in mtta_line  # mean of 1m, 6m, 10m 30s
    assert "6m" in mtta_line
    assert "10m 30s" in mtta_line
    assert "3h" in text
    assert "SEV1" in text and "SEV4" in text
    assert "50%" in text  # SEV1: one of two acknowledged after its 5-minute target
    assert "nearest rank" in text
    assert "Incident metrics: 3 incidents (all time)" in text


# ------------------------------------------------------------------ properties

seconds = st.floats(min_value=0, max_value=30 * 86400, allow_nan=False)


@given(st.lists(seconds, min_size=1, max_size=50))
def test_statistics_are_within_the_observed_range_and_p90_is_observed(
    values: list[float],
) -> None:
    stats = duration_stats(values)

    assert stats.count == len(values)
    assert stats.mean is not None and stats.median is not None and stats.p90 is not None
    lo, hi = min(values), max(values)
    assert lo - 1e-6 <= stats.mean <= hi + 1e-6
    assert lo <= stats.median <= hi
    assert stats.p90 in values
    # At least 90% of the values are at or below p90 (the nearest-rank promise).
    assert sum(v <= stats.p90 for v in values) >= math.ceil(0.9 * len(values))


incident_strategy = st.builds(
    make,
    id=st.integers(1, 10_000),
    severity=st.sampled_from(["SEV1", "SEV2", "SEV3", "SEV4"]),
    status=st.sampled_from(list(Status)),
    started=st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
    ),
    ack=st.none() | st.timedeltas(timedelta(minutes=-10), timedelta(days=3)),
    resolved=st.none() | st.timedeltas(timedelta(0), timedelta(days=10)),
    components=st.dictionaries(st.sampled_from(["api", "db", "web"]), st.just(Impact.MAJOR_OUTAGE)),
)


@given(st.lists(incident_strategy, max_size=30), st.sampled_from(["severity", "month"]))
def test_groups_partition_the_incidents_and_breaches_never_exceed_evaluated(
    incidents: list[Incident], by: str
) -> None:
    report = compute(incidents, DEFAULT_POLICY, now=NOW, by=by)

    assert sum(g.counts.total for g in report.groups.values()) == report.counts.total
    assert sum(g.durations.mtta.count for g in report.groups.values()) == (
        report.durations.mtta.count
    )
    assert sum(report.counts.by_severity.values()) == report.counts.total
    assert sum(report.counts.by_period.values()) == report.counts.total
    for key, b in report.breaches.items():
        assert 0 <= b.breached <= b.evaluated <= report.counts.by_severity[key]


# ------------------------------------------------------------------ detection and endings


def test_mttd_runs_from_start_to_detection_else_to_the_declare() -> None:
    detected = attrs_evolve(make(1), detected_at=T0 + 4 * M, declared_at=T0 + 9 * M)
    declared_only = attrs_evolve(make(2), declared_at=T0 + 10 * M)

    mttd = compute([detected, declared_only], DEFAULT_POLICY, now=NOW).durations.mttd

    assert (mttd.count, mttd.mean, mttd.median, mttd.p90) == (2, 420.0, 420.0, 600.0)


def test_invalid_and_duplicate_incidents_count_in_no_metric() -> None:
    kept = make(1, ack=M, resolved=10 * M, components={"api": Impact.MAJOR_OUTAGE})
    invalid = attrs_evolve(make(2, severity="SEV1", ack=M), resolution=Resolution.INVALID)
    duplicate = attrs_evolve(
        make(3, components={"db": Impact.MAJOR_OUTAGE}),
        resolution=Resolution.DUPLICATE,
        duplicate_of=1,
    )

    report = compute([kept, invalid, duplicate], DEFAULT_POLICY, now=NOW, by="component")

    assert report.counts.total == 1
    assert report.counts.by_severity["SEV1"] == 0
    assert report.counts.by_component == {"api": 1}
    assert list(report.groups) == ["api"]
    assert report.durations.mtta.count == 1
    assert report.breaches["SEV1"].evaluated == 0


def attrs_evolve(incident: Incident, **changes: object) -> Incident:
    return incident.with_changes(**changes)
