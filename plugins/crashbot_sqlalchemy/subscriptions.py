"""Subscribers and their message queue in SQL (the ``SubscriptionStore`` capability).

A mixin of :class:`crashbot_sqlalchemy.store.SqlStore`: it uses the store's
``_read``/``_write`` transactions, so it shares their locking rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from crashbot_core.errors import InvalidInput
from crashbot_core.models import DeliveryState, OutboundMessage, Subscriber
from crashbot_sqlalchemy import schema as t

_RETRYABLE = (DeliveryState.PENDING.value, DeliveryState.FAILED.value)


class SqlSubscriptions:
    """:class:`crashbot_core.store.SubscriptionStore` over the store's connection."""

    _read: Any
    _write: Any

    def save_subscriber(
        self, subscriber: Subscriber, *, messages: Sequence[OutboundMessage] = ()
    ) -> Subscriber:
        """Insert or replace the subscriber with this id and queue ``messages``, in one transaction."""
        s = t.subscribers
        row = _subscriber_row(subscriber)
        try:
            with self._write() as conn:
                exists = conn.execute(sa.select(s.c.id).where(s.c.id == subscriber.id)).first()
                if exists is None:
                    conn.execute(sa.insert(s).values(row))
                else:
                    conn.execute(sa.update(s).where(s.c.id == subscriber.id).values(row))
                _queue(conn, messages)
        except sa.exc.IntegrityError:
            raise InvalidInput(f"{subscriber.address} is subscribed already") from None
        return subscriber

    def get_subscriber(self, subscriber_id: str) -> Subscriber | None:
        """The subscriber with this id, or None."""
        return self._one(t.subscribers.c.id == subscriber_id)

    def find_subscriber(self, address: str) -> Subscriber | None:
        """The subscriber with this address, or None."""
        return self._one(t.subscribers.c.address == address)

    def _one(self, where: sa.ColumnElement[bool]) -> Subscriber | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.subscribers).where(where)).mappings().first()
        return None if row is None else _subscriber_from(row)

    def subscribers(self, *, active_only: bool = False) -> list[Subscriber]:
        """Every subscriber, oldest consent first (``active_only``: confirmed and subscribed)."""
        s = t.subscribers
        query = sa.select(s).order_by(s.c.consent_at, s.c.id)
        if active_only:
            query = query.where(s.c.confirmed_at.is_not(None), s.c.unsubscribed_at.is_(None))
        with self._read() as conn:
            return [_subscriber_from(row) for row in conn.execute(query).mappings()]

    def queue_messages(self, messages: Sequence[OutboundMessage]) -> int:
        """Queue messages whose keys are new; returns how many were added."""
        if not messages:
            return 0
        with self._write() as conn:
            return _queue(conn, messages)

    def claim_messages(
        self, now: datetime, *, owner: str, lease_until: datetime, limit: int = 100
    ) -> list[OutboundMessage]:
        """Lease due messages, oldest first (``FOR UPDATE SKIP LOCKED`` on PostgreSQL)."""
        m = t.subscriber_messages
        where = (
            m.c.state.in_(_RETRYABLE),
            sa.or_(m.c.next_attempt_at.is_(None), m.c.next_attempt_at <= now),
            sa.or_(m.c.lease_until.is_(None), m.c.lease_until < now),
        )
        # An idle queue costs a read, never a writer's turn.
        with self._read() as conn:
            if conn.execute(sa.select(m.c.key).where(*where).limit(1)).first() is None:
                return []
        query = sa.select(m).where(*where).order_by(m.c.created_at, m.c.key).limit(limit)
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = conn.execute(query).mappings().all()
            if rows:
                conn.execute(
                    sa.update(m)
                    .where(m.c.key.in_([r["key"] for r in rows]))
                    .values(claimed_by=owner, lease_until=lease_until)
                )
        return [_message_from(row) for row in rows]

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
        """Record a claimed message's outcome; a delivered message is never finished again."""
        m = t.subscriber_messages
        state = DeliveryState(state)
        where: list[sa.ColumnElement[bool]] = [
            m.c.key == key,
            m.c.state != DeliveryState.DELIVERED.value,
        ]
        if state is not DeliveryState.DELIVERED:
            where.append(sa.or_(m.c.claimed_by == owner, m.c.claimed_by.is_(None)))
        values: dict[str, Any] = {
            "state": state.value,
            "attempts": m.c.attempts + 1,
            "last_error": error,
            "next_attempt_at": next_attempt_at,
            "claimed_by": None,
            "lease_until": None,
        }
        if state is DeliveryState.DELIVERED:
            values["sent_at"] = at
        with self._write() as conn:
            return bool(conn.execute(sa.update(m).where(*where).values(values)).rowcount)

    def messages(
        self, *, subscriber_id: str | None = None, limit: int = 100
    ) -> list[OutboundMessage]:
        """Queued and sent messages, newest first (of one subscriber when given)."""
        m = t.subscriber_messages
        query = sa.select(m).order_by(m.c.created_at.desc(), m.c.key.desc()).limit(limit)
        if subscriber_id is not None:
            query = query.where(m.c.subscriber_id == subscriber_id)
        with self._read() as conn:
            return [_message_from(row) for row in conn.execute(query).mappings()]


def _queue(conn: Connection, messages: Sequence[OutboundMessage]) -> int:
    if not messages:
        return 0
    m = t.subscriber_messages
    keys = [msg.key for msg in messages]
    known = set(conn.execute(sa.select(m.c.key).where(m.c.key.in_(keys))).scalars())
    rows, seen = [], set(known)
    for msg in messages:
        if msg.key not in seen:
            seen.add(msg.key)
            rows.append(_message_row(msg))
    if rows:
        # Two fan-outs of one event racing: the primary key lets one win; the
        # loser's transaction fails and its delivery is retried, finding them queued.
        conn.execute(sa.insert(m), rows)
    return len(rows)


def _subscriber_row(s: Subscriber) -> dict[str, Any]:
    return {
        "id": s.id,
        "kind": s.kind.value,
        "address": s.address,
        "components": list(s.components),
        "consent_at": s.consent_at,
        "confirmed_at": s.confirmed_at,
        "unsubscribed_at": s.unsubscribed_at,
        "secret": s.secret,
    }


def _subscriber_from(row: RowMapping) -> Subscriber:
    return Subscriber(
        id=row["id"],
        kind=row["kind"],
        address=row["address"],
        components=tuple(row["components"] or ()),
        consent_at=row["consent_at"],
        confirmed_at=row["confirmed_at"],
        unsubscribed_at=row["unsubscribed_at"],
        secret=row["secret"],
    )


def _message_row(msg: OutboundMessage) -> dict[str, Any]:
    return {
        "key": msg.key,
        "subscriber_id": msg.subscriber_id,
        "kind": msg.kind.value,
        "recipient": msg.to,
        "subject": msg.subject,
        "text": msg.text,
        "html": msg.html,
        "headers": dict(msg.headers),
        "created_at": msg.created_at,
        "state": msg.state.value,
        "attempts": msg.attempts,
        "next_attempt_at": msg.next_attempt_at,
        "last_error": msg.last_error,
        "sent_at": msg.sent_at,
        "claimed_by": None,
        "lease_until": None,
    }


def _message_from(row: RowMapping) -> OutboundMessage:
    return OutboundMessage(
        key=row["key"],
        kind=row["kind"],
        to=row["recipient"],
        subject=row["subject"],
        text=row["text"],
        html=row["html"],
        headers=dict(row["headers"] or {}),
        created_at=row["created_at"],
        subscriber_id=row["subscriber_id"],
        state=row["state"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        sent_at=row["sent_at"],
    )
