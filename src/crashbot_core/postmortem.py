"""Postmortems: one document assembled from an incident's record, published by exporters.

:func:`build_postmortem` gathers the incident, its whole timeline (internal and
public), roles, components, alerts and follow-ups into a frozen
:class:`Postmortem`. :func:`export_postmortem` hands it to a named exporter
(a plugin offered through ``crashbot_postmortem_exporters``), records a
``postmortem_exported`` event and, when the incident is resolved and has no RCA
link yet, links where the postmortem was published.

The narrative sections come from the timeline: an update whose message starts
with ``Root cause:``, ``Impact:``, ``Went well:`` or ``Went wrong:`` (any case)
fills that section, so responders write the postmortem as they go and the
export is never a blank form. Missing sections are rendered as prompts.

Exporters render with Jinja2 (:func:`template_environment`): a team overrides a
template by dropping a file of the same name into ``[postmortem] templates`` (or
the exporter's own ``templates`` setting).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlparse

import jinja2
from attrs import define, field, frozen

from crashbot_core.cost import CostRates, IncidentCost, breakdown, engagements, format_money
from crashbot_core.durations import format_duration
from crashbot_core.errors import CrashbotError, InvalidInput
from crashbot_core.models import (
    Actor,
    Alert,
    Component,
    Event,
    EventKind,
    FollowUp,
    Impact,
    Incident,
    Status,
)
from crashbot_core.severity import Postmortem as PostmortemRule
from crashbot_core.severity import Severity, SeverityPolicy

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot

log = logging.getLogger("crashbot.postmortem")

__all__ = [
    "ComponentImpact",
    "ExportContext",
    "ExportError",
    "ExporterNotConfigured",
    "Postmortem",
    "PostmortemSettings",
    "RichExporter",
    "RoleHolder",
    "TimelineEntry",
    "assemble",
    "auto_export_on_resolve",
    "build_postmortem",
    "describe_event",
    "export_postmortem",
    "template_environment",
]


# ---------------------------------------------------------------------------
# Errors and settings
# ---------------------------------------------------------------------------


class ExportError(CrashbotError):
    """Publishing a postmortem failed (remote API refused or unreachable, file not writable).

    Nothing in the store changes when an export fails, so it can simply be run
    again. ``retryable`` says whether waiting helps (rate limit, 5xx, network).
    """

    code = "export_failed"
    http_status = 502

    def __init__(
        self, message: str, *, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class ExporterNotConfigured(ExportError):
    """The exporter was asked to publish but its settings are missing."""

    code = "exporter_not_configured"
    http_status = 409


@define
class PostmortemSettings:
    """``[postmortem]``: settings shared by every exporter (declared by the markdown plugin)."""

    #: Folder with a team's own templates; a file named like a built-in template replaces it.
    templates: str = ""
    #: Exporters run automatically when an incident is resolved (e.g. ``["markdown"]``); empty: off.
    export_on_resolve: list[str] = field(factory=list)
    #: Severity keys exported on resolve; empty: the levels whose postmortem is ``required``.
    levels: list[str] = field(factory=list)


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------


@frozen
class TimelineEntry:
    """One line of the postmortem timeline: an event in words."""

    at: datetime
    actor: Actor
    kind: EventKind
    #: What happened, in one line of plain text.
    text: str
    #: Shown on the status page too.
    public: bool


@frozen
class RoleHolder:
    """Who holds (or held last) an incident role."""

    key: str
    #: The role's display name (``Incident commander``).
    name: str
    actor: Actor


@frozen
class ComponentImpact:
    """An affected component and how badly."""

    component: Component
    impact: Impact

    @property
    def impact_label(self) -> str:
        """``major outage`` rather than ``major_outage``."""
        return self.impact.value.replace("_", " ")


@frozen
class Postmortem:
    """Everything an exporter needs, assembled from the store. Pure data."""

    incident: Incident
    severity: Severity
    #: The severity policy says a postmortem is required for this level.
    required: bool
    #: When the postmortem is due (resolve + ``rca_due_after``) for required levels.
    due_at: datetime | None
    generated_at: datetime
    summary: str
    root_cause: str
    impact: str
    what_went_well: tuple[str, ...]
    what_went_wrong: tuple[str, ...]
    #: Every event, internal and public, oldest first.
    events: tuple[Event, ...]
    timeline: tuple[TimelineEntry, ...]
    roles: tuple[RoleHolder, ...]
    #: Everyone who appears in the timeline, in order of first appearance.
    responders: tuple[Actor, ...]
    components: tuple[ComponentImpact, ...]
    alerts: tuple[Alert, ...]
    follow_ups: tuple[FollowUp, ...]
    #: The incident's page on the public status site, for public incidents.
    status_url: str | None = None
    #: Estimated cost, person by person; None when ``[cost]`` sets no rate.
    cost: IncidentCost | None = None

    @property
    def ref(self) -> str:
        """``INC-42``."""
        return self.incident.ref

    @property
    def title(self) -> str:
        """Document title: ``Postmortem: INC-42 Checkout down``."""
        return f"Postmortem: {self.incident.ref} {self.incident.title}"

    @property
    def time_to_detect(self) -> timedelta | None:
        """Started → detected (``detected_at``, else declared)."""
        return _since_start(self.incident, self.incident.detected)

    @property
    def time_to_acknowledge(self) -> timedelta | None:
        """Started → acknowledged."""
        return _since_start(self.incident, self.incident.acknowledged_at)

    @property
    def time_to_mitigate(self) -> timedelta | None:
        """Started → first time monitoring (or resolved)."""
        return _since_start(self.incident, self.incident.mitigated_at)

    @property
    def duration(self) -> timedelta | None:
        """Started → resolved; None while open."""
        return _since_start(self.incident, self.incident.resolved_at)

    @property
    def open_follow_ups(self) -> tuple[FollowUp, ...]:
        """Action items not done yet."""
        return tuple(f for f in self.follow_ups if not f.done)


def _since_start(incident: Incident, at: datetime | None) -> timedelta | None:
    return None if at is None else at - incident.started_at


#: Update messages starting with these fill a postmortem section.
SECTION_MARKERS: Mapping[str, str] = {
    "root cause": "root_cause",
    "impact": "impact",
    "went well": "what_went_well",
    "went wrong": "what_went_wrong",
}
_MARKER_RE = re.compile(
    r"^\s*(root[ -]?cause|impact|went well|went wrong)\s*:\s*(.*)\Z",
    re.IGNORECASE | re.DOTALL,
)


def _actor_from(data: Any) -> Actor | None:
    if isinstance(data, Mapping) and data.get("id"):
        return Actor(
            platform=str(data.get("platform", "")),
            id=str(data["id"]),
            name=str(data.get("name") or ""),
        )
    return None


def describe_event(event: Event, role_names: Mapping[str, str] | None = None) -> str:
    """One plain-text line saying what an event did (used by every exporter's timeline)."""
    d = event.data
    names = role_names or {}
    kind = event.kind
    if kind is EventKind.DECLARED:
        text = f"Declared at {d.get('severity', '?')}: {d.get('title', '')}"
        if d.get("description"):
            text += f" — {d['description']}"
        return text
    if kind is EventKind.ACKNOWLEDGED:
        return "Acknowledged" + (" (took the commander role)" if d.get("via") else "")
    if kind is EventKind.STATUS_CHANGED:
        return f"Status {d.get('from')} → {d.get('to')}"
    if kind is EventKind.SEVERITY_CHANGED:
        return f"Severity {d.get('from')} → {d.get('to')}"
    if kind is EventKind.UPDATE_POSTED:
        prefix = "Public update" if event.public else "Internal update"
        if d.get("previous_status"):
            prefix += f" (status {d['previous_status']} → {d.get('status')})"
        return f"{prefix}: {d.get('message', '')}"
    if kind in (EventKind.ROLE_ASSIGNED, EventKind.ROLE_UNASSIGNED):
        role = str(d.get("role", ""))
        who = _actor_from(d.get("user"))
        name = who.display if who else "?"
        by_self = who is not None and who.id == event.actor.id
        if kind is EventKind.ROLE_ASSIGNED:
            verb = "took" if by_self else "was given"
        else:
            verb = "left" if by_self else "was relieved of"
        return f"{name} {verb} the {names.get(role, role)} role"
    if kind is EventKind.COMPONENTS_CHANGED:
        to = d.get("to") or {}
        listed = ", ".join(f"{k} ({str(v).replace('_', ' ')})" for k, v in to.items())
        return f"Affected components: {listed or 'none'}"
    if kind is EventKind.RESOLVED:
        return "Resolved" + (f": {d['message']}" if d.get("message") else "")
    if kind is EventKind.REOPENED:
        return "Reopened" + (f": {d['message']}" if d.get("message") else "")
    if kind is EventKind.RCA_LINKED:
        return f"RCA linked: {d.get('url', '')}"
    if kind is EventKind.ALERT_ATTACHED:
        return f"Alert {d.get('status', '')} from {d.get('source', '?')}: {d.get('title', '')}"
    if kind is EventKind.FOLLOW_UP_ADDED:
        return f"Follow-up added: {d.get('title', '')}"
    if kind is EventKind.FOLLOW_UP_DONE:
        return f"Follow-up done: {d.get('title', '')}"
    if kind is EventKind.REMINDER_SENT:
        return f"Reminder sent ({d.get('reminder', '')})"
    if kind is EventKind.POSTMORTEM_EXPORTED:
        return f"Postmortem exported to {d.get('exporter', '?')}: {d.get('location', '')}"
    if kind is EventKind.CLOSED:
        said = f": {d['message']}" if d.get("message") else ""
        if d.get("resolution") == "duplicate":
            return f"Closed as a duplicate of {d.get('original_ref', '?')}{said}"
        return f"Closed as {d.get('resolution', '?')}{said}"
    if kind is EventKind.MERGED:
        return (
            f"{d.get('duplicate_ref', '?')} merged in as a duplicate "
            f"({d.get('alerts', 0)} alerts, {d.get('follow_ups', 0)} follow-ups)"
        )
    if kind is EventKind.RECORDED:
        return f"Recorded after the fact at {d.get('severity', '?')}: {d.get('title', '')}"
    if kind is EventKind.EDITED:
        return f"Corrected {d.get('field', '?')}: {_edited(d.get('from'))} → {_edited(d.get('to'))}"
    return kind.value.replace("_", " ")


def _edited(value: object) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} ({str(v).replace('_', ' ')})" for k, v in value.items()) or "none"
    return "none" if value in (None, "") else str(value)


def assemble(
    incident: Incident,
    events: Sequence[Event],
    follow_ups: Sequence[FollowUp],
    *,
    policy: SeverityPolicy,
    now: datetime,
    alerts: Sequence[Alert] = (),
    components: Sequence[Component] = (),
    role_names: Mapping[str, str] | None = None,
    rca_due_after: timedelta | None = None,
    base_url: str | None = None,
    rates: CostRates | None = None,
) -> Postmortem:
    """Build a :class:`Postmortem` from already loaded records (pure; no store access).

    :param components: known components, for display names (unknown keys show as the key).
    :param role_names: role key → display name.
    :param rca_due_after: how long after resolve the postmortem is due.
    :param base_url: the status site, for the public incident link.
    :param rates: hourly rates; with them the postmortem shows the estimated cost.
    """
    names = dict(role_names or {})
    ordered = tuple(sorted(events, key=lambda e: (e.at, e.id)))
    sections: dict[str, list[str]] = {v: [] for v in SECTION_MARKERS.values()}
    responders: dict[tuple[str, str], Actor] = {}
    last_message = ""
    for e in ordered:
        if e.actor.platform not in {"system", "alert"}:
            responders.setdefault((e.actor.platform, e.actor.id), e.actor)
        if e.kind in (EventKind.UPDATE_POSTED, EventKind.RESOLVED):
            message = str(e.data.get("message") or "")
            m = _MARKER_RE.match(message)
            if m:
                key = m.group(1).lower().replace("-", " ").replace("rootcause", "root cause")
                sections[SECTION_MARKERS[key]].append(m.group(2).strip())
            elif message and e.kind is EventKind.RESOLVED:
                last_message = message
    level = policy.get(incident.severity)
    required = level.postmortem is PostmortemRule.REQUIRED
    due_at = (
        incident.resolved_at + rca_due_after
        if required and incident.resolved_at and rca_due_after is not None
        else None
    )
    known = {c.key: c for c in components}
    comps = tuple(
        ComponentImpact(known.get(key) or Component(key=key, name=key), impact)
        for key, impact in sorted(incident.components.items(), key=lambda kv: -kv[1].rank)
    )
    roles = tuple(
        RoleHolder(key=key, name=names.get(key, key), actor=actor)
        for key, actor in incident.roles.items()
    )
    summary_parts = [p for p in (incident.description, last_message) if p]
    status_url = (
        f"{base_url.rstrip('/')}/incidents/{incident.id}" if base_url and incident.public else None
    )
    return Postmortem(
        incident=incident,
        severity=level,
        required=required,
        due_at=due_at,
        generated_at=now,
        summary="\n\n".join(summary_parts),
        root_cause="\n\n".join(sections["root_cause"]),
        impact="\n\n".join(sections["impact"]),
        what_went_well=tuple(sections["what_went_well"]),
        what_went_wrong=tuple(sections["what_went_wrong"]),
        events=ordered,
        timeline=tuple(
            TimelineEntry(
                at=e.at,
                actor=e.actor,
                kind=e.kind,
                text=describe_event(e, names),
                public=e.public,
            )
            for e in ordered
        ),
        roles=roles,
        responders=tuple(responders.values()),
        components=comps,
        alerts=tuple(alerts),
        follow_ups=tuple(sorted(follow_ups, key=lambda f: (f.created_at, f.id))),
        status_url=status_url,
        cost=None
        if rates is None
        else IncidentCost(rates.currency, breakdown(incident, engagements(ordered), rates, now)),
    )


def build_postmortem(crashbot: Crashbot, incident_id: int | str) -> Postmortem:
    """Assemble the postmortem of one incident from the store.

    :raises NotFound: when there is no such incident.
    """
    incident = crashbot.get(incident_id)
    return assemble(
        incident,
        crashbot.store.events(incident.id),
        crashbot.store.follow_ups(incident.id),
        policy=crashbot.policy,
        now=crashbot.now(),
        alerts=crashbot.store.alerts(incident.id),
        components=crashbot.components(),
        role_names={r.key: r.name for r in crashbot.roles.roles},
        rca_due_after=crashbot.config.rca_due_after,
        base_url=crashbot.config.public_url,
        rates=crashbot.config.cost,
    )


# ---------------------------------------------------------------------------
# Exporting
# ---------------------------------------------------------------------------


@frozen
class ExportContext:
    """What a rich exporter gets beside the postmortem: the service, who asked, options."""

    crashbot: Crashbot
    actor: Actor
    #: ``--out FILE``: where a file exporter writes instead of its configured folder.
    out: Path | None = None

    def section(self, name: str) -> Any:
        """A plugin's settings (``config.section``)."""
        return self.crashbot.config.section(name)

    def template_dirs(self, own: str = "") -> list[Path]:
        """Template override folders: the exporter's own setting first, then ``[postmortem] templates``."""
        dirs = [own] if own else []
        shared = self.section("postmortem")
        if shared is not None and shared.templates:
            dirs.append(shared.templates)
        base = self.crashbot.config.path.parent if self.crashbot.config.path else Path.cwd()
        return [base / d for d in dirs]


@runtime_checkable
class RichExporter(Protocol):
    """An exporter with the richer entry point :func:`export_postmortem` prefers.

    It still implements :class:`~crashbot_core.hookspecs.PostmortemExporter`'s
    ``export`` for callers that only have the three records.
    """

    name: str

    def export_postmortem(self, postmortem: Postmortem, context: ExportContext) -> str:
        """Publish and return where it lives (URL or file path). May save refs via the service."""
        ...


@runtime_checkable
class TextExporter(Protocol):
    """An exporter that can also hand back its document as text, without publishing it.

    ``crashbot postmortem ID`` (no ``--to``) prints the Markdown exporter's text.
    """

    name: str

    def render_text(self, postmortem: Postmortem, context: ExportContext) -> str:
        """The document this exporter would publish (pure: nothing written or recorded)."""
        ...


def postmortem_text(
    crashbot: Crashbot, incident_id: int | str, to: str = "markdown", *, actor: Actor | None = None
) -> str:
    """The postmortem as exporter ``to`` would write it, without publishing or recording it.

    :raises InvalidInput: no such exporter, or it cannot render text.
    """
    exporter = crashbot.postmortem_exporters().get(to)
    if not isinstance(exporter, TextExporter):
        raise InvalidInput(
            f"the {to} exporter is not installed or cannot print its document; "
            "name an exporter with --to"
        )
    pm = build_postmortem(crashbot, incident_id)
    return exporter.render_text(pm, ExportContext(crashbot, actor or Actor.system()))


def export_postmortem(
    crashbot: Crashbot,
    incident_id: int | str,
    to: str,
    *,
    actor: Actor | None = None,
    out: str | Path | None = None,
    trigger_event: int | None = None,
) -> str:
    """Publish an incident's postmortem with exporter ``to``; return where it lives.

    Records a ``postmortem_exported`` event and, when the incident is resolved
    and has no RCA link yet, links the published URL (http(s) locations only:
    a local file is not a link anyone else can open).

    :param out: file to write (file exporters only, e.g. markdown).
    :param trigger_event: the resolve event an automatic export answers (idempotency).
    :raises InvalidInput: unknown exporter, or ``out`` given to a remote exporter.
    :raises ExportError: the exporter failed; nothing was recorded.
    """
    who = actor or Actor.system()
    exporters = crashbot.postmortem_exporters()
    exporter = exporters.get(to)
    if exporter is None:
        available = ", ".join(sorted(exporters)) or "none installed"
        raise InvalidInput(f"unknown postmortem exporter {to!r}; available: {available}")
    pm = build_postmortem(crashbot, incident_id)
    out_path = Path(out) if out is not None else None
    if isinstance(exporter, RichExporter):
        location = exporter.export_postmortem(pm, ExportContext(crashbot, who, out_path))
    else:
        if out_path is not None:
            raise InvalidInput(f"--out does not apply to the {to} exporter")
        location = exporter.export(pm.incident, pm.events, pm.follow_ups)
    data: dict[str, Any] = {"exporter": to, "location": location}
    if trigger_event is not None:
        data["trigger_event"] = trigger_event
    incident = crashbot.record(pm.incident.id, EventKind.POSTMORTEM_EXPORTED, actor=who, **data)
    if (
        incident.status is Status.RESOLVED
        and incident.rca_url is None
        and urlparse(location).scheme in {"http", "https"}
    ):
        crashbot.link_rca(incident.id, location, actor=who)
    return location


def auto_export_on_resolve(crashbot: Crashbot, incident: Incident, event: Event) -> list[str]:
    """Run the ``[postmortem] export_on_resolve`` exporters for a ``resolved`` event.

    Meant to be called from a ``crashbot_incident_event`` implementation. It
    is idempotent: an exporter that already answered this resolve event (a
    ``postmortem_exported`` event with this ``trigger_event``) is skipped, so a
    retried delivery only redoes what failed. An incident reopened since is
    skipped. Errors propagate, so the delivery is retried by the worker.

    :returns: the locations exported to now.
    """
    if event.kind is not EventKind.RESOLVED:
        return []
    settings = crashbot.config.section("postmortem")
    if settings is None or not settings.export_on_resolve:
        return []
    if settings.levels:
        wanted = incident.severity in settings.levels
    else:
        wanted = crashbot.policy.get(incident.severity).postmortem is PostmortemRule.REQUIRED
    if not wanted:
        return []
    current = crashbot.get(incident.id)
    if current.status is not Status.RESOLVED:
        return []
    done = {
        e.data.get("exporter")
        for e in crashbot.store.events(incident.id)
        if e.kind is EventKind.POSTMORTEM_EXPORTED and e.data.get("trigger_event") == event.id
    }
    locations = []
    for name in settings.export_on_resolve:
        if name in done:
            continue
        locations.append(
            export_postmortem(
                crashbot, incident.id, name, actor=Actor.system(), trigger_event=event.id
            )
        )
    return locations


# ---------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------


def utc(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    """A datetime in UTC for documents (``2026-03-02 09:00 UTC``); ``—`` for None."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime(fmt)


# Characters that start Markdown syntax inline; ASCII punctuation may always be backslash-escaped.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&])")


# At the start of a line these would open a list, or turn into a thematic break.
_MD_LINE_START = re.compile(r"^(?:([-+=])|(\d{1,9})([.)]))")


def md_inline(value: object) -> str:
    """Escape text for inline Markdown: user text can't inject links, HTML, emphasis or lists.

    Whitespace (newlines included) collapses to single spaces, so the result is
    safe in a table cell, a list item or a heading.
    """
    text = " ".join(str(value if value is not None else "").split())
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_LINE_START.sub(
        lambda m: f"\\{m.group(1)}" if m.group(1) else f"{m.group(2)}\\{m.group(3)}", text
    )


def md_block(value: object) -> str:
    """Escape multi-line text for Markdown paragraphs (line breaks kept as paragraphs)."""
    paragraphs = re.split(r"\n\s*\n", str(value if value is not None else "").strip())
    return "\n\n".join(md_inline(p) for p in paragraphs if p.strip())


def md_url(value: object) -> str:
    """A URL as a Markdown autolink ``<…>``; characters that would end it are percent-encoded."""
    text = str(value or "")
    for ch, enc in (("<", "%3C"), (">", "%3E"), (" ", "%20"), ("\n", ""), ("\r", "")):
        text = text.replace(ch, enc)
    return f"<{text}>"


def template_environment(
    package: str,
    *,
    override_dirs: Sequence[str | Path] = (),
    autoescape: bool = False,
    filters: Mapping[str, Callable[..., Any]] | None = None,
    finalize: Callable[[Any], Any] | None = None,
) -> jinja2.Environment:
    """A Jinja2 environment: a team's folders first, then the plugin's ``templates/``.

    Filters available to every template: ``utc``, ``duration``, ``md`` (inline
    Markdown escape), ``md_block``, ``md_url`` (autolink), ``money`` (``amount |
    money(currency)``).

    :param package: the plugin package holding a ``templates`` folder.
    :param autoescape: True for XML/HTML output (Confluence storage format).
    :param finalize: applied to every ``{{ value }}`` before escaping (e.g. strip control characters).
    """
    loaders: list[jinja2.BaseLoader] = [
        jinja2.FileSystemLoader([str(d) for d in override_dirs if Path(d).is_dir()]),
        jinja2.PackageLoader(package, "templates"),
    ]
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=finalize,
    )
    env.filters.update(
        {
            "utc": utc,
            "duration": format_duration,
            "md": md_inline,
            "md_block": md_block,
            "md_url": md_url,
            "money": format_money,
        }
    )
    env.filters.update(filters or {})
    return env


def render(env: jinja2.Environment, name: str, **context: Any) -> str:
    """Render template ``name``; a broken (team) template becomes a clear :class:`ExportError`."""
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename or exc.name or name
        raise ExportError(f"template {where}, line {exc.lineno}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise ExportError(f"template {name}: {exc}") from None
