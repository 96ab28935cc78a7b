"""``SqlStore``: the :class:`crashbot_core.store.Store` on SQLAlchemy 2 Core.

Rows are translated to the frozen attrs models and back by the ``_*_row`` and
``_*_from`` functions below; nothing is mapped onto the domain classes.
Every public method is one short transaction on a pooled connection, so one
store is shared by the Flask threads and the worker thread.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import URL, Connection, Engine, RowMapping

from crashbot_core.cost import CostRates, engagements
from crashbot_core.errors import ConflictError, InvalidInput, LeaseLost, NotFound
from crashbot_core.metrics import MetricsReport
from crashbot_core.models import (
    Actor,
    Alert,
    AlertStatus,
    AlertSummary,
    ApiToken,
    Component,
    Delivery,
    DeliveryState,
    Event,
    EventKind,
    FollowUp,
    Impact,
    Incident,
    Maintenance,
    MaintenanceStatus,
    Resolution,
    Status,
    TokenScope,
)
from crashbot_core.severity import SeverityPolicy
from crashbot_core.store import (
    BackupResult,
    Change,
    FollowUpFilter,
    IncidentFilter,
    IncidentRecord,
    Saved,
    SchemaUpgrade,
)
from crashbot_sqlalchemy import backup
from crashbot_sqlalchemy import maintenances as mnt
from crashbot_sqlalchemy import schema as t
from crashbot_sqlalchemy.engine import WRITE_OPTION, create_engine, is_memory
from crashbot_sqlalchemy.metrics import (
    component_columns,
    compute_sql,
    derived_columns,
    engagement_from,
    engagement_rows,
)
from crashbot_sqlalchemy.migrate import check_known, current_revision, describe_url, upgrade_engine
from crashbot_sqlalchemy.ratelimits import SqlRateLimits
from crashbot_sqlalchemy.subscriptions import SqlSubscriptions

_OPEN = tuple(s.value for s in Status if s.is_open)
_RETRYABLE = (DeliveryState.PENDING.value, DeliveryState.FAILED.value)


class SqlStore(SqlSubscriptions, SqlRateLimits):
    """Incidents, timelines, follow-ups, alerts, deliveries, tokens, subscribers and rate limits in SQL.

    Works on SQLite (the default, one host) and PostgreSQL (many replicas)
    with the same code and migrations. Build it with :meth:`from_url`.
    """

    def __init__(self, engine: Engine, *, auto_upgrade: bool = True) -> None:
        """Wrap an engine made by :func:`crashbot_sqlalchemy.engine.create_engine`.

        :param auto_upgrade: run pending migrations now, so ``crashbot init``
            and ``crashbot serve`` work on an empty database.
        """
        self.engine = engine
        # An in-memory SQLite database is one shared connection: concurrent
        # transactions on it would interleave, so they take turns.
        self._lock: AbstractContextManager[Any] = (
            threading.RLock() if is_memory(engine.url) else nullcontext()
        )
        # SQLite has one writer at a time, and its busy handler makes waiters
        # sleep in growing steps while newcomers cut in: threads of this
        # process queue here instead, on a lock that wakes the next at once.
        self._write_turn: AbstractContextManager[Any] = (
            threading.Lock()
            if engine.url.get_backend_name() == "sqlite" and not is_memory(engine.url)
            else nullcontext()
        )
        self._postgres = engine.url.get_backend_name() == "postgresql"
        self._autocommit_reads = self._postgres
        # PostgreSQL draws the id and writes the ref from it in one INSERT.
        self._ref_in_insert = self._postgres
        # The connection of a locked commit whose change is being built, per thread.
        self._building = threading.local()
        # The revision found at the first upgrade (a 1-tuple: None is a revision here).
        self._opened_at: tuple[str | None] | None = None
        self._applied: list[str] = []
        if auto_upgrade:
            self.upgrade()
        else:
            with self._lock, engine.connect() as conn:
                # Even without upgrading, never work on a schema from the future.
                check_known(current_revision(conn), f"database {describe_url(engine)}")

    @classmethod
    def from_url(cls, url: str | URL, *, auto_upgrade: bool = True) -> SqlStore:
        """Open the database at ``url`` (``sqlite:///crashbot.db``, ``postgresql+psycopg://…``).

        :raises crashbot_core.errors.ConfigError: bad URL or missing driver.
        """
        return cls(create_engine(url), auto_upgrade=auto_upgrade)

    def upgrade(self) -> SchemaUpgrade:
        """Apply pending migrations (idempotent).

        :returns: what this store applied since it opened, the automatic
            upgrade at open included, so ``crashbot db upgrade`` can say what
            it did although opening the store did the work.
        :raises crashbot_core.errors.ConfigError: a newer crashbot upgraded
            the database (a revision this code does not know).
        """
        with self._lock:
            done = upgrade_engine(self.engine)
        if self._opened_at is None:
            self._opened_at = (done.before,)
        self._applied.extend(done.applied)
        return attrs.evolve(done, before=self._opened_at[0], applied=tuple(self._applied))

    def backup(self, path: str) -> BackupResult:
        """Write a consistent copy of the SQLite database to the new file ``path``.

        :raises crashbot_core.errors.ConfigError: PostgreSQL; the message gives the pg_dump line.
        """
        with self._lock:
            return backup.backup(self.engine, path)

    def restore(self, path: str, *, force: bool = False) -> BackupResult:
        """Replace the SQLite database's content with the backup at ``path``, then upgrade it.

        :raises crashbot_core.errors.ConflictError: the database holds data and not ``force``.
        :raises crashbot_core.errors.InvalidInput: no crashbot backup, or from a newer crashbot.
        """
        with self._write_turn, self._lock:
            return backup.restore(self.engine, path, force=force)

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"SqlStore({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- transactions -----------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        held: Connection | None = getattr(self._building, "conn", None)
        if held is not None:
            # A read from inside commit_locked's build (the alert intake reads
            # alert statuses there) uses the locked transaction's connection:
            # a second one could wait forever for a pool whose connections all
            # belong to writers queued behind this row lock.
            yield held
            return
        if self._autocommit_reads:
            # PostgreSQL at READ COMMITTED gives each statement its own
            # snapshot, in a transaction or not: BEGIN and COMMIT would add two
            # round trips to every read and no consistency.
            with self.engine.connect() as conn:
                yield conn.execution_options(isolation_level="AUTOCOMMIT")
            return
        with self._lock, self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._write_turn, self._lock, self.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _one_statement_write(self) -> Iterator[Connection]:
        """A connection for a write made of one statement, atomic by itself."""
        if self._postgres:
            # One statement is its own transaction: in autocommit it is
            # committed when execute returns, without the round trips of
            # BEGIN and COMMIT around it.
            with self.engine.connect() as conn:
                yield conn.execution_options(isolation_level="AUTOCOMMIT")
            return
        with self._write() as conn:
            yield conn

    @staticmethod
    def _bump(conn: Connection) -> None:
        # Last statement of a transaction on purpose: on PostgreSQL this row
        # lock serialises writers, and taking it last keeps it held briefly
        # and always in the same order (no deadlocks).
        conn.execute(_BUMP)

    # -- incidents and timeline -------------------------------------------------------

    def commit(self, change: Change) -> Saved:
        """Write a command's result in one transaction (see :meth:`Store.commit`)."""
        with self._write() as conn:
            return self._write_change(conn, change)

    def commit_locked(self, incident_id: int, build: Callable[[Incident], Change]) -> Saved:
        """Read the incident, build its change and write it, holding the row lock throughout.

        The service falls back to this after repeated version conflicts: a hot
        incident (everyone posting updates at once) could otherwise starve a
        writer. ``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite the
        transaction's write lock already serialises writers.

        :raises NotFound: when the incident does not exist.
        """
        with self._write() as conn:
            row = (
                conn.execute(
                    sa.select(t.incidents).where(t.incidents.c.id == incident_id).with_for_update()
                )
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound(f"no incident with id {incident_id}")
            self._building.conn = conn
            try:
                change = build(_incident_from(row))
            finally:
                self._building.conn = None
            return self._write_change(conn, change)

    def commit_all(self, changes: Sequence[Change]) -> list[Saved]:
        """Write several incidents' changes in one transaction (see :class:`MultiCommit`).

        Incidents are written in id order and the change counter bumped once,
        last: two such transactions, or one and a single commit, take their
        row locks in the same order and cannot deadlock.
        """
        order = sorted(range(len(changes)), key=lambda n: changes[n].incident.id)
        saved: dict[int, Saved] = {}
        with self._write() as conn:
            for n in order:
                saved[n] = self._write_change(conn, changes[n], bump=False)
            self._bump(conn)
        return [saved[n] for n in range(len(changes))]

    def _write_change(self, conn: Connection, change: Change, *, bump: bool = True) -> Saved:
        """Every write of one change, inside the caller's transaction."""
        if change.reminder is not None:
            if not change.events:
                raise InvalidInput("a change that sends a reminder records its event")
            # First, so a lost lease writes nothing at all.
            key, owner = change.reminder
            r = t.reminders_sent
            sent = conn.execute(
                sa.update(r)
                .where(r.c.key == key, r.c.claimed_by == owner, r.c.sent_at.is_(None))
                .values(sent_at=change.events[0].at, lease_until=None)
            )
            if not sent.rowcount:
                raise LeaseLost(f"reminder {key}: the lease of {owner} ran out or it was sent")
        incident = self._save_incident(conn, change)
        saved_events = [self._insert_event(conn, incident.id, e) for e in change.events]
        self._save_engagements(conn, incident, saved_events, new=change.expected_version is None)
        saved_follow_ups = [self._save_follow_up(conn, incident.id, f) for f in change.follow_ups]
        if change.alert_ids:
            conn.execute(
                sa.update(t.alerts)
                .where(t.alerts.c.id.in_(list(change.alert_ids)))
                .values(incident_id=incident.id)
            )
        outbox = [
            {
                "event_id": event.id,
                "plugin": plugin,
                "incident_id": incident.id,
                "state": DeliveryState.PENDING.value,
                "attempts": 0,
                "last_error": None,
                "next_attempt_at": None,
                "updated_at": event.at,
            }
            for event in saved_events
            for plugin in dict.fromkeys(change.subscribers)
        ]
        if outbox:
            conn.execute(_INSERT_DELIVERIES, outbox)
        if bump:
            self._bump(conn)
        return Saved(incident=incident, events=saved_events, follow_ups=saved_follow_ups)

    def _save_incident(self, conn: Connection, change: Change) -> Incident:
        incident = change.incident
        if change.expected_version is None:
            # The database assigns the id (an autoincrement is safe under
            # concurrent declares on PostgreSQL, unlike max(id) + 1); the ref
            # is derived from it in the same transaction.
            values = _incident_row(incident, version=1)
            values.pop("id")
            if self._ref_in_insert:
                values.pop("ref")
                params = {f"v_{k}": v for k, v in values.items()}
                params["ref_prefix"] = change.ref_prefix
                new_id = int(conn.execute(_INSERT_INCIDENT_WITH_REF, params).scalar_one())
            else:
                values["ref"] = None
                new_id = _inserted_id(conn.execute(_INSERT_INCIDENT, values))
                conn.execute(_SET_REF, {"b_id": new_id, "ref": f"{change.ref_prefix}-{new_id}"})
            ref = f"{change.ref_prefix}-{new_id}"
            incident = attrs.evolve(incident, id=new_id, ref=ref, version=1)
        else:
            version = change.expected_version + 1
            values = _incident_row(incident, version=version)
            # id and ref never change once assigned.
            values.pop("id")
            values.pop("ref")
            values.update(b_id=incident.id, b_version=change.expected_version)
            result = conn.execute(_UPDATE_INCIDENT, values)
            if result.rowcount == 0:
                stored_ref = conn.execute(
                    sa.select(t.incidents.c.ref).where(t.incidents.c.id == incident.id)
                ).scalar_one_or_none()
                if stored_ref is None:
                    raise NotFound(f"no incident with id {incident.id}")
                raise ConflictError(
                    f"incident {stored_ref} changed while this command ran; try again"
                )
            incident = attrs.evolve(incident, version=version)
            conn.execute(
                sa.delete(t.incident_components).where(
                    t.incident_components.c.incident_id == incident.id
                )
            )
            conn.execute(
                sa.delete(t.incident_labels).where(t.incident_labels.c.incident_id == incident.id)
            )
        if incident.components:
            conn.execute(
                _INSERT_COMPONENTS,
                # component_columns: the incident's metrics fields, mirrored (0002_metrics).
                [
                    {"incident_id": incident.id, "component": key, **component_columns(incident)}
                    for key in incident.components
                ],
            )
        if incident.labels:
            conn.execute(
                _INSERT_LABELS,
                [
                    {"incident_id": incident.id, "key": key, "value": value}
                    for key, value in incident.labels.items()
                ],
            )
        return incident

    @staticmethod
    def _save_engagements(
        conn: Connection, incident: Incident, events: Sequence[Event], *, new: bool
    ) -> None:
        """Fold the new events into the incident's engagement rows (for the metrics' cost).

        Rewritten only when something changed: a new person, a new role, or
        the mirrored severity, start or resolve of the incident.
        """
        e = t.incident_engagements
        stored: list[dict[str, Any]] = []
        if not new:
            stored = [
                dict(row)
                for row in conn.execute(
                    sa.select(e).where(e.c.incident_id == incident.id).order_by(e.c.person)
                ).mappings()
            ]
        people = engagements(events, [engagement_from(row) for row in stored])
        rows = sorted(engagement_rows(incident, people), key=lambda row: row["person"])
        if rows == stored:
            return
        if stored:
            conn.execute(sa.delete(e).where(e.c.incident_id == incident.id))
        if rows:
            conn.execute(_INSERT_ENGAGEMENTS, rows)

    @staticmethod
    def _insert_event(conn: Connection, incident_id: int, event: Event) -> Event:
        values = _event_row(event)
        values.pop("id")
        values["incident_id"] = incident_id
        new_id = _inserted_id(conn.execute(_INSERT_EVENT, values))
        return attrs.evolve(event, id=new_id, incident_id=incident_id)

    @staticmethod
    def _save_follow_up(conn: Connection, incident_id: int, follow_up: FollowUp) -> FollowUp:
        # A follow-up always belongs to the incident of the change it came
        # with; a new incident's follow-ups arrive with incident_id 0.
        follow_up = attrs.evolve(follow_up, incident_id=incident_id)
        values = _follow_up_row(follow_up)
        values.pop("id")
        if follow_up.id == 0:
            new_id = _inserted_id(conn.execute(sa.insert(t.follow_ups).values(values)))
            return attrs.evolve(follow_up, id=new_id)
        result = conn.execute(
            sa.update(t.follow_ups).where(t.follow_ups.c.id == follow_up.id).values(values)
        )
        if result.rowcount == 0:
            raise NotFound(f"no follow-up with id {follow_up.id}")
        return follow_up

    def get_incident(self, incident_id: int) -> Incident | None:
        """The incident with this id, or None."""
        with self._read() as conn:
            row = conn.execute(_GET_INCIDENT, {"incident_id": incident_id}).mappings().first()
        return None if row is None else _incident_from(row)

    def list_incidents(self, flt: IncidentFilter) -> list[Incident]:
        """Incidents matching the filter, ordered by ``started_at`` (then id)."""
        return self._list(flt, _INCIDENT_COLUMNS)

    def list_public_fields(self, flt: IncidentFilter) -> list[Incident]:
        """As :meth:`list_incidents`, without reading labels, refs, roles or declared_by."""
        return self._list(flt, _PUBLIC_COLUMNS)

    def _list(self, flt: IncidentFilter, columns: list[sa.Column[Any]]) -> list[Incident]:
        order: list[sa.ColumnElement[Any]]
        if flt.newest_first:
            order = [t.incidents.c.started_at.desc(), t.incidents.c.id.desc()]
        else:
            order = [t.incidents.c.started_at.asc(), t.incidents.c.id.asc()]
        query = sa.select(*columns).where(*_conditions(flt)).order_by(*order)
        if flt.limit is not None:
            query = query.limit(flt.limit)
        if flt.offset:
            query = query.offset(flt.offset)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        internal = columns is _INCIDENT_COLUMNS
        return [_incident_from(row, internal=internal) for row in rows]

    def count_incidents(self, flt: IncidentFilter) -> int:
        """How many incidents match the filter (ignores limit and offset)."""
        query = sa.select(sa.func.count()).select_from(t.incidents).where(*_conditions(flt))
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def events(self, incident_id: int, *, public_only: bool = False) -> list[Event]:
        """The incident's timeline, oldest first (ties in time keep insertion order)."""
        query = sa.select(t.events).where(t.events.c.incident_id == incident_id)
        if public_only:
            query = query.where(t.events.c.public == sa.true())
        query = query.order_by(t.events.c.at, t.events.c.id)
        with self._read() as conn:
            return [_event_from(row) for row in conn.execute(query).mappings()]

    def timelines(
        self, incident_ids: Sequence[int], *, public_only: bool = False
    ) -> dict[int, list[Event]]:
        """The timelines of many incidents in one query (the status site's renders).

        The ids travel as one bound value (a PostgreSQL array, a JSON list on
        SQLite), so the statement is the same, and cached, whatever their number.
        """
        ids = list(dict.fromkeys(incident_ids))
        out: dict[int, list[Event]] = {i: [] for i in ids}
        if not ids:
            return out
        e = t.events
        with self._read() as conn:
            query = sa.select(e).where(_in_ids(conn, e.c.incident_id, ids))
            if public_only:
                query = query.where(e.c.public == sa.true())
            rows = conn.execute(query.order_by(e.c.incident_id, e.c.at, e.c.id)).mappings().all()
        for row in rows:
            out[row["incident_id"]].append(_event_from(row))
        return out

    def incident_record(self, incident_id: int) -> IncidentRecord | None:
        """The incident, its timeline and follow-ups in two queries of one transaction."""
        f = t.follow_ups
        key = {"incident_id": incident_id}
        with self._read() as conn:
            rows = conn.execute(_RECORD, key).mappings().all()
            if not rows:
                return None
            timeline = [_event_from(row) for row in conn.execute(_TIMELINE, key).mappings()]
        follow_ups = [
            _follow_up_from({c.name: row[f"fu_{c.name}"] for c in f.c})  # type: ignore[arg-type]
            for row in rows
            if row["fu_id"] is not None
        ]
        return IncidentRecord(_incident_from(rows[0]), timeline, follow_ups)

    def get_event(self, event_id: int) -> Event | None:
        """One event by id (the worker re-delivers by id)."""
        with self._read() as conn:
            row = (
                conn.execute(sa.select(t.events).where(t.events.c.id == event_id))
                .mappings()
                .first()
            )
        return None if row is None else _event_from(row)

    def change_token(self) -> str:
        """A counter bumped by every commit and component change: one primary-key read."""
        with self._read() as conn:
            value = conn.execute(_CHANGE_COUNTER).scalar_one()
        return str(value)

    # -- follow-ups -------------------------------------------------------------------

    def follow_ups(self, incident_id: int) -> list[FollowUp]:
        """The incident's follow-ups, oldest first."""
        query = (
            sa.select(t.follow_ups)
            .where(t.follow_ups.c.incident_id == incident_id)
            .order_by(t.follow_ups.c.created_at, t.follow_ups.c.id)
        )
        with self._read() as conn:
            return [_follow_up_from(row) for row in conn.execute(query).mappings()]

    def get_follow_up(self, follow_up_id: int) -> FollowUp | None:
        """One follow-up by id, or None."""
        with self._read() as conn:
            row = (
                conn.execute(sa.select(t.follow_ups).where(t.follow_ups.c.id == follow_up_id))
                .mappings()
                .first()
            )
        return None if row is None else _follow_up_from(row)

    def list_follow_ups(self, flt: FollowUpFilter) -> list[tuple[FollowUp, Incident]]:
        """Follow-ups across incidents with their incidents: one joined query."""
        f, i = t.follow_ups, t.incidents
        query = sa.select(i, *(c.label(f"fu_{c.name}") for c in f.c)).join(
            i, i.c.id == f.c.incident_id
        )
        if flt.done is not None:
            query = query.where(f.c.done == sa.true() if flt.done else f.c.done == sa.false())
        if flt.due_before is not None:
            query = query.where(f.c.due < flt.due_before)
        if flt.owner is not None:
            wanted = flt.owner.strip().lower()
            query = query.where(
                sa.or_(
                    sa.func.lower(f.c.owner["id"].as_string()) == wanted,
                    sa.func.lower(f.c.owner["name"].as_string()) == wanted,
                )
            )
        # Undated ones last on both dialects (PostgreSQL sorts NULL first when descending only).
        query = query.order_by(f.c.due.is_(None), f.c.due, f.c.incident_id, f.c.id)
        if flt.limit is not None:
            query = query.limit(flt.limit)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            (_follow_up_from({c.name: row[f"fu_{c.name}"] for c in f.c}), _incident_from(row))  # type: ignore[arg-type]
            for row in rows
        ]

    # -- alerts -----------------------------------------------------------------------

    def record_alert(self, alert: Alert, raw: bytes | None, received_at: datetime) -> Alert:
        """Store an alert and its (already bounded) raw body; returns it with ``id``."""
        alert = attrs.evolve(alert, received_at=received_at)
        values = _alert_row(alert)
        values.pop("id")
        values["raw"] = raw
        with self._write() as conn:
            new_id = _inserted_id(conn.execute(sa.insert(t.alerts).values(values)))
        return attrs.evolve(alert, id=new_id)

    def open_incident_for_alert(self, source: str, fingerprint: str) -> int | None:
        """The open incident (most recent) that an alert with this fingerprint is attached to."""
        query = (
            sa.select(t.incidents.c.id)
            .join(t.alerts, t.alerts.c.incident_id == t.incidents.c.id)
            .where(
                t.alerts.c.source == source,
                t.alerts.c.fingerprint == fingerprint,
                t.incidents.c.status.in_(_OPEN),
            )
            .order_by(t.incidents.c.id.desc())
            .limit(1)
        )
        with self._read() as conn:
            found = conn.execute(query).scalar_one_or_none()
        return None if found is None else int(found)

    def alerts(self, incident_id: int) -> list[Alert]:
        """Alerts attached to the incident, oldest first."""
        columns = [c for c in t.alerts.c if c.name != "raw"]
        query = (
            sa.select(*columns)
            .where(t.alerts.c.incident_id == incident_id)
            .order_by(t.alerts.c.received_at, t.alerts.c.id)
        )
        with self._read() as conn:
            return [_alert_from(row) for row in conn.execute(query).mappings()]

    def count_group_alerts(self, group_id: str, since: datetime) -> int:
        """Firing alerts of a routing group received at or after ``since`` (one indexed query)."""
        a = t.alerts.c
        query = (
            sa.select(sa.func.count())
            .select_from(t.alerts)
            .where(
                a.group_id == group_id,
                a.received_at >= since,
                a.status == AlertStatus.FIRING.value,
            )
        )
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def alert_summary(self, incident_id: int) -> AlertSummary:
        """How many alerts the incident has, how many distinct, the newest, what was left out."""
        a = t.alerts.c
        mine = a.incident_id == incident_id
        distinct = sa.select(a.source, a.fingerprint).where(mine).distinct().subquery()
        with self._read() as conn:
            received, last_at = conn.execute(
                sa.select(sa.func.count(), sa.func.max(a.received_at)).where(mine)
            ).one()
            if not received:
                return AlertSummary()
            count = conn.execute(sa.select(sa.func.count()).select_from(distinct)).scalar_one()
            omitted = conn.execute(
                sa.select(a.omitted).where(mine).order_by(a.id.desc()).limit(1)
            ).scalar_one()
        return AlertSummary(
            received=int(received),
            distinct=int(count),
            last_at=last_at,
            omitted=int(omitted or 0),
        )

    def alert_raw(self, alert_id: int) -> bytes | None:
        """The raw body stored with an alert (not part of the Store protocol; for debugging)."""
        with self._read() as conn:
            raw = conn.execute(
                sa.select(t.alerts.c.raw).where(t.alerts.c.id == alert_id)
            ).scalar_one_or_none()
        return None if raw is None else bytes(raw)

    # -- alert routing (used by Crashbot.ingest_alert; optional store capabilities) ------

    def record_alerts(
        self, alerts: Sequence[tuple[Alert, bytes | None]], received_at: datetime
    ) -> list[Alert]:
        """Store several alerts (with their bounded raw bodies) in one transaction.

        All or nothing: an intake request's alerts are either all stored or
        none is, and a storm costs one INSERT per request, not one per alert.
        """
        if not alerts:
            return []
        rows = [_alert_values(alert, raw, received_at) for alert, raw in alerts]
        with self._one_statement_write() as conn:
            if self._postgres:
                # Ids come from a sequence in the order of the ORDER BY (as
                # SQLAlchemy's own insertmanyvalues relies on): ascending ids
                # follow the alerts' order.
                payload = [_json_alert(row, n, conn.dialect) for n, row in enumerate(rows)]
                result = conn.execute(_INSERT_ALERTS_PG, {"rows": payload})
                ids = sorted(int(i) for i in result.scalars())
            else:
                ids = [int(row[0]) for row in conn.execute(_INSERT_ALERTS, rows)]
        return [
            attrs.evolve(alert, id=i, received_at=received_at)
            for (alert, _), i in zip(alerts, ids, strict=True)
        ]

    def commit_for_alert_group(self, change: Change, label: tuple[str, str]) -> Saved | int:
        """Declare ``change.incident`` unless an open incident has label ``label`` already.

        Check and insert happen in one serialised transaction, so concurrent
        alerts of one new group declare one incident, across threads,
        processes and replicas: SQLite writers hold the database lock from
        ``BEGIN IMMEDIATE``; on PostgreSQL a transaction-scoped advisory lock
        keyed by the label serialises only writers of the same group.

        :returns: the saved new incident, or the id of the open incident that
            already carries the label (nothing is written then).
        """
        if change.expected_version is not None:
            raise InvalidInput("commit_for_alert_group only declares new incidents")
        key, value = label
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                digest = hashlib.sha256(f"{key}={value}".encode()).digest()
                conn.execute(
                    sa.select(
                        sa.func.pg_advisory_xact_lock(
                            int.from_bytes(digest[:8], "big", signed=True)
                        )
                    )
                )
            existing = conn.execute(
                sa.select(t.incidents.c.id)
                .join(t.incident_labels, t.incident_labels.c.incident_id == t.incidents.c.id)
                .where(
                    t.incident_labels.c.key == key,
                    t.incident_labels.c.value == value,
                    t.incidents.c.status.in_(_OPEN),
                )
                .order_by(t.incidents.c.id)
                .limit(1)
            ).scalar_one_or_none()
            if existing is not None:
                return int(existing)
            return self._write_change(conn, change)

    def open_incidents_for_groups(self, key: str, values: Sequence[str]) -> dict[str, Incident]:
        """Open incidents carrying label ``key`` with one of ``values``: ``{value: incident}``.

        One indexed query for a whole intake request; the oldest open incident
        wins when (against the odds) a group has two.
        """
        wanted = sorted(set(values))
        if not wanted:
            return {}
        query = _group_incidents_query(self._postgres)
        with self._read() as conn:
            found = {
                str(row["group_value"]): _incident_from(row)
                for row in conn.execute(query, {"key": key, "values": wanted}).mappings()
            }
        return found

    def link_alerts(self, links: Mapping[int, Sequence[int]]) -> None:
        """Attach recorded alerts to incidents (``{incident id: [alert ids]}``) in one transaction.

        Used for repeats of an alert already on the incident: kept and linked,
        with no timeline event.
        """
        params = [
            {"alert_id": alert_id, "new_incident_id": incident_id}
            for incident_id, alert_ids in links.items()
            for alert_id in alert_ids
        ]
        if not params:
            return
        update = (
            sa.update(t.alerts)
            .where(t.alerts.c.id == sa.bindparam("alert_id"))
            .values(incident_id=sa.bindparam("new_incident_id"))
        )
        with self._write() as conn:
            conn.execute(update, params)

    def last_alert_statuses(
        self,
        keys: Sequence[tuple[int, str, str]],
        *,
        before_id: int | None = None,
        exclude: Collection[int] = (),
    ) -> dict[tuple[int, str, str], AlertStatus]:
        """Newest status per (incident, source, fingerprint), among alerts with id below ``before_id``."""
        wanted = set(keys)
        if not wanted:
            return {}
        query = _last_statuses_query(self._postgres, before_id is not None, bool(exclude))
        params: dict[str, Any] = {
            "incident_ids": sorted({k[0] for k in wanted}),
            "fingerprints": sorted({k[2] for k in wanted}),
        }
        if before_id is not None:
            params["before_id"] = before_id
        if exclude:
            params["exclude"] = sorted(exclude)
        with self._read() as conn:
            rows = conn.execute(query, params).all()
        found = {(int(r[0]), str(r[1]), str(r[2])): AlertStatus(r[3]) for r in rows}
        return {k: v for k, v in found.items() if k in wanted}

    # -- deliveries (outbox) ------------------------------------------------------------

    def deliveries(
        self, *, states: Sequence[DeliveryState] = (), limit: int = 100
    ) -> list[Delivery]:
        """Deliveries, newest event first, optionally only in the given states."""
        query = sa.select(t.deliveries)
        if states:
            query = query.where(t.deliveries.c.state.in_([DeliveryState(s).value for s in states]))
        query = query.order_by(t.deliveries.c.event_id.desc(), t.deliveries.c.plugin).limit(limit)
        with self._read() as conn:
            return [_delivery_from(row) for row in conn.execute(query).mappings()]

    def claim_deliveries(
        self,
        now: datetime,
        *,
        owner: str,
        lease_until: datetime,
        limit: int = 100,
        event_ids: Sequence[int] | None = None,
    ) -> list[Delivery]:
        """Lease deliveries that may be attempted now (see :meth:`Store.claim_deliveries`).

        One short write transaction: select the claimable rows (locking them
        with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent workers
        split the work instead of queueing; SQLite's ``BEGIN IMMEDIATE``
        serialises claimers), then stamp them with the lease.
        """
        d = t.deliveries
        earlier = d.alias("earlier")
        blocking = sa.select(earlier.c.event_id).where(
            earlier.c.incident_id == d.c.incident_id,
            earlier.c.plugin == d.c.plugin,
            earlier.c.event_id < d.c.event_id,
            earlier.c.state.in_(_RETRYABLE),
            # A row its plugin deferred (DeliverLater) holds nothing back.
            ~sa.and_(
                earlier.c.state == DeliveryState.PENDING.value,
                earlier.c.next_attempt_at.is_not(None),
            ),
        )
        where = list(_due(now))
        if event_ids is not None:
            ids = list(event_ids)
            if not ids:
                return []
            where.append(d.c.event_id.in_(ids))
            # Events of one command go out together, in order, by this caller.
            blocking = blocking.where(earlier.c.event_id.not_in(ids))
        where.append(~blocking.exists())
        query = sa.select(d).where(*where).order_by(d.c.event_id, d.c.plugin).limit(limit)
        # Look before taking the write lock: an idle outbox (the common case
        # for a polling worker) then costs one read, never a writer's turn.
        with self._read() as conn:
            if conn.execute(sa.select(d.c.event_id).where(*where).limit(1)).first() is None:
                return []
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=d)
            rows = conn.execute(query).mappings().all()
            if not rows:
                return []
            keys = [(row["event_id"], row["plugin"]) for row in rows]
            conn.execute(
                sa.update(d)
                .where(sa.tuple_(d.c.event_id, d.c.plugin).in_(keys))
                .values(claimed_by=owner, lease_until=lease_until)
            )
        return [_delivery_from(row) for row in rows]

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
        """Record a claimed attempt's outcome and drop the lease (see :meth:`Store.finish_delivery`).

        Success is recorded even if the lease was lost meanwhile (the event
        did reach the plugin; saying so spares a repeat); a failure only by
        the lease holder, so a slow loser cannot undo a winner's success.
        """
        d = t.deliveries
        state = DeliveryState(state)
        where: list[sa.ColumnElement[bool]] = [
            d.c.event_id == event_id,
            d.c.plugin == plugin,
            d.c.state != DeliveryState.DELIVERED.value,
        ]
        if state is not DeliveryState.DELIVERED:
            where.append(sa.or_(d.c.claimed_by == owner, d.c.claimed_by.is_(None)))
        values: dict[str, Any] = {
            "state": state.value,
            "attempts": d.c.attempts + 1,
            "last_error": error,
            "next_attempt_at": next_attempt_at,
            "updated_at": at,
            "claimed_by": None,
            "lease_until": None,
        }
        with self._write() as conn:
            return bool(conn.execute(sa.update(d).where(*where).values(values)).rowcount)

    def release_deliveries(self, keys: Sequence[tuple[int, str]], *, owner: str) -> None:
        """Give back leases that were not used, so the next claimer need not wait them out."""
        if not keys:
            return
        d = t.deliveries
        with self._write() as conn:
            conn.execute(
                sa.update(d)
                .where(
                    sa.tuple_(d.c.event_id, d.c.plugin).in_(list(keys)),
                    d.c.claimed_by == owner,
                )
                .values(claimed_by=None, lease_until=None)
            )

    def count_deliveries(
        self, *, states: Sequence[DeliveryState] = ()
    ) -> dict[tuple[str, DeliveryState], int]:
        """Deliveries per ``(plugin, state)`` in one grouped query (cheap enough for /metrics)."""
        d = t.deliveries
        query = sa.select(d.c.plugin, d.c.state, sa.func.count()).group_by(d.c.plugin, d.c.state)
        if states:
            query = query.where(d.c.state.in_([DeliveryState(s).value for s in states]))
        with self._read() as conn:
            return {
                (plugin, DeliveryState(state)): int(n)
                for plugin, state, n in conn.execute(query).all()
            }

    # -- reminders --------------------------------------------------------------------

    def lease_reminder(
        self, key: str, incident_id: int, *, owner: str, now: datetime, lease_until: datetime
    ) -> bool:
        """Claim a reminder occurrence for sending (see :meth:`Store.lease_reminder`).

        ``INSERT … ON CONFLICT DO NOTHING`` decides the first claim without an
        error; a row that exists is taken over only by a conditional UPDATE
        (never sent, lease expired), which PostgreSQL re-checks on the locked
        row, so two workers cannot both take over the same dead claim.
        """
        r = t.reminders_sent
        values = {
            "key": key,
            "incident_id": incident_id,
            "at": now,
            "claimed_by": owner,
            "lease_until": lease_until,
            "sent_at": None,
        }
        # Most due reminders a worker sees each round were sent long ago:
        # answer those with one read instead of a turn at the write lock.
        with self._read() as conn:
            sent = conn.execute(sa.select(r.c.sent_at).where(r.c.key == key)).first()
        if sent is not None and sent[0] is not None:
            return False
        insert: sa.Insert
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                insert = pg_insert(r).values(values).on_conflict_do_nothing()
            else:
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert

                insert = sqlite_insert(r).values(values).on_conflict_do_nothing()
            # RETURNING, not rowcount: drivers disagree on the rowcount of a
            # skipped INSERT (psycopg reports -1 there).
            if conn.execute(insert.returning(r.c.key)).first() is not None:
                return True
            taken = conn.execute(
                sa.update(r)
                .where(
                    r.c.key == key,
                    r.c.sent_at.is_(None),
                    sa.or_(r.c.lease_until.is_(None), r.c.lease_until < now),
                )
                .values(claimed_by=owner, lease_until=lease_until)
            )
            return bool(taken.rowcount)

    def check_writable(self) -> None:
        """Take the write lock and update nothing: raises when the database refuses writes."""
        with self._write() as conn:
            conn.execute(
                sa.update(t.store_state)
                .where(t.store_state.c.id != t.store_state.c.id)
                .values(change_counter=t.store_state.c.change_counter)
            )

    # -- components -------------------------------------------------------------------

    def upsert_component(self, component: Component) -> None:
        """Create or replace a component by key."""
        values = _component_row(component)
        where = t.components.c.key == component.key
        with self._write() as conn:
            if not conn.execute(sa.update(t.components).where(where).values(values)).rowcount:
                try:
                    with conn.begin_nested():
                        conn.execute(sa.insert(t.components).values(values))
                except sa.exc.IntegrityError:
                    # Created concurrently by another process: ours wins, as
                    # if it had come second.
                    conn.execute(sa.update(t.components).where(where).values(values))
            self._bump(conn)

    def components(self) -> list[Component]:
        """Every stored component, by position then key."""
        query = sa.select(t.components).order_by(t.components.c.position, t.components.c.key)
        with self._read() as conn:
            return [_component_from(row) for row in conn.execute(query).mappings()]

    # -- maintenances ------------------------------------------------------------------

    def save_maintenance(
        self, maintenance: Maintenance, *, expected_version: int | None, ref_prefix: str = "MNT"
    ) -> Maintenance:
        """Insert or update a maintenance and its new updates (see ``MaintenanceStore``)."""
        with self._write() as conn:
            saved = mnt.save(
                conn, maintenance, expected_version=expected_version, ref_prefix=ref_prefix
            )
            self._bump(conn)
        return saved

    def get_maintenance(self, maintenance_id: int) -> Maintenance | None:
        """One maintenance with its updates, or None."""
        with self._read() as conn:
            return mnt.get(conn, maintenance_id)

    def list_maintenances(
        self, *, statuses: Sequence[MaintenanceStatus] = (), limit: int | None = None
    ) -> list[Maintenance]:
        """Maintenances with their updates, newest window first."""
        with self._read() as conn:
            return mnt.listing(conn, statuses=statuses, limit=limit)

    # -- metrics ----------------------------------------------------------------------

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
        """The :mod:`crashbot_core.metrics` report computed in SQL (``Crashbot.metrics`` calls it).

        ``criteria`` are :class:`IncidentFilter` fields (``severities``,
        ``component``, ``label``, ``source``, ``public``, …). See
        :func:`crashbot_sqlalchemy.metrics.compute_sql`.
        """
        with self._read() as conn:
            return compute_sql(
                conn, policy, now=now, since=since, until=until, by=by, rates=rates, **criteria
            )

    # -- API tokens -------------------------------------------------------------------

    def create_token(self, token: ApiToken) -> ApiToken:
        """Store a token (its hash only).

        :raises crashbot_core.errors.InvalidInput: a token with this name exists.
        """
        values = _token_row(token)
        values.pop("id")
        try:
            with self._write() as conn:
                new_id = _inserted_id(conn.execute(sa.insert(t.api_tokens).values(values)))
        except sa.exc.IntegrityError:
            raise InvalidInput(
                f"a token named {token.name!r} already exists; choose another name"
            ) from None
        return attrs.evolve(token, id=new_id)

    def find_token(self, token_hash: str) -> ApiToken | None:
        """The token with this hash, or None."""
        with self._read() as conn:
            row = conn.execute(_FIND_TOKEN, {"token_hash": token_hash}).mappings().first()
        return None if row is None else _token_from(row)

    def touch_token(self, token_id: int, at: datetime, *, unless_since: datetime) -> None:
        """Record a use of the token, unless one after ``unless_since`` is recorded."""
        a = t.api_tokens
        with self._write() as conn:
            conn.execute(
                sa.update(a)
                .where(
                    a.c.id == token_id,
                    sa.or_(a.c.last_used_at.is_(None), a.c.last_used_at <= unless_since),
                )
                .values(last_used_at=at)
            )

    def revoke_token(self, name: str, at: datetime) -> ApiToken | None:
        """Revoke the token named ``name`` (an earlier revocation time is kept)."""
        a = t.api_tokens
        with self._write() as conn:
            conn.execute(
                sa.update(a).where(a.c.name == name, a.c.revoked_at.is_(None)).values(revoked_at=at)
            )
            row = conn.execute(sa.select(a).where(a.c.name == name)).mappings().first()
        return None if row is None else _token_from(row)

    def tokens(self) -> list[ApiToken]:
        """Every token, oldest first."""
        query = sa.select(t.api_tokens).order_by(t.api_tokens.c.created_at, t.api_tokens.c.id)
        with self._read() as conn:
            return [_token_from(row) for row in conn.execute(query).mappings()]


# Statements of the commit path, built once: parameters go in at execute time,
# so SQLAlchemy compiles each once per process instead of keying a new
# .values() construct on every command (a third of a declare's CPU).
#: What an :class:`Incident` is read from: not the derived metrics columns.
_INCIDENT_COLUMNS = [
    c
    for c in t.incidents.c
    if c.name not in ("tta_seconds", "ttm_seconds", "ttr_seconds", "started_month", "nbd_deadline")
]
#: What a status page may show of an incident (see ``public_face``): the rest
#: stays in the database, and JSON decoding is most of a row's cost.
_INTERNAL = ("labels", "refs", "roles", "declared_by")
_PUBLIC_COLUMNS = [c for c in _INCIDENT_COLUMNS if c.name not in _INTERNAL]
_INSERT_INCIDENT = sa.insert(t.incidents)
_NEW_ID = sa.select(
    sa.func.nextval(sa.func.pg_get_serial_sequence(t.incidents.name, "id")).label("id")
).subquery("new_id")
_FILLED = [c for c in t.incidents.c if c.name not in ("id", "ref")]
#: PostgreSQL: the next id drawn from the column's sequence, and the ref made
#: from it, in the INSERT itself: one statement (and round trip) less per declare.
_INSERT_INCIDENT_WITH_REF = (
    sa.insert(t.incidents)
    .from_select(
        ["id", "ref", *(c.name for c in _FILLED)],
        sa.select(
            _NEW_ID.c.id,
            sa.bindparam("ref_prefix", type_=sa.String())
            + "-"
            + sa.cast(_NEW_ID.c.id, sa.String()),
            *(sa.bindparam(f"v_{c.name}", type_=c.type) for c in _FILLED),
        ),
    )
    .returning(t.incidents.c.id)
)
_SET_REF = sa.update(t.incidents).where(t.incidents.c.id == sa.bindparam("b_id"))
_UPDATE_INCIDENT = sa.update(t.incidents).where(
    t.incidents.c.id == sa.bindparam("b_id"),
    t.incidents.c.version == sa.bindparam("b_version"),
)
_INSERT_EVENT = sa.insert(t.events)
_INSERT_LABELS = sa.insert(t.incident_labels)
_INSERT_COMPONENTS = sa.insert(t.incident_components)
_INSERT_ENGAGEMENTS = sa.insert(t.incident_engagements)
_INSERT_DELIVERIES = sa.insert(t.deliveries)
# Reads on every request, built once for the same reason: a statement built
# per call costs its construction and its cache key on every execution.
_GET_INCIDENT = sa.select(*_INCIDENT_COLUMNS).where(t.incidents.c.id == sa.bindparam("incident_id"))
#: The incident with its follow-ups (one row each, or one with none).
_RECORD = (
    sa.select(*_INCIDENT_COLUMNS, *(c.label(f"fu_{c.name}") for c in t.follow_ups.c))
    .outerjoin(t.follow_ups, t.follow_ups.c.incident_id == t.incidents.c.id)
    .where(t.incidents.c.id == sa.bindparam("incident_id"))
    .order_by(t.follow_ups.c.created_at, t.follow_ups.c.id)
)
_TIMELINE = (
    sa.select(t.events)
    .where(t.events.c.incident_id == sa.bindparam("incident_id"))
    .order_by(t.events.c.at, t.events.c.id)
)
_CHANGE_COUNTER = sa.select(t.store_state.c.change_counter).where(
    t.store_state.c.id == t.STATE_ROW_ID
)
_FIND_TOKEN = sa.select(t.api_tokens).where(t.api_tokens.c.token_hash == sa.bindparam("token_hash"))
_BUMP = (
    sa.update(t.store_state)
    .where(t.store_state.c.id == t.STATE_ROW_ID)
    .values(change_counter=t.store_state.c.change_counter + 1)
)


#: The alert columns an intake request inserts (``id`` is the database's).
_ALERT_INSERT_NAMES = [c.name for c in t.alerts.c if c.name != "id"]
_INSERT_ALERTS = sa.insert(t.alerts).returning(t.alerts.c.id, sort_by_parameter_order=True)


def _array_of(column: sa.Column[Any]) -> ARRAY[Any]:
    # Text elements, not VARCHAR(n): a cast to VARCHAR(n) would silently cut a
    # value that the column itself refuses as too long.
    item = sa.Text() if isinstance(column.type, sa.String) else column.type
    return ARRAY(item)


def _insert_alerts_pg() -> sa.Insert:
    """``INSERT … SELECT … FROM json_to_recordset(:rows) ORDER BY n RETURNING id``.

    The alerts travel as one JSON array (encoded in C, parsed by the server):
    the statement's text is the same for any number of alerts, so psycopg
    parses it once and the server prepares it, where a VALUES row per alert
    means hundreds of parameters to parse and adapt on every request. Text
    columns are read as TEXT, not VARCHAR(n), so a value too long for its
    column fails as it would in a plain INSERT instead of being cut.
    """

    def json_type(column: sa.Column[Any]) -> sa.types.TypeEngine[Any]:
        if isinstance(column.type, sa.String | sa.LargeBinary):
            return sa.Text()  # bytes travel as hex
        if isinstance(column.type, t.UTCDateTime):
            return sa.DateTime(timezone=True)
        return column.type

    fields = [sa.column(name, json_type(t.alerts.c[name])) for name in _ALERT_INSERT_NAMES]
    rows = (
        sa.func.json_to_recordset(sa.bindparam("rows", type_=sa.JSON))
        .table_valued(*fields, sa.column("n", sa.Integer))
        .render_derived(with_types=True)
    )
    select = sa.select(
        *(
            sa.func.decode(rows.c.raw, sa.literal_column("'hex'"))
            if name == "raw"
            else rows.c[name]
            for name in _ALERT_INSERT_NAMES
        )
    ).order_by(rows.c.n)
    return sa.insert(t.alerts).from_select(_ALERT_INSERT_NAMES, select).returning(t.alerts.c.id)


_INSERT_ALERTS_PG = _insert_alerts_pg()


def _one_of(column: sa.Column[Any], name: str, postgres: bool) -> sa.ColumnElement[bool]:
    """``column`` equals one of the list bound as ``name``, in a statement whose text never varies.

    PostgreSQL takes the list as one array; elsewhere it is an expanding IN.
    """
    if postgres:
        return column == sa.any_(sa.bindparam(name, type_=_array_of(column)))
    return column.in_(sa.bindparam(name, expanding=True))


# The alert intake's reads, built once per dialect: building a statement and
# its cache key on every request cost as much as running it.
@functools.cache
def _group_incidents_query(postgres: bool) -> sa.Select[Any]:
    labels, incidents = t.incident_labels, t.incidents
    return (
        sa.select(labels.c.value.label("group_value"), *_INCIDENT_COLUMNS)
        .join(incidents, labels.c.incident_id == incidents.c.id)
        .where(
            labels.c.key == sa.bindparam("key"),
            _one_of(labels.c.value, "values", postgres),
            incidents.c.status.in_([sa.literal(s) for s in _OPEN]),
        )
        .order_by(incidents.c.id.desc())
    )


@functools.cache
def _last_statuses_query(postgres: bool, before: bool, exclude: bool) -> sa.Select[Any]:
    a = t.alerts.c
    where = [
        _one_of(a.incident_id, "incident_ids", postgres),
        _one_of(a.fingerprint, "fingerprints", postgres),
    ]
    if before:
        where.append(a.id < sa.bindparam("before_id"))
    if exclude:
        where.append(sa.not_(_one_of(a.id, "exclude", postgres)))
    newest = (
        sa.select(sa.func.max(a.id).label("id"))
        .where(*where)
        .group_by(a.incident_id, a.source, a.fingerprint)
        .subquery()
    )
    return sa.select(a.incident_id, a.source, a.fingerprint, a.status).join(
        newest, newest.c.id == a.id
    )


def _inserted_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None  # every table inserted into here has a primary key
    return int(key[0])


# -- filters ------------------------------------------------------------------------------


def _due(now: datetime) -> tuple[sa.ColumnElement[bool], ...]:
    """Deliveries that may be attempted at ``now``: retryable, due, and not leased."""
    d = t.deliveries
    return (
        d.c.state.in_(_RETRYABLE),
        sa.or_(d.c.next_attempt_at.is_(None), d.c.next_attempt_at <= now),
        sa.or_(d.c.lease_until.is_(None), d.c.lease_until < now),
    )


def _in_ids(conn: Connection, column: sa.ColumnElement[int], ids: list[int]) -> Any:
    """``column IN ids`` with the ids as one bound value where the dialect allows it."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == sa.func.any(sa.bindparam("ids", ids, type_=ARRAY(sa.Integer)))
    if conn.dialect.name == "sqlite":
        each = sa.func.json_each(sa.bindparam("ids", json.dumps(ids)))
        return column.in_(sa.select(sa.column("value")).select_from(each))
    return column.in_(ids)


def _conditions(flt: IncidentFilter) -> list[sa.ColumnElement[bool]]:
    c = t.incidents.c
    where: list[sa.ColumnElement[bool]] = []
    if flt.open is True:
        where.append(c.status.in_(_OPEN))
    elif flt.open is False:
        where.append(c.status == Status.RESOLVED.value)
    if flt.statuses:
        where.append(c.status.in_([Status(s).value for s in flt.statuses]))
    if flt.severities:
        where.append(c.severity.in_(list(flt.severities)))
    if flt.since is not None:
        where.append(c.started_at >= flt.since)
    if flt.until is not None:
        where.append(c.started_at < flt.until)
    if flt.active_since is not None:
        where.append(sa.or_(c.resolved_at.is_(None), c.resolved_at >= flt.active_since))
    if flt.public is not None:
        # "=" rather than "IS": PostgreSQL uses an index only for the former.
        where.append(c.public == flt.public)
    if flt.component is not None:
        where.append(
            c.id.in_(
                sa.select(t.incident_components.c.incident_id).where(
                    t.incident_components.c.component == flt.component
                )
            )
        )
    if flt.label is not None:
        key, value = flt.label
        where.append(
            c.id.in_(
                sa.select(t.incident_labels.c.incident_id).where(
                    t.incident_labels.c.key == key, t.incident_labels.c.value == value
                )
            )
        )
    if flt.source is not None:
        where.append(c.source == flt.source)
    if flt.after is not None:
        # Keyset on (started_at, id) from the named incident, in the same
        # statement; an unknown id makes both sides NULL: an empty page.
        at = sa.select(c.started_at).where(c.id == flt.after).scalar_subquery()
        if flt.newest_first:
            where.append(sa.or_(c.started_at < at, sa.and_(c.started_at == at, c.id < flt.after)))
        else:
            where.append(sa.or_(c.started_at > at, sa.and_(c.started_at == at, c.id > flt.after)))
    if flt.counts is not None:
        counting = sa.or_(c.resolution.is_(None), c.resolution == Resolution.RESOLVED.value)
        where.append(counting if flt.counts else sa.not_(counting))
    return where


# -- rows <-> models ----------------------------------------------------------------------


def _actor_json(actor: Actor | None) -> dict[str, str] | None:
    if actor is None:
        return None
    return {"platform": actor.platform, "id": actor.id, "name": actor.name}


def _actor_from(data: Mapping[str, Any] | None) -> Actor | None:
    if data is None:
        return None
    return Actor(platform=data["platform"], id=data["id"], name=data.get("name", ""))


def _incident_row(incident: Incident, *, version: int) -> dict[str, Any]:
    return {
        "id": incident.id,
        "ref": incident.ref,
        "title": incident.title,
        "description": incident.description,
        "severity": incident.severity,
        "status": Status(incident.status).value,
        "public": incident.public,
        "components": {k: Impact(v).value for k, v in incident.components.items()},
        "roles": {k: _actor_json(a) for k, a in incident.roles.items()},
        "labels": dict(incident.labels),
        "started_at": incident.started_at,
        "declared_at": incident.declared_at,
        "acknowledged_at": incident.acknowledged_at,
        "mitigated_at": incident.mitigated_at,
        "resolved_at": incident.resolved_at,
        "last_update_at": incident.last_update_at,
        "rca_url": incident.rca_url,
        "source": incident.source,
        "refs": dict(incident.refs),
        "version": version,
        "declared_by": _actor_json(incident.declared_by),
        "detected_at": incident.detected_at,
        "resolution": None
        if incident.resolution is None
        else Resolution(incident.resolution).value,
        "duplicate_of": incident.duplicate_of,
        # Derived columns the SQL metrics read (migration 0002_metrics).
        **derived_columns(incident),
    }


def _incident_from(row: RowMapping, *, internal: bool = True) -> Incident:
    """The incident of a row; without ``internal``, a row of ``_PUBLIC_COLUMNS`` only."""
    if not internal:
        return _public_incident_from(row)
    roles = {k: _actor_from(v) for k, v in (row["roles"] or {}).items()}
    return Incident(
        id=row["id"],
        ref=row["ref"],
        title=row["title"],
        description=row["description"],
        severity=row["severity"],
        status=Status(row["status"]),
        public=bool(row["public"]),
        components={k: Impact(v) for k, v in (row["components"] or {}).items()},
        roles={k: a for k, a in roles.items() if a is not None},
        labels=dict(row["labels"] or {}),
        started_at=row["started_at"],
        declared_at=row["declared_at"],
        acknowledged_at=row["acknowledged_at"],
        mitigated_at=row["mitigated_at"],
        resolved_at=row["resolved_at"],
        last_update_at=row["last_update_at"],
        rca_url=row["rca_url"],
        source=row["source"],
        refs=dict(row["refs"] or {}),
        version=row["version"],
        declared_by=_actor_from(row["declared_by"]),
        detected_at=row["detected_at"],
        resolution=None if row["resolution"] is None else Resolution(row["resolution"]),
        duplicate_of=row["duplicate_of"],
    )


def _public_incident_from(row: RowMapping) -> Incident:
    return Incident(
        id=row["id"],
        ref=row["ref"],
        title=row["title"],
        description=row["description"],
        severity=row["severity"],
        status=Status(row["status"]),
        public=bool(row["public"]),
        components={k: Impact(v) for k, v in (row["components"] or {}).items()},
        started_at=row["started_at"],
        declared_at=row["declared_at"],
        acknowledged_at=row["acknowledged_at"],
        mitigated_at=row["mitigated_at"],
        resolved_at=row["resolved_at"],
        last_update_at=row["last_update_at"],
        rca_url=row["rca_url"],
        source=row["source"],
        version=row["version"],
        detected_at=row["detected_at"],
        resolution=None if row["resolution"] is None else Resolution(row["resolution"]),
        duplicate_of=row["duplicate_of"],
    )


def _event_row(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "incident_id": event.incident_id,
        "at": event.at,
        "actor": _actor_json(event.actor),
        "kind": EventKind(event.kind).value,
        "data": dict(event.data),
        "public": event.public,
    }


def _event_from(row: RowMapping) -> Event:
    actor = _actor_from(row["actor"])
    assert actor is not None  # the column is NOT NULL
    return Event(
        id=row["id"],
        incident_id=row["incident_id"],
        at=row["at"],
        actor=actor,
        kind=EventKind(row["kind"]),
        data=dict(row["data"] or {}),
        public=bool(row["public"]),
    )


def _follow_up_row(follow_up: FollowUp) -> dict[str, Any]:
    return {
        "id": follow_up.id,
        "incident_id": follow_up.incident_id,
        "title": follow_up.title,
        "created_at": follow_up.created_at,
        "owner": _actor_json(follow_up.owner),
        "due": follow_up.due,
        "done": follow_up.done,
        "done_at": follow_up.done_at,
        "url": follow_up.url,
    }


def _follow_up_from(row: RowMapping) -> FollowUp:
    return FollowUp(
        id=row["id"],
        incident_id=row["incident_id"],
        title=row["title"],
        created_at=row["created_at"],
        owner=_actor_from(row["owner"]),
        due=row["due"],
        done=bool(row["done"]),
        done_at=row["done_at"],
        url=row["url"],
    )


def _alert_row(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "source": alert.source,
        "fingerprint": alert.fingerprint,
        "status": AlertStatus(alert.status).value,
        "title": alert.title,
        "severity": alert.severity,
        "labels": dict(alert.labels),
        "started_at": alert.started_at,
        "url": alert.url,
        "description": alert.description,
        "incident_id": alert.incident_id,
        "received_at": alert.received_at,
        "group_id": alert.group_id,
        "omitted": alert.omitted,
    }


def _alert_values(alert: Alert, raw: bytes | None, received_at: datetime) -> dict[str, Any]:
    """The inserted row of an alert received at ``received_at`` (no ``id``: the database's)."""
    values = _alert_row(alert)
    del values["id"]
    values["received_at"] = received_at
    values["raw"] = raw
    return values


_UTC = t.UTCDateTime()


def _json_alert(values: dict[str, Any], n: int, dialect: sa.Dialect) -> dict[str, Any]:
    """An inserted alert row as a ``json_to_recordset`` element: UTC times, hex bytes, its index."""
    raw = values["raw"]
    return {
        **values,
        "started_at": _UTC.process_bind_param(values["started_at"], dialect),
        "received_at": _UTC.process_bind_param(values["received_at"], dialect),
        "raw": None if raw is None else bytes(raw).hex(),
        "n": n,
    }


def _alert_from(row: RowMapping) -> Alert:
    return Alert(
        id=row["id"],
        source=row["source"],
        fingerprint=row["fingerprint"],
        status=AlertStatus(row["status"]),
        title=row["title"],
        severity=row["severity"],
        labels=dict(row["labels"] or {}),
        started_at=row["started_at"],
        url=row["url"],
        description=row["description"],
        incident_id=row["incident_id"],
        received_at=row["received_at"],
        group_id=row["group_id"],
        omitted=row["omitted"] or 0,
    )


def _delivery_from(row: RowMapping) -> Delivery:
    return Delivery(
        event_id=row["event_id"],
        incident_id=row["incident_id"],
        plugin=row["plugin"],
        state=DeliveryState(row["state"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        next_attempt_at=row["next_attempt_at"],
        updated_at=row["updated_at"],
    )


def _component_row(component: Component) -> dict[str, Any]:
    return {
        "key": component.key,
        "name": component.name,
        "group_name": component.group,
        "description": component.description,
        "position": component.position,
    }


def _component_from(row: RowMapping) -> Component:
    return Component(
        key=row["key"],
        name=row["name"],
        group=row["group_name"],
        description=row["description"],
        position=row["position"],
    )


def _token_row(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "token_hash": token.token_hash,
        "scope": TokenScope(token.scope).value,
        "created_at": token.created_at,
    }


def _token_from(row: RowMapping) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        token_hash=row["token_hash"],
        scope=TokenScope(row["scope"]),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )
