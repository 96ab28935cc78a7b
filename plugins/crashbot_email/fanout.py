"""From a committed event to one queued message per interested subscriber.

The plugin's ``crashbot_incident_event`` delivery calls
:func:`notices_for_event`, which applies the status site's privacy gates
(:func:`crashbot_status.public.public_updates` and ``public_face``): a
private incident, an internal update or an alert's own text yields nothing.
:func:`publish` then queues one message per active subscriber whose
component filter matches, keyed (notice, subscriber), so a retried delivery
queues nothing twice. The worker sends them (:mod:`crashbot_email.sender`).

Maintenance (the extension point): whoever commits a maintenance step builds
a :class:`~crashbot_email.mails.Notice` with :func:`maintenance_notice` and
calls :func:`publish`; it is mailed and posted to webhooks like an incident.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from crashbot_core.errors import ConfigError
from crashbot_core.models import (
    Event,
    EventKind,
    Incident,
    Maintenance,
    MaintenanceStatus,
    MaintenanceUpdate,
    OutboundMessage,
    Subscriber,
)
from crashbot_core.store import SubscriptionStore
from crashbot_email import links
from crashbot_email.mails import MailContext, Notice, names
from crashbot_email.settings import settings_of
from crashbot_status import public, statuspage
from crashbot_status.site import Site

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot

#: Header carrying ``sha256=HEX``: HMAC-SHA256 of the body under the subscriber's secret.
SIGNATURE_HEADER = "X-Crashbot-Signature"
#: Statuspage's documentation of the payloads, linked from each one's ``meta``.
WEBHOOK_DOCS = "https://support.atlassian.com/statuspage/docs/enable-webhook-notifications/"

_KINDS = {
    EventKind.DECLARED: "incident_created",
    EventKind.RESOLVED: "incident_resolved",
}


def subscription_store(crashbot: Crashbot) -> SubscriptionStore:
    """The store's subscription capability.

    :raises ConfigError: the store has none (a third-party store without it).
    """
    store = crashbot.store
    if not isinstance(store, SubscriptionStore):
        raise ConfigError(
            f"store {type(store).__name__} lacks the SubscriptionStore capability, "
            "which [email] subscriptions need"
        )
    return store


def context_of(crashbot: Crashbot) -> MailContext:
    """Settings, page name and link base for subscriber mails."""
    return MailContext(
        settings=settings_of(crashbot),
        page_name=crashbot.config.general.name,
        base_url=crashbot.config.public_url,
    )


def notices_for_event(crashbot: Crashbot, incident: Incident, event: Event) -> list[Notice]:
    """The public news in ``event``: an incident created, updated or resolved, or none.

    A component change of a public incident yields webhook-only notices
    (Statuspage's ``component_update``), one per changed component.
    """
    if not public.is_public(incident):
        return []
    site = Site(crashbot)
    face = public.public_face(incident, crashbot.config.alerts)
    if event.kind is EventKind.COMPONENTS_CHANGED and event.public:
        return _component_notices(site, face, event)
    updates = public.public_updates(face, [event])
    if not updates:
        return []
    update = updates[0]
    kind = _KINDS.get(event.kind, "incident_updated")
    comps = sorted(face.components)
    known = {c.key: c.display for c in site.components([face])}
    base = crashbot.config.public_url
    return [
        Notice(
            key=f"incident:{incident.id}:event:{event.id}",
            kind=kind,
            title=face.title,
            body=update.body,
            at=update.at,
            url=f"{base}/incidents/{incident.id}",
            components=tuple(comps),
            component_names=names(comps, known),
            status=update.status,
            webhook=_incident_payload(site, face),
        )
    ]


def _page(site: Site, incidents: Sequence[Incident]) -> tuple[statuspage.Page, list[Any]]:
    now = site.now()
    open_ = site.open_incidents()
    comps = site.components([*open_, *incidents])
    views = public.component_views(comps, [*open_, *incidents], now=now)
    return site.page(list(incidents)), views


def _page_json(site: Site, page: statuspage.Page) -> dict[str, Any]:
    overall = public.overall_status(site.open_incidents(), site.policy)
    return {
        "id": page.id,
        "status_indicator": overall.indicator,
        "status_description": overall.headline,
    }


def _incident_payload(site: Site, face: Incident) -> dict[str, Any] | None:
    p = site.incident(face.id)
    if p is None:  # made private since: nothing public to say
        return None
    page, views = _page(site, [face])
    return {
        "meta": {"documentation": WEBHOOK_DOCS},
        "page": _page_json(site, page),
        "incident": statuspage.incident_json(p, page, site.policy, views),
    }


def _component_notices(site: Site, face: Incident, event: Event) -> list[Notice]:
    before = event.data.get("from") or {}
    after = event.data.get("to") or {}
    page, views = _page(site, [face])
    by_id = {c["id"]: c for c in statuspage.components_json(views, page)}
    out = []
    for key in sorted(set(before) | set(after)):
        old = str(before.get(key, public.OPERATIONAL))
        new = str(after.get(key, public.OPERATIONAL))
        if old == new:
            continue
        component = by_id.get(key) or {"id": key, "name": key, "status": new}
        payload = {
            "meta": {"documentation": WEBHOOK_DOCS},
            "page": _page_json(site, page),
            "component_update": {
                "created_at": statuspage.ts(event.at),
                "new_status": new,
                "old_status": old,
                "id": f"{event.id}-{key}",
                "component_id": key,
            },
            "component": component,
        }
        out.append(
            Notice(
                key=f"incident:{face.id}:event:{event.id}:component:{key}",
                kind="incident_updated",
                title=str(component.get("name") or key),
                body=f"{old} → {new}",
                at=event.at,
                url=f"{site.crashbot.config.public_url}/incidents/{face.id}",
                components=(key,),
                webhook=payload,
                mail=False,
            )
        )
    return out


def maintenance_notice(
    crashbot: Crashbot,
    *,
    maintenance_id: int,
    step: str,
    title: str,
    body: str,
    at: datetime,
    components: Sequence[str] = (),
    webhook: dict[str, Any] | None = None,
) -> Notice:
    """The notice of one maintenance step: ``scheduled``, ``started`` or ``completed``.

    Only public maintenance may be announced; ``body`` is its public message.
    """
    comps = sorted(components)
    known = {c.key: c.display for c in crashbot.components()}
    return Notice(
        key=f"maintenance:{maintenance_id}:{step}",
        kind=f"maintenance_{step}",
        title=title,
        body=body,
        at=at,
        url=f"{crashbot.config.public_url}/maintenance/{maintenance_id}",
        components=tuple(comps),
        component_names=names(comps, known),
        status=step,
        webhook=webhook,
    )


#: Maintenance statuses that are news for subscribers, and the step each announces.
MAINTENANCE_STEPS = {"scheduled": "scheduled", "in_progress": "started", "completed": "completed"}


def notice_for_maintenance(
    crashbot: Crashbot, maintenance: Maintenance, update: MaintenanceUpdate
) -> Notice | None:
    """The notice of a maintenance's new update, or None when the update is no step
    subscribers hear of (a plain message, verifying, a cancellation of nothing announced)."""
    step = MAINTENANCE_STEPS.get(MaintenanceStatus(update.status).value)
    if step is None:
        return None
    face = public.public_maintenance(maintenance)
    site = Site(crashbot)
    page, views = _page(site, [])
    return maintenance_notice(
        crashbot,
        maintenance_id=maintenance.id,
        step=step,
        title=maintenance.title,
        body=update.body,
        at=update.at,
        components=maintenance.components,
        webhook={
            "meta": {"documentation": WEBHOOK_DOCS},
            "page": _page_json(site, page),
            # Statuspage sends scheduled maintenances as incidents with impact "maintenance".
            "incident": statuspage.maintenance_json(face, page, views),
        },
    )


def publish(crashbot: Crashbot, notice: Notice) -> int:
    """Queue ``notice`` for every active subscriber it concerns; returns how many messages are new.

    Idempotent: call it again for the same notice (a retry) and nothing more is queued.
    """
    store = subscription_store(crashbot)
    ctx = context_of(crashbot)
    now = crashbot.now()
    messages: list[OutboundMessage] = []
    for sub in store.subscribers(active_only=True):
        if not sub.wants(notice.components):
            continue
        if sub.kind.value == "email":
            if notice.mail:
                messages.append(ctx.notice(sub, notice, now))
        elif notice.webhook is not None:
            messages.append(webhook_message(ctx, sub, notice, now))
    added = store.queue_messages(messages)
    if added:
        crashbot.outbox.pending.set()  # wakes a waiting worker
    return added


def webhook_message(
    ctx: MailContext, subscriber: Subscriber, notice: Notice, now: datetime
) -> OutboundMessage:
    """The signed webhook call of ``notice`` for ``subscriber``."""
    payload = dict(notice.webhook or {})
    payload["meta"] = {
        **payload.get("meta", {}),
        "unsubscribe": ctx.url(links.UNSUBSCRIBE, subscriber),
    }
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    return OutboundMessage(
        key=f"{notice.key}:{subscriber.id}",
        kind="webhook",
        to=subscriber.address,
        subject="",
        text=body,
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: "sha256=" + sign_body(subscriber.secret, body.encode()),
        },
        created_at=now,
        subscriber_id=subscriber.id,
    )


def sign_body(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``body`` under ``secret`` (what a receiver recomputes)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
