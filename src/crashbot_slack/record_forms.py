"""The forms that correct the record: *Edit* (title, description, components, times), *Close*
and *Record a past incident*.

Pure Block Kit and form reading, like :mod:`crashbot_slack.render`. The edit
form is filled with the incident as stored; its ``private_metadata`` keeps
the incident id and a fingerprint of every value shown, so a submission
sends only the fields the user changed — a field left alone never
overwrites what someone else corrected meanwhile. Times are text in UTC, as
the CLI and the HTTP API write them (``2026-03-02T08:55:00Z``): exact to
the second, which Slack's date-time picker is not. The record form is for
an incident nobody declared at the time: its times are rougher (to the
minute, in the user's time zone), so it takes them from date-time pickers.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from attrs import field, frozen

from crashbot_core.errors import CrashbotError, InvalidInput
from crashbot_core.inputs import MAX_TITLE, parse_instant
from crashbot_core.models import Component, Impact, Incident, Status
from crashbot_core.serialize import iso
from crashbot_core.severity import SeverityPolicy
from crashbot_slack.render import Blocks, escape, read_view

#: callback_ids of the forms.
VIEW_EDIT = "crashbot_edit"
VIEW_CLOSE = "crashbot_close"
VIEW_RECORD = "crashbot_record"

#: The times on the form: block id → label, in the order they must keep.
TIMES = {
    "started_at": "Impact started",
    "detected_at": "Detected",
    "acknowledged_at": "Acknowledged",
    "mitigated_at": "Mitigated",
    "resolved_at": "Resolved",
}
#: Block ids of component selects: ``component:KEY``.
COMPONENT_BLOCK = "component:"
#: The select option for a component the incident does not affect.
NOT_AFFECTED = "none"
#: Slack allows 100 blocks in a modal; the rest of the form takes fewer than 10.
MAX_COMPONENTS = 80
#: Slack's cap on a view's ``private_metadata``; components beyond it are left off the form.
MAX_METADATA = 3000
#: Slack's cap on a plain_text_input's ``initial_value`` and ``max_length``.
MAX_INPUT = 3000

_IMPACT_TEXT = {
    NOT_AFFECTED: "Not affected",
    Impact.DEGRADED_PERFORMANCE.value: "Degraded performance",
    Impact.PARTIAL_OUTAGE.value: "Partial outage",
    Impact.MAJOR_OUTAGE.value: "Major outage",
    Impact.UNDER_MAINTENANCE.value: "Under maintenance",
}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _option(value: str) -> dict[str, Any]:
    return {"text": _plain(_IMPACT_TEXT[value]), "value": value}


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:12]


def _time_text(incident: Incident, name: str) -> str:
    value = incident.detected if name == "detected_at" else getattr(incident, name)
    return iso(value) or ""


def _text_input(block_id: str, label: str, value: str, **element: Any) -> dict[str, Any]:
    el: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", **element}
    if value:
        el["initial_value"] = value
    return {
        "type": "input",
        "block_id": block_id,
        "optional": block_id != "title",
        "label": _plain(label),
        "element": el,
    }


def edit_modal(incident: Incident, components: Sequence[Component]) -> dict[str, Any]:
    """The edit form, filled with the incident's title, description, components and times.

    Every component the incident affects gets an impact select, then the
    configured ones it does not (to add), up to :data:`MAX_COMPONENTS` and as
    many as the metadata's fingerprints leave room for. The
    resolve time is on the form only once the incident is resolved.
    """
    title = incident.title[:MAX_TITLE]
    description = incident.description[:MAX_INPUT]
    shown: dict[str, str] = {"title": title, "description": description}
    blocks: Blocks = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*{incident.ref}: {escape(incident.title)}*\nEach change is kept "
                "on the timeline: who changed what, from what.",
            },
        },
        _text_input("title", "Title", title, max_length=MAX_TITLE),
        _text_input("description", "Description", description, multiline=True),
    ]
    names = {c.key: c.display for c in components}
    keys = list(incident.components) + [k for k in names if k not in incident.components]
    budget = MAX_METADATA - 400  # what title, description and times take, with room to spare
    for key in keys[:MAX_COMPONENTS]:
        budget -= len(COMPONENT_BLOCK + key) + 20  # its fingerprint entry in the metadata
        if budget < 0:
            break
        impact = incident.components.get(key)
        current = impact.value if impact is not None else NOT_AFFECTED
        shown[COMPONENT_BLOCK + key] = current
        blocks.append(
            {
                "type": "input",
                "block_id": COMPONENT_BLOCK + key,
                "optional": True,
                "label": _plain(f"Component: {names.get(key, key)}"[:2000]),
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "options": [_option(v) for v in _IMPACT_TEXT],
                    "initial_option": _option(current),
                },
            }
        )
    for name, label in TIMES.items():
        if name == "resolved_at" and incident.status is not Status.RESOLVED:
            continue
        value = _time_text(incident, name)
        shown[name] = value
        block = _text_input(name, f"{label} (UTC)", value, max_length=40)
        block["element"]["placeholder"] = _plain("2026-03-02T08:55:00Z")
        blocks.append(block)
    metadata = {"id": incident.id, "shown": {k: _fingerprint(v) for k, v in shown.items()}}
    return {
        "type": "modal",
        "callback_id": VIEW_EDIT,
        "title": _plain(f"Edit {incident.ref}"[:24]),
        "submit": _plain("Save"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps(metadata, separators=(",", ":")),
        "blocks": blocks,
    }


@frozen
class EditForm:
    """What a submitted edit form changes: keyword arguments for :meth:`Crashbot.edit`."""

    incident_id: int
    title: str | None = None
    description: str | None = None
    components: dict[str, Impact] = field(factory=dict)
    remove_components: list[str] = field(factory=list)
    times: dict[str, Any] = field(factory=dict)

    def blocks(self) -> list[str]:
        """The form's block ids this edit changes, in form order."""
        out = [name for name in ("title", "description") if getattr(self, name) is not None]
        out += [COMPONENT_BLOCK + k for k in [*self.components, *self.remove_components]]
        return out + list(self.times)

    def error_block(self, exc: CrashbotError) -> str:
        """The block to show a refusal under: the changed field it names, else the first changed."""
        changed = self.blocks()
        named = [b for b in changed if b.removeprefix(COMPONENT_BLOCK) in exc.message]
        return (named or changed or ["title"])[0]


def read_edit_form(view: dict[str, Any]) -> tuple[EditForm | None, dict[str, str]]:
    """The changes on a submitted edit form, or field errors keyed by block id.

    A field counts as changed when what was submitted differs from what the
    form showed, not from what is stored now.
    """
    try:
        meta = json.loads(str(view.get("private_metadata") or ""))
        incident_id = int(meta["id"])
        shown: dict[str, str] = dict(meta["shown"])
    except (ValueError, KeyError, TypeError):
        return None, {"title": "This form lost its incident; open it again."}
    values = read_view((view.get("state") or {}).get("values") or {})
    errors: dict[str, str] = {}

    def changed(block: str, value: str) -> bool:
        return block in shown and _fingerprint(value) != shown[block]

    title = " ".join(str(values.get("title") or "").split())
    description = str(values.get("description") or "")
    new_title = None
    if changed("title", title):
        if not title:
            errors["title"] = "Say in a few words what is broken."
        new_title = title
    components: dict[str, Impact] = {}
    removed: list[str] = []
    for block, value in values.items():
        if not block.startswith(COMPONENT_BLOCK):
            continue
        chosen = str(value or NOT_AFFECTED)
        if not changed(block, chosen):
            continue
        key = block.removeprefix(COMPONENT_BLOCK)
        if chosen == NOT_AFFECTED:
            removed.append(key)
        elif chosen in _IMPACT_TEXT:
            components[key] = Impact(chosen)
        else:
            errors[block] = "Choose an impact from the list."
    times: dict[str, Any] = {}
    for name in TIMES:
        text = str(values.get(name) or "").strip()
        if name not in values or not changed(name, text):
            continue
        if not text:
            errors[name] = "A time cannot be taken off the record; give the right time."
            continue
        try:
            times[name] = parse_instant(text)
        except InvalidInput as exc:
            errors[name] = exc.message
    if errors:
        return None, errors
    form = EditForm(
        incident_id=incident_id,
        title=new_title,
        description=description if changed("description", description) else None,
        components=components,
        remove_components=removed,
        times=times,
    )
    if not form.blocks():
        return None, {"title": "Nothing changed: correct a field, or cancel."}
    return form, {}


def close_modal(incident: Incident) -> dict[str, Any]:
    """The close form: invalid or duplicate (of which incident), and why."""
    return {
        "type": "modal",
        "callback_id": VIEW_CLOSE,
        "title": _plain(f"Close {incident.ref}"[:24]),
        "submit": _plain("Close"),
        "close": _plain("Cancel"),
        "private_metadata": str(incident.id),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{incident.ref}: {escape(incident.title)}*\nClosed as invalid "
                    "or duplicate, it counts no more: it leaves the metrics and the status page.",
                },
            },
            {
                "type": "input",
                "block_id": "resolution",
                "label": _plain("How it ended"),
                "element": {
                    "type": "radio_buttons",
                    "action_id": "value",
                    "options": [
                        {"text": _plain("Invalid: a false alarm, a test"), "value": "invalid"},
                        {"text": _plain("Duplicate of another incident"), "value": "duplicate"},
                    ],
                },
            },
            _text_input(
                "duplicate_of",
                "Duplicate of (for a duplicate)",
                "",
                max_length=40,
                placeholder=_plain("INC-4"),
            ),
            _text_input("reason", "Why (kept on the timeline)", "", multiline=True),
        ],
    }


@frozen
class CloseForm:
    """A submitted close form."""

    incident_id: int
    resolution: str
    duplicate_of: str | None
    reason: str | None


def read_close_form(view: dict[str, Any]) -> tuple[CloseForm | None, dict[str, str]]:
    """The ending chosen, or field errors keyed by block id."""
    values = read_view((view.get("state") or {}).get("values") or {})
    metadata = str(view.get("private_metadata") or "")
    if not re.fullmatch(r"\d{1,18}", metadata):
        return None, {"resolution": "This form lost its incident; open it again."}
    resolution = str(values.get("resolution") or "")
    other = str(values.get("duplicate_of") or "").strip() or None
    if resolution not in {"invalid", "duplicate"}:
        return None, {"resolution": "Choose invalid or duplicate."}
    if resolution == "duplicate" and other is None:
        return None, {"duplicate_of": "Say which incident it duplicates, e.g. INC-4."}
    if resolution == "invalid" and other is not None:
        return None, {"duplicate_of": "Leave this empty for an invalid incident."}
    reason = str(values.get("reason") or "").strip() or None
    return CloseForm(int(metadata), resolution, other, reason), {}


#: The record form's required times (it shows every one of :data:`TIMES`), and what each lacks.
_REQUIRED_TIMES = {
    "started_at": "Say when the impact started.",
    "resolved_at": "Say when it was over.",
}


def record_modal(
    policy: SeverityPolicy, *, title: str = "", severity: str | None = None
) -> dict[str, Any]:
    """The form for a past incident: title, severity, description and its five times.

    ``title`` and ``severity`` fill it from ``/incident record TITLE SEV``.
    Started and resolved are required; the other times may stay empty.
    """
    level = policy.get(severity) if severity else policy.default_level
    options = [
        {"text": _plain(f"{lv.key} — {lv.label}"[:75]), "value": lv.key} for lv in policy.levels
    ]
    blocks: Blocks = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "For an incident found after the fact: it is stored resolved, with "
                "these times. Nobody is paged, no channel opens, no reminder follows; the "
                "digest gets one line.",
            },
        },
        _text_input("title", "Title", title[:MAX_TITLE], max_length=MAX_TITLE),
        {
            "type": "input",
            "block_id": "severity",
            "label": _plain("Severity"),
            "element": {
                "type": "static_select",
                "action_id": "value",
                "options": options,
                "initial_option": next(o for o in options if o["value"] == level.key),
            },
        },
        _text_input("description", "Description", "", multiline=True),
    ]
    for name, label in TIMES.items():
        blocks.append(
            {
                "type": "input",
                "block_id": name,
                "optional": name not in _REQUIRED_TIMES,
                "label": _plain(label),
                "element": {"type": "datetimepicker", "action_id": "value"},
            }
        )
    return {
        "type": "modal",
        "callback_id": VIEW_RECORD,
        "title": _plain("Record a past incident"),
        "submit": _plain("Record"),
        "close": _plain("Cancel"),
        "blocks": blocks,
    }


@frozen
class RecordForm:
    """A submitted record form: arguments for :meth:`Crashbot.declare_retrospective`."""

    title: str
    severity: str
    description: str
    times: dict[str, datetime] = field(factory=dict)

    @staticmethod
    def error_block(exc: CrashbotError) -> str:
        """The block to show a refusal under: the field the message names first, else the title.

        The library names fields as the form's block ids (``resolved_at (…) is
        before mitigated_at (…)`` belongs under *Resolved*).
        """
        blocks = [*TIMES, "description", "severity", "title"]
        named = [(exc.message.find(b), b) for b in blocks if b in exc.message]
        return min(named)[1] if named else "title"


def _instant(value: Any) -> datetime:
    """Epoch seconds from a date-time picker, as an aware UTC datetime.

    :raises InvalidInput: not a number of seconds Python can place in time.
    """
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise InvalidInput(f"{str(value)[:40]!r} is not a time; pick one again") from None


def read_record_form(
    view: dict[str, Any], policy: SeverityPolicy
) -> tuple[RecordForm | None, dict[str, str]]:
    """The past incident's title, severity, description and times, or field errors by block id.

    Checked here is only what the form alone tells (a title, a known severity,
    the required times); the time order is the library's rule, checked by the
    service call.
    """
    values = read_view((view.get("state") or {}).get("values") or {})
    errors: dict[str, str] = {}
    title = " ".join(str(values.get("title") or "").split())
    if not title:
        errors["title"] = "Say in a few words what was broken."
    elif len(title) > MAX_TITLE:
        errors["title"] = f"Keep it under {MAX_TITLE} characters."
    severity = str(values.get("severity") or "")
    try:
        key = policy.parse(severity).key if severity else policy.default_level.key
    except InvalidInput as exc:
        errors["severity"] = exc.message
    times: dict[str, datetime] = {}
    for name in TIMES:
        value = values.get(name)
        if value is None or value == "":
            if name in _REQUIRED_TIMES:
                errors[name] = _REQUIRED_TIMES[name]
            continue
        try:
            times[name] = _instant(value)
        except InvalidInput as exc:
            errors[name] = exc.message
    if errors:
        return None, errors
    form = RecordForm(
        title=title,
        severity=key,
        description=str(values.get("description") or ""),
        times=times,
    )
    return form, {}
