"""Correcting the record from Discord: ``/incident close``, ``/incident edit`` (a modal) and
``/incident record`` (a past incident, found after the fact).

A Discord modal holds at most five text inputs, so the edit form has four:
title, description, components (one ``KEY IMPACT`` per line) and times (one
``NAME INSTANT`` per line, UTC). Each is filled with the record as stored
when the form opened; a submission sends one :meth:`Crashbot.edit` with only
what differs from what the form showed, so a field left alone never
overwrites a correction someone made meanwhile. A refusal (times out of
order, an unknown component) is the ephemeral reply: Discord cannot keep a
submitted modal open.

``/incident record`` takes its times as options, ISO 8601 as the CLI reads
them (``2026-03-02T08:55Z``; no offset means UTC): a modal's five inputs
could not hold a title, a severity, a description and five times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import discord
from discord import app_commands

from crashbot_core.errors import CrashbotError, InvalidInput
from crashbot_core.inputs import MAX_TITLE, parse_instant
from crashbot_core.models import Impact, Incident
from crashbot_core.serialize import iso, parse_iso
from crashbot_core.store import IncidentFilter
from crashbot_discord import render
from crashbot_discord.bot import (
    INCIDENT,
    MAX_CHOICES,
    MODAL_TIMEOUT,
    IncidentButton,
    actor_of,
    button_template,
    complete_severity,
    crashbot_of,
    incident_line,
    reply_error,
    run_command,
)

#: The times on the form, in the order they must keep.
TIMES = ("started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at")
#: Discord caps a text input at 4000 characters.
MAX_INPUT = 4000


def components_text(components: Mapping[str, Impact]) -> str:
    """``api major_outage`` lines, as the form shows them."""
    return "\n".join(f"{key} {impact.value}" for key, impact in components.items())


def times_text(incident: Incident) -> str:
    """``started_at 2026-03-02T09:00:00Z`` lines, as the form shows them (resolved_at once resolved)."""
    values = {
        "started_at": incident.started_at,
        "detected_at": incident.detected,
        "acknowledged_at": incident.acknowledged_at,
        "mitigated_at": incident.mitigated_at,
        "resolved_at": incident.resolved_at,
    }
    return "\n".join(f"{name} {iso(at)}" for name, at in values.items() if at is not None)


def _lines(text: str, what: str) -> dict[str, str]:
    """``KEY VALUE`` lines (``KEY=VALUE`` and ``KEY: VALUE`` too) as a dict; blank lines skipped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        for sep in ("=", ":"):
            head, found, tail = line.partition(sep)
            if found and " " not in head.strip():
                key, value = head, tail
                break
        else:
            key, _, value = line.partition(" ")
        key = key.strip().lower()
        if not key or not value.strip():
            raise InvalidInput(f"{what}: expected one `NAME VALUE` per line, found {line[:60]!r}")
        out[key] = value.strip()
    return out


def parse_components(text: str) -> dict[str, Impact]:
    """The components box: ``KEY IMPACT`` per line (``api major``, ``web=partial``).

    :raises InvalidInput: a line without an impact, or an unknown impact.
    """
    return {key: Impact.parse(value) for key, value in _lines(text, "components").items()}


def parse_times(text: str) -> dict[str, datetime]:
    """The times box: ``NAME INSTANT`` per line; names with or without ``_at``.

    :raises InvalidInput: an unknown name or a value that is not an instant.
    """
    out: dict[str, datetime] = {}
    for name, value in _lines(text, "times").items():
        full = name if name.endswith("_at") else f"{name}_at"
        if full not in TIMES:
            raise InvalidInput(f"times: unknown time {name!r}; expected one of {', '.join(TIMES)}")
        out[full] = parse_instant(value)
    return out


def parse_option_time(name: str, text: str) -> datetime:
    """A time option of ``/incident record``, read as the CLI reads ``--started-at``.

    :raises InvalidInput: naming the option, when it is no ISO 8601 date or time.
    """
    try:
        # An offset can push a valid-looking time out of range (0001-01-01T00:00+14:00).
        return parse_iso(text).astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"{name}: {text[:40]!r} is not an ISO 8601 date or time like 2026-03-02T09:00:00Z"
        ) from None


def record_times(options: Mapping[str, str | None]) -> dict[str, datetime]:
    """The given time options (``started_at`` …) parsed; options left out stay out.

    :raises InvalidInput: an option that is not a time.
    """
    return {
        name: parse_option_time(name, text)
        for name, text in options.items()
        if text is not None and text.strip()
    }


def changes(shown: Mapping[str, str], submitted: Mapping[str, str]) -> dict[str, Any]:
    """Keyword arguments for :meth:`Crashbot.edit`: only what differs from what was shown.

    :raises InvalidInput: a bad line, a time taken off, or nothing changed.
    """
    out: dict[str, Any] = {}
    if submitted["title"] != shown["title"]:
        out["title"] = submitted["title"]
    if submitted["description"] != shown["description"]:
        out["description"] = submitted["description"]
    before = parse_components(shown["components"])
    after = parse_components(submitted["components"])
    added = {k: v for k, v in after.items() if before.get(k) != v}
    removed = [k for k in before if k not in after]
    if added:
        out["components"] = added
    if removed:
        out["remove_components"] = removed
    old_times = parse_times(shown["times"])
    new_times = parse_times(submitted["times"])
    gone = [name for name in old_times if name not in new_times]
    if gone:
        raise InvalidInput(f"times: {gone[0]} cannot be taken off the record; give the right time")
    out.update({k: v for k, v in new_times.items() if old_times.get(k) != v})
    if not out:
        raise InvalidInput("nothing changed: correct a field to edit the record")
    return out


class EditModal(discord.ui.Modal, title="Edit the record"):
    """Opened by ``/incident edit INCIDENT``, filled with the record as stored."""

    title_input: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Title", custom_id="title", max_length=MAX_TITLE
    )
    description: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Description",
        custom_id="description",
        style=discord.TextStyle.paragraph,
        required=False,
        max_length=MAX_INPUT,
    )
    components: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Components: one KEY IMPACT per line",
        custom_id="components",
        style=discord.TextStyle.paragraph,
        required=False,
        placeholder="api major_outage\nweb degraded_performance",
        max_length=MAX_INPUT,
    )
    times: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Times (UTC): one NAME INSTANT per line",
        custom_id="times",
        style=discord.TextStyle.paragraph,
        required=False,
        placeholder="started_at 2026-03-02T08:55:00Z",
        max_length=MAX_INPUT,
    )

    def __init__(self, incident: Incident, custom_id: str) -> None:
        super().__init__(custom_id=custom_id, timeout=MODAL_TIMEOUT)
        self.title = render.cut(f"Edit {incident.ref}", 45)
        self.incident_id = incident.id
        self.shown = {
            "title": incident.title[:MAX_TITLE],
            "description": incident.description[:MAX_INPUT],
            "components": components_text(incident.components)[:MAX_INPUT],
            "times": times_text(incident),
        }
        self.title_input.default = self.shown["title"]
        self.description.default = self.shown["description"]
        self.components.default = self.shown["components"]
        self.times.default = self.shown["times"]

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        """One edit with the fields that changed."""
        crashbot = crashbot_of(interaction)
        actor = actor_of(interaction.user)
        submitted = {
            "title": self.title_input.value,
            "description": self.description.value,
            "components": self.components.value,
            "times": self.times.value,
        }
        shown, incident_id = self.shown, self.incident_id

        def command() -> str:
            edit = changes(shown, submitted)
            inc = crashbot.edit(incident_id, actor=actor, **edit)
            names = ["components" if "components" in k else k.removesuffix("_at") for k in edit]
            fields = ", ".join(dict.fromkeys(names))
            return f"Edited ({fields}): " + incident_line(crashbot, inc)

        await run_command(interaction, command)


async def open_edit_form(interaction: discord.Interaction[Any], incident: str) -> None:
    """Answer with :class:`EditModal` for ``incident`` (``/incident edit`` and the digest's Edit…)."""
    crashbot = crashbot_of(interaction)
    try:
        inc = await asyncio.to_thread(crashbot.get, incident)  # the form shows the record
    except CrashbotError as exc:
        await reply_error(interaction, exc.message)
        return
    await interaction.response.send_modal(EditModal(inc, f"crashbot:edit-modal:{interaction.id}"))


async def submit_close(
    interaction: discord.Interaction[Any],
    incident: str,
    resolution: str,
    reason: str | None,
    duplicate_of: str | None,
) -> None:
    """One :meth:`Crashbot.close_incident` (``/incident close`` and the close form), then the reply."""
    crashbot = crashbot_of(interaction)
    actor = actor_of(interaction.user)

    def command() -> str:
        inc = crashbot.close_incident(
            incident, resolution, actor=actor, message=reason, duplicate_of=duplicate_of
        )
        if inc.duplicate_of is not None:
            original = crashbot.get(inc.duplicate_of)
            return f"Closed as a duplicate of **{original.ref}**: " + incident_line(crashbot, inc)
        return "Closed as invalid: " + incident_line(crashbot, inc)

    await run_command(interaction, command)


class CloseModal(discord.ui.Modal, title="Close the incident"):
    """Opened by the digest's Close… button: the options of ``/incident close`` as a form.

    A modal holds text inputs, so the resolution is typed (``invalid`` or
    ``duplicate``); the service judges the rest exactly as for the command.
    """

    resolution: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="invalid (a false alarm) or duplicate",
        custom_id="resolution",
        placeholder="invalid",
        max_length=20,
    )
    duplicate_of: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Duplicate of (for a duplicate)",
        custom_id="duplicate_of",
        required=False,
        placeholder="INC-4",
        max_length=40,
    )
    reason: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Why (kept on the timeline)",
        custom_id="reason",
        style=discord.TextStyle.paragraph,
        required=False,
        max_length=MAX_INPUT,
    )

    def __init__(self, incident: Incident, custom_id: str) -> None:
        super().__init__(custom_id=custom_id, timeout=MODAL_TIMEOUT)
        self.title = render.cut(f"Close {incident.ref}", 45)
        self.incident_id = incident.id

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        """Close the incident as the form says."""
        resolution = self.resolution.value.strip().lower()
        if resolution not in {"invalid", "duplicate"}:
            await reply_error(
                interaction, f"resolution: expected invalid or duplicate, found {resolution!r}"
            )
            return
        await submit_close(
            interaction,
            str(self.incident_id),
            resolution,
            self.reason.value.strip() or None,
            self.duplicate_of.value.strip() or None,
        )


class EditButton(
    IncidentButton,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=button_template(render.EDIT_PREFIX),
):
    """The digest's Edit… button: opens :class:`EditModal`, as ``/incident edit`` does."""

    label = "Edit…"
    prefix = render.EDIT_PREFIX

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Open the edit form, filled with the record as stored."""
        await open_edit_form(interaction, str(self.incident_id))


class CloseButton(
    IncidentButton,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=button_template(render.CLOSE_PREFIX),
):
    """The digest's Close… button: opens :class:`CloseModal`."""

    label = "Close…"
    prefix = render.CLOSE_PREFIX

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Open the close form (the incident is read first: its ref titles the form)."""
        crashbot = crashbot_of(interaction)
        try:
            inc = await asyncio.to_thread(crashbot.get, self.incident_id)
        except CrashbotError as exc:
            await reply_error(interaction, exc.message)
            return
        await interaction.response.send_modal(
            CloseModal(inc, f"crashbot:close-modal:{interaction.id}")
        )


async def complete_any_incident(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Recent incidents, open or not (the record is corrected after the fact), matching the text."""
    crashbot = crashbot_of(interaction)
    incidents = await asyncio.to_thread(crashbot.list, IncidentFilter(limit=200))
    needle = current.strip().lower()
    return [
        app_commands.Choice(name=render.cut(f"{i.ref} · {i.title}", 100), value=str(i.id))
        for i in incidents
        if not needle or any(needle in n.lower() for n in (i.ref, str(i.id), i.title))
    ][:MAX_CHOICES]


def add_commands(group: app_commands.Group) -> None:
    """Add ``close``, ``edit`` and ``record`` to the ``/incident`` group."""

    @group.command(name="close", description="Close an incident as invalid or as a duplicate")
    @app_commands.describe(
        incident=INCIDENT,
        resolution="invalid: a false alarm; duplicate: the same problem as another incident",
        reason="Why (kept on the timeline)",
        duplicate_of="For a duplicate: the incident it duplicates (it is merged there)",
    )
    @app_commands.autocomplete(incident=complete_any_incident, duplicate_of=complete_any_incident)
    async def close(
        interaction: discord.Interaction[Any],
        incident: str,
        resolution: Literal["invalid", "duplicate"],
        reason: str | None = None,
        duplicate_of: str | None = None,
    ) -> None:
        await submit_close(interaction, incident, resolution, reason, duplicate_of)

    @group.command(
        name="edit", description="Correct the record: title, description, components, times"
    )
    @app_commands.describe(incident=INCIDENT)
    @app_commands.autocomplete(incident=complete_any_incident)
    async def edit(interaction: discord.Interaction[Any], incident: str) -> None:
        await open_edit_form(interaction, incident)

    @group.command(
        name="record",
        description="Record a past incident found after the fact: stored resolved, nobody paged",
    )
    @app_commands.describe(
        title="What was broken, in a few words",
        started_at="When impact began: ISO 8601, e.g. 2026-03-02T08:55Z (no offset: UTC)",
        resolved_at="When it was over (ISO 8601)",
        severity="SEV1…SEV4 (default: the policy's default)",
        detected_at="When it was noticed (default: when it started)",
        acknowledged_at="When someone took it on",
        mitigated_at="When impact was mitigated",
        description="What happened",
    )
    @app_commands.autocomplete(severity=complete_severity)
    async def record(
        interaction: discord.Interaction[Any],
        title: str,
        started_at: str,
        resolved_at: str,
        severity: str | None = None,
        detected_at: str | None = None,
        acknowledged_at: str | None = None,
        mitigated_at: str | None = None,
        description: str | None = None,
    ) -> None:
        crashbot = crashbot_of(interaction)
        actor = actor_of(interaction.user)
        given = {
            "started_at": started_at,
            "detected_at": detected_at,
            "acknowledged_at": acknowledged_at,
            "mitigated_at": mitigated_at,
            "resolved_at": resolved_at,
        }

        def command() -> str:
            times = record_times(given)
            if "started_at" not in times or "resolved_at" not in times:
                raise InvalidInput("a past incident needs started_at and resolved_at")
            inc = crashbot.declare_retrospective(
                title,
                actor=actor,
                severity=severity or None,
                description=description or "",
                source="discord",
                started_at=times["started_at"],
                resolved_at=times["resolved_at"],
                detected_at=times.get("detected_at"),
                acknowledged_at=times.get("acknowledged_at"),
                mitigated_at=times.get("mitigated_at"),
            )
            return "Recorded (resolved, nobody paged): " + incident_line(crashbot, inc)

        await run_command(interaction, command)
