"""The worker's side: send queued subscriber mails and webhook calls, rate-limited.

Each round leases at most ``[email] rate_limit`` due messages
(:meth:`~crashbot_core.store.SubscriptionStore.claim_messages`), so any
number of workers share the queue without sending anything twice, and a
relay or webhook that fails is retried with the outbox's backoff until the
retry horizon; then the message is ``dead``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import httpx

from crashbot_core.models import DeliveryState, OutboundMessage, SubscriberKind
from crashbot_email import transport
from crashbot_email.fanout import subscription_store
from crashbot_email.settings import EmailSettings, settings_of

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot

log = logging.getLogger("crashbot.email")


def send_round(crashbot: Crashbot) -> int:
    """Send up to ``rate_limit`` due messages; returns how many went out."""
    settings = settings_of(crashbot)
    if not settings.can_send:
        return 0
    store = subscription_store(crashbot)
    now = crashbot.now()
    owner = crashbot.instance_id
    claimed = store.claim_messages(
        now, owner=owner, lease_until=now + crashbot.lease, limit=max(settings.rate_limit, 1)
    )
    sent = 0
    for msg in claimed:
        try:
            _send(settings, msg)
        except (transport.MailError, httpx.HTTPError) as exc:
            nxt = crashbot.retry_policy.next_attempt(
                msg.attempts + 1, now, first_attempt_at=msg.created_at
            )
            state = DeliveryState.FAILED if nxt is not None else DeliveryState.DEAD
            log.warning("message %s to %s not sent: %s", msg.key, msg.to, exc)
            store.finish_message(
                msg.key, state, owner=owner, at=now, error=str(exc)[:2000], next_attempt_at=nxt
            )
            continue
        store.finish_message(msg.key, DeliveryState.DELIVERED, owner=owner, at=crashbot.now())
        sent += 1
    return sent


def _send(settings: EmailSettings, msg: OutboundMessage) -> None:
    if msg.kind is SubscriberKind.WEBHOOK:
        response = httpx.post(
            msg.to, content=msg.text.encode(), headers=msg.headers, timeout=settings.timeout
        )
        if response.status_code >= 300:
            raise httpx.HTTPStatusError(
                f"{msg.to} answered {response.status_code}",
                request=response.request,
                response=response,
            )
        return
    transport.send(
        settings,
        transport.build(
            sender=settings.mail_from or "",
            to=msg.to,
            subject=msg.subject,
            text=msg.text,
            html=msg.html,
            headers=msg.headers,
        ),
    )
