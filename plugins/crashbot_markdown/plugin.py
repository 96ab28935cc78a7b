"""Hook implementations of the markdown plugin (entry point ``markdown``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from crashbot_core.delivery import RetryAfter
from crashbot_core.hookspecs import PostmortemExporter, hookimpl, subscribed_when
from crashbot_core.postmortem import ExportError, PostmortemSettings, auto_export_on_resolve
from crashbot_markdown.exporter import MarkdownExporter, MarkdownSettings

if TYPE_CHECKING:
    from crashbot_core.models import Event, Incident
    from crashbot_core.service import Crashbot


@hookimpl
def crashbot_config_sections() -> dict[str, type[Any]]:
    """``[markdown]`` (this exporter) and ``[postmortem]`` (shared by every exporter)."""
    return {"markdown": MarkdownSettings, "postmortem": PostmortemSettings}


@hookimpl
def crashbot_postmortem_exporters() -> Sequence[PostmortemExporter]:
    """The ``markdown`` exporter."""
    return [MarkdownExporter()]


def _exports_on_resolve(crashbot: Crashbot) -> bool:
    settings = crashbot.config.section("postmortem")
    return bool(getattr(settings, "export_on_resolve", None))


@hookimpl
@subscribed_when(_exports_on_resolve)
def crashbot_incident_event(crashbot: Crashbot, incident: Incident, event: Event) -> None:
    """On ``resolved``, run ``[postmortem] export_on_resolve`` (off unless configured).

    A failed export raises, so the worker retries this delivery; exporters that
    already succeeded for this resolve are not run again.
    """
    try:
        auto_export_on_resolve(crashbot, incident, event)
    except ExportError as exc:
        if exc.retry_after is not None:
            raise RetryAfter(exc.retry_after, exc.message) from exc
        raise
