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

This module runs exports (:func:`export_postmortem`, :func:`postmortem_text`,
:func:`auto_export_on_resolve`) and holds ``[postmortem]``'s settings. The
document and its assembly live in :mod:`crashbot_core.postmortem_assembly`,
what an exporter implements and renders with in
:mod:`crashbot_core.postmortem_exporters`; every name of both is importable
from here too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from attrs import define, field

from crashbot_core.errors import InvalidInput
from crashbot_core.models import Actor, Event, EventKind, Incident, Status
from crashbot_core.postmortem_assembly import (
    SECTION_MARKERS,
    ComponentImpact,
    Postmortem,
    RoleHolder,
    TimelineEntry,
    assemble,
    build_postmortem,
    describe_event,
)
from crashbot_core.postmortem_exporters import (
    ExportContext,
    ExporterNotConfigured,
    ExportError,
    RichExporter,
    TextExporter,
    md_block,
    md_inline,
    md_url,
    render,
    template_environment,
    utc,
)
from crashbot_core.severity import Postmortem as PostmortemRule

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot

log = logging.getLogger("crashbot.postmortem")

__all__ = [
    "SECTION_MARKERS",
    "ComponentImpact",
    "ExportContext",
    "ExportError",
    "ExporterNotConfigured",
    "Postmortem",
    "PostmortemSettings",
    "RichExporter",
    "RoleHolder",
    "TextExporter",
    "TimelineEntry",
    "assemble",
    "auto_export_on_resolve",
    "build_postmortem",
    "describe_event",
    "export_postmortem",
    "md_block",
    "md_inline",
    "md_url",
    "postmortem_text",
    "render",
    "template_environment",
    "utc",
]


# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------


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
# Exporting
# ---------------------------------------------------------------------------


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
