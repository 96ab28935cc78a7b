"""Read-only commands: list, show, metrics."""

from __future__ import annotations

from datetime import datetime, timedelta

import click

from crashbot_core import alertchat
from crashbot_core.cli.common import CliState, echo_json, json_option, pass_state, printable, table
from crashbot_core.cli.params import AGE, INCIDENT_ID, INSTANT, LABEL, STATUS
from crashbot_core.cost import IncidentCost
from crashbot_core.durations import format_duration
from crashbot_core.metrics import format_money
from crashbot_core.metrics_format import CSV_COLUMNS as CSV_COLUMNS  # importable here, as before
from crashbot_core.metrics_format import metrics_csv
from crashbot_core.models import Event, EventKind, Incident, Resolution, Status
from crashbot_core.serialize import event_dict, follow_up_dict, incident_dict
from crashbot_core.store import IncidentFilter


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


@click.command("list")
@click.option("--open", "only_open", is_flag=True, help="Only unresolved incidents.")
@click.option("--severity", "-s", multiple=True, help="Only these severities; repeatable.")
@click.option("--status", multiple=True, type=STATUS, help="Only these statuses.")
@click.option(
    "--since", type=AGE, metavar="AGE", help="Only incidents started within AGE (30d, 12h, 2w)."
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many.")
@click.option(
    "--all", "show_all", is_flag=True, help="Also incidents closed as invalid or duplicate."
)
@json_option
@pass_state
def list_(
    state: CliState,
    only_open: bool,
    severity: tuple[str, ...],
    status: tuple[str, ...],
    since: timedelta | None,
    limit: int | None,
    show_all: bool,
    as_json: bool,
) -> None:
    """List incidents, newest first (without those closed as invalid or duplicate unless --all)."""
    bot = state.crashbot()
    levels = tuple(bot.policy.parse(s).key for s in severity)
    start = bot.now() - since if since else None
    incidents = bot.list(
        IncidentFilter(
            open=True if only_open else None,
            severities=levels,
            statuses=tuple(Status(s) for s in status),
            since=start,
            counts=None if show_all else True,
            limit=limit,
        )
    )
    if as_json:
        echo_json([incident_dict(i) for i in incidents])
        return
    if not incidents:
        click.echo("no incidents")
        return
    now = bot.now()
    rows = [
        (
            i.ref,
            i.severity,
            _status(i),
            _short(i.title, 50),
            _when(i.started_at),
            format_duration((i.resolved_at or now) - i.started_at),
            i.commander.display if i.commander else "—",
            "public" if i.public else "private",
        )
        for i in incidents
    ]
    click.echo(
        table(
            rows,
            [
                "REF",
                "SEV",
                "STATUS",
                "TITLE",
                "STARTED (UTC)",
                "DURATION",
                "COMMANDER",
                "VISIBILITY",
            ],
        )
    )


def _status(i: Incident) -> str:
    """The status, or how it ended when not simply resolved (``invalid``, ``duplicate of INC-3``)."""
    if i.resolution is Resolution.INVALID:
        return "invalid"
    if i.resolution is Resolution.DUPLICATE:
        return f"duplicate of #{i.duplicate_of}"
    return i.status.value


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@click.command()
@click.argument("incident_id", metavar="ID", type=INCIDENT_ID)
@json_option
@pass_state
def show(state: CliState, incident_id: str, as_json: bool) -> None:
    """Show one incident with its timeline and follow-ups."""
    bot = state.crashbot()
    incident = bot.get(incident_id)
    events = bot.timeline(incident.id)
    follow_ups = bot.follow_ups(incident.id)
    alerts = bot.alert_summary(incident.id)
    estimate = bot.cost(incident.id)
    if as_json:
        data = incident_dict(incident)
        data["timeline"] = [event_dict(e) for e in events]
        data["follow_ups"] = [follow_up_dict(f) for f in follow_ups]
        if alerts.received:
            data["alerts"] = {
                "received": alerts.received,
                "distinct": alerts.distinct,
                "repeats": alerts.repeats,
                "last_at": alerts.last_at.isoformat() if alerts.last_at else None,
                "omitted": alerts.omitted,
            }
        data["cost"] = estimate.to_dict() if estimate is not None else None
        echo_json(data)
        return
    click.echo(_describe(incident, bot.policy.get(incident.severity).label))
    if alerts.received:
        click.echo(f"  alerts     {alertchat.summary_line(alerts)}")
    click.echo("\nTimeline (UTC):")
    for e in events:
        vis = "public  " if e.public else "internal"
        actor = printable(e.actor.display)
        text = printable(event_text(e))
        click.echo(f"  {_when(e.at)}  {vis}  {actor:<12}  {e.kind.value}  {text}".rstrip())
    if alerts.received and alerts.last_at is not None:
        # One line for every repeat, which adds no event of its own.
        line = f"last alert  {alerts.received} received, repeat count {alerts.repeats}"
        if alerts.omitted:
            line += f", {alerts.omitted} left out by the sender"
        click.echo(f"  {_when(alerts.last_at)}  internal  {'alerts':<12}  {line}")
    if follow_ups:
        click.echo("\nFollow-ups:")
        for f in follow_ups:
            mark = "x" if f.done else " "
            owner = f" @{printable(f.owner.display)}" if f.owner else ""
            due = f" due {f.due.isoformat()}" if f.due else ""
            click.echo(f"  [{mark}] #{f.id} {printable(f.title)}{owner}{due}")
    if estimate is not None:
        click.echo(_cost_text(estimate, open_=incident.is_open))


def _cost_text(estimate: IncidentCost, *, open_: bool) -> str:
    money = estimate.currency
    people = len(estimate.lines)
    lines = [
        f"\nEstimated cost{' so far' if open_ else ''}: {format_money(estimate.total, money)} "
        f"({people} {'person' if people == 1 else 'people'}, "
        f"{format_duration(estimate.person_seconds)} engaged)"
    ]
    for line in estimate.lines:
        who = printable(line.name) + (f" ({printable(line.role)})" if line.role else "")
        lines.append(
            f"  {who:<28}  {format_duration(line.seconds):>8}  "
            f"{format_money(line.rate, money)}/h  {format_money(line.cost, money)}"
        )
    return "\n".join(lines)


def event_text(event: Event) -> str:
    """One line about a timeline event, for ``crashbot show``."""
    data = event.data
    kind = event.kind
    if kind is EventKind.EDITED:
        return f"{data.get('field')}: {_value(data.get('from'))} → {_value(data.get('to'))}"
    if kind is EventKind.CLOSED:
        said = f": {data['message']}" if data.get("message") else ""
        if data.get("resolution") == Resolution.DUPLICATE.value:
            return f"duplicate of {data.get('original_ref')}{said}"
        return f"{data.get('resolution')}{said}"
    if kind is EventKind.MERGED:
        return (
            f"{data.get('duplicate_ref')} merged in ({data.get('alerts')} alerts, "
            f"{data.get('follow_ups')} follow-ups)"
        )
    if kind is EventKind.RECORDED:
        return "recorded after the fact, resolved " + str(data.get("resolved_at"))
    return _event_text(data)


def _value(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
    return "none" if value in (None, "") else str(value)


def _event_text(data: dict[str, object]) -> str:
    if data.get("message"):
        return str(data["message"])
    if "from" in data and "to" in data:
        return f"{data['from']} → {data['to']}"
    user = data.get("user")
    if "role" in data and isinstance(user, dict):
        return f"{data['role']}: {user.get('name') or user.get('id')}"
    if "url" in data:
        return str(data["url"])
    if "title" in data:
        omitted = data.get("omitted")
        more = f" (+{omitted} left out by the sender)" if omitted else ""
        return str(data["title"]) + more
    return ""


def _describe(i: Incident, label: str) -> str:
    p = printable
    lines = [
        f"{i.ref}  {p(i.title)}",
        f"  severity   {i.severity} ({label})",
        f"  status     {_status(i)}",
        f"  visibility {'public' if i.public else 'private'}",
        f"  started    {_when(i.started_at)}   detected {_when(i.detected)}   declared {_when(i.declared_at)}",
        f"  acked      {_when(i.acknowledged_at)}   mitigated {_when(i.mitigated_at)}   resolved {_when(i.resolved_at)}",
    ]
    if i.components:
        lines.append(
            "  components " + ", ".join(f"{p(k)} ({v.value})" for k, v in i.components.items())
        )
    if i.roles:
        lines.append(
            "  roles      " + ", ".join(f"{p(k)}: {p(a.display)}" for k, a in i.roles.items())
        )
    if i.labels:
        lines.append("  labels     " + ", ".join(f"{p(k)}={p(v)}" for k, v in i.labels.items()))
    if i.rca_url:
        lines.append(f"  rca        {p(i.rca_url)}")
    if i.description:
        lines.append("  " + p(i.description, multiline=True).replace("\n", "\n  "))
    return "\n".join(lines)


@click.command()
@click.option(
    "--since",
    type=AGE,
    default="90d",
    show_default=True,
    metavar="AGE",
    help="Window start, as a look-back (90d, 12w).",
)
@click.option(
    "--until", type=INSTANT, metavar="DATE", help="Window end (ISO date or time, exclusive)."
)
@click.option(
    "--by", type=click.Choice(["severity", "month", "component"]), help="Break down by group."
)
@click.option("--severity", "-s", multiple=True, help="Only these severities; repeatable.")
@click.option("--component", metavar="KEY", help="Only incidents affecting this component.")
@click.option("--label", type=LABEL, metavar="KEY=VALUE", help="Only incidents with this label.")
@click.option(
    "--source", metavar="SOURCE", help="Only incidents from this source (slack, alert:NAME …)."
)
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (one row overall, one per group).")
@pass_state
def metrics(
    state: CliState,
    since: timedelta,
    until: datetime | None,
    by: str | None,
    severity: tuple[str, ...],
    component: str | None,
    label: tuple[str, str] | None,
    source: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """MTTD, MTTA, MTTM, MTTR, counts, breaches and estimated cost over a window."""
    from crashbot_core.metrics import filter_criteria, format_report

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    bot = state.crashbot()
    criteria = filter_criteria(
        bot.policy,
        severities=severity,
        component=component,
        label="=".join(label) if label else None,
        source=source,
    )
    report = bot.metrics(
        since=since,
        until=until,
        by=by,
        **criteria,
    )
    if as_json:
        echo_json(report.to_dict())
    elif as_csv:
        click.echo(metrics_csv(report), nl=False)
    else:
        click.echo(format_report(report))


def register(group: click.Group) -> None:
    """Add these commands to the CLI."""
    for command in (list_, show, metrics):
        group.add_command(command)
