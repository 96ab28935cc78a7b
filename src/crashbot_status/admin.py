"""The admin API (bearer tokens, scoped): one request → one service call.

``Authorization: Bearer TOKEN``; tokens come from ``crashbot token create
NAME --scope read|write`` or ``CRASHBOT_API_TOKEN``. A missing or unknown
token is 401, a read token on a write route 403. Domain errors map through
their ``http_status`` and ``code``.

Every request is checked against ``/api/openapi.json`` (:class:`RequestRules`)
before anything reads it: the document is the single description of what the
API accepts. Text is then normalised by the core (:mod:`crashbot_core.lifecycle`)
and ids beyond what a store can hold are "not found" without a query.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

import attrs
from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from crashbot_core.durations import parse_since
from crashbot_core.errors import InvalidInput, NotFound, PermissionDenied
from crashbot_core.inputs import (
    MalformedJSON,
    load_json,
    parse_date_or_instant,
    parse_instant,
    read_at_most,
)
from crashbot_core.metrics import filter_criteria
from crashbot_core.models import MAX_ID, Actor, ApiToken, Status, TokenScope
from crashbot_core.serialize import event_dict, follow_up_dict, incident_dict
from crashbot_core.service import Crashbot
from crashbot_core.store import IncidentFilter, IncidentRecord
from crashbot_status.openapi import RequestRules, document

bp = Blueprint("admin", __name__, url_prefix="/api")

F = TypeVar("F", bound=Callable[..., Any])


class Unauthorized(PermissionDenied):
    """No token, or one crashbot does not know."""

    code = "unauthorized"
    http_status = 401


def crashbot() -> Crashbot:
    """The service this app serves."""
    return current_app.extensions["crashbot"]  # type: ignore[no-any-return]


def rules() -> RequestRules:
    """This app's request rules, compiled once from its OpenAPI document."""
    found: RequestRules | None = current_app.extensions.get("crashbot_request_rules")
    if found is None:
        found = RequestRules(document(crashbot()))
        current_app.extensions["crashbot_request_rules"] = found
    return found


def _operation() -> tuple[str, str]:
    """This request's OpenAPI path (``/api/incidents/{incident_id}``) and method."""
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule), request.method


def checked_query() -> None:
    """Refuse query parameters the document does not allow for this route (422)."""
    path, method = _operation()
    rules().check_query(path, method, request.args)


def incident_key(text: str) -> int:
    """The id in ``42``, ``#42`` or ``INC-42``, as the document's pattern accepts them.

    :raises InvalidInput: for text that is no id (422).
    :raises NotFound: for an id larger than any store issues, however many digits
        it has (404, without asking the store: PostgreSQL would refuse the number).
    """
    if not rules().path_pattern("incident_id").search(text):
        raise InvalidInput(
            f"{text[:40]!r} is not an incident id; expected a number or a ref like "
            f"{crashbot().config.ref_prefix}-42"
        )
    digits = re.search(r"[0-9]+$", text.rstrip("\n"))
    number = digits.group().lstrip("0") if digits else ""
    if len(number) > len(str(MAX_ID)) or int(number or "0") > MAX_ID:
        shown = number if len(number) <= 24 else number[:21] + "..."
        raise NotFound(f"no incident {crashbot().config.ref_prefix}-{shown}")
    return int(number or "0")


def requires(scope: TokenScope) -> Callable[[F], F]:
    """Require a bearer token granting ``scope`` (``write`` implies ``read``)."""

    def decorate(fn: F) -> F:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _, secret = header.partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                raise Unauthorized("an API token is required (Authorization: Bearer TOKEN)")
            bot = crashbot()
            try:
                token = bot.authenticate(secret.strip(), TokenScope.READ)
            except PermissionDenied as exc:
                raise Unauthorized(exc.message) from None
            # One token read per request: the scope is checked on what it returned.
            bot.check_scope(token, scope)
            g.api_token = token
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def actor() -> Actor:
    """The caller: the token's name on platform ``api``."""
    token: ApiToken = g.api_token
    return Actor(platform="api", id=token.name, name=token.name)


def _read_body() -> bytes:
    """The raw body; 413 past ``MAX_CONTENT_LENGTH`` even when it is chunked.

    Werkzeug refuses an announced ``Content-Length`` over the limit, but cuts a
    chunked body at the limit silently, which would turn a too-large body into
    a confusing "not JSON" 422. Reading one byte more tells the two apart.
    """
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is None or request.content_length is not None:
        return request.get_data(cache=True)
    request.max_content_length = limit + 1
    data = read_at_most(request.stream, limit + 1)
    if len(data) > limit:
        raise RequestEntityTooLarge()
    return data


def body() -> dict[str, Any]:
    """The JSON object body, checked against this operation's schema; 422 for anything else.

    An empty body is ``{}`` (the schema decides whether that is enough). The
    app's ``MAX_CONTENT_LENGTH`` bounds chunked bodies too (413).
    """
    raw = _read_body()
    if not raw:
        data: Any = {}
    else:
        try:
            data = load_json(raw)
        except MalformedJSON as exc:
            # The admin API's documented answer to a body that is no JSON object is 422.
            raise InvalidInput(f"the request body must be a JSON object: {exc.message}") from None
        if not isinstance(data, dict):
            raise InvalidInput("the request body must be a JSON object")
    path, method = _operation()
    rules().check_body(path, method, data)
    return data  # type: ignore[no-any-return]


_TYPE_NAMES = {str: "a string", bool: "true or false", dict: "an object", list: "a list"}


def _field(data: Mapping[str, Any], name: str, kind: type, default: Any = None) -> Any:
    value = data.get(name)
    if value is None:
        return default
    # bool is an int subclass; JSON true must not pass where a string is wanted and vice versa.
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise InvalidInput(f"{name!r} must be {_TYPE_NAMES.get(kind, kind.__name__)}")
    return value


def _components(value: Any) -> dict[str, str | None] | list[str] | None:
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, dict) and all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in value.items()
    ):
        return dict(value)
    raise InvalidInput(
        "'components' must be a list of keys or an object of key → impact "
        "(degraded_performance, partial_outage, major_outage, under_maintenance)"
    )


#: The times a request may set on an incident.
TIME_FIELDS = ("detected_at", "started_at", "acknowledged_at", "mitigated_at", "resolved_at")


def _times(data: Mapping[str, Any]) -> dict[str, datetime]:
    """The instants among :data:`TIME_FIELDS` that ``data`` gives."""
    out = {}
    for name in TIME_FIELDS:
        text = _field(data, name, str)
        if text is not None:
            out[name] = parse_instant(text)
    return out


def incident_response(incident_id: int | str, status: int = 200) -> Response:
    """The incident with its full timeline and follow-ups (admin view: internal data included)."""
    return record_response(crashbot().incident_record(incident_id), status)


def record_response(record: IncidentRecord, status: int = 200) -> Response:
    """An incident record as the admin API answers it."""
    resp = jsonify(record_data(record))
    resp.status_code = status
    return resp


def record_data(record: IncidentRecord) -> dict[str, Any]:
    """An incident record as plain data: the incident, its timeline and follow-ups."""
    data = incident_dict(record.incident)
    data["timeline"] = [event_dict(e) for e in record.events]
    data["follow_ups"] = [follow_up_dict(f) for f in record.follow_ups]
    return data


def _changed() -> None:
    current_app.extensions["crashbot_status"].cache.invalidate()


@bp.post("/incidents")
@requires(TokenScope.WRITE)
def create_incident() -> Response:
    """Declare an incident."""
    data = body()
    title = _field(data, "title", str)
    if title is None:
        raise InvalidInput("'title' is required")
    common: dict[str, Any] = {
        "actor": actor(),
        "severity": _field(data, "severity", str),
        "description": _field(data, "description", str, ""),
        "public": _field(data, "public", bool),
        "components": _components(data.get("components")),
        "new_components": bool(_field(data, "new_components", bool, False)),
        "labels": _field(data, "labels", dict, {}),
        "source": "api",
    }
    times = _times(data)
    if _field(data, "retrospective", bool, False):
        started_at, resolved_at = times.pop("started_at", None), times.pop("resolved_at", None)
        if started_at is None or resolved_at is None:
            raise InvalidInput("a retrospective incident needs 'started_at' and 'resolved_at'")
        inc = crashbot().declare_retrospective(
            title, started_at=started_at, resolved_at=resolved_at, **common, **times
        )
        _changed()
        return _created(incident_response(inc.id, 201), inc.id)
    if set(times) - {"started_at"}:
        raise InvalidInput(f"{sorted(set(times) - {'started_at'})[0]!r} needs retrospective")
    bot = crashbot()
    saved = bot.declare_saved(title, started_at=times.get("started_at"), **common)
    _changed()
    if not bot.outbox.defers():
        # Delivered inline: a plugin may have changed the incident meanwhile
        # (a chat channel's ref), so the answer reads it.
        return _created(incident_response(saved.incident.id, 201), saved.incident.id)
    # Nothing ran between the commit and now (servers leave deliveries to the
    # worker): the answer is what the commit wrote, without reading it back.
    record = IncidentRecord(saved.incident, list(saved.events), list(saved.follow_ups))
    return _created(record_response(record, 201), saved.incident.id)


def _created(resp: Response, incident_id: int) -> Response:
    resp.headers["Location"] = f"/api/incidents/{incident_id}"
    return resp


@bp.get("/incidents")
@requires(TokenScope.READ)
def list_incidents() -> Response:
    """Incidents newest first (by start, then id), private ones included; filters and a cursor.

    ``?status=`` (repeatable; ``open`` for any but resolved), ``severity=``
    (repeatable), ``since=`` (``7d``, a date or an instant), ``public=true|false``,
    ``label=key=value``, ``limit=`` (1-500, default 100), ``cursor=`` (the
    previous page's ``next_cursor``). The cursor names the last incident
    shown (its id), so a page never repeats or skips one because others were
    declared meanwhile; each page is one query.
    """
    checked_query()
    args = request.args
    bot = crashbot()
    statuses = args.getlist("status")
    criteria = filter_criteria(
        bot.policy, severities=args.getlist("severity"), label=args.get("label")
    )
    limit = int(args.get("limit", DEFAULT_PAGE))
    flt = IncidentFilter(
        open=True if "open" in statuses else None,
        statuses=tuple(Status(s) for s in statuses if s != "open"),
        severities=criteria.get("severities", ()),
        label=criteria.get("label"),
        since=_since(args.get("since"), bot),
        public=None if "public" not in args else args["public"] == "true",
        after=_cursor(args.get("cursor")),
        limit=limit + 1,
    )
    if flt.open and flt.statuses:
        # "open" or a status: any listed status, or any open one.
        flt = attrs.evolve(flt, open=None, statuses=(*flt.statuses, *OPEN_STATUSES))
    found = bot.list(flt)
    page = found[:limit]
    more = len(found) > limit
    return jsonify(
        {
            "incidents": [incident_dict(i) for i in page],
            "next_cursor": str(page[-1].id) if more else None,
        }
    )


#: Incidents per page of ``GET /api/incidents`` unless ``limit`` says otherwise.
DEFAULT_PAGE = 100
OPEN_STATUSES = tuple(s for s in Status if s.is_open)


def _cursor(text: str | None) -> int | None:
    # The cursor is the id of the page's last incident; one beyond any id names
    # no incident (an empty page), like an unknown one.
    if text is None:
        return None
    number = int(text)
    return number if number <= MAX_ID else 0


def _since(text: str | None, bot: Crashbot) -> datetime | None:
    if text is None:
        return None
    if text[-1:] in ("m", "h", "d", "w") and text[:1].isdigit():
        return bot.now() - parse_since(text)
    return parse_date_or_instant(text)


@bp.get("/incidents/<incident_id>")
@requires(TokenScope.READ)
def get_incident(incident_id: str) -> Response:
    """One incident, timeline and follow-ups."""
    return incident_response(incident_key(incident_id))


@bp.patch("/incidents/<incident_id>")
@requires(TokenScope.WRITE)
def patch_incident(incident_id: str) -> Response:
    """Change status, severity and/or components; correct title, description, times."""
    key = incident_key(incident_id)
    data = body()
    status = _field(data, "status", str)
    severity = _field(data, "severity", str)
    comps = data.get("components")
    title = _field(data, "title", str)
    description = _field(data, "description", str)
    removed = _field(data, "remove_components", list, [])
    times = _times(data)
    edits = title is not None or description is not None or removed or times
    if status is None and severity is None and comps is None and not edits:
        raise InvalidInput(
            "nothing to change: give status, severity, components or a correction "
            "(title, description, remove_components, a time)"
        )
    bot = crashbot()
    inc = bot.get(key)
    if edits:
        # Corrections first: they are the part most likely refused (times out of
        # order), and a refused request should change nothing.
        inc = bot.edit(
            inc.id,
            actor=actor(),
            title=title,
            description=description,
            remove_components=[str(k) for k in removed],
            **times,
        )
    if status is not None or severity is not None:
        inc = bot.update(inc.id, actor=actor(), status=status, severity=severity)
    if comps is not None:
        parsed = _components(comps)
        mapping: dict[str, Any] = (
            {k: bot.policy.get(inc.severity).impact for k in parsed}
            if isinstance(parsed, list)
            else {k: v or bot.policy.get(inc.severity).impact for k, v in (parsed or {}).items()}
        )
        inc = bot.set_components(
            inc.id,
            mapping,
            actor=actor(),
            new_components=bool(_field(data, "new_components", bool, False)),
        )
    _changed()
    return incident_response(inc.id)


@bp.post("/incidents/<incident_id>/updates")
@requires(TokenScope.WRITE)
def post_update(incident_id: str) -> Response:
    """Post an update: a message (public or internal) with an optional status/severity change."""
    key = incident_key(incident_id)
    data = body()
    inc = crashbot().update(
        key,
        actor=actor(),
        message=_field(data, "message", str),
        status=_field(data, "status", str),
        severity=_field(data, "severity", str),
        public=_field(data, "public", bool, False),
    )
    _changed()
    return incident_response(inc.id, 201)


@bp.post("/incidents/<incident_id>/resolve")
@requires(TokenScope.WRITE)
def resolve(incident_id: str) -> Response:
    """Resolve the incident."""
    key = incident_key(incident_id)
    data = body()
    inc = crashbot().resolve(
        key,
        actor=actor(),
        message=_field(data, "message", str),
        public=_field(data, "public", bool),
    )
    _changed()
    return incident_response(inc.id)


@bp.post("/incidents/<incident_id>/publish")
@requires(TokenScope.WRITE)
def publish(incident_id: str) -> Response:
    """Show the incident on the status page, with a first public update."""
    key = incident_key(incident_id)
    data = body()
    inc = crashbot().publish(key, actor=actor(), message=_field(data, "message", str))
    _changed()
    return incident_response(inc.id)


@bp.post("/incidents/<incident_id>/unpublish")
@requires(TokenScope.WRITE)
def unpublish(incident_id: str) -> Response:
    """Take the incident off every public output."""
    key = incident_key(incident_id)
    body()
    inc = crashbot().unpublish(key, actor=actor())
    _changed()
    return incident_response(inc.id)


@bp.post("/incidents/<incident_id>/close")
@requires(TokenScope.WRITE)
def close(incident_id: str) -> Response:
    """Close the incident as invalid, or as a duplicate merged into ``duplicate_of``."""
    key = incident_key(incident_id)
    data = body()
    resolution = _field(data, "resolution", str)
    if resolution is None:
        raise InvalidInput("'resolution' is required: invalid or duplicate")
    original = data.get("duplicate_of")
    # JSON Schema's integer includes 1.0; the document already bounds it.
    if isinstance(original, float) and original.is_integer():
        original = int(original)
    if original is not None and (not isinstance(original, int) or isinstance(original, bool)):
        raise InvalidInput("'duplicate_of' must be an incident id (a number)")
    inc = crashbot().close_incident(
        key,
        resolution,
        actor=actor(),
        message=_field(data, "message", str),
        duplicate_of=original,
    )
    _changed()
    return incident_response(inc.id)


@bp.post("/incidents/<incident_id>/rca")
@requires(TokenScope.WRITE)
def rca(incident_id: str) -> Response:
    """Link the RCA of a resolved incident."""
    key = incident_key(incident_id)
    data = body()
    url = _field(data, "url", str)
    if not url:
        raise InvalidInput("'url' is required")
    inc = crashbot().link_rca(key, url, actor=actor())
    _changed()
    return incident_response(inc.id)


@bp.get("/metrics")
@requires(TokenScope.READ)
def metrics() -> Response:
    """Incident metrics over a window, grouped and filtered like ``crashbot metrics``.

    ``?since=90d`` (default), ``until=ISO``, ``by=severity|month|component``,
    ``severity=`` (repeatable), ``component=``, ``label=key=value``, ``source=``.
    """
    checked_query()
    bot = crashbot()
    criteria = filter_criteria(
        bot.policy,
        severities=request.args.getlist("severity"),
        component=request.args.get("component") or None,
        label=request.args.get("label"),
        source=request.args.get("source") or None,
    )
    until_text = request.args.get("until")
    until = parse_date_or_instant(until_text) if until_text is not None else None
    since_text = request.args.get("since", "90d")
    by = request.args.get("by") or None
    if by not in (None, "severity", "month", "component"):
        raise InvalidInput(f"unknown grouping {by!r}; expected severity, month or component")
    try:
        since: timedelta = parse_since(since_text)
    except (ValueError, InvalidInput) as exc:
        raise InvalidInput(f"'since' {since_text!r}: {exc}") from None
    report = bot.metrics(since=since, until=until, by=by, **criteria)
    return jsonify(report.to_dict())
