"""Admin API for scheduled maintenance: ``/api/maintenances`` (bearer tokens, scoped).

The same rules as :mod:`crashbot_status.admin`: each request is checked
against ``/api/openapi.json`` first, is one call on the service, and answers
after its commit; domain errors map to 404, 409 and 422.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, Response, jsonify, request

from crashbot_core.errors import InvalidInput
from crashbot_core.inputs import parse_instant
from crashbot_core.models import Maintenance, TokenScope
from crashbot_core.serialize import maintenance_dict
from crashbot_status.admin import (
    _changed,
    _field,
    actor,
    body,
    checked_query,
    crashbot,
    requires,
    rules,
)

bp = Blueprint("maintenance_admin", __name__, url_prefix="/api")


def _respond(m: Maintenance, status: int = 200) -> Response:
    resp = jsonify(maintenance_dict(m))
    resp.status_code = status
    return resp


def _key(text: str) -> str:
    """The id or ref as the document's pattern accepts it (422 otherwise); 404 is the store's."""
    if not rules().path_pattern("maintenance_id").search(text):
        prefix = crashbot().config.maintenance.ref_prefix
        raise InvalidInput(
            f"{text[:40]!r} is not a maintenance id; expected a number or a ref like {prefix}-3"
        )
    return text


def _instant(value: str | None) -> datetime | None:
    return parse_instant(value) if value is not None else None


@bp.post("/maintenances")
@requires(TokenScope.WRITE)
def schedule() -> Response:
    """Schedule a maintenance window."""
    data = body()
    m = crashbot().schedule_maintenance(
        _field(data, "title", str),
        starts_at=parse_instant(_field(data, "starts_at", str)),
        ends_at=parse_instant(_field(data, "ends_at", str)),
        components=_field(data, "components", list, []),
        message=_field(data, "message", str),
        auto=bool(_field(data, "auto", bool, True)),
        actor=actor(),
    )
    _changed()
    resp = _respond(m, 201)
    resp.headers["Location"] = f"/api/maintenances/{m.id}"
    return resp


@bp.get("/maintenances")
@requires(TokenScope.READ)
def listing() -> Response:
    """Every maintenance (cancelled ones too), newest window first; ``?status=`` narrows."""
    checked_query()
    found = crashbot().list_maintenances(statuses=request.args.getlist("status"), limit=None)
    return jsonify({"maintenances": [maintenance_dict(m) for m in found]})


@bp.get("/maintenances/<maintenance_id>")
@requires(TokenScope.READ)
def get(maintenance_id: str) -> Response:
    """One maintenance with its updates."""
    return _respond(crashbot().get_maintenance(_key(maintenance_id)))


@bp.patch("/maintenances/<maintenance_id>")
@requires(TokenScope.WRITE)
def update(maintenance_id: str) -> Response:
    """Post an update and/or change status, title, window or components."""
    data = body()
    comps = _field(data, "components", list)
    m = crashbot().update_maintenance(
        _key(maintenance_id),
        actor=actor(),
        message=_field(data, "message", str),
        status=_field(data, "status", str),
        title=_field(data, "title", str),
        starts_at=_instant(_field(data, "starts_at", str)),
        ends_at=_instant(_field(data, "ends_at", str)),
        components=comps,
    )
    _changed()
    return _respond(m)


@bp.post("/maintenances/<maintenance_id>/start")
@requires(TokenScope.WRITE)
def start(maintenance_id: str) -> Response:
    """Start a scheduled maintenance now."""
    return _move(maintenance_id, crashbot().start_maintenance)


@bp.post("/maintenances/<maintenance_id>/complete")
@requires(TokenScope.WRITE)
def complete(maintenance_id: str) -> Response:
    """Complete a maintenance in progress or verifying."""
    return _move(maintenance_id, crashbot().complete_maintenance)


@bp.post("/maintenances/<maintenance_id>/cancel")
@requires(TokenScope.WRITE)
def cancel(maintenance_id: str) -> Response:
    """Cancel a maintenance that has not started."""
    return _move(maintenance_id, crashbot().cancel_maintenance)


def _move(maintenance_id: str, service_call: Callable[..., Maintenance]) -> Response:
    """Start, complete or cancel: ``service_call`` with the body's optional ``message``."""
    data = body()
    m = service_call(_key(maintenance_id), actor=actor(), message=_field(data, "message", str))
    _changed()
    return _respond(m)
