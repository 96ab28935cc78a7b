"""Bringing history in and taking everything out: imports and the JSON Lines export.

An import writes incidents as they were elsewhere: their own times, status,
components and public updates, each update a public timeline event at its
original time. It is idempotent: every imported incident carries its source's
id in ``refs["import"]`` and every event its update's id in
``data["import_id"]``, so importing the same history again changes nothing,
and importing a newer copy adds only the new updates. Imports never notify
anyone (no deliveries are written: the history is old news) and never bring
private data: an import has only what its source published.

Parsers for each source (Statuspage JSON in ``crashbot_status``, CSV in
:mod:`crashbot_core.csv_import`) produce :class:`ImportedIncident` values;
:class:`Transfer` writes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from attrs import field, frozen

from crashbot_core.clock import Clock
from crashbot_core.config import Config
from crashbot_core.errors import InvalidInput
from crashbot_core.inputs import clean_text, clean_title
from crashbot_core.models import (
    Actor,
    Component,
    Event,
    EventKind,
    Impact,
    Incident,
    Resolution,
    Status,
)
from crashbot_core.serialize import converter, event_dict, follow_up_dict, incident_dict
from crashbot_core.store import Change, IncidentFilter, Store

#: ``refs`` key holding an imported incident's id in its source.
IMPORT_REF = "import"
#: ``Event.data`` key holding an imported update's id in its source.
IMPORT_ID = "import_id"
#: Prefix of the ``source`` of imported incidents (``import:statuspage``, ``import:csv``).
IMPORT_SOURCE_PREFIX = "import:"


@frozen
class ImportedUpdate:
    """One public update as its source published it."""

    #: Stable id in the source (unique within its incident).
    key: str
    at: datetime
    status: Status
    body: str


@frozen
class ImportedIncident:
    """An incident as another system published it, ready to be written."""

    #: Stable id in the source, e.g. ``statuspage:<page id>:<incident id>``.
    key: str
    title: str
    severity: str
    status: Status
    declared_at: datetime
    started_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    acknowledged_at: datetime | None = None
    description: str = ""
    components: Mapping[str, Impact] = field(factory=dict)
    #: Oldest first or in any order; written oldest first.
    updates: Sequence[ImportedUpdate] = ()
    rca_url: str | None = None
    public: bool = True


@frozen
class ImportResult:
    """What an import did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    components: int = 0

    def describe(self) -> str:
        """One line for a person."""
        return (
            f"imported {self.created} new incidents, updated {self.updated}, "
            f"{self.unchanged} unchanged; {self.components} new components"
        )


class Transfer:
    """Imports of incident history and the full export, on one store."""

    def __init__(self, config: Config, store: Store, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.clock = clock

    # ------------------------------------------------------------------ import

    def import_incidents(
        self,
        incidents: Iterable[ImportedIncident],
        *,
        source: str,
        components: Sequence[Component] = (),
    ) -> ImportResult:
        """Write imported incidents (created, or brought up to date) and missing components.

        :param source: the importer's name; incidents get ``source="import:<source>"``.
        :param components: components the source lists; those whose key is
            neither configured nor stored are created, others are left as they are.
        """
        known = {c.key for c in self.config.components} | {c.key for c in self.store.components()}
        position = len(known)
        added = 0
        for c in components:
            if c.key not in known:
                self.store.upsert_component(
                    Component(
                        key=c.key,
                        name=c.name,
                        group=c.group,
                        description=c.description,
                        position=position + added,
                    )
                )
                known.add(c.key)
                added += 1
        origin = f"{IMPORT_SOURCE_PREFIX}{source}"
        existing = {
            inc.refs.get(IMPORT_REF): inc
            for inc in self.store.list_incidents(IncidentFilter(source=origin))
        }
        created = updated = unchanged = 0
        actor = Actor(platform="import", id=source, name=f"{source} import")
        for item in incidents:
            incident, events = self._build(item, origin, actor)
            old = existing.get(item.key)
            if old is None:
                saved = self.store.commit(
                    Change(
                        incident=incident,
                        expected_version=None,
                        events=events,
                        ref_prefix=self.config.ref_prefix,
                    )
                ).incident
                existing[item.key] = saved
                created += 1
                continue
            seen = {e.data.get(IMPORT_ID) for e in self.store.events(old.id)}
            new_events = [e for e in events if e.data.get(IMPORT_ID) not in seen]
            fresh = old.with_changes(
                **{
                    name: getattr(incident, name)
                    for name in _IMPORTED_FIELDS
                    if getattr(incident, name) != getattr(old, name)
                }
            )
            if not new_events and fresh == old:
                unchanged += 1
                continue
            self.store.commit(Change(fresh, expected_version=old.version, events=new_events))
            updated += 1
        return ImportResult(created=created, updated=updated, unchanged=unchanged, components=added)

    def _build(
        self, item: ImportedIncident, origin: str, actor: Actor
    ) -> tuple[Incident, list[Event]]:
        policy = self.config.severity_policy
        try:
            severity = policy.parse(item.severity).key
        except Exception as exc:
            raise InvalidInput(f"incident {item.key}: {exc}") from None
        title = clean_title(item.title)
        updates = sorted(item.updates, key=lambda u: (u.at, u.key))
        events: list[Event] = []
        for n, u in enumerate(updates):
            body = clean_text(u.body, "update")
            if n == 0:
                data = {"status": u.status.value, "description": body, "severity": severity}
                kind = EventKind.DECLARED
            else:
                data = {"status": u.status.value, "message": body}
                kind = EventKind.UPDATE_POSTED
            events.append(Event(kind, u.at, actor, {**data, IMPORT_ID: u.key}, public=item.public))
        if not updates:
            # No published words: the status site shows its default sentences.
            events.append(
                Event(
                    EventKind.DECLARED,
                    item.declared_at,
                    actor,
                    {"severity": severity, IMPORT_ID: f"{item.key}#declared"},
                    public=item.public,
                )
            )
            if item.resolved_at is not None:
                events.append(
                    Event(
                        EventKind.RESOLVED,
                        item.resolved_at,
                        actor,
                        {IMPORT_ID: f"{item.key}#resolved"},
                        public=item.public,
                    )
                )
        resolved = item.status is Status.RESOLVED
        resolved_at = (
            (item.resolved_at or (updates[-1].at if updates else item.declared_at))
            if resolved
            else None
        )
        incident = Incident(
            id=0,
            ref="",
            title=title,
            severity=severity,
            status=item.status,
            declared_at=item.declared_at,
            started_at=item.started_at or item.declared_at,
            description=clean_text(item.description, "description"),
            public=item.public,
            components=dict(item.components),
            acknowledged_at=item.acknowledged_at,
            mitigated_at=item.mitigated_at or resolved_at,
            resolved_at=resolved_at,
            last_update_at=max((e.at for e in events), default=None),
            rca_url=item.rca_url,
            source=origin,
            refs={IMPORT_REF: item.key},
            declared_by=actor,
            resolution=Resolution.RESOLVED if resolved else None,
        )
        return incident, events

    # ------------------------------------------------------------------ export

    def export_records(self) -> Iterator[dict[str, Any]]:
        """Everything in the store as JSON-ready objects, each with a ``type``.

        Components, then per incident (oldest first) the incident, its
        events, follow-ups and attached alerts, then API tokens without
        their hashes. Private incidents and internal events are included:
        this is a backup-grade export, not a public one.
        """
        for c in self.store.components():
            yield {"type": "component", **converter.unstructure(c)}
        offset = 0
        while True:
            page = self.store.list_incidents(
                IncidentFilter(newest_first=False, limit=_PAGE, offset=offset)
            )
            for inc in page:
                yield {"type": "incident", **incident_dict(inc)}
                for e in self.store.events(inc.id):
                    yield {"type": "event", **event_dict(e)}
                for f in self.store.follow_ups(inc.id):
                    yield {"type": "follow_up", **follow_up_dict(f)}
                for a in self.store.alerts(inc.id):
                    yield {"type": "alert", **converter.unstructure(a)}
            if len(page) < _PAGE:
                break
            offset += _PAGE
        for t in self.store.tokens():
            data = converter.unstructure(t)
            data.pop("token_hash", None)
            yield {"type": "token", **data}


#: Incident fields an import keeps in step with its source.
_IMPORTED_FIELDS = (
    "title",
    "severity",
    "status",
    "started_at",
    "components",
    "mitigated_at",
    "resolved_at",
    "last_update_at",
    "rca_url",
    "resolution",
)

_PAGE = 500
