"""What a store may offer beyond :class:`~crashbot_core.store.Store`: its optional capabilities.

Each is checked once, when the
service is built (:meth:`StoreCapabilities.of`); the service then calls the
capability or its documented fallback, never probes again. A capability
that a configured feature cannot do without is required at start
(:meth:`StoreCapabilities.require`), so a store that lacks it fails loudly
instead of quietly losing a guarantee.

Every name here is also importable from :mod:`crashbot_core.store`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from attrs import field, frozen

from crashbot_core.errors import ConfigError
from crashbot_core.models import (
    Alert,
    AlertStatus,
    DeliveryState,
    Event,
    FollowUp,
    Incident,
    Maintenance,
    MaintenanceStatus,
    OutboundMessage,
    Subscriber,
)

if TYPE_CHECKING:
    # Annotations only: crashbot_core.store re-exports this module's names.
    from crashbot_core.cost import CostRates
    from crashbot_core.metrics import MetricsReport
    from crashbot_core.severity import SeverityPolicy
    from crashbot_core.store import Change, IncidentFilter, Saved, Store


@runtime_checkable
class LockedCommit(Protocol):
    """Commit under the incident's row lock, so a hot incident cannot starve a writer.

    Without it the service keeps retrying optimistically after version conflicts.
    """

    def commit_locked(self, incident_id: int, build: Callable[[Incident], Change]) -> Saved:
        """Read the incident, call ``build(incident)`` and write its change, holding the row lock.

        :raises crashbot_core.errors.NotFound: the incident does not exist.
        """
        ...


@runtime_checkable
class AlertGroupCommit(Protocol):
    """Declare an alert group's incident atomically, across processes and replicas.

    Required for alert intake: without it, two processes receiving alerts of a
    new group at once would each declare an incident.
    """

    def commit_for_alert_group(self, change: Change, label: tuple[str, str]) -> Saved | int:
        """Write ``change`` (a new incident) unless an open incident carries ``label``.

        Check and insert must be one serialised transaction.

        :returns: the saved incident, or the id of the open incident that has
            the label already (then nothing is written).
        """
        ...


@runtime_checkable
class BulkAlerts(Protocol):
    """Alert intake in a few queries per request instead of a few per alert.

    Without it the service records, looks up and links alerts one at a time
    through :class:`Store`'s methods: same results, more round trips.
    """

    def record_alerts(
        self, alerts: Sequence[tuple[Alert, bytes | None]], received_at: datetime
    ) -> list[Alert]:
        """Store several alerts and their raw bodies in one transaction; returns them with ids."""
        ...

    def open_incidents_for_groups(self, key: str, values: Sequence[str]) -> dict[str, Incident]:
        """Open incidents whose label ``key`` has one of ``values``: ``{value: incident}``."""
        ...

    def last_alert_statuses(
        self,
        keys: Sequence[tuple[int, str, str]],
        *,
        before_id: int | None = None,
        exclude: Collection[int] = (),
    ) -> dict[tuple[int, str, str], AlertStatus]:
        """Newest status per (incident, source, fingerprint) among alerts with id below ``before_id``.

        ``exclude``: alert ids to leave out (the intake request's own repeats,
        stored already linked, must not count as "said before")."""
        ...

    def link_alerts(self, links: Mapping[int, Sequence[int]]) -> None:
        """Attach recorded alerts to incidents (``{incident id: [alert ids]}``), no event."""
        ...


@frozen
class IncidentRecord:
    """One incident with its whole timeline and follow-ups, read together."""

    incident: Incident
    events: list[Event] = field(factory=list)
    follow_ups: list[FollowUp] = field(factory=list)


@runtime_checkable
class BulkReads(Protocol):
    """Reads whose number of queries does not grow with the number of incidents.

    Without it the service reads one timeline per incident (the status site's
    cold renders then cost a query per public incident) and an incident record
    in three queries.
    """

    def timelines(
        self, incident_ids: Sequence[int], *, public_only: bool = False
    ) -> dict[int, list[Event]]:
        """The timelines of these incidents (oldest first each), in one query; every id is a key."""
        ...

    def incident_record(self, incident_id: int) -> IncidentRecord | None:
        """The incident, its timeline and its follow-ups from one snapshot, or None."""
        ...

    def list_public_fields(self, flt: IncidentFilter) -> list[Incident]:
        """As :meth:`Store.list_incidents`, leaving labels, refs, roles and declared_by empty.

        The status site never shows those, so it need not read them.
        """
        ...


@runtime_checkable
class StoreMetrics(Protocol):
    """Compute the metrics report in the store (SQL) rather than over loaded incidents.

    Must give the same figures as :func:`crashbot_core.metrics.compute`.
    """

    def metrics(
        self,
        policy: SeverityPolicy,
        *,
        now: datetime,
        since: datetime | None = None,
        until: datetime | None = None,
        by: str | None = None,
        rates: CostRates | None = None,
        **criteria: Any,
    ) -> MetricsReport:
        """The :class:`~crashbot_core.metrics.MetricsReport` for the window and criteria.

        With ``rates``, the report carries the estimated ``cost``.
        """
        ...


@frozen
class SchemaUpgrade:
    """What :meth:`Migrations.upgrade` did: the revisions before and after, and those applied."""

    #: The database, password hidden.
    database: str
    #: The revision the database was at when the store opened; None: it was empty.
    before: str | None
    #: The revision it is at now.
    after: str | None
    #: Revisions applied since the store opened, oldest first (empty: nothing to do).
    applied: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for a person: created, upgraded from X to Y, or already current."""
        if not self.applied:
            return f"database {self.database} is at schema revision {self.after}, the newest this crashbot knows: nothing to do"
        steps = ", ".join(self.applied)
        if self.before is None:
            return (
                f"created the schema in {self.database} at revision {self.after} (applied {steps})"
            )
        return f"upgraded {self.database} from schema revision {self.before} to {self.after} (applied {steps})"


@frozen
class BackupResult:
    """What :meth:`Backups.backup` or :meth:`Backups.restore` copied."""

    #: The file written or read.
    path: str
    #: Its schema revision.
    revision: str | None
    #: Rows per table, for the user to check the copy.
    rows: Mapping[str, int] = field(factory=dict)
    #: After a restore: the revision the restored database was upgraded to.
    upgraded_to: str | None = None


@runtime_checkable
class MultiCommit(Protocol):
    """Commit the changes of several incidents in one transaction.

    Closing an incident as a duplicate needs it: the duplicate's close, the
    original's ``merged`` event and the move of alerts and follow-ups (listed
    in the original's change) are written together or not at all.
    """

    def commit_all(self, changes: Sequence[Change]) -> list[Saved]:
        """Write every change (each version-checked, as :meth:`Store.commit`) in one transaction.

        :returns: what each change wrote, in the order given.
        :raises crashbot_core.errors.ConflictError: a stored version differs;
            nothing at all is written.
        :raises crashbot_core.errors.NotFound: an incident does not exist;
            nothing is written.
        """
        ...


@runtime_checkable
class Migrations(Protocol):
    """A store with a schema to bring up to date (``crashbot db upgrade``).

    A store opened on a database written by a newer version (a schema
    revision this code does not know) refuses to open with a
    :class:`~crashbot_core.errors.ConfigError` that names the revision.
    """

    def upgrade(self) -> SchemaUpgrade:
        """Apply pending schema migrations; report what this store applied since it opened."""
        ...


@runtime_checkable
class Backups(Protocol):
    """A store that copies itself to a file and back (``crashbot db backup`` / ``db restore``)."""

    def backup(self, path: str) -> BackupResult:
        """Write a consistent copy of the database to ``path`` while writers carry on.

        :raises crashbot_core.errors.ConfigError: this database is backed up
            another way (the message says how).
        """
        ...

    def restore(self, path: str, *, force: bool = False) -> BackupResult:
        """Replace the database's content with the backup at ``path``, then upgrade it.

        :raises crashbot_core.errors.InvalidInput: ``path`` is no crashbot
            backup, or holds a schema revision this code does not know.
        :raises crashbot_core.errors.ConflictError: the database holds data and
            ``force`` is False.
        """
        ...


@runtime_checkable
class SubscriptionStore(Protocol):
    """Status-page subscribers and the queue of mails and webhook calls sent to them.

    Required by the e-mail plugin's subscriptions. A queued message is sent by
    the worker once: its ``key`` is unique, so queueing it again (a retried
    event delivery) adds nothing, and a sent message is never claimed again.
    """

    def save_subscriber(
        self, subscriber: Subscriber, *, messages: Sequence[OutboundMessage] = ()
    ) -> Subscriber:
        """Insert or replace the subscriber with this id and queue ``messages``, in one transaction.

        :raises crashbot_core.errors.InvalidInput: another subscriber has this address.
        """
        ...

    def get_subscriber(self, subscriber_id: str) -> Subscriber | None:
        """The subscriber with this id, or None."""
        ...

    def find_subscriber(self, address: str) -> Subscriber | None:
        """The subscriber with this address (e-mail or webhook URL, compared exactly), or None."""
        ...

    def subscribers(self, *, active_only: bool = False) -> list[Subscriber]:
        """Every subscriber, oldest consent first (``active_only``: confirmed and subscribed)."""
        ...

    def queue_messages(self, messages: Sequence[OutboundMessage]) -> int:
        """Queue messages whose keys are new; returns how many were added."""
        ...

    def claim_messages(
        self, now: datetime, *, owner: str, lease_until: datetime, limit: int = 100
    ) -> list[OutboundMessage]:
        """Lease up to ``limit`` due messages (pending, or failed and due), oldest first.

        A leased message is claimed by nobody else until ``lease_until``.
        """
        ...

    def finish_message(
        self,
        key: str,
        state: DeliveryState,
        *,
        owner: str,
        at: datetime,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> bool:
        """Record a claimed message's outcome and drop the lease; False if nothing changed.

        ``delivered`` is final: it is recorded even after the lease was lost,
        and nothing finishes a delivered message again.
        """
        ...

    def messages(
        self, *, subscriber_id: str | None = None, limit: int = 100
    ) -> list[OutboundMessage]:
        """Queued and sent messages, newest first (of one subscriber when given)."""
        ...


@runtime_checkable
class MaintenanceStore(Protocol):
    """Scheduled maintenance windows and their updates.

    Without it ``crashbot maintenance`` and the maintenance routes refuse to
    run, and the status page shows no maintenance.
    """

    def save_maintenance(
        self, maintenance: Maintenance, *, expected_version: int | None, ref_prefix: str = "MNT"
    ) -> Maintenance:
        """Insert (``expected_version`` None) or update a maintenance, with its new updates.

        One transaction: the row (version ``expected_version + 1``, or 1 with
        a new ``id`` and ref ``{ref_prefix}-{id}``), every update whose ``id``
        is 0, and the store's change token. The version check is what makes
        the worker's start and completion happen once across replicas.

        :raises crashbot_core.errors.ConflictError: the stored version differs.
        :raises crashbot_core.errors.NotFound: no maintenance with this id.
        :returns: the maintenance as stored, update ids assigned.
        """
        ...

    def get_maintenance(self, maintenance_id: int) -> Maintenance | None:
        """One maintenance with its updates, or None."""
        ...

    def list_maintenances(
        self,
        *,
        statuses: Sequence[MaintenanceStatus] = (),
        limit: int | None = None,
    ) -> list[Maintenance]:
        """Maintenances with their updates, newest ``scheduled_for`` first (then newest id)."""
        ...


@runtime_checkable
class RateLimits(Protocol):
    """Attempts counted per key in fixed windows, shared by every process and replica.

    The status page's subscribe form counts its requests here. Without it each
    process counts in its own memory
    (:class:`crashbot_core.ratelimit.ProcessRateLimits`), so a limit of N
    lets N through per process and replica.
    """

    def count_attempt(
        self, key: str, *, limit: int, window: timedelta, now: datetime
    ) -> datetime | None:
        """Count one attempt for ``key`` in the window holding ``now``; None if within ``limit``.

        Windows are ``window`` long and aligned to the Unix epoch
        (:func:`crashbot_core.ratelimit.window_at`), so every process agrees
        on them. Counting and deciding are one atomic step: of any number of
        concurrent attempts, from any process, at most ``limit`` per key and
        window get None. Counts of windows that have ended are deleted as new
        keys are counted, so the store does not grow with time.

        :param key: opaque, at most 255 characters; callers pass a hash, not
            personal data such as an IP address.
        :returns: None when this attempt is within the limit, else the end of
            the window (when the key may try again).
        """
        ...


#: Capability name → (protocol, what it gives), for messages and the plugin guide.
CAPABILITIES: dict[str, tuple[type[Any], str]] = {
    "locked_commit": (LockedCommit, "commits under the row lock on hot incidents"),
    "alert_group_commit": (
        AlertGroupCommit,
        "one incident per alert group across processes and replicas",
    ),
    "bulk_alerts": (BulkAlerts, "alert intake in a few queries per request"),
    "bulk_reads": (BulkReads, "status pages and incident reads in a fixed number of queries"),
    "metrics": (StoreMetrics, "metrics computed in the store"),
    "multi_commit": (MultiCommit, "several incidents changed in one transaction (duplicates)"),
    "migrations": (Migrations, "crashbot db upgrade"),
    "backups": (Backups, "crashbot db backup and db restore"),
    "subscriptions": (SubscriptionStore, "status-page subscribers and their mail queue"),
    "maintenances": (MaintenanceStore, "scheduled maintenance windows"),
    "rate_limits": (RateLimits, "rate limits that hold across processes and replicas"),
}


@frozen
class StoreCapabilities:
    """The optional capabilities one store offers, checked once when it opens."""

    store_name: str
    locked_commit: LockedCommit | None = None
    alert_group_commit: AlertGroupCommit | None = None
    bulk_alerts: BulkAlerts | None = None
    bulk_reads: BulkReads | None = None
    metrics: StoreMetrics | None = None
    multi_commit: MultiCommit | None = None
    migrations: Migrations | None = None
    backups: Backups | None = None
    subscriptions: SubscriptionStore | None = None
    maintenances: MaintenanceStore | None = None
    rate_limits: RateLimits | None = None

    @classmethod
    def of(cls, store: Store) -> StoreCapabilities:
        """Check ``store`` against every capability protocol."""
        found = {
            name: store if isinstance(store, protocol) else None
            for name, (protocol, _) in CAPABILITIES.items()
        }
        return cls(store_name=type(store).__name__, **found)

    def names(self) -> list[str]:
        """The capabilities offered, by name."""
        return [name for name in CAPABILITIES if getattr(self, name) is not None]

    def require(self, name: str, *, needed_by: str, remedy: str = "") -> None:
        """Fail at start when capability ``name`` is missing and ``needed_by`` is configured.

        :raises ConfigError: naming the store, the capability (method and
            protocol), what needs it and ``remedy``.
        """
        if getattr(self, name) is not None:
            return
        protocol, gives = CAPABILITIES[name]
        methods = ", ".join(
            m for m in vars(protocol) if not m.startswith("_") and callable(vars(protocol)[m])
        )
        message = (
            f"store {self.store_name} lacks the {protocol.__name__} capability "
            f"({methods}: {gives}), which {needed_by} needs"
        )
        raise ConfigError(f"{message}; {remedy}" if remedy else message)
