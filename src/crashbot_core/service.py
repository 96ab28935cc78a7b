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
import functools
import hashlib
import hmac
import logging
import os
import random
import re
import secrets
import socket
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
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
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from crashbot_core.hookspecs import (
    SUBSCRIBED_WHEN_ATTR,
    AlertSource,
    PostmortemExporter,
    hookimpl,
)
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

#: After this many version conflicts a command re-runs under the store's row
#: lock (``commit_locked``), when the store offers one.
LOCK_AFTER_CONFLICTS = 3

#: How often a command is re-run on fresh state after a version conflict. With
#: the backoff below this rides out dozens of writers on one incident.
MAX_CONFLICT_RETRIES = 100

#: Longest pause (seconds) between conflict retries. Retries back off with
#: full jitter (0, then up to 1, 2, 4 … ms) so that many replicas hammering
#: one incident interleave instead of colliding again in lockstep.
MAX_CONFLICT_BACKOFF = 0.05

#: How long a claimed delivery or reminder stays leased to its claimer. It must
#: outlast the slowest plugin call (chat APIs time out well within it); when a
#: worker dies, another one takes its claims over after this long.
DEFAULT_LEASE = timedelta(minutes=2)

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
        self.retry_policy = retry_policy or RetryPolicy(horizon=config.delivery_retry_horizon)
        #: Lease on claimed deliveries and reminders (see :data:`DEFAULT_LEASE`).
        self.lease = DEFAULT_LEASE
        #: Who this service is when it claims outbox rows and reminders.
        self.instance_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        #: Version conflicts met (each one re-ran a command on fresh state).
        self.conflicts = 0
        self._conflicts_lock = threading.Lock()
        # Per-thread queue of commits made while this thread delivers events.
        self._delivering = threading.local()

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
        try:
            store = pm.hook.crashbot_open_store(config=config)
        except CrashbotError:
            raise
        except Exception as exc:
            # An unreachable server or unwritable file is a deployment setting
            # to fix, not a crash: one line naming the database (no password).
            where = re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", config.database_url)
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"cannot open database {where!r}: {reason}") from exc
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
        elif isinstance(components, str):
            comps = {components: None}  # one key, not its letters
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
            # Re-read on every try: after a conflict, someone may have done it.
            current = self.store.get_follow_up(follow_up_id)
            if current is not None and current.done:
                raise InvalidInput(f"follow-up {follow_up_id} is already done")
            done[:] = [attrs.evolve(current or fu, done=True, done_at=now)]
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
        now = self.now()
        bodies = list(raws) if raws is not None else [None] * len(alerts)
        if len(bodies) != len(alerts):
            raise ValueError("give one raw body per alert")
        routes = [self.config.alerts.route(alert) for alert in alerts]
        # Reads only: which groups have open incidents, what their alerts last
        # said. A repeat of a known alert is stored already linked, so a storm
        # of repeats costs one write per request and no timeline noise.
        batch = _AlertBatch(self, alerts, routes)
        repeats = [batch.known_repeat(a, r) for a, r in zip(alerts, routes, strict=True)]
        pairs = [
            (attrs.evolve(a, incident_id=iid) if iid is not None else a, raw)
            for a, raw, iid in zip(alerts, bodies, repeats, strict=True)
        ]
        record_many = getattr(self.store, "record_alerts", None)
        if record_many is not None:
            stored: builtins.list[Alert] = record_many(pairs, now)
        else:
            stored = [self.store.record_alert(a, r, now) for a, r in pairs]
        results: builtins.list[IngestResult] = []
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

    def _route_alert(self, alert: Alert, route: routing.Route, batch: _AlertBatch) -> IngestResult:
        incident_id = batch.group_incident(route.group_id)
        if incident_id is None:
            incident_id = self.store.open_incident_for_alert(alert.source, alert.fingerprint)
        if incident_id is not None:
            return self._attach_alert(alert, route, incident_id, batch)
        if alert.status is not AlertStatus.FIRING or route.action is routing.Action.RECORD:
            return IngestResult(alert, "recorded", rule=route.rule, group=route.group_key)
        with _group_lock(route.group_id):
            recent = self._recent_group_incident(route)
            if recent is not None:
                result = self._reopen_for_alert(alert, route, recent)
            else:
                result = self._declare_for_alert(alert, route, batch)
        if result.incident is not None:
            batch.remember(route.group_id, alert, result.incident)
        return result

    def _open_group_incidents(self, group_ids: Iterable[str]) -> dict[str, Incident]:
        """Open incidents of these alert groups (one query when the store can)."""
        wanted = sorted(set(group_ids))
        bulk = getattr(self.store, "open_incidents_for_groups", None)
        if bulk is not None:
            found: dict[str, Incident] = bulk(routing.GROUP_LABEL, wanted)
            return found
        out: dict[str, Incident] = {}
        for gid in wanted:
            hits = self.store.list_incidents(
                IncidentFilter(open=True, label=(routing.GROUP_LABEL, gid), limit=1)
            )
            if hits:
                out[gid] = hits[0]
        return out

    def _previous_statuses(
        self, keys: Sequence[tuple[int, str, str]], before_id: int | None
    ) -> dict[tuple[int, str, str], AlertStatus]:
        """Newest status per (incident, source, fingerprint), among alerts older than ``before_id``."""
        bulk = getattr(self.store, "last_alert_statuses", None)
        if bulk is not None:
            found: dict[tuple[int, str, str], AlertStatus] = bulk(keys, before_id=before_id)
            return found
        wanted = set(keys)
        out: dict[tuple[int, str, str], AlertStatus] = {}
        for iid in {k[0] for k in wanted}:
            for a in self.store.alerts(iid):
                key = (iid, a.source, a.fingerprint)
                if key in wanted and (before_id is None or a.id < before_id):
                    out[key] = AlertStatus(a.status)
        return out

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

    def _attach_alert(
        self, alert: Alert, route: routing.Route, incident_id: int, batch: _AlertBatch
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
        batch.remember(route.group_id, alert, saved.incident)
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

    def _declare_for_alert(
        self, alert: Alert, route: routing.Route, batch: _AlertBatch
    ) -> IngestResult:
        existing = self._open_group_incidents([route.group_id]).get(route.group_id)
        if existing is not None:  # declared by another thread while we waited
            batch.incidents[existing.id] = existing
            return self._attach_alert(alert, route, existing.id, batch)
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
        change = Change(
            incident=incident,
            expected_version=None,
            events=events,
            alert_ids=[alert.id],
            subscribers=self._subscribers(),
            ref_prefix=self.config.ref_prefix,
        )
        atomic = getattr(self.store, "commit_for_alert_group", None)
        if atomic is not None:
            outcome = atomic(change, (routing.GROUP_LABEL, route.group_id))
            if isinstance(outcome, int):  # another process declared it first
                return self._attach_alert(alert, route, outcome, batch)
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
        """Deliver a reminder exactly once across workers; record it on the timeline.

        The key is leased in the store first (for :attr:`lease`), so among any
        number of workers one sends it; a worker that dies before sending
        leaves the key unsent and another takes it over once the lease runs
        out. Each ``crashbot_reminder`` implementation is called on its own: one
        that raises is logged and does not stop the others, and the reminder
        still counts as sent (it is not repeated to the plugins that got it).

        :returns: False when another worker holds or already sent it.
        """
        now = self.now()
        if not self.store.lease_reminder(
            reminder.key,
            incident.id,
            owner=self.instance_id,
            now=now,
            lease_until=now + self.lease,
        ):
            return False
        kwargs = {"crashbot": self, "incident": incident, "reminder": reminder}
        for impl in self.pm.hook.crashbot_reminder.get_hookimpls():
            try:
                impl.function(**{k: kwargs[k] for k in impl.argnames})
            except Exception:
                log.exception("reminder %s to %s failed", reminder.key, impl.plugin_name)
        if not self.store.finish_reminder(reminder.key, owner=self.instance_id, at=self.now()):
            # Our lease ran out mid-send and another worker took the key over.
            log.warning("reminder %s: lease lost while sending", reminder.key)
            return False
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

    def retry_deliveries(self, *, limit: int = 100, stop: threading.Event | None = None) -> int:
        """Deliver what the outbox holds that is due, oldest first; returns how many succeeded.

        Rows are leased from the store in batches
        (:meth:`~crashbot_core.store.Store.claim_deliveries`): a batch holds at
        most the oldest undelivered event per (incident, plugin), so a later
        event never overtakes an earlier one (not even one that failed and is
        not due yet), and any number of workers can run this at once without
        delivering anything twice. Batches are claimed until nothing is due or
        ``limit`` attempts were made, so a backlog drains in order in one call.

        :param stop: when set (SIGTERM), the attempt in progress finishes and
            the rest of the batch is handed back at once for another worker.
        """
        ok = attempts = 0
        while attempts < limit and not (stop is not None and stop.is_set()):
            now = self.now()
            batch = self.store.claim_deliveries(
                now,
                owner=self.instance_id,
                lease_until=now + self.lease,
                limit=min(limit - attempts, 100),
            )
            if not batch:
                break
            for i, d in enumerate(batch):
                if stop is not None and stop.is_set():
                    rest = [(x.event_id, x.plugin) for x in batch[i:]]
                    self.store.release_deliveries(rest, owner=self.instance_id)
                    break
                attempts += 1
                event = self.store.get_event(d.event_id)
                incident = self.store.get_incident(d.incident_id)
                if event is None or incident is None:  # deleted meanwhile: nothing to say
                    self.store.finish_delivery(
                        d.event_id,
                        d.plugin,
                        DeliveryState.DEAD,
                        owner=self.instance_id,
                        at=now,
                        error="the event or incident no longer exists",
                    )
                    continue
                if self._deliver_one(d.plugin, incident, event, attempts=d.attempts):
                    ok += 1
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
        # Inert plugins (no token, no webhook) opt out with @subscribed_when,
        # so a command writes and claims delivery rows only for plugins that
        # will do something with them.
        names = set()
        for impl in self.pm.hook.crashbot_incident_event.get_hookimpls():
            predicate = getattr(impl.function, SUBSCRIBED_WHEN_ATTR, None)
            if predicate is not None:
                try:
                    if not predicate(self):
                        continue
                except Exception:
                    log.exception("subscribed_when of plugin %s failed", impl.plugin_name)
            names.add(impl.plugin_name)
        return sorted(names)

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

        def build(incident: Incident, attempt: int) -> Change:
            try:
                new, events = transition(incident, self.now())
            except IllegalTransition as exc:
                if attempt == 0:
                    raise
                # We lost a race: say who won, not only what the state is now.
                raise self._lost_race(incident, exc) from None
            return Change(
                incident=new,
                expected_version=incident.version,
                events=events,
                follow_ups=list(follow_ups),
                alert_ids=alert_ids,
                subscribers=self._subscribers() if events else (),
                ref_prefix=self.config.ref_prefix,
            )

        commit_locked = getattr(self.store, "commit_locked", None)
        for attempt in range(MAX_CONFLICT_RETRIES):
            if attempt >= LOCK_AFTER_CONFLICTS and commit_locked is not None:
                # Optimistic retries can starve a writer on a hot incident;
                # holding the row lock from read to write guarantees progress.
                saved: Saved = commit_locked(iid, functools.partial(build, attempt=attempt))
                self._after_commit(saved)
                return saved
            change = build(self.get(iid), attempt)
            try:
                saved = self.store.commit(change)
            except ConflictError:
                with self._conflicts_lock:
                    self.conflicts += 1
                if attempt:
                    time.sleep(random.uniform(0, min(0.001 * 2**attempt, MAX_CONFLICT_BACKOFF)))
                continue
            self._after_commit(saved)
            return saved
        raise ConflictError(
            f"{self.config.ref_prefix}-{iid} kept changing while this command ran; try again"
        )

    def _lost_race(self, incident: Incident, exc: IllegalTransition) -> IllegalTransition:
        """``exc`` (raised on fresh state after a conflict), led by who changed the incident."""
        moves = {
            EventKind.RESOLVED: "resolved",
            EventKind.REOPENED: "reopened",
            EventKind.ACKNOWLEDGED: "acknowledged",
            EventKind.STATUS_CHANGED: "moved to " + incident.status.value,
            EventKind.RCA_LINKED: "given an RCA link",
        }
        last = next((e for e in reversed(self.store.events(incident.id)) if e.kind in moves), None)
        if last is None:
            return exc
        who = last.actor.name or last.actor.id
        lead = (
            f"{incident.ref} was already {moves[last.kind]} by {who} "
            f"at {last.at.astimezone(UTC):%H:%M} UTC"
        )
        err = IllegalTransition(exc.asked, exc.current, exc.allowed)
        err.message = f"{lead}; {exc.message}"
        err.args = (err.message,)
        return err

    def _after_commit(self, saved: Saved) -> None:
        # A plugin may run commands while handling an event (an exporter
        # records `postmortem_exported`). Delivering that commit at once would
        # find the outer event still in flight and leave the new one to the
        # worker; instead it queues behind the outer call's own events.
        queue: builtins.list[Saved] | None = getattr(self._delivering, "queue", None)
        if queue is not None:
            queue.append(saved)
            return
        self._delivering.queue = queue = [saved]
        try:
            while queue:
                self._deliver_saved(queue.pop(0))
        finally:
            self._delivering.queue = None

    def _deliver_saved(self, saved: Saved) -> None:
        # Deliver this command's events now, in order per plugin. The rows are
        # leased first, so a worker polling the outbox at this moment cannot
        # deliver them too. A plugin with an earlier event of this incident
        # still undelivered (failed, waiting for a retry) gets nothing here:
        # the claim skips it and the worker delivers in order later.
        if not saved.events or not self._subscribers():
            return
        now = self.now()
        claimed = self.store.claim_deliveries(
            now,
            owner=self.instance_id,
            lease_until=now + self.lease,
            limit=10_000,
            event_ids=[e.id for e in saved.events],
        )
        events = {e.id: e for e in saved.events}
        failed: set[str] = set()
        unused: builtins.list[tuple[int, str]] = []
        for d in claimed:  # oldest event first
            if d.plugin in failed:
                unused.append((d.event_id, d.plugin))  # waits behind the failed one
                continue
            if not self._deliver_one(d.plugin, saved.incident, events[d.event_id], attempts=0):
                failed.add(d.plugin)
        if unused:
            self.store.release_deliveries(unused, owner=self.instance_id)

    def _deliver_one(self, plugin: str, incident: Incident, event: Event, *, attempts: int) -> bool:
        impls = [
            i
            for i in self.pm.hook.crashbot_incident_event.get_hookimpls()
            if i.plugin_name == plugin
        ]
        now = self.now()
        if not impls:
            self.store.finish_delivery(
                event.id,
                plugin,
                DeliveryState.DEAD,
                owner=self.instance_id,
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
            self.store.finish_delivery(
                event.id,
                plugin,
                state,
                owner=self.instance_id,
                at=now,
                error=error,
                next_attempt_at=nxt,
            )
            return False
        self.store.finish_delivery(
            event.id, plugin, DeliveryState.DELIVERED, owner=self.instance_id, at=now
        )
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


class _AlertBatch:
    """Per-request state of :meth:`Crashbot.ingest_alerts`: a storm costs a few queries per request.

    It prefetches the open incident of every group in the request and the
    last status of every alert already on them, remembers what this request
    changed, and links silent repeats in one transaction at the end.
    """

    def __init__(
        self, bot: Crashbot, alerts: Sequence[Alert], routes: Sequence[routing.Route]
    ) -> None:
        self.bot = bot
        open_incidents = bot._open_group_incidents(r.group_id for r in routes)
        self.groups: dict[str, int] = {gid: inc.id for gid, inc in open_incidents.items()}
        self.incidents: dict[int, Incident] = {inc.id: inc for inc in open_incidents.values()}
        self.statuses: dict[tuple[int, str, str], AlertStatus] = {}
        self.fetched: set[tuple[int, str, str]] = set()
        self.links: dict[int, list[int]] = {}
        keys = [
            (self.groups[r.group_id], a.source, a.fingerprint)
            for a, r in zip(alerts, routes, strict=True)
            if r.group_id in self.groups
        ]
        if keys:
            # Called before this request's alerts are stored: every stored alert is older.
            self.statuses.update(bot._previous_statuses(keys, None))
            self.fetched.update(keys)
        # What each prefetched alert says as the request goes, for known_repeat only.
        self.simulated = dict(self.statuses)

    def known_repeat(self, alert: Alert, route: routing.Route) -> int | None:
        """The incident id when ``alert`` repeats what it last said on its group's open incident.

        Decided from prefetched state, in request order, before anything is
        stored; anything else (new alerts, status changes) is routed after.
        """
        incident_id = self.groups.get(route.group_id)
        if incident_id is None:
            return None
        key = (incident_id, alert.source, alert.fingerprint)
        previous = self.simulated.get(key)
        self.simulated[key] = AlertStatus(alert.status)
        return incident_id if previous is AlertStatus(alert.status) else None

    def group_incident(self, group_id: str) -> int | None:
        """The group's open incident, as prefetched or as this request left it."""
        return self.groups.get(group_id)

    def previous_status(self, incident_id: int, alert: Alert) -> AlertStatus | None:
        """What this alert last said on this incident (None: it is new there)."""
        key = (incident_id, alert.source, alert.fingerprint)
        if key not in self.fetched and key not in self.statuses:
            # Linked alerts only (this one is not yet): its id may be older than
            # one a concurrent request linked first, so ids do not order them.
            self.statuses.update(self.bot._previous_statuses([key], None))
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
            found = self.bot.store.get_incident(incident_id)
            if found is None:
                return None
            self.incidents[incident_id] = found
        return self.incidents[incident_id]

    def flush(self) -> None:
        """Link the queued repeats (one transaction when the store can)."""
        if not self.links:
            return
        links, self.links = self.links, {}
        link = getattr(self.bot.store, "link_alerts", None)
        if link is not None:
            link(links)
            return
        for incident_id, ids in links.items():
            self.bot._run_saved(incident_id, lambda inc, t: (inc, []), alert_ids=ids)
