"""Reads whose number of queries does not grow with the number of incidents.

The status site renders every public incident with its timeline, and the
admin API reads an incident with its timeline and follow-ups. With the
store's :class:`~crashbot_core.store.BulkReads` each is a fixed number of
queries; without it, the same results come one read at a time.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from crashbot_core.commit import CommitPath
from crashbot_core.errors import NotFound
from crashbot_core.models import Event, Incident
from crashbot_core.store import IncidentFilter, IncidentRecord, Store, StoreCapabilities


class Reads:
    """Bulk reads with a fallback for any store.

    :param commit: parses ids and refs, and reads one incident, as commands do.
    """

    def __init__(self, store: Store, capabilities: StoreCapabilities, commit: CommitPath) -> None:
        self.store = store
        self.bulk = capabilities.bulk_reads
        self.commit = commit

    def list_public_fields(self, flt: IncidentFilter) -> list[Incident]:
        """Incidents matching ``flt`` without labels, refs, roles and declared_by (status pages)."""
        if self.bulk is not None:
            return self.bulk.list_public_fields(flt)
        return [
            attrs.evolve(i, labels={}, refs={}, roles={}, declared_by=None)
            for i in self.store.list_incidents(flt)
        ]

    def timelines(
        self, incident_ids: Iterable[int], *, public_only: bool = False
    ) -> dict[int, list[Event]]:
        """The timelines of many incidents: one query with :class:`BulkReads`, else one each."""
        ids = list(dict.fromkeys(incident_ids))
        if self.bulk is not None:
            return self.bulk.timelines(ids, public_only=public_only)
        return {i: self.store.events(i, public_only=public_only) for i in ids}

    def incident_record(self, incident_id: int | str) -> IncidentRecord:
        """One incident with its timeline and follow-ups (the admin API's incident read).

        :raises NotFound: when there is no such incident.
        """
        iid = self.commit.parse_id(incident_id)
        if self.bulk is None:
            incident = self.commit.get(iid)
            return IncidentRecord(incident, self.store.events(iid), self.store.follow_ups(iid))
        found = self.bulk.incident_record(iid)
        if found is None:
            raise NotFound(f"no incident {self.commit.config.ref_prefix}-{iid}")
        return found
