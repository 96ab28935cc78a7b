"""Metrics at scale: SQL (SQLite, PostgreSQL) against the Python reference.

Generates 1,000,000 resolved incidents over three years with realistic
distributions (2 % closed as invalid, 1 % as duplicate, 1-4 people engaged
on each), bulk-loads them (``executemany`` on SQLite, ``COPY`` on
PostgreSQL; not through the service), then times ``Crashbot.metrics`` —
MTTD to MTTR, counts, breaches and, with hourly rates set, the estimated
cost — by severity and by month in SQL and with the pure-Python reference on
the same rows, and checks the two reports agree.

Run by hand (never part of the test suite)::

    python benchmarks/metrics_scale.py                       # SQLite only
    python benchmarks/metrics_scale.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    python benchmarks/metrics_scale.py -n 100000 --skip-reference

Memory is the peak resident size (``VmHWM``) of a fresh process that only
opens the store and computes the SQL reports; the reference runs afterwards
in the parent, which holds every incident in memory.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from crashbot_core.cost import CostRates, Engagement
from crashbot_core.metrics import MetricsReport, compute
from crashbot_core.models import Incident
from crashbot_core.severity import DEFAULT_POLICY, Severity
from crashbot_core.store import IncidentFilter
from crashbot_sqlalchemy import schema
from crashbot_sqlalchemy.store import SqlStore

#: The instant the benchmark's reports are computed at.
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: Three years of history ending a day before NOW.
START = NOW - timedelta(days=3 * 365 + 1)

# (severity, share, median seconds to acknowledge, to mitigate after ack, to resolve after mitigation)
SEVERITIES = [
    ("SEV1", 0.03, 180, 1800, 3600),
    ("SEV2", 0.12, 900, 3600, 7200),
    ("SEV3", 0.35, 3600, 4 * 3600, 8 * 3600),
    ("SEV4", 0.50, 6 * 3600, 24 * 3600, 48 * 3600),
]
COMPONENTS = [
    "api", "web", "checkout", "payments", "search", "auth", "db", "queue",
    "cdn", "email", "mobile", "billing",
]  # fmt: skip
SOURCES = [
    ("slack", 0.35),
    ("alert:alertmanager", 0.3),
    ("alert:grafana", 0.15),
    ("cli", 0.1),
    ("api", 0.1),
]
TEAMS = ["core", "platform", "payments", "growth", "infra"]
#: The rates the reports are computed with (cost on).
RATES = CostRates(hourly_rate=90.0, role_rates={"commander": 140.0, "scribe": 60.0})
PEOPLE = [f"U{i:03d}" for i in range(200)]
ROLES = ["commander", "scribe", "technical-lead", ""]


def _fmt(value: datetime) -> str:
    # SQLAlchemy's SQLite DateTime storage format (naive UTC, microseconds).
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def generate(n: int, seed: int = 42) -> Iterator[dict[str, Any]]:
    """Yield ``n`` resolved incidents as plain rows (id, times, severity, components, labels, source).

    Start times are spread over three years with a weekday/daytime bias;
    durations are log-normal per severity; about 2% were never acknowledged
    (auto-resolved alerts) and 1% have a ``started_at`` back-filled after
    the acknowledgement (a negative MTTA, clamped to 0 by the definitions).
    """
    rng = random.Random(seed)
    span = (NOW - START).total_seconds() - 7 * 86400
    sev_names = [s[0] for s in SEVERITIES]
    sev_weights = [s[1] for s in SEVERITIES]
    params = {s[0]: s[2:] for s in SEVERITIES}
    src_names = [s[0] for s in SOURCES]
    src_weights = [s[1] for s in SOURCES]
    for i in range(1, n + 1):
        while True:
            started = START + timedelta(seconds=rng.random() * span)
            # Fewer incidents at weekends and at night (deploys cause incidents).
            keep = (0.4 if started.weekday() >= 5 else 1.0) * (0.5 if started.hour < 7 else 1.0)
            if rng.random() < keep:
                break
        started = started.replace(microsecond=rng.randrange(1_000_000))
        severity = rng.choices(sev_names, sev_weights)[0]
        ack_med, mit_med, res_med = params[severity]
        ack_s = rng.lognormvariate(math.log(ack_med), 1.0)
        mit_s = rng.lognormvariate(math.log(mit_med), 0.9)
        res_s = rng.lognormvariate(math.log(res_med), 0.8)
        acked: datetime | None = started + timedelta(seconds=ack_s)
        if rng.random() < 0.02:
            acked = None
        elif rng.random() < 0.01:
            acked = started - timedelta(seconds=rng.random() * 600)
        mitigated = started + timedelta(seconds=ack_s + mit_s)
        resolved = mitigated + timedelta(seconds=res_s)
        comps = rng.sample(COMPONENTS, k=rng.choices([0, 1, 2, 3], [0.2, 0.5, 0.2, 0.1])[0])
        source = rng.choices(src_names, src_weights)[0]
        # Alerts detect at the first alert's start; people notice later.
        detected = (
            started
            if source.startswith("alert:")
            else started + timedelta(seconds=rng.lognormvariate(math.log(300), 1.2))
        )
        ending = rng.random()
        resolution = "invalid" if ending < 0.02 else "duplicate" if ending < 0.03 else "resolved"
        people = []
        for k, person in enumerate(rng.sample(PEOPLE, k=rng.choice([1, 2, 2, 3, 4]))):
            since = detected + timedelta(seconds=k * rng.random() * max(ack_s, 60))
            people.append((f"slack:{person}", min(since, resolved), ROLES[min(k, 3)]))
        yield {
            "id": i,
            "severity": severity,
            "started_at": started,
            "acknowledged_at": acked,
            "mitigated_at": mitigated,
            "resolved_at": resolved,
            "components": comps,
            "labels": {"team": rng.choice(TEAMS)},
            "source": source,
            "detected_at": detected,
            "resolution": resolution,
            "people": people,
        }


_NBD = Severity(key="", priority="", label="", rank=0)


def _derived(row: dict[str, Any]) -> dict[str, Any]:
    """The store's derived metrics columns, with the same formulas as ``derived_columns``."""
    started = row["started_at"]

    def secs(end: datetime | None) -> float | None:
        return None if end is None else max(0.0, (end - started).total_seconds())

    if row["resolution"] != "resolved":
        # Invalid and duplicate incidents get no metrics columns (derived_columns).
        return dict.fromkeys(("ttd", "tta", "ttm", "ttr", "month", "nbd"))
    return {
        "ttd": secs(row["detected_at"]),
        "tta": secs(row["acknowledged_at"]),
        "ttm": secs(row["mitigated_at"]),
        "ttr": secs(row["resolved_at"]),
        "month": started.strftime("%Y-%m"),
        "nbd": _NBD.response_deadline(started),
    }


def _incident_values(
    row: dict[str, Any], d: dict[str, Any], fmt: Callable[[datetime | None], Any]
) -> tuple[Any, ...]:
    return (
        row["id"],
        f"INC-{row['id']}",
        f"Incident {row['id']}",
        "",
        row["severity"],
        "resolved",
        False,
        json.dumps({c: "degraded_performance" for c in row["components"]}),
        "{}",
        json.dumps(row["labels"]),
        fmt(row["started_at"]),
        fmt(row["started_at"]),
        fmt(row["acknowledged_at"]),
        fmt(row["mitigated_at"]),
        fmt(row["resolved_at"]),
        fmt(row["resolved_at"]),
        None,
        row["source"],
        "{}",
        3,
        None,
        d["tta"],
        d["ttm"],
        d["ttr"],
        d["month"],
        fmt(d["nbd"]),
        fmt(row["detected_at"]),
        row["resolution"],
        d["ttd"],
    )


def _component_values(
    row: dict[str, Any], d: dict[str, Any], fmt: Callable[[datetime | None], Any]
) -> list[tuple[Any, ...]]:
    return [
        (
            row["id"],
            c,
            row["severity"],
            "resolved",
            fmt(row["started_at"]),
            d["month"],
            d["tta"],
            d["ttm"],
            d["ttr"],
            d["ttd"],
        )
        for c in row["components"]
    ]


def _engagement_values(
    row: dict[str, Any], d: dict[str, Any], fmt: Callable[[datetime | None], Any]
) -> list[tuple[Any, ...]]:
    return [
        (
            row["id"],
            person,
            person,
            role,
            fmt(since),
            max(0.0, (row["resolved_at"] - since).total_seconds()),
            row["severity"],
            fmt(row["started_at"]),
            d["month"],
        )
        for person, since, role in row["people"]
    ]


def engagements_of(row: dict[str, Any]) -> list[Engagement]:
    """The reference's view of a generated incident's people."""
    return [
        Engagement(person=p, name=p, since=since, role=role or None)
        for p, since, role in row["people"]
    ]


_COLUMNS = (
    "id, ref, title, description, severity, status, public, components, roles, labels, "
    "started_at, declared_at, acknowledged_at, mitigated_at, resolved_at, last_update_at, "
    "rca_url, source, refs, version, declared_by, "
    "tta_seconds, ttm_seconds, ttr_seconds, started_month, nbd_deadline, "
    "detected_at, resolution, ttd_seconds"
)
_COMPONENT_COLUMNS = (
    "incident_id, component, severity, status, started_at, started_month, "
    "tta_seconds, ttm_seconds, ttr_seconds, ttd_seconds"
)
_ENGAGEMENT_COLUMNS = (
    "incident_id, person, name, role, engaged_from, engaged_seconds, severity, "
    "started_at, started_month"
)


def _bulk_indexes(dialect: sa.engine.Dialect) -> list[tuple[str, str]]:
    """(DROP, CREATE) statements of the secondary indexes of the bulk-loaded tables.

    Building an index once over sorted data is much faster than updating
    seventeen of them a row at a time, so the loaders drop them first.
    """
    out = []
    for table in (
        schema.incidents,
        schema.incident_components,
        schema.incident_labels,
        schema.incident_engagements,
    ):
        for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
            create = str(sa.schema.CreateIndex(index).compile(dialect=dialect))
            out.append((f"DROP INDEX IF EXISTS {index.name}", create))
    return out


def load_sqlite(store: SqlStore, rows: Iterator[dict[str, Any]], batch: int = 50_000) -> None:
    """Bulk insert with the DBAPI's ``executemany`` (one transaction)."""

    def fmt(v: datetime | None) -> str | None:
        return None if v is None else _fmt(v)

    # A throwaway database loaded in one go: no journal, no fsync, a big page
    # cache (the 17 indexes are updated at random places), foreign keys off.
    store.engine.dispose()
    raw = sqlite3.connect(store.engine.url.database or "")
    try:
        cur = raw.cursor()
        for pragma in (
            "journal_mode = OFF",
            "synchronous = OFF",
            "cache_size = -1500000",
            "foreign_keys = OFF",
        ):
            cur.execute(f"PRAGMA {pragma}")
        indexes = _bulk_indexes(store.engine.dialect)
        for drop, _ in indexes:
            cur.execute(drop)
        marks = ", ".join("?" * 29)
        incidents: list[tuple[Any, ...]] = []
        comps: list[tuple[Any, ...]] = []
        people: list[tuple[Any, ...]] = []
        labels: list[tuple[int, str, str]] = []

        def flush() -> None:
            cur.executemany(f"INSERT INTO incidents ({_COLUMNS}) VALUES ({marks})", incidents)
            cur.executemany(
                f"INSERT INTO incident_components ({_COMPONENT_COLUMNS}) VALUES ({', '.join('?' * 10)})",
                comps,
            )
            cur.executemany(
                f"INSERT INTO incident_engagements ({_ENGAGEMENT_COLUMNS}) VALUES ({', '.join('?' * 9)})",
                people,
            )
            cur.executemany(
                "INSERT INTO incident_labels (incident_id, key, value) VALUES (?, ?, ?)", labels
            )
            incidents.clear()
            comps.clear()
            people.clear()
            labels.clear()

        for row in rows:
            d = _derived(row)
            incidents.append(_incident_values(row, d, fmt))
            comps += _component_values(row, d, fmt)
            people += _engagement_values(row, d, fmt)
            labels += [(row["id"], k, v) for k, v in row["labels"].items()]
            if len(incidents) >= batch:
                flush()
        flush()
        raw.commit()
        for _, create in indexes:
            cur.execute(create)
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
        cur.execute("PRAGMA journal_mode = WAL")
    finally:
        raw.close()


def load_postgres(store: SqlStore, rows: Iterator[dict[str, Any]]) -> None:
    """Bulk load with ``COPY`` (psycopg 3), then ``ANALYZE``."""
    raw = store.engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        comps: list[tuple[Any, ...]] = []
        people: list[tuple[Any, ...]] = []
        labels: list[tuple[int, str, str]] = []
        indexes = _bulk_indexes(store.engine.dialect)
        with driver.cursor() as cur:
            for drop, _ in indexes:
                cur.execute(drop)
            with cur.copy(f"COPY incidents ({_COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    d = _derived(row)
                    copy.write_row(_incident_values(row, d, lambda v: v))
                    comps += _component_values(row, d, lambda v: v)
                    people += _engagement_values(row, d, lambda v: v)
                    labels += [(row["id"], k, v) for k, v in row["labels"].items()]
            with cur.copy(f"COPY incident_components ({_COMPONENT_COLUMNS}) FROM STDIN") as copy:
                for item in comps:
                    copy.write_row(item)
            with cur.copy("COPY incident_labels (incident_id, key, value) FROM STDIN") as copy:
                for label in labels:
                    copy.write_row(label)
            with cur.copy(f"COPY incident_engagements ({_ENGAGEMENT_COLUMNS}) FROM STDIN") as copy:
                for item in people:
                    copy.write_row(item)
            cur.execute("SET maintenance_work_mem = '512MB'")
            for _, create in indexes:
                cur.execute(create)
            # Later declares must not collide with the ids given here.
            cur.execute(
                "SELECT setval(pg_get_serial_sequence('incidents', 'id'), max(id)) FROM incidents"
            )
        driver.commit()
        with driver.cursor() as cur:
            driver.autocommit = True
            cur.execute("VACUUM ANALYZE incidents")
            cur.execute("VACUUM ANALYZE incident_components")
            cur.execute("VACUUM ANALYZE incident_labels")
            cur.execute("VACUUM ANALYZE incident_engagements")
    finally:
        raw.close()


def _timed(fn: Callable[[], MetricsReport], repeat: int) -> tuple[float, MetricsReport]:
    best = math.inf
    report: MetricsReport | None = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        report = fn()
        best = min(best, time.perf_counter() - t0)
    assert report is not None
    return best, report


def _rss_mb() -> float:
    """Peak resident memory of this process image, in MB.

    ``VmHWM`` starts afresh at ``exec``, unlike ``ru_maxrss``, which a child
    inherits from its forked parent (here: the loader's peak).
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _same(a: Any, b: Any) -> bool:
    """Equal counts and breaches, durations within a millisecond (plain report dicts)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-3
    return bool(a == b)


def measure_sql(url: str, repeat: int) -> dict[str, Any]:
    """Time the SQL reports in this (fresh) process; returns timings, peak RSS and the reports."""
    store = SqlStore.from_url(url)
    try:
        out: dict[str, Any] = {"rss_before_mb": _rss_mb(), "reports": {}}
        for by in (None, "severity", "month"):
            seconds, report = _timed(
                lambda by=by: store.metrics(DEFAULT_POLICY, now=NOW, by=by, rates=RATES), repeat
            )
            out[f"sql_{by or 'summary'}_s"] = seconds
            out["reports"][str(by)] = report.to_dict()
            # The targets are for the report itself (with MTTD); the cost is an
            # opt-in extra ([cost] hourly_rate), so it is timed apart as well.
            seconds, _ = _timed(
                lambda by=by: store.metrics(DEFAULT_POLICY, now=NOW, by=by, rates=None), repeat
            )
            out[f"sql_{by or 'summary'}_without_cost_s"] = seconds
        out["sql_peak_rss_mb"] = _rss_mb()
        return out
    finally:
        store.close()


def bench(name: str, url: str, n: int, *, skip_reference: bool, repeat: int) -> dict[str, Any]:
    """Load ``n`` incidents into ``url`` and time SQL against the reference."""
    store = SqlStore.from_url(url)
    try:
        t0 = time.perf_counter()
        (load_postgres if name == "postgresql" else load_sqlite)(store, generate(n))
        load_s = time.perf_counter() - t0
        print(f"[{name}] loaded {n:,} incidents in {load_s:.1f} s", flush=True)

        # The SQL side runs in a fresh process, so its peak memory is its own
        # and not the loader's (ru_maxrss never goes down).
        child = subprocess.run(
            [sys.executable, __file__, "--measure", url, "--repeat", str(repeat)],
            check=True,
            capture_output=True,
            text=True,
        )
        measured = json.loads(child.stdout)
        reports = measured.pop("reports")
        results: dict[str, Any] = {"backend": name, "incidents": n, "load_s": round(load_s, 1)}
        results.update(measured)
        for by in (None, "severity", "month"):
            key = by or "summary"
            print(
                f"[{name}] SQL metrics by={by}: {measured[f'sql_{key}_without_cost_s']:.3f} s, "
                f"with the cost {measured[f'sql_{key}_s']:.3f} s",
                flush=True,
            )
        print(f"[{name}] SQL process peak RSS: {measured['sql_peak_rss_mb']:.0f} MB", flush=True)

        if not skip_reference:
            t0 = time.perf_counter()
            incidents: list[Incident] = store.list_incidents(IncidentFilter(newest_first=False))
            load_ref = time.perf_counter() - t0
            results["reference_load_s"] = load_ref
            print(f"[{name}] reference: list_incidents {load_ref:.1f} s", flush=True)
            # The people come from the generator (same seed), not from reading
            # every timeline: the reference's input, not its cost, is timed.
            people = {row["id"]: engagements_of(row) for row in generate(n)}
            for by in (None, "severity", "month"):
                t0 = time.perf_counter()
                ref = compute(
                    incidents, DEFAULT_POLICY, now=NOW, by=by, rates=RATES, engagements=people
                )
                compute_s = time.perf_counter() - t0
                key = by or "summary"
                ok = _same(reports[str(by)], ref.to_dict())
                results[f"reference_{key}_compute_s"] = compute_s
                results[f"reference_{key}_s"] = compute_s + load_ref
                results[f"equal_{key}"] = ok
                sql_s = measured[f"sql_{key}_s"]
                print(
                    f"[{name}] reference by={by}: {compute_s:.1f} s compute "
                    f"(+{load_ref:.1f} s load) -> SQL is {(compute_s + load_ref) / sql_s:.0f}x "
                    f"faster ({compute_s / sql_s:.0f}x on compute alone); equal: {ok}",
                    flush=True,
                )
            del incidents, people
        return results
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    """Parse options, run each backend, print a summary as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="incidents to generate")
    parser.add_argument(
        "--postgres", metavar="URL", default=os.environ.get("CRASHBOT_BENCH_POSTGRES_URL")
    )
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many SQL runs")
    parser.add_argument("--measure", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure_sql(args.measure, args.repeat)))
        return 0

    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        out.append(
            bench("sqlite", url, args.n, skip_reference=args.skip_reference, repeat=args.repeat)
        )
    if args.postgres and not args.sqlite_only:
        schema = f"crashbot_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(args.postgres)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            pg_url = sa.make_url(args.postgres).update_query_dict(
                {"options": f"-csearch_path={schema}"}
            )
            out.append(
                bench(
                    "postgresql",
                    pg_url.render_as_string(hide_password=False),
                    args.n,
                    skip_reference=args.skip_reference,
                    repeat=args.repeat,
                )
            )
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
