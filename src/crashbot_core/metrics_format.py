"""A metrics report for people and spreadsheets: the text tables and the CSV.

``crashbot metrics`` prints :func:`format_report`, ``crashbot metrics --csv``
:func:`metrics_csv`; the JSON form is the report's own ``to_dict()``
(:mod:`crashbot_core.metrics_report`).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from crashbot_core.cost import format_money
from crashbot_core.durations import format_duration
from crashbot_core.metrics_report import Durations, MetricsReport

__all__ = ["CSV_COLUMNS", "format_report", "metrics_csv"]


def format_report(report: MetricsReport) -> str:
    """Render a report as plain-text tables with units (``12m 30s``) and a definitions footer.

    This is what ``crashbot metrics`` prints.
    """
    lines: list[str] = [_heading(report), ""]

    d = report.durations
    lines += _table(
        ["", "incidents", "mean", "median", "p90"],
        [
            [label, str(s.count), _fmt(s.mean), _fmt(s.median), _fmt(s.p90)]
            for label, s in (
                ("MTTD (detect)", d.mttd),
                ("MTTA (acknowledge)", d.mtta),
                ("MTTM (mitigate)", d.mttm),
                ("MTTR (resolve)", d.mttr),
            )
        ],
    )

    lines += ["", "Response targets"]
    lines += _table(
        ["severity", "incidents", "breached", "evaluated", "breach rate"],
        [
            [
                key,
                str(report.counts.by_severity.get(key, 0)),
                str(b.breached),
                str(b.evaluated),
                "—" if b.rate is None else f"{b.rate:.0%}",
            ]
            for key, b in report.breaches.items()
        ],
    )

    if report.cost is not None:
        c = report.cost
        lines += ["", f"Estimated cost: {format_money(c.total, c.currency)}"]
        lines += [
            "By severity: "
            + ", ".join(f"{k} {format_money(v, c.currency)}" for k, v in c.by_severity.items())
        ]

    lines += ["", "By status: " + _inline(report.counts.by_status)]
    lines += ["By month: " + _inline(report.counts.by_period)]
    lines += ["By component: " + _inline(report.counts.by_component)]

    if report.by is not None:
        lines += ["", f"By {report.by}"]
        if report.groups:
            lines += _table(
                [
                    report.by,
                    "incidents",
                    "MTTD mean",
                    "MTTA mean",
                    "MTTA p90",
                    "MTTM mean",
                    "MTTR mean",
                    "MTTR p90",
                ],
                [
                    [
                        key,
                        str(g.counts.total),
                        _fmt(g.durations.mttd.mean),
                        _fmt(g.durations.mtta.mean),
                        _fmt(g.durations.mtta.p90),
                        _fmt(g.durations.mttm.mean),
                        _fmt(g.durations.mttr.mean),
                        _fmt(g.durations.mttr.p90),
                    ]
                    for key, g in report.groups.items()
                ],
            )
        else:
            lines.append("(no incidents)")

    lines += [
        "",
        "Durations run from started_at; a negative one counts as 0. Incidents closed",
        "as invalid or duplicate are left out.",
        "Median: the middle value (mean of the two middle ones for an even count).",
        "p90: nearest rank, the value at rank ceil(0.9 n) of the sorted durations.",
        "Breached: acknowledged after the response target, or unacknowledged past it;",
        "evaluated leaves out incidents still within their target.",
    ]
    return "\n".join(lines)


def _heading(report: MetricsReport) -> str:
    total = report.counts.total
    noun = "incident" if total == 1 else "incidents"
    window = ""
    if report.since is not None:
        window += f" since {_day(report.since)}"
    if report.until is not None:
        window += f" until {_day(report.until)}"
    return f"Incident metrics: {total} {noun}{window or ' (all time)'}"


def _day(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _fmt(seconds: float | None) -> str:
    return format_duration(seconds)


def _inline(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {n}" for key, n in counts.items()) or "—"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        # First column is a label (left-aligned); the rest are values, right-aligned
        # so units and digits line up.
        parts = [cells[0].ljust(widths[0])]
        parts += [cell.rjust(widths[i]) for i, cell in enumerate(cells) if i]
        return "  ".join(parts).rstrip()

    return [line(headers), *(line(row) for row in rows)]


#: Columns of ``crashbot metrics --csv``; durations in seconds, empty when unknown.
CSV_COLUMNS = (
    "group",
    "key",
    "incidents",
    *(
        f"{m}_{stat}"
        for m in ("mttd", "mtta", "mttm", "mttr")
        for stat in ("count", "mean_seconds", "median_seconds", "p90_seconds")
    ),
    "breached",
    "evaluated",
    "breach_rate",
    "cost",
    "currency",
)


def metrics_csv(report: MetricsReport) -> str:
    """The report as CSV: an ``all`` row, then one row per group.

    Breach columns are filled on the ``all`` row (totals) and on severity rows;
    so are ``cost`` and ``currency``, and only when an hourly rate is configured.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def row(
        group: str,
        key: str,
        durations: Durations,
        total: int,
        breach: tuple[int, int] | None,
        cost: float | None,
    ) -> list[Any]:
        cells: list[Any] = [group, key, total]
        for stats in (durations.mttd, durations.mtta, durations.mttm, durations.mttr):
            cells += [
                stats.count,
                *("" if v is None else f"{v:.3f}" for v in (stats.mean, stats.median, stats.p90)),
            ]
        if breach is None:
            cells += ["", "", ""]
        else:
            breached, evaluated = breach
            cells += [breached, evaluated, f"{breached / evaluated:.4f}" if evaluated else ""]
        if cost is None or report.cost is None:
            cells += ["", ""]
        else:
            cells += [f"{cost:.2f}", report.cost.currency]
        return cells

    totals = (
        sum(b.breached for b in report.breaches.values()),
        sum(b.evaluated for b in report.breaches.values()),
    )
    costs = report.cost.by_severity if report.cost is not None else {}
    total_cost = report.cost.total if report.cost is not None else None
    writer.writerow(row("all", "all", report.durations, report.counts.total, totals, total_cost))
    for key, g in report.groups.items():
        b = report.breaches.get(key) if report.by == "severity" else None
        writer.writerow(
            row(
                report.by or "",
                key,
                g.durations,
                g.counts.total,
                (b.breached, b.evaluated) if b is not None else None,
                costs.get(key) if report.by == "severity" else None,
            )
        )
    return out.getvalue()
