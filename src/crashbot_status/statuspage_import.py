"""``crashbot import statuspage URL_OR_FILE``: incidents from any Statuspage v2 page.

Reads ``incidents.json`` and ``components.json`` as Atlassian Statuspage
publishes them (``/api/v2/…``), from a page's URL, the URL of its
``incidents.json``, a saved file or a folder holding both files. Another
crashbot's status site serves the same shapes (:mod:`crashbot_status.statuspage`),
so one crashbot's public history moves into another with this command.

What a page publishes is all an import can know: incidents arrive public,
with their public updates; nothing private exists on the source to import.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from crashbot_core.cli import CliState, json_option, pass_state
from crashbot_core.errors import CrashbotError, InvalidInput
from crashbot_core.inputs import MAX_DEPTH, load_json
from crashbot_core.models import Component, Impact, Status
from crashbot_core.serialize import parse_iso
from crashbot_core.severity import SeverityPolicy
from crashbot_core.transfer import ImportedIncident, ImportedUpdate

#: Statuspage update statuses of incidents; maintenance statuses are skipped.
_STATUSES = {s.value: s for s in Status} | {"postmortem": Status.RESOLVED}
#: Impact of components an update lists without a status of their own.
_IMPACT_OF_INCIDENT = {
    "critical": Impact.MAJOR_OUTAGE,
    "major": Impact.PARTIAL_OUTAGE,
    "minor": Impact.DEGRADED_PERFORMANCE,
    "none": Impact.DEGRADED_PERFORMANCE,
}
_KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
#: Largest document read from a URL or file, in bytes.
MAX_DOCUMENT = 50 * 1024 * 1024


def _fetch(url: str) -> Any:
    import httpx

    try:
        with httpx.stream("GET", url, timeout=30.0, follow_redirects=True) as response:
            if response.status_code != 200:
                raise CrashbotError(f"{url}: HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT:
                    raise CrashbotError(f"{url}: larger than {MAX_DOCUMENT} bytes")
    except httpx.HTTPError as exc:
        raise CrashbotError(f"{url}: {exc}") from None
    return _parse(bytes(body), url)


def _parse(body: bytes, where: str) -> Any:
    try:
        return load_json(body, max_depth=MAX_DEPTH)
    except InvalidInput as exc:
        raise InvalidInput(f"{where} is not JSON: {exc.message}") from None


def _read(path: Path) -> Any:
    if path.stat().st_size > MAX_DOCUMENT:
        raise InvalidInput(f"{path}: larger than {MAX_DOCUMENT} bytes")
    return _parse(path.read_bytes(), str(path))


def load(source: str) -> tuple[Any, Any]:
    """The ``incidents.json`` and ``components.json`` documents behind ``source``.

    ``source`` is a page URL (``https://status.example.com``), the URL of its
    ``incidents.json``, a saved ``incidents.json`` (``components.json`` read
    from beside it when present) or a folder holding them.
    """
    if source.startswith(("http://", "https://")):
        if source.endswith(".json"):
            incidents_url = source
            components_url = source.rsplit("/", 1)[0] + "/components.json"
        else:
            base = source.rstrip("/") + "/api/v2"
            incidents_url, components_url = f"{base}/incidents.json", f"{base}/components.json"
        incidents = _fetch(incidents_url)
        try:
            components = _fetch(components_url)
        except CrashbotError:
            components = {}  # incidents carry their components too
        return incidents, components
    path = Path(source)
    if path.is_dir():
        path = path / "incidents.json"
    if not path.is_file():
        raise InvalidInput(f"{source}: no such file, folder or http(s) URL")
    beside = path.with_name("components.json")
    return _read(path), _read(beside) if beside.is_file() else {}


def _key(ident: str, name: str, taken: Mapping[str, str]) -> str:
    # Statuspage ids are opaque lowercase strings; crashbot's own ids are its keys.
    candidate = ident.strip().lower()
    if _KEY.match(candidate):
        return candidate
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64] or "component"
    return slug if slug not in taken.values() else f"{slug}-{len(taken)}"


def _objects(doc: Any, name: str) -> list[Mapping[str, Any]]:
    items = doc.get(name) if isinstance(doc, Mapping) else None
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


def components_of(
    incidents_doc: Any, components_doc: Any
) -> tuple[list[Component], dict[str, str]]:
    """The page's components (groups become their members' ``group``) and id → key."""
    listed = _objects(components_doc, "components")
    for inc in _objects(incidents_doc, "incidents"):
        listed.extend(_objects(inc, "components"))
    groups = {str(c.get("id")): str(c.get("name") or "") for c in listed if c.get("group")}
    keys: dict[str, str] = {}
    out: list[Component] = []
    for c in listed:
        ident = str(c.get("id") or "")
        if c.get("group") or not ident or ident in keys:
            continue
        name = str(c.get("name") or ident)
        keys[ident] = _key(ident, name, keys)
        out.append(
            Component(
                key=keys[ident],
                name=name,
                group=groups.get(str(c.get("group_id")), ""),
                description=str(c.get("description") or ""),
                position=len(out),
            )
        )
    return out, keys


def _time(value: Any, what: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return parse_iso(str(value))
    except ValueError:
        raise InvalidInput(f"{what}: {str(value)[:40]!r} is not an ISO 8601 time") from None


def incidents_of(
    incidents_doc: Any, keys: Mapping[str, str], policy: SeverityPolicy
) -> Iterator[ImportedIncident]:
    """The page's incidents (maintenances skipped), oldest first."""
    page = incidents_doc.get("page") if isinstance(incidents_doc, Mapping) else None
    page_id = str((page or {}).get("id") or (page or {}).get("url") or "page")
    levels = sorted(policy.levels, key=lambda lv: lv.rank)
    found = _objects(incidents_doc, "incidents")
    if not found and not isinstance(incidents_doc, Mapping):
        raise InvalidInput("not a Statuspage incidents.json: no incidents list")
    for inc in sorted(found, key=lambda i: str(i.get("created_at") or "")):
        ident = str(inc.get("id") or "")
        status = _STATUSES.get(str(inc.get("status")))
        if not ident or status is None:
            continue
        where = f"incident {ident}"
        created = _time(inc.get("created_at"), where)
        if created is None:
            raise InvalidInput(f"{where} has no created_at")
        impact = str(inc.get("impact") or "none")
        # The most severe level the page shows with this impact (the inverse of
        # what crashbot's own Statuspage JSON says), else the least severe level.
        same = [lv for lv in levels if lv.page_impact.value == impact]
        severity = (same[0] if same else levels[-1]).key
        components: dict[str, Impact] = {}
        for c in _objects(inc, "components"):
            key = keys.get(str(c.get("id")))
            if key:
                components[key] = _IMPACT_OF_INCIDENT.get(impact, Impact.DEGRADED_PERFORMANCE)
        updates: list[ImportedUpdate] = []
        for u in _objects(inc, "incident_updates"):
            u_status = _STATUSES.get(str(u.get("status")))
            at = _time(u.get("display_at") or u.get("created_at"), where)
            if u_status is None or at is None:
                continue
            updates.append(
                ImportedUpdate(
                    key=str(u.get("id") or at.isoformat()),
                    at=at,
                    status=u_status,
                    body=str(u.get("body") or ""),
                )
            )
            for a in _objects(u, "affected_components"):
                key = keys.get(str(a.get("code")))
                new = str(a.get("new_status") or "")
                if key and new and new != "operational":
                    try:
                        components[key] = Impact(new)
                    except ValueError:
                        continue
        yield ImportedIncident(
            key=f"statuspage:{page_id}:{ident}",
            title=str(inc.get("name") or f"Incident {ident}"),
            severity=severity,
            status=status,
            declared_at=created,
            started_at=_time(inc.get("started_at"), where) or created,
            mitigated_at=_time(inc.get("monitoring_at"), where),
            resolved_at=_time(inc.get("resolved_at"), where),
            components=components,
            updates=updates,
        )


@click.command("statuspage")
@click.argument("source", metavar="URL_OR_FILE")
@json_option
@pass_state
def import_statuspage(state: CliState, source: str, as_json: bool) -> None:
    """Import incidents, their updates and components from a Statuspage v2 page.

    URL_OR_FILE is a status page's URL (any Statuspage-hosted page, or another
    crashbot), the URL of its incidents.json, a saved incidents.json (with
    components.json beside it) or a folder holding both. Importing again
    adds only what is new.
    """
    from crashbot_core.cli.transfer import report

    incidents_doc, components_doc = load(source)
    bot = state.crashbot()
    components, keys = components_of(incidents_doc, components_doc)
    # Every incident is read before the first is written: bad data imports nothing.
    incidents = list(incidents_of(incidents_doc, keys, bot.policy))
    result = bot.import_incidents(incidents, source="statuspage", components=components)
    report(result, as_json)
