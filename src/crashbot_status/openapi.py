"""The OpenAPI 3.1 description of the JSON API (served at ``/api/openapi.json``).

It is also the admin API's request validator: :class:`RequestRules` checks
bodies and query strings against the very schemas this document publishes,
so a request the document allows is one the API accepts (until the state of
the incident or the clock says otherwise: 404, 409), and one it forbids is
refused with 422. Severity and ref spellings come from the running policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import jsonschema  # type: ignore[import-untyped]
from jsonschema import Draft202012Validator, FormatChecker

from crashbot_core.errors import InvalidInput
from crashbot_core.inputs import (
    DATE_PATTERN,
    INSTANT_PATTERN,
    MAX_LABEL_KEY,
    MAX_LABEL_VALUE,
    MAX_LABELS,
    MAX_TEXT,
    MAX_TITLE,
    MAX_URL,
    URL_PATTERN,
    VISIBLE_PATTERN,
    is_date,
    is_instant,
)
from crashbot_core.models import MAX_ID
from crashbot_core.severity import DEFAULT_POLICY, SeverityPolicy
from crashbot_status.openapi_maintenance import SP_MAINTENANCE, maintenance_paths

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot

_ERR = {"$ref": "#/components/responses/Error"}
_STR_OR_NULL = {"type": ["string", "null"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_STATUSES = ["investigating", "identified", "monitoring", "resolved"]
_IMPACTS = ["degraded_performance", "partial_outage", "major_outage", "under_maintenance"]
#: A component key as :func:`crashbot_core.inputs.clean_components` accepts it.
_COMPONENT_KEY = {
    "type": "string",
    "pattern": r"^[a-z0-9][a-z0-9_.\-]{0,63}$",
    "x-error": "not a component key (lower-case letters, digits, '-', '_' or '.'; at most 64)",
}
_INSTANT = {
    "type": "string",
    "format": "date-time",
    "pattern": INSTANT_PATTERN,
    "description": "RFC 3339 with a zone, years 1900-2999, e.g. `2026-03-02T08:55:00Z`.",
    "x-error": "not an instant like 2026-03-02T08:55:00Z (RFC 3339 with a zone, years 1900-2999)",
}


_LABEL_PARAM = {
    "name": "label",
    "in": "query",
    "schema": {
        "type": "string",
        "maxLength": MAX_LABEL_KEY + MAX_LABEL_VALUE + 1,
        "pattern": r"^[^=\x00-\x1f\x7f]*[^\s=\x00-\x1f\x7f]"
        r"[^=\x00-\x1f\x7f]*=[^\x00-\x1f\x7f]*$",
        "x-error": "not KEY=VALUE (for example team=payments)",
    },
    "description": "Only incidents with this label, as `KEY=VALUE`.",
}
#: A look-back window: 1 to 9999 minutes, hours, days or weeks.
_WINDOW = {
    "type": "string",
    "pattern": "^[1-9][0-9]{0,3}[mhdw]$",
    "x-error": "not a look-back window like 90d (1 to 9999 followed by m, h, d or w)",
}
#: Most incidents on one page of ``GET /api/incidents``.
MAX_PAGE = 500


def _list_parameters(severity: dict[str, Any]) -> list[dict[str, Any]]:
    """The query parameters of ``GET /api/incidents``."""
    return [
        {
            "name": "status",
            "in": "query",
            "schema": {"enum": [*_STATUSES, "open"]},
            "x-repeatable": True,
            "description": "Only this status (`open`: any but resolved); repeat for several.",
        },
        {
            "name": "severity",
            "in": "query",
            "schema": severity,
            "x-repeatable": True,
            "description": "Only this severity; repeat for several.",
        },
        {
            "name": "since",
            "in": "query",
            "schema": {
                "anyOf": [
                    _WINDOW,
                    {"type": "string", "format": "date", "pattern": DATE_PATTERN},
                    _INSTANT,
                ],
                "x-error": "not a look-back window like 7d, a date like 2026-03-02 or an "
                "instant like 2026-03-02T08:55:00Z",
            },
            "description": "Only incidents that started at or after this: a window (`7d`), "
            "a date or an instant.",
        },
        {
            "name": "public",
            "in": "query",
            "schema": {"enum": ["true", "false"], "x-error": "not true or false"},
            "description": "Only public (`true`) or only private (`false`) incidents.",
        },
        _LABEL_PARAM,
        {
            "name": "limit",
            "in": "query",
            "schema": {
                "type": "string",
                "pattern": "^(?:[1-9][0-9]?|[1-4][0-9][0-9]|500)$",
                "x-error": f"not a page size from 1 to {MAX_PAGE}",
            },
            "description": f"Incidents per page, 1 to {MAX_PAGE} (default 100).",
        },
        {
            "name": "cursor",
            "in": "query",
            "schema": {
                "type": "string",
                "pattern": "^[0-9]{1,19}$",
                "x-error": "not a cursor this API issued (copy next_cursor as it is)",
            },
            "description": "`next_cursor` of the previous page (a cursor naming no "
            "incident gives an empty page).",
        },
    ]


def _incident_page() -> dict[str, Any]:
    """One page of ``GET /api/incidents``."""
    return {
        "type": "object",
        "required": ["incidents", "next_cursor"],
        "properties": {
            "incidents": {"type": "array", "items": _INCIDENT},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` for the next page; null on the last page.",
            },
        },
    }


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


def _any_case(text: str, separators: str = r"[\s_-]*") -> str:
    """``text`` as a regex matching it in any letter case, with ``separators`` between
    characters (by default the ones :meth:`SeverityPolicy.parse` ignores)."""
    parts = []
    for ch in text:
        up, low = ch.upper(), ch.lower()
        if up != low and len(up) == 1 and len(low) == 1 and up.lower() == low:
            parts.append(f"[{re.escape(low)}{re.escape(up)}]")
        else:
            parts.append(re.escape(ch))
    return separators.join(parts)


def severity_schema(policy: SeverityPolicy) -> dict[str, Any]:
    """A severity as the policy parses it: a key, priority, label or alias in any case
    (``SEV2``, ``sev-2``, ``P1``, ``high``) or the number in a level's key (``2``)."""
    names: list[str] = []
    for level in policy:
        for name in level.names:
            norm = re.sub(r"[\s_\-]+", "", name.strip().lower())
            if norm and norm not in names:
                names.append(norm)
        digits = re.sub(r"\D", "", level.key)
        if digits and digits not in names:
            names.append(digits)
    alternatives = "|".join(_any_case(n) for n in names)
    return {
        "type": "string",
        "maxLength": 64,
        "pattern": rf"^[\s_-]*(?:{alternatives})[\s_-]*$",
        "description": "One of "
        + ", ".join(f"`{lv.key}`/`{lv.priority}`/`{lv.label}`" for lv in policy)
        + " (any case; `-`, `_` and spaces ignored), or the number in a key (`2`).",
        # Said by the API when a value does not match (an extension: JSON Schema ignores it).
        "x-error": "unknown severity; expected one of "
        + ", ".join(f"{lv.key}/{lv.priority}/{lv.label.lower()}" for lv in policy),
    }


#: The times an incident records, in the order they must keep.
_TIME_FIELDS = ("detected_at", "started_at", "acknowledged_at", "mitigated_at", "resolved_at")
_TIME_ORDER = (
    "Times must keep the order started ≤ detected ≤ acknowledged ≤ mitigated ≤ resolved "
    "(a 422 naming the rule otherwise, the one rule about times this document cannot state) "
    "and none may be later than the server's clock (409)."
)


def _times(what: str) -> dict[str, Any]:
    """The time properties of a request, each an instant; ``what`` ends each description."""
    return {
        name: {**_INSTANT, "description": f"{name.replace('_', ' ')}: {what}"}
        for name in _TIME_FIELDS
    }


def id_param(prefix: str) -> dict[str, Any]:
    """The ``incident_id`` path parameter: ``42``, ``#42`` or ``INC-42`` (prefix in any case)."""
    return {
        "name": "incident_id",
        "in": "path",
        "required": True,
        "description": f"Incident id (`42`) or ref (`{prefix}-42`). An id no incident "
        "has (however long) is 404.",
        "schema": {"type": "string", "pattern": rf"^(?:{_any_case(prefix, '')}-|#)?[0-9]+$"},
    }


def _components_in(known: Sequence[str] = ()) -> dict[str, Any]:
    key: dict[str, Any] = _COMPONENT_KEY
    if known:
        key = {
            **_COMPONENT_KEY,
            "enum": sorted(known),
            "x-error": "not a known component (known: "
            + ", ".join(sorted(known))
            + "); send new_components: true to add one",
        }
    return {
        "description": "A list of component keys (each gets the severity's default impact) "
        "or an object of key to impact (null: the default impact).",
        "oneOf": [
            {"type": "array", "maxItems": 64, "items": key},
            {
                "type": "object",
                "maxProperties": 64,
                "propertyNames": key,
                "additionalProperties": {"enum": [*_IMPACTS, None]},
            },
        ],
    }


_NEW_COMPONENTS = {
    "type": "boolean",
    "description": "Add component keys that [components] in crashbot.toml does not list "
    "(refused otherwise, when it lists any).",
}


def _with_catalogue(schema: dict[str, Any], known: Sequence[str]) -> dict[str, Any]:
    """``schema`` whose ``components`` must be known keys unless ``new_components`` is true."""
    if not known:
        return schema
    return {
        **schema,
        "if": {"required": ["new_components"], "properties": {"new_components": {"const": True}}},
        "then": {},
        "else": {"properties": {"components": _components_in(known)}},
    }


_TITLE = {
    "type": "string",
    "maxLength": MAX_TITLE,
    "pattern": VISIBLE_PATTERN,
    "description": "Control characters are removed and whitespace collapsed; "
    "something visible must remain.",
    "x-error": f"a title needs 1 to {MAX_TITLE} characters, something visible among them",
}
_TEXT = {"type": "string", "maxLength": MAX_TEXT}
_MESSAGE = {**_TEXT, "pattern": VISIBLE_PATTERN}
_LABELS = {
    "type": "object",
    "maxProperties": MAX_LABELS,
    "propertyNames": {"maxLength": MAX_LABEL_KEY, "pattern": VISIBLE_PATTERN},
    "additionalProperties": {"type": "string", "maxLength": MAX_LABEL_VALUE},
}
_URL = {
    "type": "string",
    "maxLength": MAX_URL,
    "pattern": URL_PATTERN,
    "description": "An http(s) URL with an ASCII host name (international names in "
    "punycode; no IP literal in brackets).",
    "x-error": f"not an http(s) URL with a host name (at most {MAX_URL} characters)",
}

#: ``retrospective: true`` needs started_at and resolved_at; without it, only started_at.
#: What PATCH corrects through an edit (besides status, severity and components).
_EDITABLE = ("title", "description", "remove_components", *_TIME_FIELDS)

_RETROSPECTIVE_RULE = {
    "if": {"required": ["retrospective"], "properties": {"retrospective": {"const": True}}},
    "then": {"required": ["started_at", "resolved_at"]},
    "else": {"properties": {name: False for name in _TIME_FIELDS if name != "started_at"}},
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
        "detected_at": _TIME,
        "resolution": {"enum": ["resolved", "invalid", "duplicate", None]},
        "duplicate_of": {"type": ["integer", "null"]},
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


def document(crashbot: Crashbot | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document; severities and the ref prefix from ``crashbot``'s config
    (the built-in policy and ``INC`` without one)."""
    policy: SeverityPolicy = crashbot.policy if crashbot is not None else DEFAULT_POLICY
    prefix = crashbot.config.ref_prefix if crashbot is not None else "INC"
    mnt_prefix = crashbot.config.maintenance.ref_prefix if crashbot is not None else "MNT"
    severity = severity_schema(policy)
    ident = id_param(prefix)
    # With [components] configured, its keys are the catalogue.
    known = [c.key for c in crashbot.config.components] if crashbot is not None else []
    incident_ok = _json(_INCIDENT, "The incident, its timeline and follow-ups")
    write_errors = {
        "401": _ERR,
        "403": _ERR,
        "404": _ERR,
        "409": _ERR,
        "413": _ERR,
        "422": _ERR,
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "crashbot",
            "version": "0.1.0",
            "description": "Public status JSON (crashbot's own and Statuspage v2-compatible) "
            "and the admin API. Admin routes need `Authorization: Bearer TOKEN`. "
            "The admin API validates every request against this document: a request "
            "it forbids is 422; one it allows is refused only by state (404 no such "
            "incident, 409 not now) or by size (413).",
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
                        _with_catalogue(
                            {
                                "type": "object",
                                "required": ["title"],
                                "additionalProperties": False,
                                "properties": {
                                    "title": _TITLE,
                                    "severity": severity,
                                    "description": _TEXT,
                                    "public": {"type": "boolean"},
                                    "components": _components_in(),
                                    "new_components": _NEW_COMPONENTS,
                                    "labels": _LABELS,
                                    "retrospective": {
                                        "type": "boolean",
                                        "description": "Record a past incident, resolved: "
                                        "nobody is paged, no reminder is due. Needs "
                                        "started_at and resolved_at; only it takes the "
                                        "other times.",
                                    },
                                    **_times("for a retrospective incident. " + _TIME_ORDER),
                                    "started_at": {
                                        **_INSTANT,
                                        "description": "When impact began; not later than the "
                                        "server's clock (409). " + _INSTANT["description"],
                                    },
                                },
                                "allOf": [_RETROSPECTIVE_RULE],
                            },
                            known,
                        )
                    ),
                    "responses": {"201": incident_ok, **write_errors},
                },
                "get": {
                    "summary": "Incidents, newest first, private ones included",
                    "description": "Filtered and paginated with a cursor: each page is "
                    "newest first by start; pages stay stable while incidents are declared.",
                    "tags": ["admin"],
                    "parameters": _list_parameters(severity),
                    "responses": {
                        "200": _json(_incident_page(), "One page of incidents (no timelines)"),
                        "401": _ERR,
                        "403": _ERR,
                        "422": _ERR,
                    },
                },
            },
            "/api/incidents/{incident_id}": {
                "parameters": [ident],
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
                    "summary": "Change status, severity or components; correct the record",
                    "tags": ["admin"],
                    "requestBody": _body(
                        _with_catalogue(
                            {
                                "type": "object",
                                "additionalProperties": False,
                                "anyOf": [
                                    {"required": [name]}
                                    for name in (
                                        "status",
                                        "severity",
                                        "components",
                                        *_EDITABLE,
                                    )
                                ],
                                "description": "Give status, severity or components (set "
                                "as given), or correct the record: title, description, "
                                "remove_components, times. Each correction is an internal "
                                "`edited` event (who, old → new). " + _TIME_ORDER,
                                "properties": {
                                    "status": {"enum": _STATUSES},
                                    "severity": severity,
                                    "components": _components_in(),
                                    "new_components": _NEW_COMPONENTS,
                                    "title": _TITLE,
                                    "description": _TEXT,
                                    "remove_components": {
                                        "type": "array",
                                        "items": _COMPONENT_KEY,
                                        "minItems": 1,
                                        "maxItems": 64,
                                        "description": "Component keys to take off (409 for "
                                        "one the incident does not have).",
                                    },
                                    **_times(
                                        "corrected. resolved_at only on a resolved incident (409)."
                                    ),
                                },
                            },
                            known,
                        )
                    ),
                    "responses": {"200": incident_ok, **write_errors},
                },
            },
            "/api/incidents/{incident_id}/updates": {
                "parameters": [ident],
                "post": {
                    "summary": "Post an update (public or internal), optionally changing status",
                    "tags": ["admin"],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "description": "Give a message, a status or a severity (or more).",
                            "additionalProperties": False,
                            "anyOf": [
                                {"required": ["message"]},
                                {"required": ["status"]},
                                {"required": ["severity"]},
                            ],
                            "properties": {
                                "message": _MESSAGE,
                                "status": {"enum": _STATUSES},
                                "severity": severity,
                                "public": {"type": "boolean"},
                            },
                        }
                    ),
                    "responses": {"201": incident_ok, **write_errors},
                },
            },
            "/api/incidents/{incident_id}/resolve": {
                "parameters": [ident],
                "post": {
                    "summary": "Resolve the incident",
                    "tags": ["admin"],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "message": _TEXT,
                                "public": {"type": "boolean"},
                            },
                        },
                        required=False,
                    ),
                    "responses": {"200": incident_ok, **write_errors},
                },
            },
            "/api/incidents/{incident_id}/publish": {
                "parameters": [ident],
                "post": {
                    "summary": "Show the incident on the status page",
                    "description": "The message (default: [crashbot] publish_message) is its "
                    "first public update; internal updates stay internal. 409 when it is "
                    "public already.",
                    "tags": ["admin"],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {"message": _MESSAGE},
                        },
                        required=False,
                    ),
                    "responses": {"200": incident_ok, **write_errors},
                },
            },
            "/api/incidents/{incident_id}/unpublish": {
                "parameters": [ident],
                "post": {
                    "summary": "Take the incident off every public output",
                    "description": "A later promotion to a severity that is public by default "
                    "leaves it off. 409 when it is not public.",
                    "tags": ["admin"],
                    "requestBody": _body(
                        {"type": "object", "additionalProperties": False, "properties": {}},
                        required=False,
                    ),
                    "responses": {"200": incident_ok, **write_errors},
                },
            },
            "/api/incidents/{incident_id}/close": {
                "parameters": [ident],
                "post": {
                    "summary": "Close the incident as invalid or as a duplicate",
                    "description": "It is resolved with `resolution` set and left out of the "
                    "metrics, `/api/list` and the status page. A duplicate is merged into "
                    "`duplicate_of`: its alerts and follow-ups move there and both timelines "
                    "name the other. 409 when it is closed so already, or when the original "
                    "is itself invalid or a duplicate (duplicates do not chain); 404 for an "
                    "unknown original; 422 for a duplicate of itself.",
                    "tags": ["admin"],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["resolution"],
                            "additionalProperties": False,
                            "properties": {
                                "resolution": {"enum": ["invalid", "duplicate"]},
                                "message": _TEXT,
                                "duplicate_of": {
                                    "type": "integer",
                                    "minimum": 1,
                                    "maximum": MAX_ID,
                                    "description": "The original's id (for a duplicate).",
                                },
                            },
                            "if": {"properties": {"resolution": {"const": "duplicate"}}},
                            "then": {"required": ["duplicate_of"]},
                            "else": {"properties": {"duplicate_of": False}},
                        }
                    ),
                    "responses": {"200": incident_ok, **write_errors},
                },
            },
            "/api/incidents/{incident_id}/rca": {
                "parameters": [ident],
                "post": {
                    "summary": "Link the RCA of a resolved incident",
                    "tags": ["admin"],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["url"],
                            "additionalProperties": False,
                            "properties": {"url": _URL},
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
                            "schema": {
                                "type": "string",
                                "pattern": "^[1-9][0-9]{0,3}[mhdw]$",
                                "x-error": "not a look-back window like 90d "
                                "(1 to 9999 followed by m, h, d or w)",
                            },
                            "description": "Look-back window, e.g. `90d` (default): 1 to 9999 "
                            "minutes, hours, days or weeks.",
                        },
                        {
                            "name": "until",
                            "in": "query",
                            "schema": {
                                "anyOf": [
                                    {"type": "string", "format": "date", "pattern": DATE_PATTERN},
                                    _INSTANT,
                                ],
                                "x-error": "not a date or instant like 2026-03-02 or "
                                "2026-03-02T08:55:00Z (years 1900-2999)",
                            },
                            "description": "End of the window (default now): a date or instant.",
                        },
                        {
                            "name": "by",
                            "in": "query",
                            "schema": {"enum": ["severity", "month", "component"]},
                        },
                        {
                            # Repeatable (``?severity=SEV1&severity=SEV2``); described as one
                            # string because array query parameters serialize ambiguously.
                            "name": "severity",
                            "in": "query",
                            "schema": severity,
                            "x-repeatable": True,
                            "description": "Only this severity; repeat for several.",
                        },
                        {
                            "name": "component",
                            "in": "query",
                            "schema": _COMPONENT_KEY,
                            "description": "Only incidents affecting this component.",
                        },
                        _LABEL_PARAM,
                        {
                            "name": "source",
                            "in": "query",
                            "schema": {"type": "string", "pattern": r"^[^\x00-\x1f\x7f]{1,128}$"},
                            "description": "Only incidents from this source (`api`, "
                            "`alert:alertmanager`, ...).",
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
            **maintenance_paths(mnt_prefix, known, _INSTANT),
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
                        "scheduled_maintenances": {"type": "array", "items": SP_MAINTENANCE},
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
                "Statuspage scheduled maintenances (50 newest)",
                _sp_doc({"scheduled_maintenances": {"type": "array", "items": SP_MAINTENANCE}}),
                "statuspage",
            ),
            "/api/v2/scheduled-maintenances/upcoming.json": _public_get(
                "Statuspage upcoming maintenances (scheduled)",
                _sp_doc({"scheduled_maintenances": {"type": "array", "items": SP_MAINTENANCE}}),
                "statuspage",
            ),
            "/api/v2/scheduled-maintenances/active.json": _public_get(
                "Statuspage active maintenances (in progress or verifying)",
                _sp_doc({"scheduled_maintenances": {"type": "array", "items": SP_MAINTENANCE}}),
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


def _checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    # Non-strings pass: "type" reports them, as JSON Schema intends for formats.
    checker.checks("date-time")(lambda value: not isinstance(value, str) or is_instant(value))
    checker.checks("date")(lambda value: not isinstance(value, str) or is_date(value))
    return checker


_FORMATS = _checker()


class RequestRules:
    """The admin API's request checks, compiled from :func:`document`: one source of truth.

    Build once per app (compiling the validators costs milliseconds); each check
    raises :class:`~crashbot_core.errors.InvalidInput` (422) naming the field.
    """

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self._bodies: dict[tuple[str, str], Draft202012Validator] = {}
        self._queries: dict[tuple[str, str], list[tuple[dict[str, Any], Draft202012Validator]]]
        self._queries = {}
        self._paths: dict[str, re.Pattern[str]] = {}
        for path, item in doc["paths"].items():
            shared = item.get("parameters", [])
            for method, operation in item.items():
                if method == "parameters":
                    continue
                key = (path, method.upper())
                body = operation.get("requestBody")
                if body is not None:
                    schema = body["content"]["application/json"]["schema"]
                    self._bodies[key] = Draft202012Validator(schema, format_checker=_FORMATS)
                params = [*shared, *operation.get("parameters", [])]
                self._queries[key] = [
                    (p, Draft202012Validator(p["schema"], format_checker=_FORMATS))
                    for p in params
                    if p["in"] == "query"
                ]
                for p in params:
                    if p["in"] == "path":
                        self._paths[p["name"]] = re.compile(p["schema"]["pattern"])

    def check_body(self, path: str, method: str, data: Any) -> None:
        """Refuse a decoded JSON body the document does not allow for this operation."""
        validator = self._bodies.get((path, method.upper()))
        if validator is not None:
            _raise_first(validator, data, "")

    def check_query(self, path: str, method: str, args: Any) -> None:
        """Refuse documented query parameters the document does not allow (others are ignored).

        ``args`` is a Werkzeug ``MultiDict``; each value of an ``x-repeatable`` one is checked.
        """
        for param, validator in self._queries.get((path, method.upper()), []):
            name = param["name"]
            if name not in args:
                continue
            if param.get("x-repeatable"):
                for value in args.getlist(name):
                    _raise_first(validator, value, name)
            else:
                _raise_first(validator, args[name], name)

    def path_pattern(self, name: str) -> re.Pattern[str]:
        """The pattern of a path parameter (``incident_id``)."""
        return self._paths[name]


#: A field the document does not know is the first thing to tell (a typo), before
#: "give status, severity or components" that the typo may have caused.
_RELEVANCE = jsonschema.exceptions.by_relevance(strong=frozenset({"additionalProperties"}))


def _raise_first(validator: Draft202012Validator, value: Any, where: str) -> None:
    error = jsonschema.exceptions.best_match(validator.iter_errors(value), key=_RELEVANCE)
    if error is None:
        return
    path = ".".join(str(p) for p in error.absolute_path)
    field = ".".join(p for p in (where, path) if p) or "the body"
    shown = repr(error.instance)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    schema = error.schema if isinstance(error.schema, dict) else {}
    if schema.get("x-error"):
        raise InvalidInput(f"{field}: {shown}: {schema['x-error']}")
    if error.validator in {"pattern", "format", "anyOf", "oneOf"}:
        # jsonschema would print the whole pattern or schema: say what is wanted instead.
        hint = schema.get("description")
        raise InvalidInput(f"{field}: {shown} is not valid" + (f" ({hint})" if hint else ""))
    reason = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    raise InvalidInput(f"{field}: {reason}")
