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
from crashbot_core.models import (
    Actor,
    Alert,
    AlertStatus,
    AlertSummary,
    Event,
    Incident,
    Status,
)
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
    #: Why it was only recorded although it fired (``below threshold: 2 of 3 …``).
    note: str | None = None


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
            (attrs.evolve(a, incident_id=iid, group_id=r.group_id), raw)
            for a, raw, iid, r in zip(alerts, bodies, repeats, routes, strict=True)
        ]
        bulk = self.capabilities.bulk_alerts
        if bulk is not None:
            stored = bulk.record_alerts(pairs, now)
        else:
            stored = [self.store.record_alert(a, r, now) for a, r in pairs]
        batch.own_repeats.update(
            a.id for a, iid in zip(stored, repeats, strict=True) if iid is not None
        )
        results: list[IngestResult | None] = []
        # New alerts joining an incident, per incident: one commit each, not one per alert.
        pending: dict[int, list[tuple[int, Alert, routing.Route]]] = {}
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
                    results.append(self._route_alert(alert, route, batch, pending, len(results)))
                except CrashbotError as exc:
                    results.append(self._unrouted(alert, route, exc))
            for incident_id, items in pending.items():
                try:
                    attached = self._attach_alerts(items, incident_id, batch)
                except CrashbotError as exc:
                    attached = [(i, self._unrouted(a, r, exc)) for i, a, r in items]
                for index, result in attached:
                    results[index] = result
        finally:
            batch.flush()
        return [r for r in results if r is not None]

    def _unrouted(self, alert: Alert, route: routing.Route, exc: CrashbotError) -> IngestResult:
        log.warning("alert %s stored but not routed: %s", alert.id, exc.message)
        return IngestResult(
            alert, "recorded", rule=route.rule, group=route.group_key, error=exc.message
        )

    def alert_summary(self, incident_id: int) -> AlertSummary:
        """How often the incident's alerts fired: count, distinct, repeats, last occurrence."""
        return self.store.alert_summary(incident_id)

    def _route_alert(
        self,
        alert: Alert,
        route: routing.Route,
        batch: AlertBatch,
        pending: dict[int, list[tuple[int, Alert, routing.Route]]],
        index: int,
    ) -> IngestResult | None:
        """Route one alert; None when it joins ``pending`` (attached at the end of the request)."""
        incident_id = batch.group_incident(route.group_id)
        if incident_id is None:
            incident_id = self.store.open_incident_for_alert(alert.source, alert.fingerprint)
        if incident_id is not None:
            if batch.previous_status(incident_id, alert) is alert.status:
                # The same alert saying the same thing again: kept, linked, not announced.
                batch.link(incident_id, alert)
                return IngestResult(
                    alert,
                    "grouped",
                    batch.incident(incident_id),
                    rule=route.rule,
                    group=route.group_key,
                )
            pending.setdefault(incident_id, []).append((index, alert, route))
            return None
        if alert.status is not AlertStatus.FIRING or route.action is routing.Action.RECORD:
            return IngestResult(alert, "recorded", rule=route.rule, group=route.group_key)
        with group_lock(route.group_id):
            recent = self._recent_group_incident(route)
            if recent is not None:
                result = self._reopen_for_alert(alert, route, recent)
            elif (below := self._below_threshold(route)) is not None:
                return IngestResult(
                    alert, "recorded", rule=route.rule, group=route.group_key, note=below
                )
            else:
                result = self._declare_for_alert(alert, route, batch)
        if result.incident is not None:
            batch.remember(route.group_id, alert, result.incident)
        return result

    def _below_threshold(self, route: routing.Route) -> str | None:
        """Why the group may not declare yet (its rule's threshold), or None.

        Counted from the stored alerts, this one and the rest of its request
        included (they are stored before any is routed), so a request that
        carries the Nth occurrence declares.
        """
        threshold = route.threshold
        if threshold is None or threshold.count <= 1:
            return None
        since = self.clock.now() - threshold.within
        seen = self.store.count_group_alerts(route.group_id, since)
        if seen >= threshold.count:
            return None
        return f"below threshold: {threshold.describe(seen)}"

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
            omitted=alert.omitted,
        )

    def _attach_alert(
        self, alert: Alert, route: routing.Route, incident_id: int, batch: AlertBatch
    ) -> IngestResult:
        """Attach one alert now (a concurrent declare of its group won the race)."""
        if batch.previous_status(incident_id, alert) is alert.status:
            batch.link(incident_id, alert)
            return IngestResult(
                alert,
                "grouped",
                batch.incident(incident_id),
                rule=route.rule,
                group=route.group_key,
            )
        [(_, result)] = self._attach_alerts([(0, alert, route)], incident_id, batch)
        return result

    def _attach_alerts(
        self,
        items: Sequence[tuple[int, Alert, routing.Route]],
        incident_id: int,
        batch: AlertBatch,
    ) -> list[tuple[int, IngestResult]]:
        """Attach a request's new alerts of one incident in one commit, in order."""
        most_severe = self.config.severity_policy.levels[0].key
        announced: list[bool] = []

        def transition(inc: Incident, t: datetime) -> lifecycle.Result:
            # Decided again on every try, from what is committed: of N
            # identical deliveries racing (sender retries, HA Alertmanagers)
            # one commits the change; the version check sends the others
            # back here, where they find it and only link their alerts.
            keys = [(inc.id, a.source, a.fingerprint) for _, a, _ in items]
            said = previous_statuses(self.store, self.capabilities, keys, None, batch.own_repeats)
            states: dict[tuple[str, str], AlertStatus] | None = None
            folded: dict[tuple[str, str], AlertStatus] = {}
            announced.clear()
            new, events = inc, []
            for (_, alert, route), key in zip(items, keys, strict=True):
                status = AlertStatus(alert.status)
                announced.append(said.get(key) is not status)
                if not announced[-1]:
                    continue
                said[key] = folded[(alert.source, alert.fingerprint)] = status
                all_resolved = False
                if status is AlertStatus.RESOLVED:
                    if states is None:
                        states = routing.latest_statuses(self.store.alerts(inc.id))
                    states.update(folded)
                    all_resolved = all(s is AlertStatus.RESOLVED for s in states.values())
                new, more = self._attach_event(new, alert, t)
                events += more
                new, more = self._follow_up(new, alert, route, all_resolved, most_severe, t)
                events += more
            return new, events

        saved = self.commit.run_saved(
            incident_id, transition, alert_ids=[a.id for _, a, _ in items]
        )
        out = []
        for (index, alert, route), attached in zip(items, announced, strict=True):
            batch.remember(route.group_id, alert, saved.incident)
            action = "attached" if attached else "grouped"
            out.append(
                (
                    index,
                    IngestResult(
                        alert, action, saved.incident, rule=route.rule, group=route.group_key
                    ),
                )
            )
        return out

    def _follow_up(
        self,
        inc: Incident,
        alert: Alert,
        route: routing.Route,
        all_resolved: bool,
        most_severe: str,
        t: datetime,
    ) -> lifecycle.Result:
        """The status change an attached alert causes (:func:`routing.after_alert`)."""
        actor = self._alert_actor(alert)
        follow = routing.after_alert(
            inc,
            alert.status,
            all_resolved=all_resolved,
            on_resolved=route.on_resolved,
            most_severe=most_severe,
        )
        if follow is routing.FollowUp.MONITORING:
            return lifecycle.update(
                inc,
                actor=actor,
                now=t,
                status=Status.MONITORING,
                message=f"All alerts resolved (last: {alert.title}). Monitoring.",
            )
        if follow is routing.FollowUp.INVESTIGATING:
            return lifecycle.update(
                inc,
                actor=actor,
                now=t,
                status=Status.INVESTIGATING,
                message=f"Alert fired again: {alert.title}",
            )
        if follow is routing.FollowUp.RESOLVE:
            return lifecycle.resolve(inc, actor=actor, now=t)
        return inc, []

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
                        **({"omitted": alert.omitted} if alert.omitted else {}),
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
