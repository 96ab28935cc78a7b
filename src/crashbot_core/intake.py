"""Alert intake: store every alert first, then route it to an incident.

An alert source (a plugin) parses a sender's payload into
:class:`~crashbot_core.models.Alert` objects; :meth:`AlertIntake.ingest_alerts`
stores them, then attaches each to its group's open incident, reopens a
recently resolved one, or declares a new one, following ``[alerts]`` in the
config (:mod:`crashbot_core.routing`). Commits go through the command layer
(:class:`~crashbot_core.commit.CommitPath`), so alert-driven changes are
versioned, delivered and retried like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs

from crashbot_core import lifecycle, routing
from crashbot_core.clock import Clock
from crashbot_core.commit import CommitPath
from crashbot_core.config import Config
from crashbot_core.errors import CrashbotError, InvalidInput
from crashbot_core.grouping import (
    AlertBatch,
    group_lock,
    open_group_incidents,
    previous_statuses,
)
from crashbot_core.inputs import MAX_TEXT, MAX_TITLE
from crashbot_core.models import Actor, Alert, AlertStatus, Event, Incident, Status
from crashbot_core.store import IncidentFilter, Store, StoreCapabilities

log = logging.getLogger("crashbot")


@attrs.frozen
class IngestResult:
    """What :meth:`AlertIntake.ingest_alerts` did with one alert."""

    alert: Alert
    #: ``declared``, ``attached`` (with a timeline event), ``grouped`` (a repeat,
    #: linked silently), ``reopened`` (flapping) or ``recorded`` (stored only).
    action: str
    incident: Incident | None = None
    #: Name of the ``[[alerts.rules]]`` entry that matched, if any.
    rule: str | None = None
    #: The alert's group key (see :func:`crashbot_core.routing.group_key`).
    group: str | None = None
    #: Why a stored alert was not routed (a domain error's message).
    error: str | None = None


class AlertIntake:
    """Stores and routes alerts.

    :param commit: the path every incident change commits through.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        capabilities: StoreCapabilities,
        clock: Clock,
        commit: CommitPath,
    ) -> None:
        self.config = config
        self.store = store
        self.capabilities = capabilities
        self.clock = clock
        self.commit = commit

    def ingest_alerts(
        self, alerts: Sequence[Alert], *, raws: Sequence[bytes | None] | None = None
    ) -> list[IngestResult]:
        """Store alerts, then attach each to its group's open incident or declare one.

        Every alert is recorded before any incident is touched (in one
        transaction when the store offers ``record_alerts``), so nothing is
        lost if routing or chat delivery fails later; only reads (which groups
        have open incidents, what their alerts last said) come first, so a
        repeat is stored already linked. Routing follows ``[alerts]`` in the
        config (:mod:`crashbot_core.routing`):

        * an alert whose group (fingerprint, or the rule's ``group_by`` labels)
          has an open incident attaches to it; a repeat of the alert's last
          status is linked without a timeline event (no storm in chat), a
          change of status adds an ``alert_attached`` event and may move the
          incident to monitoring or back to investigating;
        * a firing alert whose group's incident resolved within the rule's
          ``window`` reopens it;
        * otherwise a firing alert declares an incident (``action`` declare or
          private) or is only recorded (``record``). Concurrent alerts of one
          new group declare one incident.

        A domain error while routing one alert (a rule naming a bad component,
        say) leaves that alert recorded and is reported in its result.
        """
        now = self.clock.now()
        bodies = list(raws) if raws is not None else [None] * len(alerts)
        if len(bodies) != len(alerts):
            raise ValueError("give one raw body per alert")
        routes = [self.config.alerts.route(alert) for alert in alerts]
        # Reads only: which groups have open incidents, what their alerts last
        # said. A repeat of a known alert is stored already linked, so a storm
        # of repeats costs one write per request and no timeline noise.
        batch = AlertBatch(self.store, self.capabilities, self.commit, alerts, routes)
        repeats = [batch.known_repeat(a, r) for a, r in zip(alerts, routes, strict=True)]
        pairs = [
            (attrs.evolve(a, incident_id=iid) if iid is not None else a, raw)
            for a, raw, iid in zip(alerts, bodies, repeats, strict=True)
        ]
        bulk = self.capabilities.bulk_alerts
        if bulk is not None:
            stored = bulk.record_alerts(pairs, now)
        else:
            stored = [self.store.record_alert(a, r, now) for a, r in pairs]
        results: list[IngestResult] = []
        try:
            for alert, route, repeat_of in zip(stored, routes, repeats, strict=True):
                if repeat_of is not None:
                    results.append(
                        IngestResult(
                            alert,
                            "grouped",
                            batch.incident(repeat_of),
                            rule=route.rule,
                            group=route.group_key,
                        )
                    )
                    continue
                try:
                    results.append(self._route_alert(alert, route, batch))
                except CrashbotError as exc:
                    log.warning("alert %s stored but not routed: %s", alert.id, exc.message)
                    results.append(
                        IngestResult(
                            alert,
                            "recorded",
                            rule=route.rule,
                            group=route.group_key,
                            error=exc.message,
                        )
                    )
        finally:
            batch.flush()
        return results

    def _route_alert(self, alert: Alert, route: routing.Route, batch: AlertBatch) -> IngestResult:
        incident_id = batch.group_incident(route.group_id)
        if incident_id is None:
            incident_id = self.store.open_incident_for_alert(alert.source, alert.fingerprint)
        if incident_id is not None:
            return self._attach_alert(alert, route, incident_id, batch)
        if alert.status is not AlertStatus.FIRING or route.action is routing.Action.RECORD:
            return IngestResult(alert, "recorded", rule=route.rule, group=route.group_key)
        with group_lock(route.group_id):
            recent = self._recent_group_incident(route)
            if recent is not None:
                result = self._reopen_for_alert(alert, route, recent)
            else:
                result = self._declare_for_alert(alert, route, batch)
        if result.incident is not None:
            batch.remember(route.group_id, alert, result.incident)
        return result

    def _recent_group_incident(self, route: routing.Route) -> Incident | None:
        if route.window <= timedelta(0):
            return None
        found = self.store.list_incidents(
            IncidentFilter(open=False, label=(routing.GROUP_LABEL, route.group_id), limit=1)
        )
        if found and routing.recently_resolved(found[0], self.clock.now(), route.window):
            return found[0]
        return None

    def _alert_actor(self, alert: Alert) -> Actor:
        return Actor(platform="alert", id=alert.source, name=alert.source)

    def _attach_event(self, inc: Incident, alert: Alert, t: datetime) -> lifecycle.Result:
        return lifecycle.attach_alert(
            inc,
            alert_id=alert.id,
            source=alert.source,
            fingerprint=alert.fingerprint,
            title=alert.title,
            alert_status=alert.status.value,
            actor=self._alert_actor(alert),
            now=t,
        )

    def _attach_alert(
        self, alert: Alert, route: routing.Route, incident_id: int, batch: AlertBatch
    ) -> IngestResult:
        previous = batch.previous_status(incident_id, alert)
        if previous is alert.status:
            # The same alert saying the same thing again (Alertmanager repeats
            # every firing alert of a group): kept, linked, not announced.
            batch.link(incident_id, alert)
            return IngestResult(
                alert,
                "grouped",
                batch.incident(incident_id),
                rule=route.rule,
                group=route.group_key,
            )
        most_severe = self.config.severity_policy.levels[0].key
        actor = self._alert_actor(alert)
        repeated: list[bool] = []

        def transition(inc: Incident, t: datetime) -> lifecycle.Result:
            # Decided again on every try, from what is committed: of N
            # identical deliveries racing (sender retries, HA Alertmanagers)
            # one commits the change; the version check sends the others
            # back here, where they find it and only link their alert.
            repeated[:] = [self._repeats_linked_status(inc.id, alert)]
            if repeated[0]:
                return inc, []
            all_resolved = False
            if alert.status is AlertStatus.RESOLVED:
                states = routing.latest_statuses(self.store.alerts(inc.id))
                states[(alert.source, alert.fingerprint)] = AlertStatus.RESOLVED
                all_resolved = all(s is AlertStatus.RESOLVED for s in states.values())
            new, events = self._attach_event(inc, alert, t)
            follow = routing.after_alert(
                new,
                alert.status,
                all_resolved=all_resolved,
                on_resolved=route.on_resolved,
                most_severe=most_severe,
            )
            more: list[Event] = []
            if follow is routing.FollowUp.MONITORING:
                new, more = lifecycle.update(
                    new,
                    actor=actor,
                    now=t,
                    status=Status.MONITORING,
                    message=f"All alerts resolved (last: {alert.title}). Monitoring.",
                )
            elif follow is routing.FollowUp.INVESTIGATING:
                new, more = lifecycle.update(
                    new,
                    actor=actor,
                    now=t,
                    status=Status.INVESTIGATING,
                    message=f"Alert fired again: {alert.title}",
                )
            elif follow is routing.FollowUp.RESOLVE:
                new, more = lifecycle.resolve(new, actor=actor, now=t)
            return new, events + more

        saved = self.commit.run_saved(incident_id, transition, alert_ids=[alert.id])
        batch.remember(route.group_id, alert, saved.incident)
        action = "grouped" if repeated and repeated[0] else "attached"
        return IngestResult(alert, action, saved.incident, rule=route.rule, group=route.group_key)

    def _repeats_linked_status(self, incident_id: int, alert: Alert) -> bool:
        """Whether the alert last said ``alert.status`` on this incident, as committed now."""
        key = (incident_id, alert.source, alert.fingerprint)
        return previous_statuses(self.store, self.capabilities, [key], None).get(key) is (
            alert.status
        )

    def _reopen_for_alert(
        self, alert: Alert, route: routing.Route, incident: Incident
    ) -> IngestResult:
        actor = self._alert_actor(alert)

        def transition(inc: Incident, t: datetime) -> lifecycle.Result:
            events: list[Event] = []
            if inc.is_open and self._repeats_linked_status(inc.id, alert):
                return inc, []  # a concurrent copy of this alert reopened it first
            if not inc.is_open:
                # The reopen is public on a public incident: a fixed sentence,
                # while the alert's own title rides on the internal
                # alert_attached event below.
                inc, events = lifecycle.reopen(
                    inc, actor=actor, now=t, message=self.config.alerts.reopened_message
                )
            new, more = self._attach_event(inc, alert, t)
            return new, events + more

        saved = self.commit.run_saved(incident.id, transition, alert_ids=[alert.id])
        return IngestResult(
            alert, "reopened", saved.incident, rule=route.rule, group=route.group_key
        )

    def _declare_for_alert(
        self, alert: Alert, route: routing.Route, batch: AlertBatch
    ) -> IngestResult:
        existing = open_group_incidents(self.store, self.capabilities, [route.group_id]).get(
            route.group_id
        )
        if existing is not None:  # declared by another thread while we waited
            batch.incidents[existing.id] = existing
            return self._attach_alert(alert, route, existing.id, batch)
        now = self.clock.now()
        level = self.config.severity_policy.default_level
        if route.severity:
            try:
                level = self.config.severity_policy.parse(route.severity)
            except InvalidInput:
                log.info("alert severity %r matches no level; using %s", route.severity, level.key)
        actor = self._alert_actor(alert)
        incident, events = lifecycle.declare(
            title=" ".join(alert.title.split())[:MAX_TITLE] or f"{alert.source} alert",
            severity=level,
            actor=actor,
            now=now,
            description=alert.description[:MAX_TEXT],
            public=None if route.action is routing.Action.DECLARE else False,
            components=route.components,
            labels={**alert.labels, routing.GROUP_LABEL: route.group_id},
            source=f"alert:{alert.source}",
            started_at=min(alert.started_at, now) if alert.started_at else None,
        )
        if alert.started_at is not None:
            # Monitoring noticed the problem when the first alert fired: MTTD
            # measures that, not how long the declare took.
            incident = incident.with_changes(detected_at=incident.started_at)
        # The declaring alert rides on the declared event (one message in chat,
        # not two); alerts that join later get their own alert_attached event.
        events = [
            attrs.evolve(
                events[0],
                data={
                    **events[0].data,
                    "alert": {
                        "alert_id": alert.id,
                        "source": alert.source,
                        "fingerprint": alert.fingerprint,
                        "title": alert.title,
                        "status": alert.status.value,
                        "url": alert.url,
                    },
                },
            ),
            *events[1:],
        ]
        change = self.commit.new_change(incident, events, alert_ids=[alert.id])
        # Checked at start (StoreCapabilities.require): without an atomic
        # check-and-declare, processes would race to declare the same group.
        atomic = self.capabilities.alert_group_commit
        if atomic is None:
            saved = self.store.commit(change)
        else:
            outcome = atomic.commit_for_alert_group(change, (routing.GROUP_LABEL, route.group_id))
            if isinstance(outcome, int):  # another process declared it first
                return self._attach_alert(alert, route, outcome, batch)
            saved = outcome
        self.commit.outbox.after_commit(saved)
        return IngestResult(
            alert, "declared", saved.incident, rule=route.rule, group=route.group_key
        )
