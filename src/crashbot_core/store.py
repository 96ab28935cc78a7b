"""The storage port.

A store is returned by the ``crashbot_open_store`` hook (the built-in one is
the SQLAlchemy plugin). The service never talks SQL: it hands the store one
:class:`Change` per command and the store writes it in a single transaction,
checking the incident's version.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from attrs import field, frozen

from crashbot_core.models import (
    Alert,
    AlertSummary,
    ApiToken,
    Component,
    Delivery,
    DeliveryState,
    Event,
    FollowUp,
    Incident,
    Status,
)

if TYPE_CHECKING:
    pass


@frozen
class IncidentFilter:
    """Which incidents to list. Every criterion is optional; all given ones must hold."""

    open: bool | None = None
    statuses: tuple[Status, ...] = ()
    severities: tuple[str, ...] = ()
    #: Incidents that started at or after this instant.
    since: datetime | None = None
    #: Incidents that started before this instant.
    until: datetime | None = None
    #: Incidents still open, or resolved at or after this instant (active since then).
    active_since: datetime | None = None
    public: bool | None = None
    component: str | None = None
    #: ``(key, value)``: incidents whose label ``key`` equals ``value``.
    label: tuple[str, str] | None = None
    source: str | None = None
    #: True: only incidents that count (not closed as invalid or duplicate);
    #: False: only those closed so.
    counts: bool | None = None
    limit: int | None = None
    offset: int = 0
    #: Newest (by ``started_at``) first when True.
    newest_first: bool = True
    #: The id of the last incident of the previous page: only incidents after it
    #: in this order (keyset pagination, stable under inserts); none if it is unknown.
    after: int | None = None


@frozen
class FollowUpFilter:
    """Which follow-ups to list across incidents. All given criteria must hold."""

    #: ``False``: open ones only; ``True``: done ones only; ``None``: both.
    done: bool | None = False
    #: Follow-ups due before this date (the overdue ones, given today).
    due_before: date | None = None
    #: Follow-ups whose owner's id or name equals this, ignoring case.
    owner: str | None = None
    limit: int | None = None


@frozen
class Change:
    """Everything one command writes, saved atomically by :meth:`Store.commit`.

    ``expected_version`` is None when the incident is new (the store assigns
    ``id``, ``ref`` and version 1); otherwise the store saves only if the stored
    version still equals it, and writes version ``expected_version + 1``.
    """

    incident: Incident
    expected_version: int | None
    events: Sequence[Event] = ()
    #: Follow-ups to insert (``id == 0``) or update.
    follow_ups: Sequence[FollowUp] = ()
    #: Ids of already-recorded alerts to attach to this incident.
    alert_ids: Sequence[int] = ()
    #: Plugins implementing ``crashbot_incident_event``: one pending delivery
    #: per (event, plugin) is written in the same transaction (an outbox).
    subscribers: Sequence[str] = ()
    #: Prefix for the ref of a new incident (``INC`` gives ``INC-42``).
    ref_prefix: str = "INC"
    #: ``(key, owner)`` of a leased reminder this change sends: the store marks
    #: it sent in the same transaction, and writes nothing (raising
    #: :class:`~crashbot_core.errors.LeaseLost`) unless ``owner`` still holds
    #: the lease and it is unsent. So a reminder is recorded, and handed to the
    #: outbox, exactly once across workers.
    reminder: tuple[str, str] | None = None


@frozen
class Saved:
    """What :meth:`Store.commit` wrote, with store-assigned ids."""

    incident: Incident
    events: list[Event] = field(factory=list)
    follow_ups: list[FollowUp] = field(factory=list)


@runtime_checkable
class Store(Protocol):
    """Persistence for incidents, timelines, follow-ups, alerts, deliveries and tokens.

    Every method is safe to call from several threads; each write is its own
    transaction. Datetimes go in and come out timezone-aware in UTC.
    """

    # -- incidents and timeline -------------------------------------------------

    def commit(self, change: Change) -> Saved:
        """Write a command's result in one transaction.

        :raises crashbot_core.errors.ConflictError: the stored version is not
            ``change.expected_version`` (someone else saved first).
        :raises crashbot_core.errors.NotFound: the incident does not exist.
        :raises crashbot_core.errors.LeaseLost: ``change.reminder`` is no
            longer leased to its owner, or was sent already.
        """
        ...

    def get_incident(self, incident_id: int) -> Incident | None:
        """The incident with this id, or None."""
        ...

    def list_incidents(self, flt: IncidentFilter) -> list[Incident]:
        """Incidents matching the filter, ordered by ``started_at`` (then id)."""
        ...

    def count_incidents(self, flt: IncidentFilter) -> int:
        """How many incidents match the filter (ignores limit and offset)."""
        ...

    def events(self, incident_id: int, *, public_only: bool = False) -> list[Event]:
        """The incident's timeline, oldest first."""
        ...

    def change_token(self) -> str:
        """An opaque value that changes whenever anything public may have changed.

        The status site uses it for ETags and its render cache; it must be
        cheap (one indexed read).
        """
        ...

    # -- follow-ups ------------------------------------------------------------------

    def follow_ups(self, incident_id: int) -> list[FollowUp]:
        """The incident's follow-ups, oldest first."""
        ...

    def get_follow_up(self, follow_up_id: int) -> FollowUp | None:
        """One follow-up by id, or None."""
        ...

    def list_follow_ups(self, flt: FollowUpFilter) -> list[tuple[FollowUp, Incident]]:
        """Follow-ups of every incident matching ``flt``, each with its incident: one query.

        Ordered by due date (those without one last), then incident id, then
        follow-up id.
        """
        ...

    # -- alerts ----------------------------------------------------------------------

    def record_alert(self, alert: Alert, raw: bytes | None, received_at: datetime) -> Alert:
        """Store an alert (and its raw body, already bounded) before routing; returns it with ``id``."""
        ...

    def open_incident_for_alert(self, source: str, fingerprint: str) -> int | None:
        """The id of an open incident that an alert with this fingerprint is attached to."""
        ...

    def alerts(self, incident_id: int) -> list[Alert]:
        """Alerts attached to the incident, oldest first."""
        ...

    def count_group_alerts(self, group_id: str, since: datetime) -> int:
        """Firing alerts stored with this ``group_id`` received at or after ``since``.

        What a rule's ``threshold`` counts; one query over an index on
        (group_id, received_at), repeats and unrouted alerts included.
        """
        ...

    def alert_summary(self, incident_id: int) -> AlertSummary:
        """The incident's alert count, distinct alerts, newest arrival and omitted count."""
        ...

    # -- deliveries (outbox) -----------------------------------------------------------

    def deliveries(
        self, *, states: Sequence[DeliveryState] = (), limit: int = 100
    ) -> list[Delivery]:
        """Deliveries, newest first, optionally only in the given states."""
        ...

    def get_event(self, event_id: int) -> Event | None:
        """One event by id (the worker re-delivers by id)."""
        ...

    def claim_deliveries(
        self,
        now: datetime,
        *,
        owner: str,
        lease_until: datetime,
        limit: int = 100,
        event_ids: Sequence[int] | None = None,
    ) -> list[Delivery]:
        """Lease deliveries that may be attempted now; oldest event first.

        A row is claimable when it is pending or failed, due (no
        ``next_attempt_at`` or one at or before ``now``), not leased (or its
        lease ran out: its holder died) and no earlier event of the same
        incident is still undelivered to the same plugin (per-incident order),
        except a pending row its plugin deferred (``next_attempt_at`` set
        without a failure, :class:`~crashbot_core.delivery.DeliverLater`):
        that one does not hold later events back.
        Claimed rows get ``owner`` and ``lease_until`` atomically, so two
        callers never get the same row; on PostgreSQL rows being claimed by
        another transaction are skipped (``FOR UPDATE SKIP LOCKED``).

        :param event_ids: only these events (the inline path after a commit);
            they do not wait for each other, only for earlier events.
        """
        ...

    def finish_delivery(
        self,
        event_id: int,
        plugin: str,
        state: DeliveryState,
        *,
        owner: str,
        at: datetime,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> bool:
        """Record the outcome of a claimed attempt (attempts + 1) and drop the lease.

        :returns: False when nothing was recorded: the row is already
            delivered, or (for a failure) another caller holds its lease now.
        """
        ...

    def release_deliveries(self, keys: Sequence[tuple[int, str]], *, owner: str) -> None:
        """Give back leases on ``(event_id, plugin)`` rows not attempted (shutdown, order)."""
        ...

    def count_deliveries(
        self, *, states: Sequence[DeliveryState] = ()
    ) -> dict[tuple[str, DeliveryState], int]:
        """How many deliveries there are per ``(plugin, state)``: one grouped query, for /metrics."""
        ...

    # -- reminders -----------------------------------------------------------------------

    def lease_reminder(
        self, key: str, incident_id: int, *, owner: str, now: datetime, lease_until: datetime
    ) -> bool:
        """Claim a reminder occurrence for sending; True for exactly one caller at a time.

        True when the key is new, or was claimed but never sent and its lease
        ran out before ``now`` (the holder died): the caller takes it over.
        """
        ...

    # -- components -------------------------------------------------------------------------

    def upsert_component(self, component: Component) -> None:
        """Create or replace a component by key."""
        ...

    def components(self) -> list[Component]:
        """Every stored component, by position then key."""
        ...

    # -- API tokens ------------------------------------------------------------------------------

    def create_token(self, token: ApiToken) -> ApiToken:
        """Store a token (its hash only); names are unique."""
        ...

    def find_token(self, token_hash: str) -> ApiToken | None:
        """The token with this hash (revoked ones included), or None: one indexed read.

        Every authenticated request calls it, on every replica, so nothing may
        cache its answer past a revoke.
        """
        ...

    def touch_token(self, token_id: int, at: datetime, *, unless_since: datetime) -> None:
        """Set the token's ``last_used_at`` to ``at`` unless a use after ``unless_since`` is recorded.

        One conditional update: of replicas racing to record the same minute,
        the first one writes and the others change nothing.
        """
        ...

    def revoke_token(self, name: str, at: datetime) -> ApiToken | None:
        """Set ``revoked_at`` of the token named ``name`` (kept if it was revoked before).

        :returns: the token as now stored, or None when no token has this name.
        """
        ...

    def tokens(self) -> list[ApiToken]:
        """Every token, oldest first."""
        ...

    def check_writable(self) -> None:
        """Write nothing, the way a command writes (same locks, same permissions).

        ``/health`` calls it: a store that still answers reads but refuses
        writes (a read-only file, a standby after a failover) is unhealthy.

        :raises Exception: whatever the store raises when it cannot write now.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


# The optional capabilities have a module of their own (it imports the records
# above, hence at the end); every name stays importable from here.
from crashbot_core.store_capabilities import (  # noqa: E402
    CAPABILITIES,
    AlertGroupCommit,
    BackupResult,
    Backups,
    BulkAlerts,
    BulkReads,
    IncidentRecord,
    LockedCommit,
    MaintenanceStore,
    Migrations,
    MultiCommit,
    RateLimits,
    SchemaUpgrade,
    StoreCapabilities,
    StoreMetrics,
    SubscriptionStore,
)

__all__ = [
    "CAPABILITIES",
    "AlertGroupCommit",
    "BackupResult",
    "Backups",
    "BulkAlerts",
    "BulkReads",
    "Change",
    "FollowUpFilter",
    "IncidentFilter",
    "IncidentRecord",
    "LockedCommit",
    "MaintenanceStore",
    "Migrations",
    "MultiCommit",
    "RateLimits",
    "Saved",
    "SchemaUpgrade",
    "Store",
    "StoreCapabilities",
    "StoreMetrics",
    "SubscriptionStore",
]
