"""The store contract's part for :class:`~crashbot_core.store.SubscriptionStore`.

:class:`~crashbot_core.store_contract.StoreContract` includes these tests; a
store without the capability skips them, naming it.
"""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from crashbot_core.errors import InvalidInput
from crashbot_core.models import DeliveryState, OutboundMessage, Subscriber, SubscriberKind
from crashbot_core.store import Store, SubscriptionStore
from crashbot_core.store_contract_records import LEASE, T0


class SubscriptionContract:
    """What ``SubscriptionStore`` promises (mixed into ``StoreContract``)."""

    def test_subscribers_are_saved_found_and_filtered(self, store: Store) -> None:
        if not isinstance(store, SubscriptionStore):
            pytest.skip("the store does not offer SubscriptionStore")
        ann = Subscriber(
            id="s-ann", kind=SubscriberKind.EMAIL, address="ann@example.com", consent_at=T0
        )
        bob = Subscriber(
            id="s-bob",
            kind="webhook",
            address="https://hooks.example.com/x",
            consent_at=T0 + timedelta(minutes=1),
            components=("db", "api"),
            confirmed_at=T0 + timedelta(minutes=1),
            secret="k",
        )
        store.save_subscriber(ann)
        store.save_subscriber(bob)

        assert store.get_subscriber("s-bob") == bob
        assert store.find_subscriber("ann@example.com") == ann
        assert store.get_subscriber("nobody") is None
        assert [s.id for s in store.subscribers()] == ["s-ann", "s-bob"]
        assert [s.id for s in store.subscribers(active_only=True)] == ["s-bob"]
        confirmed = attrs.evolve(ann, confirmed_at=T0 + timedelta(hours=1))
        store.save_subscriber(confirmed)
        assert store.get_subscriber("s-ann") == confirmed
        with pytest.raises(InvalidInput):
            store.save_subscriber(attrs.evolve(ann, id="s-other"))

    def test_a_message_is_queued_once_and_sent_once(self, store: Store) -> None:
        if not isinstance(store, SubscriptionStore):
            pytest.skip("the store does not offer SubscriptionStore")
        ann = Subscriber(id="s-ann", kind="email", address="ann@example.com", consent_at=T0)
        first = OutboundMessage(
            key="confirm:s-ann:1",
            kind="email",
            to=ann.address,
            subject="Confirm",
            text="Hello",
            html="<p>Hello</p>",
            headers={"List-Unsubscribe": "<https://x/u>"},
            created_at=T0,
            subscriber_id=ann.id,
        )
        store.save_subscriber(ann, messages=[first])
        second = attrs.evolve(first, key="event:1:s-ann", created_at=T0 + timedelta(seconds=1))

        assert store.queue_messages([first, second, second]) == 1
        claimed = store.claim_messages(T0, owner="w1", lease_until=LEASE, limit=10)
        assert [m.key for m in claimed] == ["confirm:s-ann:1", "event:1:s-ann"]
        assert claimed[0] == first
        assert store.claim_messages(T0, owner="w2", lease_until=LEASE) == []

        assert store.finish_message(first.key, DeliveryState.DELIVERED, owner="w1", at=T0)
        assert not store.finish_message(first.key, DeliveryState.FAILED, owner="w1", at=T0)
        retry_at = T0 + timedelta(minutes=1)
        store.finish_message(
            second.key,
            DeliveryState.FAILED,
            owner="w1",
            at=T0,
            error="down",
            next_attempt_at=retry_at,
        )
        assert store.claim_messages(T0, owner="w2", lease_until=LEASE) == []
        again = store.claim_messages(retry_at, owner="w2", lease_until=LEASE + timedelta(minutes=1))
        assert [(m.key, m.attempts, m.last_error) for m in again] == [(second.key, 1, "down")]
        # A lease that ran out is taken over; a message once delivered never again.
        later = retry_at + timedelta(minutes=5)
        assert [m.key for m in store.claim_messages(later, owner="w3", lease_until=later)] == [
            second.key
        ]
        store.finish_message(second.key, DeliveryState.DELIVERED, owner="w3", at=later)
        assert store.queue_messages([first, second]) == 0
        assert store.claim_messages(later + timedelta(days=1), owner="w4", lease_until=later) == []
        sent = store.messages(subscriber_id="s-ann")
        assert [(m.key, m.state, m.sent_at) for m in sent] == [
            (second.key, DeliveryState.DELIVERED, later),
            (first.key, DeliveryState.DELIVERED, T0),
        ]
