"""The domain model: frozen attrs classes, changed with :func:`attrs.evolve`.

Serialisation lives elsewhere (:mod:`crashbot_core.serialize`); these classes
hold invariants only.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import attrs
from attrs import field, frozen


class Status(enum.StrEnum):
    """Where an incident is in its life."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"

    @property
    def is_open(self) -> bool:
        """True for every status but ``resolved``."""
        return self is not Status.RESOLVED


OPEN_STATUSES: tuple[Status, ...] = (Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING)


class Resolution(enum.StrEnum):
    """How a closed incident ended.

    An incident closed as ``invalid`` (a false alarm) or ``duplicate`` (merged
    into another) keeps status ``resolved`` for Statuspage's sake, but is left
    out of the metrics, ``/api/list`` and the status page.
    """

    RESOLVED = "resolved"
    INVALID = "invalid"
    DUPLICATE = "duplicate"

    @property
    def counts(self) -> bool:
        """True when the incident counts in metrics and public outputs."""
        return self is Resolution.RESOLVED


class Impact(enum.StrEnum):
    """How badly an incident hurts one component.

    The names are Statuspage's component statuses, so the status site maps
    them one to one.
    """

    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"

    @classmethod
    def parse(cls, text: str) -> Impact:
        """Read an impact from user text: ``major_outage``, ``major``, ``partial``, ``degraded``."""
        from crashbot_core.errors import InvalidInput

        norm = text.strip().lower().replace("-", "_").replace(" ", "_")
        aliases = {
            "degraded": cls.DEGRADED_PERFORMANCE,
            "degraded_performance": cls.DEGRADED_PERFORMANCE,
            "partial": cls.PARTIAL_OUTAGE,
            "partial_outage": cls.PARTIAL_OUTAGE,
            "major": cls.MAJOR_OUTAGE,
            "major_outage": cls.MAJOR_OUTAGE,
            "outage": cls.MAJOR_OUTAGE,
            "maintenance": cls.UNDER_MAINTENANCE,
            "under_maintenance": cls.UNDER_MAINTENANCE,
        }
        try:
            return aliases[norm]
        except KeyError:
            allowed = ", ".join(i.value for i in cls)
            raise InvalidInput(f"unknown impact {text!r}; expected one of {allowed}") from None

    @property
    def rank(self) -> int:
        """Ordering by badness; maintenance ranks lowest (it is planned)."""
        return {
            Impact.UNDER_MAINTENANCE: 0,
            Impact.DEGRADED_PERFORMANCE: 1,
            Impact.PARTIAL_OUTAGE: 2,
            Impact.MAJOR_OUTAGE: 3,
        }[self]


class EventKind(enum.StrEnum):
    """Every kind of timeline entry."""

    DECLARED = "declared"
    ACKNOWLEDGED = "acknowledged"
    STATUS_CHANGED = "status_changed"
    SEVERITY_CHANGED = "severity_changed"
    UPDATE_POSTED = "update_posted"
    ROLE_ASSIGNED = "role_assigned"
    ROLE_UNASSIGNED = "role_unassigned"
    COMPONENTS_CHANGED = "components_changed"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    RCA_LINKED = "rca_linked"
    ALERT_ATTACHED = "alert_attached"
    FOLLOW_UP_ADDED = "follow_up_added"
    FOLLOW_UP_DONE = "follow_up_done"
    REMINDER_SENT = "reminder_sent"
    POSTMORTEM_EXPORTED = "postmortem_exported"
    VISIBILITY_CHANGED = "visibility_changed"
    #: Closed as invalid or duplicate (``data["resolution"]``); internal.
    CLOSED = "closed"
    #: A duplicate was merged into this incident (``data["duplicate_ref"]``); internal.
    MERGED = "merged"
    #: A past incident recorded after the fact (``crashbot declare --retrospective``).
    RECORDED = "recorded"
    #: A field corrected: ``data["field"]``, ``data["from"]``, ``data["to"]``; internal.
    EDITED = "edited"


@frozen
class Actor:
    """Who did something: a person on a platform, or a system."""

    #: ``slack``, ``discord``, ``cli``, ``api``, ``alert``, ``system`` …
    platform: str
    #: The platform's own id (Slack user id, Discord snowflake, login name).
    id: str
    #: A human-readable name, for messages and the timeline.
    name: str = ""

    @property
    def display(self) -> str:
        """The name when known, else the id."""
        return self.name or self.id

    @classmethod
    def system(cls, name: str = "crashbot") -> Actor:
        """The actor for changes crashbot makes on its own (reminders, alert routing)."""
        return cls(platform="system", id=name, name=name)


@frozen
class Component:
    """A part of the service shown on the status page."""

    #: Stable identifier, e.g. ``api``.
    key: str
    #: Display name, e.g. ``Checkout API``.
    name: str = ""
    #: Group heading on the status page; empty for ungrouped.
    group: str = ""
    description: str = ""
    #: Order on the status page (lower first).
    position: int = 0

    @property
    def display(self) -> str:
        """The name when set, else the key."""
        return self.name or self.key


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("datetimes in the model must be timezone-aware (UTC)")
    return value


#: ``Incident.refs`` key of an incident recorded after the fact: no reminders.
RETROSPECTIVE_REF = "crashbot.retrospective"

#: Largest incident id a store issues (the SQL column is a 32-bit integer); a larger
#: id names no incident, so adapters answer "not found" without asking the store.
MAX_ID = 2**31 - 1


@frozen
class Incident:
    """One incident, as stored. Change it only through :mod:`crashbot_core.lifecycle`."""

    id: int
    ref: str
    title: str
    severity: str
    status: Status
    declared_at: datetime = field(converter=_utc)
    started_at: datetime = field(converter=_utc)
    description: str = ""
    public: bool = False
    components: dict[str, Impact] = field(factory=dict)
    roles: dict[str, Actor] = field(factory=dict)
    labels: dict[str, str] = field(factory=dict)
    acknowledged_at: datetime | None = field(default=None, converter=_utc)
    mitigated_at: datetime | None = field(default=None, converter=_utc)
    resolved_at: datetime | None = field(default=None, converter=_utc)
    last_update_at: datetime | None = field(default=None, converter=_utc)
    rca_url: str | None = None
    #: Where it was declared: ``slack``, ``discord``, ``cli``, ``api``, ``alert:NAME``.
    source: str = "api"
    #: Opaque per-plugin references (Slack channel id, digest ts, Discord thread id …).
    refs: dict[str, str] = field(factory=dict)
    #: Optimistic-concurrency counter: one more on every save.
    version: int = 0
    #: Who declared it.
    declared_by: Actor | None = None
    #: When the problem was noticed; None reads as ``declared_at`` (see ``detected``).
    detected_at: datetime | None = field(default=None, converter=_utc)
    #: How it ended, once closed; None while open.
    resolution: Resolution | None = None
    #: For ``resolution == duplicate``: the id of the incident it was merged into.
    duplicate_of: int | None = None

    @property
    def detected(self) -> datetime:
        """When the problem was noticed: ``detected_at``, else the declare time."""
        return self.detected_at or self.declared_at

    @property
    def counts(self) -> bool:
        """False for incidents closed as invalid or duplicate (left out of metrics and pages)."""
        return self.resolution is None or self.resolution.counts

    @property
    def is_open(self) -> bool:
        """True until resolved."""
        return self.status is not Status.RESOLVED

    @property
    def commander(self) -> Actor | None:
        """The incident commander, if assigned."""
        return self.roles.get("commander")

    def with_changes(self, **changes: Any) -> Incident:
        """Shorthand for :func:`attrs.evolve`."""
        return attrs.evolve(self, **changes)


@frozen
class Event:
    """One timeline entry. ``id`` and ``incident_id`` are 0 until stored."""

    kind: EventKind
    at: datetime = field(converter=_utc)
    actor: Actor
    data: dict[str, Any] = field(factory=dict)
    #: A public event is shown on the status page; internal chatter is not.
    public: bool = False
    id: int = 0
    incident_id: int = 0


@frozen
class FollowUp:
    """An action item that comes out of an incident."""

    incident_id: int
    title: str
    created_at: datetime = field(converter=_utc)
    owner: Actor | None = None
    due: date | None = None
    done: bool = False
    done_at: datetime | None = field(default=None, converter=_utc)
    #: Where it is tracked outside crashbot (a GitHub issue, a Jira ticket).
    url: str | None = None
    id: int = 0

    def overdue_on(self, today: date) -> bool:
        """Whether it is open and its due date is before ``today`` (the team's today)."""
        return not self.done and self.due is not None and self.due < today


class AlertStatus(enum.StrEnum):
    """Whether the alerting condition holds."""

    FIRING = "firing"
    RESOLVED = "resolved"


@frozen
class Alert:
    """One alert from a monitoring source, parsed by an alert-source plugin."""

    #: Source name: ``alertmanager``, ``grafana``, ``datadog``, ``sentry``, ``github_actions``, ``generic``.
    source: str
    #: Stable identity of the alerting thing: the same problem firing again has the same one.
    fingerprint: str
    status: AlertStatus
    title: str
    #: The source's severity hint (``critical``, ``P1`` …), parsed by the severity policy.
    severity: str | None = None
    labels: dict[str, str] = field(factory=dict)
    started_at: datetime | None = field(default=None, converter=_utc)
    url: str | None = None
    description: str = ""
    #: The sender's own alert group (Alertmanager's ``groupKey``, Datadog's
    #: aggregation key, a Sentry issue …): alerts of one group are one incident
    #: unless a rule's ``group_by`` says otherwise. None: the fingerprint.
    group: str | None = None
    #: How many alerts the sender left out of the payload this alert came in
    #: (Alertmanager's ``truncatedAlerts``); counted, never silently dropped.
    omitted: int = 0
    #: Set by the intake: the routing group id (:func:`crashbot_core.routing.group_id`).
    group_id: str | None = None
    #: Set by the store once received.
    id: int = 0
    incident_id: int | None = None
    received_at: datetime | None = field(default=None, converter=_utc)


@frozen
class AlertSummary:
    """How often an incident's alerts fired: its repeat count and last occurrence."""

    #: Alerts received and attached (repeats included).
    received: int = 0
    #: Distinct alerts among them (source + fingerprint).
    distinct: int = 0
    #: When the newest one arrived.
    last_at: datetime | None = field(default=None, converter=_utc)
    #: Alerts the sender left out of its latest notification (``truncatedAlerts``).
    omitted: int = 0

    @property
    def repeats(self) -> int:
        """Occurrences beyond the first of each distinct alert."""
        return max(0, self.received - self.distinct)


class ReminderKind(enum.StrEnum):
    """Why a reminder is due."""

    UPDATE_OVERDUE = "update_overdue"
    UNACKNOWLEDGED = "unacknowledged"
    STALE = "stale"
    MISSING_RCA = "missing_rca"
    #: An open follow-up past its due date (once a day, in the team's time zone).
    FOLLOW_UP_OVERDUE = "follow_up_overdue"
    #: A step of an escalation policy (``[escalation.KEY]``): notify or page.
    ESCALATION = "escalation"


@frozen
class Reminder:
    """A reminder that is due now, computed by :func:`crashbot_core.schedule.due_reminders`."""

    incident_id: int
    kind: ReminderKind
    due_at: datetime = field(converter=_utc)
    #: Unique per occurrence: the worker fires each key once.
    key: str
    message: str
    #: Escalation steps only: the step's number (1 = first) in its level's policy.
    step: int | None = None
    #: Escalation steps only: ``notify`` (the incident channel) or ``page``.
    action: str | None = None
    #: Escalation steps only: ``channel``, or the ``[oncall]`` key that is paged.
    target: str | None = None


class DeliveryState(enum.StrEnum):
    """State of one (event, plugin) delivery."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    #: Gave up after the retry horizon; needs a human.
    DEAD = "dead"


@frozen
class Delivery:
    """The delivery of one event to one plugin's ``crashbot_incident_event``."""

    event_id: int
    incident_id: int
    plugin: str
    state: DeliveryState
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: datetime | None = field(default=None, converter=_utc)
    updated_at: datetime | None = field(default=None, converter=_utc)


class TokenScope(enum.StrEnum):
    """What an API token may do. ``write`` includes ``read``."""

    READ = "read"
    WRITE = "write"


@frozen
class ApiToken:
    """An API token as stored: only the hash of the secret is kept."""

    name: str
    token_hash: str
    scope: TokenScope
    created_at: datetime = field(converter=_utc)
    id: int = 0
    #: Last time a request authenticated with it (kept to the minute).
    last_used_at: datetime | None = field(default=None, converter=_utc)
    #: Set when revoked; a revoked token authenticates nothing.
    revoked_at: datetime | None = field(default=None, converter=_utc)


class SubscriberKind(enum.StrEnum):
    """How a status-page subscriber is reached."""

    EMAIL = "email"
    WEBHOOK = "webhook"


def _keys(values: Any) -> tuple[str, ...]:
    return tuple(sorted({str(v) for v in values or ()}))


@frozen
class Subscriber:
    """Someone who asked to hear about public incidents (and maintenance).

    E-mail subscribers are double opt-in: nothing but the confirmation mail
    reaches them until ``confirmed_at`` is set.
    """

    #: Random, URL-safe; signed links name the subscriber by it.
    id: str
    kind: SubscriberKind = field(converter=SubscriberKind)
    #: The e-mail address (lower-cased domain) or the webhook URL; unique.
    address: str
    #: When the subscription was asked for (the form was sent, or the imported consent time).
    consent_at: datetime = field(converter=_utc)
    #: Component keys to hear about; empty: every component.
    components: tuple[str, ...] = field(default=(), converter=_keys)
    #: When the address owner confirmed (double opt-in); None: nothing is sent yet.
    confirmed_at: datetime | None = field(default=None, converter=_utc)
    #: When they unsubscribed; an unsubscribed subscriber is never mailed again.
    unsubscribed_at: datetime | None = field(default=None, converter=_utc)
    #: Webhook subscribers: the HMAC key of ``X-Crashbot-Signature``.
    secret: str = ""

    @property
    def active(self) -> bool:
        """Confirmed and not unsubscribed: receives notifications."""
        return self.confirmed_at is not None and self.unsubscribed_at is None

    def wants(self, components: Any) -> bool:
        """Whether news about ``components`` (keys) concerns this subscriber.

        No filter: everything. News that names no component concerns everyone,
        since nobody can tell what it spares.
        """
        keys = set(components)
        return not self.components or not keys or bool(keys & set(self.components))


@frozen
class OutboundMessage:
    """One queued mail or webhook call to one subscriber, sent by the worker exactly once.

    ``key`` is unique: queueing the same key again (a retried event delivery)
    adds nothing, so each subscriber gets each update once.
    """

    key: str
    kind: SubscriberKind = field(converter=SubscriberKind)
    #: E-mail address or webhook URL.
    to: str
    #: The e-mail's subject (empty for a webhook).
    subject: str
    #: Plain-text body, or the webhook's JSON body.
    text: str
    created_at: datetime = field(converter=_utc)
    #: HTML alternative of an e-mail.
    html: str | None = None
    #: Extra headers (List-Unsubscribe, the webhook signature, ...).
    headers: dict[str, str] = field(factory=dict)
    subscriber_id: str | None = None
    state: DeliveryState = field(default=DeliveryState.PENDING, converter=DeliveryState)
    attempts: int = 0
    next_attempt_at: datetime | None = field(default=None, converter=_utc)
    last_error: str | None = None
    sent_at: datetime | None = field(default=None, converter=_utc)


class MaintenanceStatus(enum.StrEnum):
    """Where a maintenance window is. The first four are Statuspage's names."""

    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    VERIFYING = "verifying"
    COMPLETED = "completed"
    #: Called off before it started; shown on its own page only.
    CANCELLED = "cancelled"

    @property
    def is_active(self) -> bool:
        """True while the work is going on (``in_progress`` or ``verifying``)."""
        return self in (MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING)

    @property
    def is_over(self) -> bool:
        """True once completed or cancelled: nothing moves it any more."""
        return self in (MaintenanceStatus.COMPLETED, MaintenanceStatus.CANCELLED)


@frozen
class MaintenanceUpdate:
    """One public message of a maintenance (there are no internal ones)."""

    at: datetime = field(converter=_utc)
    #: The maintenance's status after this update.
    status: MaintenanceStatus
    body: str
    actor: Actor | None = None
    #: 0 until the store assigns one.
    id: int = 0


@frozen
class Maintenance:
    """A planned window of work on some components, announced on the status page.

    Not an incident: it counts in no metric, and while it is in progress its
    components are ``under_maintenance``. Change it only through
    :mod:`crashbot_core.maintenance`.
    """

    id: int
    #: ``MNT-3``; assigned by the store from ``[maintenance] ref_prefix``.
    ref: str
    title: str
    scheduled_for: datetime = field(converter=_utc)
    scheduled_until: datetime = field(converter=_utc)
    status: MaintenanceStatus
    created_at: datetime = field(converter=_utc)
    #: Component keys under maintenance while it is in progress.
    components: tuple[str, ...] = ()
    #: The worker starts it at ``scheduled_for`` and completes it at ``scheduled_until``.
    auto: bool = True
    created_by: Actor | None = None
    started_at: datetime | None = field(default=None, converter=_utc)
    completed_at: datetime | None = field(default=None, converter=_utc)
    #: Oldest first; new ones (``id == 0``) are inserted on save.
    updates: tuple[MaintenanceUpdate, ...] = ()
    version: int = 0

    @property
    def updated_at(self) -> datetime:
        """Its newest update, or its creation."""
        return max([self.created_at, *(u.at for u in self.updates)])
