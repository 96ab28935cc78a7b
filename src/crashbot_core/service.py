"""The service: one method per command, used by every adapter.

Each command: validate → load → pure transition (:mod:`crashbot_core.lifecycle`)
→ one version-checked transaction saving the incident and its events (plus a
pending delivery per subscribed plugin) → after commit, each event is
delivered to each ``crashbot_incident_event`` implementation. A plugin that
raises is recorded as a failed delivery for the worker to retry; the incident
is never rolled back because a chat API failed.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import logging
import re
import secrets
import threading
import traceback
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import attrs
import pluggy

from crashbot_core import lifecycle, routing
from crashbot_core.clock import Clock, SystemClock
from crashbot_core.config import Config, load_config
from crashbot_core.delivery import RetryAfter, RetryPolicy
from crashbot_core.errors import (
    ConfigError,
    ConflictError,
    CrashbotError,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from crashbot_core.hookspecs import AlertSource, PostmortemExporter, hookimpl
from crashbot_core.models import (
    Actor,
    Alert,
    AlertStatus,
    ApiToken,
    Component,
    Delivery,
    DeliveryState,
    Event,
    EventKind,
    FollowUp,
    Impact,
    Incident,
    Reminder,
    Status,
    TokenScope,
)
from crashbot_core.plugins import get_plugin_manager
from crashbot_core.store import Change, IncidentFilter, Saved, Store

log = logging.getLogger("crashbot")

#: How often a command is re-run on fresh state after a version conflict.
MAX_CONFLICT_RETRIES = 20

#: Prefix of API token secrets, so leaked ones are easy to grep for.
TOKEN_PREFIX = "cbt_"

Transition = Callable[[Incident, datetime], lifecycle.Result]

# Striped locks so that threads of one process routing alerts of the same new
# group queue up instead of racing to declare; the store's atomic
# commit_for_alert_group covers other processes and replicas.
_GROUP_LOCKS = tuple(threading.Lock() for _ in range(64))


def _group_lock(group_id: str) -> threading.Lock:
    return _GROUP_LOCKS[zlib.crc32(group_id.encode()) % len(_GROUP_LOCKS)]


@attrs.frozen
class IngestResult:
    """What :meth:`Crashbot.ingest_alert` did with one alert."""

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


class Crashbot:
    """The incident service. Build it with :meth:`from_config` (or directly in tests).

    :param config: loaded configuration.
    :param store: the store (normally from the ``crashbot_open_store`` hook).
    :param pm: the plugin manager whose hooks receive events.
    :param clock: source of time; inject a :class:`~crashbot_core.clock.FixedClock` in tests.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        pm: pluggy.PluginManager,
        clock: Clock | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.pm = pm
        self.clock: Clock = clock or SystemClock()
        self.retry_policy = retry_policy or RetryPolicy()

    # ------------------------------------------------------------------ building

    @classmethod
    def from_config(
        cls,
        config: Config | str | None = None,
        *,
        pm: pluggy.PluginManager | None = None,
        clock: Clock | None = None,
        database_url: str | None = None,
    ) -> Crashbot:
        """Build the service: plugins from the entry-point group, config, store.

        :param config: a loaded :class:`Config`, a path to ``crashbot.toml``, or
            None for ``$CRASHBOT_CONFIG`` / ``./crashbot.toml`` / defaults.
        :param database_url: overrides the configured database.
        """
        pm = pm or get_plugin_manager()
        if not isinstance(config, Config):
            config = load_config(config, sections=collect_sections(pm))
        if database_url:
            config = attrs.evolve(
                config, general=attrs.evolve(config.general, database_url=database_url)
            )
        store = pm.hook.crashbot_open_store(config=config)
        if store is None:
            raise ConfigError(
                f"no installed plugin can open database {config.database_url!r} "
                "(expected sqlite:///FILE or postgresql+psycopg://…)"
            )
        return cls(config, store, pm, clock=clock)

    def close(self) -> None:
        """Release the store."""
        self.store.close()

    # ------------------------------------------------------------------ policy

    @property
    def policy(self) -> Any:
        """The severity policy (:class:`~crashbot_core.severity.SeverityPolicy`)."""
        return self.config.severity_policy

    @property
    def roles(self) -> Any:
        """The role policy (:class:`~crashbot_core.roles.RolePolicy`)."""
        return self.config.roles

    def now(self) -> datetime:
        """The service clock's current time."""
        return self.clock.now()

    # ------------------------------------------------------------------ reads

    def parse_id(self, value: int | str) -> int:
        """Accept ``42``, ``"42"``, ``"#42"`` or ``"INC-42"`` (any case).

        :raises InvalidInput: for anything else.
        """
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        prefix = re.escape(self.config.ref_prefix)
        m = re.fullmatch(rf"(?:{prefix}-|#)?(\d{{1,18}})", text, flags=re.IGNORECASE)
        if not m:
            raise InvalidInput(
                f"{text!r} is not an incident id; expected a number or a ref like "
                f"{self.config.ref_prefix}-42"
            )
        return int(m.group(1))

    def get(self, incident_id: int | str) -> Incident:
        """One incident.

        :raises NotFound: when there is no such incident.
        """
        iid = self.parse_id(incident_id)
        incident = self.store.get_incident(iid)
        if incident is None:
            raise NotFound(f"no incident {self.config.ref_prefix}-{iid}")
        return incident

    def list(self, flt: IncidentFilter | None = None, **criteria: Any) -> builtins.list[Incident]:
        """Incidents matching a filter (or :class:`IncidentFilter` keyword arguments)."""
        return self.store.list_incidents(flt or IncidentFilter(**criteria))

    def timeline(
        self, incident_id: int | str, *, public_only: bool = False
    ) -> builtins.list[Event]:
        """The incident's events, oldest first; ``public_only`` for the status page."""
        incident = self.get(incident_id)
        if public_only and not incident.public:
            return []
        return self.store.events(incident.id, public_only=public_only)

    def follow_ups(self, incident_id: int | str) -> builtins.list[FollowUp]:
        """The incident's follow-ups."""
        return self.store.follow_ups(self.get(incident_id).id)

    def components(self) -> builtins.list[Component]:
        """Components for the status page: the configured ones, then any stored ones."""
        configured = {c.key: c for c in self.config.components}
        stored = [c for c in self.store.components() if c.key not in configured]
        offset = len(configured)
        return list(configured.values()) + [
            attrs.evolve(c, position=c.position + offset) for c in stored
        ]

    def metrics(
        self,
        *,
        since: datetime | timedelta | None = None,
        until: datetime | None = None,
        by: str | None = None,
        **criteria: Any,
    ) -> Any:
        """Incident metrics (:class:`crashbot_core.metrics.MetricsReport`).

        :param since: start of the window (an instant, or a look-back like ``timedelta(days=90)``).
        :param by: ``severity``, ``month`` or ``component`` to add per-group figures.
        """
        from crashbot_core import metrics

        now = self.now()
        start = now - since if isinstance(since, timedelta) else since
        compute_in_store = getattr(self.store, "metrics", None)
        if compute_in_store is not None:
            return compute_in_store(
                self.policy, now=now, since=start, until=until, by=by, **criteria
            )
        incidents = self.store.list_incidents(
            IncidentFilter(since=start, until=until, newest_first=False, **criteria)
        )
        return metrics.compute(incidents, self.policy, now=now, since=start, until=until, by=by)

    # ------------------------------------------------------------------ commands

    def declare(
        self,
        title: str,
        *,
        actor: Actor | None = None,
        severity: str | None = None,
        description: str = "",
        public: bool | None = None,
        components: Mapping[str, Impact | str | None] | Iterable[str] | None = None,
        labels: Mapping[str, str] | None = None,
        source: str = "api",
        started_at: datetime | None = None,
    ) -> Incident:
        """Declare a new incident. Severity defaults to the policy's default level."""
        level = self.policy.parse(severity) if severity else self.policy.default_level
        comps: Mapping[str, Impact | str | None]
        if components is None:
            comps = {}
        elif isinstance(components, Mapping):
            comps = components
        else:
            comps = {c: None for c in components}
        incident, events = lifecycle.declare(
            title=title,
            severity=level,
            actor=actor or Actor.system(),
            now=self.now(),
            description=description,
            public=public,
            components=comps,
            labels=labels,
            source=source,
            started_at=started_at,
        )
        saved = self.store.commit(
            Change(
                incident=incident,
                expected_version=None,
                events=events,
                subscribers=self._subscribers(),
                ref_prefix=self.config.ref_prefix,
            )
        )
        self._after_commit(saved)
        return saved.incident

    def acknowledge(self, incident_id: int | str, *, actor: Actor | None = None) -> Incident:
        """Acknowledge: someone is on it."""
        who = actor or Actor.system()
        return self._run(
            incident_id, lambda inc, now: lifecycle.acknowledge(inc, actor=who, now=now)
        )

    def update(
        self,
        incident_id: int | str,
        *,
        actor: Actor | None = None,
        status: Status | str | None = None,
        severity: str | None = None,
        message: str | None = None,
        public: bool = False,
    ) -> Incident:
        """Change status and/or severity and/or post a message (internal unless ``public``)."""
        who = actor or Actor.system()
        new_status = _parse_status(status) if status is not None else None
        level = self.policy.parse(severity) if severity is not None else None
        return self._run(
            incident_id,
            lambda inc, now: lifecycle.update(
                inc,
                actor=who,
                now=now,
                status=new_status,
                severity=level,
                message=message,
                public=public,
            ),
        )

    def assign_role(
        self,
        incident_id: int | str,
        role: str,
        user: Actor,
        *,
        actor: Actor | None = None,
    ) -> Incident:
        """Give a role (``commander``/``ic``, ``communications``/``cl`` …) to a user."""
        the_role = self.roles.parse(role)
        who = actor or user
        return self._run(
            incident_id,
            lambda inc, now: lifecycle.assign_role(
                inc, role=the_role, user=user, actor=who, now=now
            ),
        )

    def unassign_role(
        self, incident_id: int | str, role: str, *, actor: Actor | None = None
    ) -> Incident:
        """Take a role away."""
        the_role = self.roles.parse(role)
        who = actor or Actor.system()
        return self._run(
            incident_id,
            lambda inc, now: lifecycle.unassign_role(inc, role=the_role, actor=who, now=now),
        )

    def set_components(
        self,
        incident_id: int | str,
        components: Mapping[str, Impact | str],
        *,
        actor: Actor | None = None,
    ) -> Incident:
        """Replace the affected components and their impact."""
        who = actor or Actor.system()
        return self._run(
            incident_id,
            lambda inc, now: lifecycle.set_components(
                inc, components=components, actor=who, now=now
            ),
        )

    def resolve(
        self,
        incident_id: int | str,
        *,
        actor: Actor | None = None,
        message: str | None = None,
        public: bool | None = None,
    ) -> Incident:
        """Resolve the incident."""
        who = actor or Actor.system()
        return self._run(
            incident_id,
            lambda inc, now: lifecycle.resolve(
                inc, actor=who, now=now, message=message, public=public
            ),
        )

    def reopen(
        self, incident_id: int | str, *, actor: Actor | None = None, message: str | None = None
    ) -> Incident:
        """Reopen a resolved incident."""
        who = actor or Actor.system()
        return self._run(
            incident_id, lambda inc, now: lifecycle.reopen(inc, actor=who, now=now, message=message)
        )

    def link_rca(self, incident_id: int | str, url: str, *, actor: Actor | None = None) -> Incident:
        """Link the RCA / postmortem of a resolved incident."""
        who = actor or Actor.system()
        return self._run(
            incident_id, lambda inc, now: lifecycle.link_rca(inc, url=url, actor=who, now=now)
        )

    def add_follow_up(
        self,
        incident_id: int | str,
        title: str,
        *,
        actor: Actor | None = None,
        owner: Actor | None = None,
        due: date | None = None,
        url: str | None = None,
    ) -> FollowUp:
        """Add an action item to an incident."""
        who = actor or Actor.system()
        text = lifecycle.clean_title(title)
        link = lifecycle.clean_url(url) if url else None
        created: builtins.list[FollowUp] = []

        def transition(inc: Incident, now: datetime) -> lifecycle.Result:
            fu = FollowUp(
                incident_id=inc.id, title=text, created_at=now, owner=owner, due=due, url=link
            )
            created[:] = [fu]
            return lifecycle.note(
                inc,
                kind=EventKind.FOLLOW_UP_ADDED,
                actor=who,
                now=now,
                title=text,
                owner=attrs.asdict(owner) if owner else None,
                due=due.isoformat() if due else None,
            )

        saved = self._run_saved(incident_id, transition, follow_ups=created)
        return saved.follow_ups[0]

    def complete_follow_up(self, follow_up_id: int, *, actor: Actor | None = None) -> FollowUp:
        """Mark a follow-up done."""
        who = actor or Actor.system()
        fu = self.store.get_follow_up(follow_up_id)
        if fu is None:
            raise NotFound(f"no follow-up {follow_up_id}")
        if fu.done:
            raise InvalidInput(f"follow-up {follow_up_id} is already done")
        done: builtins.list[FollowUp] = []

        def transition(inc: Incident, now: datetime) -> lifecycle.Result:
            done[:] = [attrs.evolve(fu, done=True, done_at=now)]
            return lifecycle.note(
                inc,
                kind=EventKind.FOLLOW_UP_DONE,
                actor=who,
                now=now,
                follow_up_id=fu.id,
                title=fu.title,
            )

        saved = self._run_saved(fu.incident_id, transition, follow_ups=done)
        return saved.follow_ups[0]

    def update_follow_up(self, follow_up: FollowUp) -> FollowUp:
        """Save a follow-up's fields (e.g. the external URL set by an exporter); no event."""
        if self.store.get_follow_up(follow_up.id) is None:
            raise NotFound(f"no follow-up {follow_up.id}")
        saved = self._run_saved(
            follow_up.incident_id, lambda inc, now: (inc, []), follow_ups=[follow_up]
        )
        return saved.follow_ups[0]

    def set_refs(self, incident_id: int | str, **refs: str | None) -> Incident:
        """Save plugin references on the incident (None removes a key); no event.

        Plugins namespace their keys: ``slack.channel``, ``discord.thread``.
        """

        def transition(inc: Incident, now: datetime) -> lifecycle.Result:
            merged = {**inc.refs}
            for key, value in refs.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            return inc.with_changes(refs=merged), []

        return self._run(incident_id, transition)

    def record(
        self, incident_id: int | str, kind: EventKind, *, actor: Actor | None = None, **data: Any
    ) -> Incident:
        """Add an internal note-like event (reminder sent, postmortem exported)."""
        who = actor or Actor.system()
        return self._run(
            incident_id,
            lambda inc, now: lifecycle.note(inc, kind=kind, actor=who, now=now, **data),
        )

    # ------------------------------------------------------------------ API tokens

    def create_token(
        self, name: str, scope: TokenScope | str = TokenScope.READ
    ) -> tuple[str, ApiToken]:
        """Create an API token; returns ``(secret, stored token)``. Only the hash is stored.

        The secret is shown once; it is 32 random bytes, so a plain SHA-256
        hash is enough to make the stored value useless to a thief.
        """
        label = name.strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}", label):
            raise InvalidInput(f"token name {name!r}: use letters, digits, '.', '_' or '-'")
        try:
            the_scope = TokenScope(scope)
        except ValueError:
            raise InvalidInput(f"unknown scope {scope!r}; expected read or write") from None
        if any(t.name == label for t in self.store.tokens()):
            raise InvalidInput(f"a token named {label!r} exists already")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(
            name=label, token_hash=hash_token(secret), scope=the_scope, created_at=self.now()
        )
        return secret, self.store.create_token(token)

    def authenticate(
        self, secret: str | None, scope: TokenScope | str = TokenScope.READ
    ) -> ApiToken:
        """The token for a bearer secret, if it grants ``scope`` (``write`` implies ``read``).

        ``CRASHBOT_API_TOKEN`` from the environment is accepted as a write token.

        :raises PermissionDenied: on a missing, unknown or under-scoped token.
        """
        wanted = TokenScope(scope)
        if not secret:
            raise PermissionDenied("an API token is required (Authorization: Bearer TOKEN)")
        env_token = self.config.general.api_token
        if env_token and hmac.compare_digest(secret.encode(), env_token.encode()):
            return ApiToken(
                name="CRASHBOT_API_TOKEN",
                token_hash="",
                scope=TokenScope.WRITE,
                created_at=self.now(),
            )
        token = self.store.find_token(hash_token(secret))
        if token is None:
            raise PermissionDenied("unknown API token")
        if wanted is TokenScope.WRITE and token.scope is not TokenScope.WRITE:
            raise PermissionDenied(f"token {token.name!r} is read-only; this needs a write token")
        return token

    # ------------------------------------------------------------------ alerts

    def alert_sources(self) -> dict[str, AlertSource]:
        """Alert sources offered by plugins, by name."""
        sources: dict[str, AlertSource] = {}
        for group in self.pm.hook.crashbot_alert_sources():
            for source in group or ():
                sources[source.name] = source
        return sources

    def ingest_alert(self, alert: Alert, *, raw: bytes | None = None) -> IngestResult:
        """Store an alert, then route it (see :meth:`ingest_alerts`)."""
        return self.ingest_alerts([alert], raws=[raw])[0]

    def ingest_alerts(
        self, alerts: Sequence[Alert], *, raws: Sequence[bytes | None] | None = None
    ) -> builtins.list[IngestResult]:
        """Store alerts, then attach each to its group's open incident or declare one.

        Every alert is recorded before anything else (in one transaction when
        the store offers ``record_alerts``), so nothing is lost if routing or
        chat delivery fails later. Routing follows ``[alerts]`` in the config
        (:mod:`crashbot_core.routing`):

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
        now = self.now()
        bodies = list(raws) if raws is not None else [None] * len(alerts)
        if len(bodies) != len(alerts):
            raise ValueError("give one raw body per alert")
        pairs = list(zip(alerts, bodies, strict=True))
        record_many = getattr(self.store, "record_alerts", None)
        if record_many is not None:
            stored: builtins.list[Alert] = record_many(pairs, now)
        else:
            stored = [self.store.record_alert(a, r, now) for a, r in pairs]
        results: builtins.list[IngestResult] = []
        for alert in stored:
            route = self.config.alerts.route(alert)
            try:
                results.append(self._route_alert(alert, route))
            except CrashbotError as exc:
                log.warning("alert %s stored but not routed: %s", alert.id, exc.message)
                results.append(
                    IngestResult(
                        alert, "recorded", rule=route.rule, group=route.group_key, error=exc.message
                    )
                )
        return results

    def _route_alert(self, alert: Alert, route: routing.Route) -> IngestResult:
        incident_id = self._open_group_incident(route.group_id)
        if incident_id is None:
            incident_id = self.store.open_incident_for_alert(alert.source, alert.fingerprint)
        if incident_id is not None:
            return self._attach_alert(alert, route, incident_id)
        if alert.status is not AlertStatus.FIRING or route.action is routing.Action.RECORD:
            return IngestResult(alert, "recorded", rule=route.rule, group=route.group_key)
        with _group_lock(route.group_id):
            recent = self._recent_group_incident(route)
            if recent is not None:
                return self._reopen_for_alert(alert, route, recent)
            return self._declare_for_alert(alert, route)

    def _open_group_incident(self, group_id: str) -> int | None:
        found = self.store.list_incidents(
            IncidentFilter(open=True, label=(routing.GROUP_LABEL, group_id), limit=1)
        )
        return found[0].id if found else None

    def _recent_group_incident(self, route: routing.Route) -> Incident | None:
        if route.window <= timedelta(0):
            return None
        found = self.store.list_incidents(
            IncidentFilter(open=False, label=(routing.GROUP_LABEL, route.group_id), limit=1)
        )
        if found and routing.recently_resolved(found[0], self.now(), route.window):
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

    def _attach_alert(self, alert: Alert, route: routing.Route, incident_id: int) -> IngestResult:
        last_status = getattr(self.store, "last_alert_status", None)
        if last_status is not None:
            previous = last_status(incident_id, alert.source, alert.fingerprint, before_id=alert.id)
        else:
            earlier = [
                a
                for a in self.store.alerts(incident_id)
                if (a.source, a.fingerprint) == (alert.source, alert.fingerprint)
                and a.id < alert.id
            ]
            previous = earlier[-1].status if earlier else None
        if previous is not None and AlertStatus(previous) is alert.status:
            # The same alert saying the same thing again (Alertmanager repeats
            # every firing alert of a group): kept, linked, not announced.
            link = getattr(self.store, "link_alerts", None)
            if link is not None:
                link(incident_id, [alert.id])
                incident = self.store.get_incident(incident_id)
            else:
                incident = self._run_saved(
                    incident_id, lambda inc, t: (inc, []), alert_ids=[alert.id]
                ).incident
            return IngestResult(alert, "grouped", incident, rule=route.rule, group=route.group_key)
        all_resolved = False
        if alert.status is AlertStatus.RESOLVED:
            states = routing.latest_statuses(self.store.alerts(incident_id))
            states[(alert.source, alert.fingerprint)] = AlertStatus.RESOLVED
            all_resolved = all(s is AlertStatus.RESOLVED for s in states.values())
        most_severe = self.policy.levels[0].key
        actor = self._alert_actor(alert)

        def transition(inc: Incident, t: datetime) -> lifecycle.Result:
            new, events = self._attach_event(inc, alert, t)
            follow = routing.after_alert(
                new,
                alert.status,
                all_resolved=all_resolved,
                on_resolved=route.on_resolved,
                most_severe=most_severe,
            )
            more: builtins.list[Event] = []
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

        saved = self._run_saved(incident_id, transition, alert_ids=[alert.id])
        return IngestResult(
            alert, "attached", saved.incident, rule=route.rule, group=route.group_key
        )

    def _reopen_for_alert(
        self, alert: Alert, route: routing.Route, incident: Incident
    ) -> IngestResult:
        actor = self._alert_actor(alert)

        def transition(inc: Incident, t: datetime) -> lifecycle.Result:
            events: builtins.list[Event] = []
            if not inc.is_open:
                inc, events = lifecycle.reopen(
                    inc, actor=actor, now=t, message=f"Alert fired again: {alert.title}"
                )
            new, more = self._attach_event(inc, alert, t)
            return new, events + more

        saved = self._run_saved(incident.id, transition, alert_ids=[alert.id])
        return IngestResult(
            alert, "reopened", saved.incident, rule=route.rule, group=route.group_key
        )

    def _declare_for_alert(self, alert: Alert, route: routing.Route) -> IngestResult:
        existing = self._open_group_incident(route.group_id)
        if existing is not None:  # declared by another thread while we waited
            return self._attach_alert(alert, route, existing)
        now = self.now()
        level = self.policy.default_level
        if route.severity:
            try:
                level = self.policy.parse(route.severity)
            except InvalidInput:
                log.info("alert severity %r matches no level; using %s", route.severity, level.key)
        actor = self._alert_actor(alert)
        incident, events = lifecycle.declare(
            title=" ".join(alert.title.split())[: lifecycle.MAX_TITLE] or f"{alert.source} alert",
            severity=level,
            actor=actor,
            now=now,
            description=alert.description[: lifecycle.MAX_TEXT],
            public=None if route.action is routing.Action.DECLARE else False,
            components=route.components,
            labels={**alert.labels, routing.GROUP_LABEL: route.group_id},
            source=f"alert:{alert.source}",
            started_at=min(alert.started_at, now) if alert.started_at else None,
        )
        _, attach = self._attach_event(incident, alert, now)
        change = Change(
            incident=incident,
            expected_version=None,
            events=events + attach,
            alert_ids=[alert.id],
            subscribers=self._subscribers(),
            ref_prefix=self.config.ref_prefix,
        )
        atomic = getattr(self.store, "commit_for_alert_group", None)
        if atomic is not None:
            outcome = atomic(change, (routing.GROUP_LABEL, route.group_id))
            if isinstance(outcome, int):  # another process declared it first
                return self._attach_alert(alert, route, outcome)
            saved: Saved = outcome
        else:
            saved = self.store.commit(change)
        self._after_commit(saved)
        return IngestResult(
            alert, "declared", saved.incident, rule=route.rule, group=route.group_key
        )

    # ------------------------------------------------------------------ postmortems

    def postmortem_exporters(self) -> dict[str, PostmortemExporter]:
        """Postmortem exporters offered by plugins, by name."""
        exporters: dict[str, PostmortemExporter] = {}
        for group in self.pm.hook.crashbot_postmortem_exporters():
            for exporter in group or ():
                exporters[exporter.name] = exporter
        return exporters

    def export_postmortem(
        self,
        incident_id: int | str,
        to: str,
        *,
        actor: Actor | None = None,
        out: str | None = None,
    ) -> str:
        """Publish the incident's postmortem with exporter ``to``; returns where it lives.

        Records a ``postmortem_exported`` event and links the published URL as
        the RCA of a resolved incident that has none yet. See
        :func:`crashbot_core.postmortem.export_postmortem`.

        :raises crashbot_core.postmortem.ExportError: the exporter failed; nothing was recorded.
        """
        from crashbot_core import postmortem

        return postmortem.export_postmortem(self, incident_id, to, actor=actor, out=out)

    # ------------------------------------------------------------------ reminders

    def due_reminders(self) -> builtins.list[tuple[Incident, Reminder]]:
        """Reminders due now for open incidents and recently resolved ones."""
        from crashbot_core import schedule

        now = self.now()
        recent = now - self.config.rca_due_after - timedelta(days=30)
        candidates = self.store.list_incidents(IncidentFilter(open=True, newest_first=False))
        candidates += [
            i
            for i in self.store.list_incidents(
                IncidentFilter(open=False, since=recent, newest_first=False)
            )
            if i.rca_url is None
        ]
        by_id = {i.id: i for i in candidates}
        due = schedule.due_reminders(
            candidates,
            now,
            self.policy,
            stale_after=self.config.stale_after,
            rca_due_after=self.config.rca_due_after,
        )
        return [(by_id[r.incident_id], r) for r in due]

    def send_reminder(self, incident: Incident, reminder: Reminder) -> bool:
        """Deliver a reminder once: claim its key, call ``crashbot_reminder``, record it.

        :returns: False when another worker already claimed it.
        """
        if not self.store.claim_reminder(reminder.key, incident.id, self.now()):
            return False
        self.pm.hook.crashbot_reminder(crashbot=self, incident=incident, reminder=reminder)
        self.record(
            incident.id,
            EventKind.REMINDER_SENT,
            reminder=reminder.kind.value,
            key=reminder.key,
            message=reminder.message,
        )
        return True

    # ------------------------------------------------------------------ delivery

    def deliveries(self, *, failed_only: bool = False, limit: int = 100) -> builtins.list[Delivery]:
        """Event deliveries, newest first (``failed_only``: failed and dead ones)."""
        states = (DeliveryState.FAILED, DeliveryState.DEAD) if failed_only else ()
        return self.store.deliveries(states=states, limit=limit)

    def retry_deliveries(self, *, limit: int = 100) -> int:
        """Retry due deliveries, oldest first; returns how many succeeded."""
        ok = 0
        blocked: set[tuple[int, str]] = set()
        for d in self.store.due_deliveries(self.now(), limit=limit):
            if (d.incident_id, d.plugin) in blocked:
                continue  # keep per-incident order: a later event waits for an earlier one
            event = self.store.get_event(d.event_id)
            incident = self.store.get_incident(d.incident_id)
            if event is None or incident is None:
                continue
            if self._deliver_one(d.plugin, incident, event, attempts=d.attempts):
                ok += 1
            else:
                blocked.add((d.incident_id, d.plugin))
        return ok

    def on_event(self, callback: Callable[[Incident, Event], None], name: str | None = None) -> str:
        """Register a callable that receives every event after commit (library use).

        :returns: the plugin name it was registered under (to unregister).
        """

        class _Listener:
            @hookimpl
            def crashbot_incident_event(self, incident: Incident, event: Event) -> None:
                callback(incident, event)

        plugin_name = name or f"listener-{id(callback):x}"
        self.pm.register(_Listener(), name=plugin_name)
        return plugin_name

    # ------------------------------------------------------------------ internals

    def _subscribers(self) -> builtins.list[str]:
        return sorted(
            {impl.plugin_name for impl in self.pm.hook.crashbot_incident_event.get_hookimpls()}
        )

    def _run(self, incident_id: int | str, transition: Transition) -> Incident:
        return self._run_saved(incident_id, transition).incident

    def _run_saved(
        self,
        incident_id: int | str,
        transition: Transition,
        *,
        follow_ups: Sequence[FollowUp] = (),
        alert_ids: Sequence[int] = (),
    ) -> Saved:
        # Commands are intents checked against the current state: after a
        # version conflict we re-load and re-validate, so a commutative command
        # (posting an update) goes through and a conflicting one (a second
        # resolve) fails with the real reason.
        iid = self.parse_id(incident_id)
        for _ in range(MAX_CONFLICT_RETRIES):
            incident = self.get(iid)
            new, events = transition(incident, self.now())
            change = Change(
                incident=new,
                expected_version=incident.version,
                events=events,
                follow_ups=list(follow_ups),
                alert_ids=alert_ids,
                subscribers=self._subscribers() if events else (),
                ref_prefix=self.config.ref_prefix,
            )
            try:
                saved = self.store.commit(change)
            except ConflictError:
                continue
            self._after_commit(saved)
            return saved
        raise ConflictError(
            f"{self.config.ref_prefix}-{iid} kept changing while this command ran; try again"
        )

    def _after_commit(self, saved: Saved) -> None:
        failed: set[str] = set()
        for event in saved.events:
            for impl in self.pm.hook.crashbot_incident_event.get_hookimpls():
                if impl.plugin_name in failed:
                    continue  # keep per-incident order; the worker delivers the rest
                if not self._deliver_one(impl.plugin_name, saved.incident, event, attempts=0):
                    failed.add(impl.plugin_name)

    def _deliver_one(self, plugin: str, incident: Incident, event: Event, *, attempts: int) -> bool:
        impls = [
            i
            for i in self.pm.hook.crashbot_incident_event.get_hookimpls()
            if i.plugin_name == plugin
        ]
        now = self.now()
        if not impls:
            self.store.mark_delivery(
                event.id,
                plugin,
                DeliveryState.DEAD,
                at=now,
                error="plugin is no longer installed",
            )
            return False
        kwargs = {"crashbot": self, "incident": incident, "event": event}
        try:
            for impl in impls:
                impl.function(**{k: kwargs[k] for k in impl.argnames})
        except Exception as exc:
            retry_after = exc.seconds if isinstance(exc, RetryAfter) else None
            nxt = self.retry_policy.next_attempt(
                attempts + 1, now, first_attempt_at=event.at, retry_after=retry_after
            )
            state = DeliveryState.FAILED if nxt is not None else DeliveryState.DEAD
            error = "".join(traceback.format_exception_only(exc)).strip()[:2000]
            log.warning("delivery of event %s to %s failed: %s", event.id, plugin, error)
            self.store.mark_delivery(
                event.id, plugin, state, at=now, error=error, next_attempt_at=nxt
            )
            return False
        self.store.mark_delivery(event.id, plugin, DeliveryState.DELIVERED, at=now)
        return True


def _parse_status(value: Status | str) -> Status:
    if isinstance(value, Status):
        return value
    try:
        return Status(value.strip().lower())
    except ValueError:
        allowed = ", ".join(s.value for s in Status)
        raise InvalidInput(f"unknown status {value!r}; expected one of {allowed}") from None


def hash_token(secret: str) -> str:
    """The stored form of an API token secret (hex SHA-256)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def collect_sections(pm: pluggy.PluginManager) -> dict[str, type[Any]]:
    """Plugin settings classes by section name, from ``crashbot_config_sections``."""
    sections: dict[str, type[Any]] = {}
    for result in pm.hook.crashbot_config_sections():
        sections.update(result or {})
    return sections
