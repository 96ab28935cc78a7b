"""Alert grouping: which open incident an alert's group has, and per-request state.

An intake request may carry hundreds of alerts of a few groups (an
Alertmanager storm). :class:`AlertBatch` prefetches what the request needs in
a few queries, remembers what the request changed as it goes, and links
silent repeats in one transaction at the end. :func:`group_lock` makes threads
of one process that route alerts of the same new group queue up; the store's
``AlertGroupCommit`` capability covers other processes and replicas.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Collection, Iterable, Sequence

from crashbot_core import routing
from crashbot_core.commit import CommitPath
from crashbot_core.models import Alert, AlertStatus, Incident
from crashbot_core.store import IncidentFilter, Store, StoreCapabilities

# Striped locks so that threads of one process routing alerts of the same new
# group queue up instead of racing to declare; the store's atomic
# commit_for_alert_group covers other processes and replicas.
_GROUP_LOCKS = tuple(threading.Lock() for _ in range(64))


def group_lock(group_id: str) -> threading.Lock:
    """The lock that serialises declaring for ``group_id`` within this process."""
    return _GROUP_LOCKS[zlib.crc32(group_id.encode()) % len(_GROUP_LOCKS)]


def open_group_incidents(
    store: Store, capabilities: StoreCapabilities, group_ids: Iterable[str]
) -> dict[str, Incident]:
    """Open incidents of these alert groups (one query when the store can)."""
    wanted = sorted(set(group_ids))
    bulk = capabilities.bulk_alerts
    if bulk is not None:
        return bulk.open_incidents_for_groups(routing.GROUP_LABEL, wanted)
    out: dict[str, Incident] = {}
    for gid in wanted:
        hits = store.list_incidents(
            IncidentFilter(open=True, label=(routing.GROUP_LABEL, gid), limit=1)
        )
        if hits:
            out[gid] = hits[0]
    return out


def previous_statuses(
    store: Store,
    capabilities: StoreCapabilities,
    keys: Sequence[tuple[int, str, str]],
    before_id: int | None,
    exclude: Collection[int] = (),
) -> dict[tuple[int, str, str], AlertStatus]:
    """Newest status per (incident, source, fingerprint), among alerts older than ``before_id``.

    ``exclude``: alert ids that do not count (this request's own repeats).
    """
    bulk = capabilities.bulk_alerts
    if bulk is not None:
        return bulk.last_alert_statuses(keys, before_id=before_id, exclude=exclude)
    wanted = set(keys)
    out: dict[tuple[int, str, str], AlertStatus] = {}
    for iid in {k[0] for k in wanted}:
        for a in store.alerts(iid):
            key = (iid, a.source, a.fingerprint)
            if key in wanted and (before_id is None or a.id < before_id) and a.id not in exclude:
                out[key] = AlertStatus(a.status)
    return out


class AlertBatch:
    """Per-request state of :meth:`~crashbot_core.intake.AlertIntake.ingest_alerts`: few queries per storm.

    It prefetches the open incident of every group in the request and the
    last status of every alert already on them, remembers what this request
    changed, and links silent repeats in one transaction at the end.
    """

    def __init__(
        self,
        store: Store,
        capabilities: StoreCapabilities,
        commit: CommitPath,
        alerts: Sequence[Alert],
        routes: Sequence[routing.Route],
    ) -> None:
        self.store = store
        self.capabilities = capabilities
        self.commit = commit
        open_incidents = open_group_incidents(store, capabilities, (r.group_id for r in routes))
        self.groups: dict[str, int] = {gid: inc.id for gid, inc in open_incidents.items()}
        self.incidents: dict[int, Incident] = {inc.id: inc for inc in open_incidents.values()}
        self.statuses: dict[tuple[int, str, str], AlertStatus] = {}
        self.fetched: set[tuple[int, str, str]] = set()
        self.links: dict[int, list[int]] = {}
        #: Ids of this request's alerts stored already linked as repeats: they
        #: are not "what the alert said before" for the request's other alerts.
        self.own_repeats: set[int] = set()
        keys = [
            (self.groups[r.group_id], a.source, a.fingerprint)
            for a, r in zip(alerts, routes, strict=True)
            if r.group_id in self.groups
        ]
        if keys:
            # Called before this request's alerts are stored: every stored alert is older.
            self.statuses.update(previous_statuses(store, capabilities, keys, None))
            self.fetched.update(keys)
        # Alerts whose status this request changes, for known_repeat only.
        self.changed: set[tuple[int, str, str]] = set()

    def known_repeat(self, alert: Alert, route: routing.Route) -> int | None:
        """The incident id when ``alert`` repeats what it last said on its group's open incident.

        Decided from prefetched (committed) state, before anything is stored;
        anything else (new alerts, status changes) is routed after. Once this
        request changes what an alert says, its later copies in the request are
        routed too: they repeat something not yet committed, and storing them
        linked would make a concurrent request believe it had been announced.
        """
        incident_id = self.groups.get(route.group_id)
        if incident_id is None:
            return None
        key = (incident_id, alert.source, alert.fingerprint)
        if key in self.changed:
            return None
        if self.statuses.get(key) is AlertStatus(alert.status):
            return incident_id
        self.changed.add(key)
        return None

    def group_incident(self, group_id: str) -> int | None:
        """The group's open incident, as prefetched or as this request left it."""
        return self.groups.get(group_id)

    def previous_status(self, incident_id: int, alert: Alert) -> AlertStatus | None:
        """What this alert last said on this incident (None: it is new there)."""
        key = (incident_id, alert.source, alert.fingerprint)
        if key not in self.fetched and key not in self.statuses:
            # Linked alerts only (this one is not yet): its id may be older than
            # one a concurrent request linked first, so ids do not order them.
            self.statuses.update(
                previous_statuses(self.store, self.capabilities, [key], None, self.own_repeats)
            )
            self.fetched.add(key)
        previous = self.statuses.get(key)
        self.statuses[key] = AlertStatus(alert.status)
        return previous

    def remember(self, group_id: str, alert: Alert, incident: Incident) -> None:
        """Record that ``alert`` now sits on ``incident`` (declared, attached or reopened)."""
        if incident.is_open:
            self.groups[group_id] = incident.id
        self.statuses[(incident.id, alert.source, alert.fingerprint)] = AlertStatus(alert.status)
        self.incidents[incident.id] = incident

    def link(self, incident_id: int, alert: Alert) -> None:
        """Queue a silent link of a repeated alert."""
        self.links.setdefault(incident_id, []).append(alert.id)

    def incident(self, incident_id: int) -> Incident | None:
        """The incident for a reply, read once per request."""
        if incident_id not in self.incidents:
            found = self.store.get_incident(incident_id)
            if found is None:
                return None
            self.incidents[incident_id] = found
        return self.incidents[incident_id]

    def flush(self) -> None:
        """Link the queued repeats (one transaction when the store can)."""
        if not self.links:
            return
        links, self.links = self.links, {}
        bulk = self.capabilities.bulk_alerts
        if bulk is not None:
            bulk.link_alerts(links)
            return
        for incident_id, ids in links.items():
            self.commit.run_saved(incident_id, lambda inc, t: (inc, []), alert_ids=ids)
