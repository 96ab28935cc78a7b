"""Public routes: HTML pages, feeds, badge, ``/api/list`` and the Statuspage v2 API.

Every handler goes through :func:`public_response`, the one gate of what
the public gets and when: the body rendered from public data only, an ETag
that is a hash of that body, 304 on a matching ``If-None-Match`` without
rendering again while the store has not changed, and the last rendered body
(stale, with ``Age``) while the store cannot be read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter, ValidationError

from crashbot_core.durations import format_duration
from crashbot_core.errors import CrashbotError
from crashbot_core.models import MAX_ID, MaintenanceStatus
from crashbot_status import feeds, ical, listing, public, statuspage
from crashbot_status.cache import Entry, RenderCache, content_etag, etag_matches, public_headers
from crashbot_status.site import FEED_SIZE, Site

log = logging.getLogger("crashbot.status")

bp = Blueprint("public", __name__)


class BoundedInt(IntegerConverter):
    """Werkzeug's ``int``, refusing (so 404) numbers beyond any id or page a store holds.

    The stock converter calls ``int()`` on any run of digits: past 4,300 digits
    that raises ValueError (a 500), and past 64 bits the store cannot bind it.
    """

    def to_python(self, value: str) -> int:
        """The number, or ValidationError (no match, 404) when it is over :data:`MAX_ID`."""
        if len(value.lstrip("0")) > len(str(MAX_ID)) or int(value) > MAX_ID:
            raise ValidationError()
        return int(value)


# Registered before any route of this blueprint is added, so its rules use it.
bp.record_once(lambda state: state.app.url_map.converters.update(int=BoundedInt))

JSON = "application/json"
HTML = "text/html; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
SVG = "image/svg+xml"
ICS = "text/calendar; charset=utf-8"

#: Where a stale HTML page says how old it is (see templates/base.html).
STALE_MARKER = b"<!--crashbot:stale-notice-->"


class StoreUnavailable(CrashbotError):
    """The store cannot be read and no rendered copy of the page is kept."""

    code = "store_unavailable"
    http_status = 503


def _state() -> Any:
    return current_app.extensions["crashbot_status"]


def site() -> Site:
    """The public reader of this app."""
    return _state().site  # type: ignore[no-any-return]


def cache() -> RenderCache:
    """The render cache of this app."""
    return _state().cache  # type: ignore[no-any-return]


def dumps(data: Any) -> bytes:
    """Compact, stable JSON."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def public_response(
    render: Callable[[], tuple[bytes | str, str]], key: str | None = None
) -> Response:
    """Serve a public resource with ETag, Cache-Control and CORS; 304 without rendering.

    ``render`` reads the store (through :class:`Site`) and returns the body;
    it may ``abort(404)``. ``key`` names the rendered body in the cache; by
    default the path alone, so arbitrary query strings cannot fill the cache.

    When the store fails (unreachable, read-only, anything it raises), the
    body last rendered for ``key`` is served with an ``Age`` header and, on
    HTML pages, a notice saying as of when; a page never rendered in this
    process answers 503.
    """
    c = cache()
    # Same form as the fast path's lookup (PATH_INFO?QUERY_STRING, no query),
    # after the link base when links follow the request.
    key = _state().links.cache_prefix_environ(request.environ) + (key or f"{request.path}?")

    def _render() -> tuple[bytes, str]:
        body, mimetype = render()
        return (body.encode() if isinstance(body, str) else body), mimetype

    rule = request.url_rule.rule if request.url_rule is not None else request.path
    try:
        entry = c.get_or_render(key, c.validator(), _render, rule)
    except (HTTPException, CrashbotError):
        raise
    except Exception as exc:  # any store failure: serve what was last rendered
        log.warning("store unavailable for %s, serving stale: %s", request.path, exc)
        return _stale_response(c, key)
    return _respond(entry.etag, entry.body, entry.mimetype)


def _respond(etag: str, body: bytes, mimetype: str) -> Response:
    cfg = current_app.config
    if etag_matches(request.headers.get("If-None-Match", ""), etag):
        resp = Response(status=304)
    else:
        resp = Response(body, content_type=mimetype)
    for name, value in public_headers(
        etag, cfg["STATUS_MAX_AGE"], cfg["STATUS_STALE_WHILE_REVALIDATE"]
    ):
        resp.headers[name] = value
    return resp


def _stale_response(c: RenderCache, key: str) -> Response:
    stale = c.stale(key)
    if stale is None:
        raise StoreUnavailable(
            "the status store cannot be read right now and this page has not been "
            "rendered since the site started; retry in a moment"
        )
    entry, as_of = stale
    body, etag = _stale_body(entry, as_of)
    resp = _respond(etag, body, entry.mimetype)
    age = max(0, int((c.crashbot.now() - as_of).total_seconds()))
    resp.headers["Age"] = str(age)
    return resp


def _stale_body(entry: Entry, as_of: datetime) -> tuple[bytes, str]:
    """The entry's body as served stale: HTML pages say as of when; the rest is unchanged."""
    if STALE_MARKER not in entry.body:
        return entry.body, entry.etag
    notice = (
        '<p class="stale-notice" role="status">Live updates are unavailable right now. '
        f'Last updated <time datetime="{as_of.astimezone(UTC).isoformat()}">'
        f"{escape(fmt_time(as_of))}</time>.</p>"
    )
    body = entry.body.replace(STALE_MARKER, notice.encode(), 1)
    return body, content_etag(body, cache().salt)


def _html(template: str, **context: Any) -> tuple[str, str]:
    s = site()
    general = s.crashbot.config.general
    return (
        render_template(
            template,
            page_name=general.name,
            impacts=public.impact_labels(s.policy),
            label=public.label,
            fmt_time=fmt_time,
            duration=format_duration,
            **context,
        ),
        HTML,
    )


def fmt_time(value: datetime | None) -> str:
    """``Mar 02, 09:00 UTC``."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%b %d, %Y %H:%M UTC")


# ---------------------------------------------------------------------------- HTML


@bp.get("/")
def index() -> Response:
    """The status page."""

    def render() -> tuple[str, str]:
        ov = site().overview()
        groups = public.group_components(ov.components)
        # An incident still open is listed under the day it started too: "No
        # incidents reported" for today, above an outage that began this
        # morning, read as a contradiction.
        days = public.incidents_by_day([*ov.open, *ov.recent], now=ov.now, days=7)
        names = {c.key: c.component.display for c in ov.components}
        return _html("index.html", ov=ov, groups=groups, days=days, names=names)

    return public_response(render)


@bp.get("/incidents/<int:incident_id>")
def incident(incident_id: int) -> Response:
    """One public incident with its public timeline; 404 for missing or private ones."""

    def render() -> tuple[str, str]:
        s = site()
        found = s.incident(incident_id) if incident_id < 2**63 else None
        if found is None:
            abort(404, description=f"no public incident {incident_id}")
        comps = {c.key: c for c in s.components([found.incident])}
        return _html("incident.html", p=found, components=comps)

    return public_response(render)


@bp.get("/maintenance/<int:maintenance_id>")
def maintenance(maintenance_id: int) -> Response:
    """One maintenance with its updates (a cancelled one too); 404 when there is none."""

    def render() -> tuple[str, str]:
        s = site()
        found = s.maintenance(maintenance_id)
        if found is None:
            abort(404, description=f"no maintenance {maintenance_id}")
        comps = {c.key: c for c in s.components([], [found])}
        return _html("maintenance.html", m=found, components=comps)

    return public_response(render)


@bp.get("/maintenance.ics")
def maintenance_calendar() -> Response:
    """Upcoming and running maintenance windows as an iCalendar feed (RFC 5545)."""

    def render() -> tuple[str, str]:
        s = site()
        items = s.current_maintenances()
        now = s.now()
        items += [m for m in s.maintenances(MaintenanceStatus.CANCELLED) if m.scheduled_until > now]
        names = {c.key: c.display for c in s.components([], items)}
        return ical.calendar(s.page([], items), items, names), ICS

    return public_response(render)


@bp.get("/history")
@bp.get("/history/page/<int:page>")
def history(page: int | None = None) -> Response:
    """Every public incident, newest first, paginated (``/history/page/N`` or ``?page=N``)."""
    number = page if page is not None else request.args.get("page", 1, type=int)
    # ``?page=`` bypasses the route converter: bound it the same way (a page past
    # MAX_ID would overflow the store's OFFSET).
    if number is None or number < 1 or number > MAX_ID:
        abort(404, description="no such page")

    def render() -> tuple[str, str]:
        items, pages = site().history(number)
        if number > pages:
            abort(404, description=f"there are {pages} pages of history")
        return _html("history.html", items=items, number=number, pages=pages)

    return public_response(render, key="/history?" if number == 1 else f"/history/page/{number}?")


# ---------------------------------------------------------------------------- feeds, badge


def _feed(kind: str) -> Response:
    def render() -> tuple[str, str]:
        s = site()
        items = s.latest()
        planned = s.maintenances()
        page = s.page(items, planned)
        if kind == "atom":
            return feeds.atom(page, items, planned), ATOM
        return feeds.rss(page, items, planned), RSS

    return public_response(render)


@bp.get("/feed.atom")
@bp.get("/history.atom")
@bp.get("/api/v2/history.atom")
def feed_atom() -> Response:
    """Atom feed of public incidents."""
    return _feed("atom")


@bp.get("/feed.rss")
@bp.get("/history.rss")
@bp.get("/api/v2/history.rss")
def feed_rss() -> Response:
    """RSS feed of public incidents."""
    return _feed("rss")


@bp.get("/badge.svg")
def badge() -> Response:
    """A shields-style badge with the current overall status."""

    def render() -> tuple[str, str]:
        s = site()
        active = s.maintenances(MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING)
        return feeds.badge(public.overall_status(s.open_incidents(), s.policy, active)), SVG

    return public_response(render)


# ---------------------------------------------------------------------------- JSON


@bp.get("/api/list")
def api_list() -> Response:
    """Public incidents as ``{"open": [...], "closed": [...]}``."""

    def render() -> tuple[bytes, str]:
        s = site()
        open_, closed = s.everything()
        base = s.base_url()

        def items(incidents: list[public.PublicIncident]) -> bytes:
            # Byte for byte dumps(listing.listing(...)), each incident encoded
            # once per version (Site.encoded) rather than on every render.
            return b",".join(
                s.encoded(
                    f"list {base}",  # links follow the request without a public URL
                    p,
                    lambda p=p: dumps(listing.incident_public_dict(p, s.policy, base)),  # type: ignore[misc]
                )
                for p in incidents
            )

        return b'{"open":[' + items(open_) + b'],"closed":[' + items(closed) + b"]}", JSON

    return public_response(render)


def _v2(build: Callable[[Site], dict[str, Any]]) -> Response:
    return public_response(lambda: (dumps(build(site())), JSON))


def _summary(s: Site) -> dict[str, Any]:
    ov = s.overview(past_days=1)
    return statuspage.summary(
        ov.page, ov.overall, ov.components, ov.open, s.policy, ov.maintenances
    )


@bp.get("/api/v2/summary.json")
def v2_summary() -> Response:
    """Statuspage ``summary.json``."""
    return _v2(_summary)


@bp.get("/api/v2/status.json")
def v2_status() -> Response:
    """Statuspage ``status.json``."""

    def build(s: Site) -> dict[str, Any]:
        ov = s.overview(past_days=1)
        return statuspage.status_doc(ov.page, ov.overall)

    return _v2(build)


@bp.get("/api/v2/components.json")
def v2_components() -> Response:
    """Statuspage ``components.json``."""

    def build(s: Site) -> dict[str, Any]:
        ov = s.overview(past_days=1)
        return statuspage.components_doc(ov.page, ov.components)

    return _v2(build)


@bp.get("/api/v2/incidents.json")
def v2_incidents() -> Response:
    """Statuspage ``incidents.json``: the 50 newest public incidents."""

    def build(s: Site) -> dict[str, Any]:
        ov = s.overview(past_days=1)
        return statuspage.incidents_doc(ov.page, s.latest(), s.policy, ov.components)

    return _v2(build)


@bp.get("/api/v2/incidents/unresolved.json")
def v2_unresolved() -> Response:
    """Statuspage ``incidents/unresolved.json``."""

    def build(s: Site) -> dict[str, Any]:
        ov = s.overview(past_days=1)
        return statuspage.incidents_doc(ov.page, ov.open, s.policy, ov.components)

    return _v2(build)


def _maintenances_doc(*statuses: MaintenanceStatus) -> Response:
    def build(s: Site) -> dict[str, Any]:
        ov = s.overview(past_days=1)
        if statuses:  # upcoming and active: soonest first, as Statuspage lists them
            items = [m for m in ov.maintenances if m.status in statuses]
        else:
            items = list(ov.listed[:FEED_SIZE])
        return statuspage.maintenances_doc(ov.page, items, ov.components)

    return _v2(build)


@bp.get("/api/v2/scheduled-maintenances.json")
def v2_maintenances() -> Response:
    """Statuspage ``scheduled-maintenances.json``: the 50 newest (any listed status)."""
    return _maintenances_doc()


@bp.get("/api/v2/scheduled-maintenances/upcoming.json")
def v2_maintenances_upcoming() -> Response:
    """Statuspage ``scheduled-maintenances/upcoming.json``: still scheduled."""
    return _maintenances_doc(MaintenanceStatus.SCHEDULED)


@bp.get("/api/v2/scheduled-maintenances/active.json")
def v2_maintenances_active() -> Response:
    """Statuspage ``scheduled-maintenances/active.json``: in progress or verifying."""
    return _maintenances_doc(MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING)


#: Public paths with no parameter, written by ``crashbot status export``.
STATIC_PATHS = (
    "/",
    "/history",
    "/feed.atom",
    "/feed.rss",
    "/badge.svg",
    "/api/list",
    "/api/v2/summary.json",
    "/api/v2/status.json",
    "/api/v2/components.json",
    "/api/v2/incidents.json",
    "/api/v2/incidents/unresolved.json",
    "/api/v2/scheduled-maintenances.json",
    "/api/v2/scheduled-maintenances/upcoming.json",
    "/api/v2/scheduled-maintenances/active.json",
    "/api/v2/history.atom",
    "/api/v2/history.rss",
    "/maintenance.ics",
)


def static_paths(ids: list[int], pages: int, maintenance_ids: Sequence[int] = ()) -> list[str]:
    """Every public URL path, for the static export."""
    return (
        list(STATIC_PATHS)
        + [f"/incidents/{i}" for i in ids]
        + [f"/history/page/{n}" for n in range(2, pages + 1)]
        + [f"/maintenance/{i}" for i in maintenance_ids]
    )
