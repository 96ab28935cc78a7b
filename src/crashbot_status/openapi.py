"""The OpenAPI 3.1 description of the JSON API (served at ``/api/openapi.json``)."""

from __future__ import annotations

from typing import Any

_ERR = {"$ref": "#/components/responses/Error"}
_STR_OR_NULL = {"type": ["string", "null"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _health_schema(status: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"const": status},
            "store": {
                "type": "object",
                "properties": {
                    "readable": {"type": "boolean"},
                    "writable": {"type": "boolean"},
                    "change_token": {"type": ["string", "null"]},
                    "error": {"type": ["string", "null"]},
                },
            },
            "render_cache": {"type": "object"},
        },
    }


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


_ID_PARAM = {
    "name": "incident_id",
    "in": "path",
    "required": True,
    "description": "Incident id (`42`) or ref (`INC-42`).",
    "schema": {"type": "string", "pattern": "^(?:[A-Za-z]+-|#)?[0-9]{1,9}$"},
}

_COMPONENTS_IN = {
    "oneOf": [
        {"type": "array", "items": {"type": "string", "minLength": 1}},
        {
            "type": "object",
            "additionalProperties": {
                "type": ["string", "null"],
                "enum": [
                    "degraded_performance",
                    "partial_outage",
                    "major_outage",
                    "under_maintenance",
                    None,
                ],
            },
        },
    ]
}

_INCIDENT = {
    "type": "object",
    "required": ["id", "ref", "title", "severity", "status", "public", "components", "version"],
    "properties": {
        "id": {"type": "integer"},
        "ref": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "severity": {"type": "string"},
        "status": {"enum": ["investigating", "identified", "monitoring", "resolved"]},
        "public": {"type": "boolean"},
        "components": {"type": "object", "additionalProperties": {"type": "string"}},
        "declared_at": {"type": "string", "format": "date-time"},
        "started_at": {"type": "string", "format": "date-time"},
        "acknowledged_at": _TIME,
        "mitigated_at": _TIME,
        "resolved_at": _TIME,
        "rca_url": _STR_OR_NULL,
        "version": {"type": "integer"},
        "timeline": {"type": "array", "items": {"type": "object"}},
        "follow_ups": {"type": "array", "items": {"type": "object"}},
    },
}

_PUBLIC_INCIDENT = {
    "type": "object",
    "required": [
        "id",
        "ref",
        "title",
        "description",
        "severity",
        "status",
        "components",
        "reported_at",
        "started_at",
        "resolved_at",
        "rca_url",
        "updates",
    ],
    "properties": {
        "id": {"type": "integer"},
        "ref": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "severity": {"type": "string"},
        "severity_label": {"type": "string"},
        "impact": {"enum": ["none", "minor", "major", "critical"]},
        "status": {"enum": ["investigating", "identified", "monitoring", "resolved"]},
        "components": {"type": "object", "additionalProperties": {"type": "string"}},
        "reported_at": {"type": "string", "format": "date-time"},
        "started_at": {"type": "string", "format": "date-time"},
        "resolved_at": _TIME,
        "updated_at": {"type": "string", "format": "date-time"},
        "rca_url": _STR_OR_NULL,
        "url": {"type": "string"},
        "updates": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "at", "status", "body"],
                "properties": {
                    "id": {"type": "integer"},
                    "at": {"type": "string", "format": "date-time"},
                    "status": {"type": "string"},
                    "body": {"type": "string"},
                },
            },
        },
    },
}

_SP_PAGE = {
    "type": "object",
    "required": ["id", "name", "url", "time_zone", "updated_at"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "url": {"type": "string"},
        "time_zone": {"type": "string"},
        "updated_at": {"type": "string"},
    },
}
_SP_STATUS = {
    "type": "object",
    "required": ["indicator", "description"],
    "properties": {
        "indicator": {"enum": ["none", "minor", "major", "critical", "maintenance"]},
        "description": {"type": "string"},
    },
}
_SP_COMPONENT = {
    "type": "object",
    "required": ["id", "name", "status", "position", "group", "group_id", "page_id"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "status": {
            "enum": [
                "operational",
                "degraded_performance",
                "partial_outage",
                "major_outage",
                "under_maintenance",
            ]
        },
        "position": {"type": "integer"},
        "group": {"type": "boolean"},
        "group_id": _STR_OR_NULL,
        "page_id": {"type": "string"},
    },
}
_SP_INCIDENT = {
    "type": "object",
    "required": [
        "id",
        "name",
        "status",
        "impact",
        "created_at",
        "started_at",
        "shortlink",
        "incident_updates",
        "components",
    ],
    "properties": {
        "id": {"type": "string"},
        "status": {"enum": ["investigating", "identified", "monitoring", "resolved", "postmortem"]},
        "impact": {"enum": ["none", "minor", "major", "critical"]},
        "incident_updates": {"type": "array", "items": {"type": "object"}},
        "components": {"type": "array", "items": _SP_COMPONENT},
    },
}


def _public_get(summary: str, schema: dict[str, Any], tag: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "tags": [tag],
            "security": [],
            "responses": {"200": _json(schema, "OK"), "304": {"description": "Not modified"}},
        }
    }


def _sp_doc(extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["page", *extra],
        "properties": {"page": _SP_PAGE, **extra},
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    incident_ok = _json(_INCIDENT, "The incident, its timeline and follow-ups")
    write_errors = {"401": _ERR, "403": _ERR, "404": _ERR, "409": _ERR, "413": _ERR, "422": _ERR}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "crashbot",
            "version": "0.1.0",
            "description": "Public status JSON (crashbot's own and Statuspage v2-compatible) "
            "and the admin API. Admin routes need `Authorization: Bearer TOKEN`.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": _json(
                    {
                        "type": "object",
                        "required": ["error", "reason"],
                        "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
                    },
                    "An error with a machine code and a reason",
                )
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/incidents": {
                "post": {
                    "summary": "Declare an incident",
                    "tags": ["admin"],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["title"],
                            "additionalProperties": False,
                            "properties": {
                                "title": {"type": "string", "minLength": 1, "maxLength": 200},
                                "severity": {"type": "string"},
                                "description": {"type": "string"},
                                "public": {"type": "boolean"},
                                "components": _COMPONENTS_IN,
                                "labels": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                                "started_at": {"type": "string", "format": "date-time"},
                            },
                        }
                    ),
                    "responses": {"201": incident_ok, **write_errors},
                }
            },
            "/api/incidents/{incident_id}": {
                "parameters": [_ID_PARAM],
                "get": {
                    "summary": "One incident with its full timeline",
                    "tags": ["admin"],
                    "responses": {
                        "200": incident_ok,
                        "401": _ERR,
                        "403": _ERR,
                        "404": _ERR,
                        "422": _ERR,
                    },
                },
                "patch": {
                    "summary": "Change status, severity or components",
                    "tags": ["admin"],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "minProperties": 1,
                            "properties": {
                                "status": {
                                    "enum": [
                                        "investigating",
                                        "identified",
                                        "monitoring",
                                        "resolved",
                                    ]
                                },
                                "severity": {"type": "string"},
                                "components": _COMPONENTS_IN,
                            },
                        }
                    ),
                    "responses": {"200": incident_ok, **write_errors},
                },
            },
            "/api/incidents/{incident_id}/updates": {
                "parameters": [_ID_PARAM],
                "post": {
                    "summary": "Post an update (public or internal), optionally changing status",
                    "tags": ["admin"],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "message": {"type": "string"},
                                "status": {
                                    "enum": [
                                        "investigating",
                                        "identified",
                                        "monitoring",
                                        "resolved",
                                    ]
                                },
                                "severity": {"type": "string"},
                                "public": {"type": "boolean"},
                            },
                        }
                    ),
                    "responses": {"201": incident_ok, **write_errors},
                },
            },
            "/api/incidents/{incident_id}/resolve": {
                "parameters": [_ID_PARAM],
                "post": {
                    "summary": "Resolve the incident",
                    "tags": ["admin"],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "message": {"type": "string"},
                                "public": {"type": "boolean"},
                            },
                        },
                        required=False,
                    ),
                    "responses": {"200": incident_ok, **write_errors},
                },
            },
            "/api/incidents/{incident_id}/rca": {
                "parameters": [_ID_PARAM],
                "post": {
                    "summary": "Link the RCA of a resolved incident",
                    "tags": ["admin"],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["url"],
                            "additionalProperties": False,
                            "properties": {"url": {"type": "string", "format": "uri"}},
                        }
                    ),
                    "responses": {"200": incident_ok, **write_errors},
                },
            },
            "/api/metrics": {
                "get": {
                    "summary": "MTTA, MTTM, MTTR and counts",
                    "tags": ["admin"],
                    "parameters": [
                        {
                            "name": "since",
                            "in": "query",
                            "schema": {"type": "string", "pattern": "^[0-9]{1,4}[mhdw]$"},
                            "description": "Look-back window, e.g. `90d`.",
                        },
                        {
                            "name": "by",
                            "in": "query",
                            "schema": {"enum": ["severity", "month", "component"]},
                        },
                    ],
                    "responses": {
                        "200": _json({"type": "object"}, "The metrics report"),
                        "401": _ERR,
                        "403": _ERR,
                        "422": _ERR,
                    },
                }
            },
            "/api/list": _public_get(
                "Public incidents",
                {
                    "type": "object",
                    "required": ["open", "closed"],
                    "properties": {
                        "open": {"type": "array", "items": _PUBLIC_INCIDENT},
                        "closed": {"type": "array", "items": _PUBLIC_INCIDENT},
                    },
                },
                "public",
            ),
            "/api/v2/summary.json": _public_get(
                "Statuspage summary",
                _sp_doc(
                    {
                        "components": {"type": "array", "items": _SP_COMPONENT},
                        "incidents": {"type": "array", "items": _SP_INCIDENT},
                        "scheduled_maintenances": {"type": "array"},
                        "status": _SP_STATUS,
                    }
                ),
                "statuspage",
            ),
            "/api/v2/status.json": _public_get(
                "Statuspage status", _sp_doc({"status": _SP_STATUS}), "statuspage"
            ),
            "/api/v2/components.json": _public_get(
                "Statuspage components",
                _sp_doc({"components": {"type": "array", "items": _SP_COMPONENT}}),
                "statuspage",
            ),
            "/api/v2/incidents.json": _public_get(
                "Statuspage incidents (50 newest)",
                _sp_doc({"incidents": {"type": "array", "items": _SP_INCIDENT}}),
                "statuspage",
            ),
            "/api/v2/incidents/unresolved.json": _public_get(
                "Statuspage unresolved incidents",
                _sp_doc({"incidents": {"type": "array", "items": _SP_INCIDENT}}),
                "statuspage",
            ),
            "/api/v2/scheduled-maintenances.json": _public_get(
                "Statuspage scheduled maintenances (none)",
                _sp_doc({"scheduled_maintenances": {"type": "array", "maxItems": 0}}),
                "statuspage",
            ),
            "/api/v2/scheduled-maintenances/upcoming.json": _public_get(
                "Statuspage upcoming maintenances (none)",
                _sp_doc({"scheduled_maintenances": {"type": "array", "maxItems": 0}}),
                "statuspage",
            ),
            "/api/v2/scheduled-maintenances/active.json": _public_get(
                "Statuspage active maintenances (none)",
                _sp_doc({"scheduled_maintenances": {"type": "array", "maxItems": 0}}),
                "statuspage",
            ),
            "/health": {
                "get": {
                    "summary": "Health: the store can be read and written",
                    "description": (
                        "Public: only `ok` or `failing`. With a read token, also the store's "
                        "details (readable, writable, change token, error) and the render cache."
                    ),
                    "tags": ["operations"],
                    "security": [{}, {"bearer": []}],
                    "responses": {
                        "200": _json(_health_schema("ok"), "Healthy"),
                        "401": {"$ref": "#/components/responses/Error"},
                        "503": _json(
                            _health_schema("failing"), "The store cannot be read or written"
                        ),
                    },
                }
            },
        },
    }
