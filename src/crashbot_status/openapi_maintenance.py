"""The maintenance part of the OpenAPI document: admin routes and Statuspage shapes.

Merged into :func:`crashbot_status.openapi.document`; the admin API checks
requests against it like every other route.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crashbot_core.inputs import MAX_TEXT, MAX_TITLE, VISIBLE_PATTERN

_ERR = {"$ref": "#/components/responses/Error"}
_TIME = {"type": ["string", "null"], "format": "date-time"}
STATUSES = ["scheduled", "in_progress", "verifying", "completed", "cancelled"]
_MESSAGE = {"type": "string", "maxLength": MAX_TEXT, "pattern": VISIBLE_PATTERN}
_TITLE = {
    "type": "string",
    "maxLength": MAX_TITLE,
    "pattern": VISIBLE_PATTERN,
    "x-error": f"a title needs 1 to {MAX_TITLE} characters, something visible among them",
}

MAINTENANCE = {
    "type": "object",
    "required": [
        "id",
        "ref",
        "title",
        "status",
        "scheduled_for",
        "scheduled_until",
        "components",
        "auto",
        "updates",
        "version",
    ],
    "properties": {
        "id": {"type": "integer"},
        "ref": {"type": "string"},
        "title": {"type": "string"},
        "status": {"enum": STATUSES},
        "scheduled_for": {"type": "string", "format": "date-time"},
        "scheduled_until": {"type": "string", "format": "date-time"},
        "components": {"type": "array", "items": {"type": "string"}},
        "auto": {"type": "boolean"},
        "created_at": {"type": "string", "format": "date-time"},
        "created_by": {"type": ["object", "null"]},
        "started_at": _TIME,
        "completed_at": _TIME,
        "version": {"type": "integer"},
        "updates": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "at", "status", "body"],
                "properties": {
                    "id": {"type": "integer"},
                    "at": {"type": "string", "format": "date-time"},
                    "status": {"enum": STATUSES},
                    "body": {"type": "string"},
                    "actor": {"type": ["object", "null"]},
                },
            },
        },
    },
}

#: Statuspage's scheduled maintenance object (an incident with a window).
SP_MAINTENANCE = {
    "type": "object",
    "required": [
        "id",
        "name",
        "status",
        "impact",
        "created_at",
        "updated_at",
        "scheduled_for",
        "scheduled_until",
        "shortlink",
        "incident_updates",
        "components",
    ],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "status": {"enum": ["scheduled", "in_progress", "verifying", "completed"]},
        "impact": {"const": "maintenance"},
        "scheduled_for": {"type": "string"},
        "scheduled_until": {"type": "string"},
        "incident_updates": {"type": "array", "items": {"type": "object"}},
        "components": {"type": "array", "items": {"type": "object"}},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _components(known: Sequence[str]) -> dict[str, Any]:
    key: dict[str, Any] = {
        "type": "string",
        "pattern": r"^[a-z0-9][a-z0-9_.\-]{0,63}$",
        "x-error": "not a component key (lower-case letters, digits, '-', '_' or '.'; at most 64)",
    }
    if known:
        key = {
            **key,
            "enum": sorted(known),
            "x-error": "not a known component (known: " + ", ".join(sorted(known)) + ")",
        }
    return {"type": "array", "maxItems": 64, "items": key}


def _message_only(summary: str, description: str, ok: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "description": description,
            "tags": ["maintenance"],
            "requestBody": _body(
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"message": _MESSAGE},
                },
                required=False,
            ),
            "responses": {"200": ok, **_WRITE_ERRORS},
        }
    }


_WRITE_ERRORS = {"401": _ERR, "403": _ERR, "404": _ERR, "409": _ERR, "413": _ERR, "422": _ERR}


def maintenance_paths(prefix: str, known: Sequence[str], instant: dict[str, Any]) -> dict[str, Any]:
    """The ``/api/maintenances`` paths; ``prefix`` is ``[maintenance] ref_prefix``."""
    letters = "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in prefix)
    ident = {
        "name": "maintenance_id",
        "in": "path",
        "required": True,
        "description": f"Maintenance id (`3`) or ref (`{prefix}-3`).",
        "schema": {"type": "string", "pattern": rf"^(?:{letters}-|#)?[0-9]+$"},
    }
    ok = _json(MAINTENANCE, "The maintenance with its updates")
    return {
        "/api/maintenances": {
            "post": {
                "summary": "Schedule a maintenance",
                "description": "Its first public update is `message` (default "
                "[maintenance] scheduled_message). With `auto` (default) the worker "
                "starts it at `starts_at` and completes it at `ends_at`.",
                "tags": ["maintenance"],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["title", "starts_at", "ends_at"],
                        "additionalProperties": False,
                        "properties": {
                            "title": _TITLE,
                            "starts_at": instant,
                            "ends_at": instant,
                            "components": _components(known),
                            "message": _MESSAGE,
                            "auto": {"type": "boolean"},
                        },
                    }
                ),
                "responses": {"201": ok, **_WRITE_ERRORS},
            },
            "get": {
                "summary": "Maintenances, newest window first",
                "tags": ["maintenance"],
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"enum": STATUSES},
                        "x-repeatable": True,
                        "description": "Only this status; repeat for several.",
                    }
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["maintenances"],
                            "properties": {"maintenances": {"type": "array", "items": MAINTENANCE}},
                        },
                        "The maintenances",
                    ),
                    "401": _ERR,
                    "403": _ERR,
                    "422": _ERR,
                },
            },
        },
        "/api/maintenances/{maintenance_id}": {
            "parameters": [ident],
            "get": {
                "summary": "One maintenance with its updates",
                "tags": ["maintenance"],
                "responses": {"200": ok, "401": _ERR, "403": _ERR, "404": _ERR, "422": _ERR},
            },
            "patch": {
                "summary": "Post an update, change status, title, window or components",
                "description": "`status` may be `in_progress` (from scheduled or "
                "verifying) or `verifying` (from in progress); use start, complete "
                "and cancel for the rest. 409 once completed or cancelled.",
                "tags": ["maintenance"],
                "requestBody": _body(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "minProperties": 1,
                        "properties": {
                            "message": _MESSAGE,
                            "status": {"enum": ["in_progress", "verifying"]},
                            "title": _TITLE,
                            "starts_at": instant,
                            "ends_at": instant,
                            "components": _components(known),
                        },
                    }
                ),
                "responses": {"200": ok, **_WRITE_ERRORS},
            },
        },
        "/api/maintenances/{maintenance_id}/start": {
            "parameters": [ident],
            **_message_only(
                "Start a scheduled maintenance now",
                "Default message: [maintenance] start_message. 409 unless scheduled.",
                ok,
            ),
        },
        "/api/maintenances/{maintenance_id}/complete": {
            "parameters": [ident],
            **_message_only(
                "Complete a maintenance in progress or verifying",
                "Default message: [maintenance] complete_message. 409 otherwise.",
                ok,
            ),
        },
        "/api/maintenances/{maintenance_id}/cancel": {
            "parameters": [ident],
            **_message_only(
                "Cancel a maintenance that has not started",
                "Default message: [maintenance] cancel_message. 409 unless scheduled.",
                ok,
            ),
        },
    }
