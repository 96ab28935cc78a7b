"""The Confluence exporter: storage-format XHTML through Confluence Cloud's REST API (v1 content).

Create: ``POST /wiki/rest/api/content``; update: ``PUT /wiki/rest/api/content/{id}``
with the current version number + 1. The page id is remembered in the
incident's refs (``confluence.page_id``); without it (or when that page was
deleted) the page is looked up by title in the space, so re-exporting updates
the page instead of failing on a duplicate title.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import httpx
from attrs import define
from markupsafe import Markup, escape

from crashbot_core.config import env_field, load_config
from crashbot_core.errors import InvalidInput
from crashbot_core.models import Event, FollowUp, Incident
from crashbot_core.postmortem import (
    ExportContext,
    ExporterNotConfigured,
    ExportError,
    Postmortem,
    assemble,
    render,
    template_environment,
)
from crashbot_core.severity import DEFAULT_POLICY

TEMPLATE = "postmortem.xhtml.j2"
#: Incident refs key holding the page id.
REF_PAGE_ID = "confluence.page_id"


@define
class ConfluenceSettings:
    """``[confluence]``: where postmortem pages go."""

    #: Site URL, e.g. ``https://example.atlassian.net`` (``/wiki`` is added when missing).
    url: str | None = env_field("CONFLUENCE_URL")
    #: Atlassian account e-mail for basic auth.
    user: str | None = env_field("CONFLUENCE_USER")
    api_token: str | None = env_field("CONFLUENCE_API_TOKEN")
    #: Space key the pages are created in.
    space: str = env_field("CONFLUENCE_SPACE", "")
    #: Id of the parent page; empty: top level of the space.
    parent_id: str = env_field("CONFLUENCE_PARENT_ID", "")
    #: Page title; ``{ref}``, ``{title}`` and ``{date}`` are filled in.
    title: str = "Postmortem: {ref} {title}"
    #: Folder with this exporter's own templates (overrides ``[postmortem] templates``).
    templates: str = ""
    #: Seconds to wait for Confluence.
    timeout: int = 20

    def missing(self) -> list[str]:
        """The settings that must still be set before exporting."""
        need = [
            ("CONFLUENCE_URL", self.url),
            ("CONFLUENCE_USER", self.user),
            ("CONFLUENCE_API_TOKEN", self.api_token),
            ("[confluence] space (or CONFLUENCE_SPACE)", self.space),
        ]
        return [name for name, value in need if not value]

    @property
    def api_base(self) -> str:
        """``https://site/wiki/rest/api``."""
        root = (self.url or "").rstrip("/")
        if not root.endswith("/wiki"):
            root += "/wiki"
        return root + "/rest/api"


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_safe(value: Any) -> Any:
    # Control characters are not allowed in XML at all; drop them from user text.
    # Markup is ours (already escaped and cleaned): keep it Markup.
    # Line ends become \n, as an XML parser would read them anyway.
    if isinstance(value, str) and not isinstance(value, Markup):
        return _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    return value


def _paragraphs(value: object) -> Markup:
    text = _CONTROL.sub("", str(value or "").replace("\r\n", "\n").replace("\r", "\n")).strip()
    parts = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return Markup("").join(
        Markup("<p>{}</p>").format(Markup("<br/>").join(escape(line) for line in p.splitlines()))
        for p in parts
    )


#: Colours of Confluence's status macro, by severity rank.
_COLOURS = ("Red", "Yellow", "Blue", "Grey")


def _colour(rank: int) -> str:
    return _COLOURS[min(rank, len(_COLOURS) - 1)]


def render_storage(postmortem: Postmortem, template_dirs: Sequence[str | Path] = ()) -> str:
    """The postmortem in Confluence storage format (XHTML with ``ac:`` macros); pure."""
    env = template_environment(
        "crashbot_confluence",
        override_dirs=template_dirs,
        autoescape=True,
        filters={"paragraphs": _paragraphs, "colour": _colour},
        finalize=_xml_safe,
    )
    return render(env, TEMPLATE, pm=postmortem, incident=postmortem.incident)


def page_title(settings: ConfluenceSettings, postmortem: Postmortem) -> str:
    """The page title from the ``title`` pattern (Confluence allows 255 characters)."""
    inc = postmortem.incident
    day = (inc.resolved_at or inc.started_at).date().isoformat()
    return settings.title.format(ref=inc.ref, title=inc.title, date=day)[:255]


def _reason(resp: httpx.Response) -> str:
    try:
        data = resp.json()
    except ValueError:
        return resp.reason_phrase
    if isinstance(data, dict):
        msg = data.get("message") or data.get("reason")
        if msg:
            return str(msg)
    return resp.reason_phrase


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def check(resp: httpx.Response, settings: ConfluenceSettings) -> dict[str, Any]:
    """The JSON body of a successful response; a clear :class:`ExportError` otherwise."""
    if resp.is_success:
        data: dict[str, Any] = resp.json()
        return data
    status = resp.status_code
    reason = _reason(resp)
    where = f"Confluence ({resp.request.method} {resp.request.url.path})"
    if status == 401:
        raise ExportError(
            f"{where} rejected the credentials (401): check CONFLUENCE_USER and CONFLUENCE_API_TOKEN"
        )
    if status == 403:
        raise ExportError(
            f"{where} refused (403): {settings.user} may not write in space {settings.space}: {reason}"
        )
    if status == 404:
        raise ExportError(
            f"{where} found nothing (404): {reason}; check the space key {settings.space!r}"
            + (f" and parent page {settings.parent_id}" if settings.parent_id else "")
        )
    if status == 409:
        raise ExportError(
            f"{where}: the page changed meanwhile (409): {reason}; export again", retryable=True
        )
    if status == 429:
        wait = _retry_after(resp)
        raise ExportError(
            f"{where} is rate limiting (429); try again"
            + (f" in {wait:g}s" if wait is not None else " later"),
            retryable=True,
            retry_after=wait,
        )
    if status >= 500:
        raise ExportError(
            f"{where} failed ({status} {reason}); try again later",
            retryable=True,
            retry_after=_retry_after(resp),
        )
    raise ExportError(f"{where} rejected the page ({status}): {reason}")


@attrs.define
class ConfluenceExporter:
    """Creates or updates one page per incident."""

    name: str = "confluence"

    def export_postmortem(self, postmortem: Postmortem, context: ExportContext) -> str:
        """Publish; remember the page id in the incident's refs; return the page URL."""
        if context.out is not None:
            raise InvalidInput("--out applies to file exporters such as markdown, not confluence")
        settings = context.section("confluence") or ConfluenceSettings()
        body = render_storage(postmortem, context.template_dirs(settings.templates))
        page = publish(settings, postmortem, body, postmortem.incident.refs.get(REF_PAGE_ID))
        page_id = str(page["id"])
        if postmortem.incident.refs.get(REF_PAGE_ID) != page_id:
            context.crashbot.set_refs(postmortem.incident.id, **{REF_PAGE_ID: page_id})
        return page_url(settings, page)

    def export(
        self, incident: Incident, timeline: Sequence[Event], follow_ups: Sequence[FollowUp]
    ) -> str:
        """The plain protocol: settings from the environment; the page is found by title."""
        settings = load_config(data={}, sections={"confluence": ConfluenceSettings}).section(
            "confluence"
        )
        pm = assemble(
            incident,
            timeline,
            follow_ups,
            policy=DEFAULT_POLICY,
            now=incident.last_update_at or incident.declared_at,
        )
        body = render_storage(pm, [settings.templates] if settings.templates else [])
        return page_url(settings, publish(settings, pm, body, incident.refs.get(REF_PAGE_ID)))


def page_url(settings: ConfluenceSettings, page: dict[str, Any]) -> str:
    """The page's web URL from the response's ``_links`` (``base`` + ``webui``)."""
    links = page.get("_links") or {}
    base = links.get("base") or settings.api_base.removesuffix("/rest/api")
    webui = links.get("webui") or f"/pages/viewpage.action?pageId={page['id']}"
    return str(base).rstrip("/") + str(webui)


def publish(
    settings: ConfluenceSettings, postmortem: Postmortem, body: str, page_id: str | None
) -> dict[str, Any]:
    """Create the page, or update it (version + 1) when it exists; returns Confluence's content JSON.

    :raises ExporterNotConfigured: when URL, user, token or space is missing.
    :raises ExportError: on any refusal or network failure.
    """
    missing = settings.missing()
    if missing:
        raise ExporterNotConfigured(
            "the confluence exporter is not configured: set " + ", ".join(missing)
        )
    title = page_title(settings, postmortem)
    assert settings.user is not None and settings.api_token is not None
    try:
        with httpx.Client(
            base_url=settings.api_base,
            auth=httpx.BasicAuth(settings.user, settings.api_token),
            headers={"Accept": "application/json", "User-Agent": "crashbot"},
            timeout=settings.timeout,
        ) as client:
            current = _find(client, settings, title, page_id)
            content: dict[str, Any] = {
                "type": "page",
                "title": title,
                "space": {"key": settings.space},
                "body": {"storage": {"value": body, "representation": "storage"}},
            }
            if settings.parent_id:
                content["ancestors"] = [{"id": settings.parent_id}]
            if current is None:
                return check(client.post("/content", json=content), settings)
            number = int((current.get("version") or {}).get("number") or 0)
            content["id"] = str(current["id"])
            content["version"] = {"number": number + 1, "message": f"re-exported {postmortem.ref}"}
            return check(client.put(f"/content/{current['id']}", json=content), settings)
    except httpx.TransportError as exc:
        raise ExportError(
            f"cannot reach Confluence at {settings.url}: {exc}; try again later", retryable=True
        ) from None


def _find(
    client: httpx.Client, settings: ConfluenceSettings, title: str, page_id: str | None
) -> dict[str, Any] | None:
    if page_id:
        resp = client.get(f"/content/{page_id}", params={"expand": "version"})
        if resp.status_code != 404:
            page = check(resp, settings)
            if page.get("status", "current") == "current":
                return page
    resp = client.get(
        "/content",
        params={"spaceKey": settings.space, "title": title, "type": "page", "expand": "version"},
    )
    results = check(resp, settings).get("results") or []
    return dict(results[0]) if results else None
