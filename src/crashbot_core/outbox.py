"""The outbox: getting committed events and reminders to plugins, exactly once.

A command writes its events and one pending delivery row per (event,
subscribed plugin) in one transaction (:class:`~crashbot_core.store.Change`).
This module does everything after that: it delivers a command's rows right
after its commit, retries failed ones with backoff from the worker, keeps the
per-incident order per plugin, and sends due reminders under a lease so that
any number of workers send each one once.

It receives what it needs (the store, the plugin manager, the clock, the
retry policy) and the object that hooks receive as their ``crashbot``
argument; it never imports the service facade.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pluggy

from crashbot_core.clock import Clock
from crashbot_core.delivery import DeliverLater, RetryAfter, RetryPolicy
from crashbot_core.errors import LeaseLost
from crashbot_core.escalation import page_of
from crashbot_core.hookspecs import SUBSCRIBED_WHEN_ATTR
from crashbot_core.logs import REQUEST_ID_KEY, log_context
from crashbot_core.models import (
    Delivery,
    DeliveryState,
    Event,
    EventKind,
    Incident,
    Reminder,
    ReminderKind,
)
from crashbot_core.store import Saved, Store

log = logging.getLogger("crashbot")

#: How long a claimed delivery or reminder stays leased to its claimer. It must
#: outlast the slowest plugin call (chat APIs time out well within it); when a
#: worker dies, another one takes its claims over after this long.
DEFAULT_LEASE = timedelta(minutes=2)

#: Commits the ``reminder_sent`` event of a leased reminder:
#: ``record(incident_id, reminder, owner=instance_id)``. The outbox sits below
#: the commit path, so the facade hands the command that does this in.
RecordReminder = Callable[..., object]


class Outbox:
    """Delivers committed events and reminders to plugins.

    :param store: where delivery rows and reminder keys are leased and finished.
    :param pm: the plugin manager whose ``crashbot_incident_event`` and
        ``crashbot_reminder`` implementations receive them.
    :param host: what hook implementations receive as ``crashbot`` (the facade).
    """

    def __init__(
        self,
        store: Store,
        pm: pluggy.PluginManager,
        clock: Clock,
        retry_policy: RetryPolicy,
        *,
        host: Any,
    ) -> None:
        self.store = store
        self.pm = pm
        self.clock = clock
        self.retry_policy = retry_policy
        self.host = host
        #: Lease on claimed deliveries and reminders (see :data:`DEFAULT_LEASE`).
        self.lease = DEFAULT_LEASE
        #: Who this process is when it claims outbox rows and reminders.
        self.instance_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        #: Servers set this (:meth:`crashbot_core.service.Crashbot.defer_deliveries`):
        #: a commit only writes its delivery rows, and the worker delivers them,
        #: so no request waits on a chat, mail or paging API.
        self.deferred = False
        #: Set after each commit while :attr:`deferred`: wakes the worker at once.
        self.pending = threading.Event()
        #: With inline delivery, the longest a command waits for it (seconds;
        #: None: until done). What is not done by then continues in the
        #: background, and the worker takes over what a process leaves behind.
        self.inline_budget: float | None = None
        # Per-thread queue of commits made while this thread delivers events.
        self._delivering = threading.local()
        # Per-thread: inside deferring(), commits leave delivery to the worker.
        self._deferring = threading.local()

    # ------------------------------------------------------------------ subscribers

    def subscribers(self, *, reminder: bool = False) -> list[str]:
        """Plugins that get a delivery row for each event committed now.

        :param reminder: for a ``reminder_sent`` event: the ``crashbot_reminder``
            implementations are subscribed too.
        """
        # Inert plugins (no token, no webhook) opt out with @subscribed_when,
        # so a command writes and claims delivery rows only for plugins that
        # will do something with them.
        names = {i.plugin_name for i in self._subscribed(self.pm.hook.crashbot_incident_event)}
        if reminder:
            names.update(i.plugin_name for i in self.pm.hook.crashbot_reminder.get_hookimpls())
            names.update(i.plugin_name for i in self._subscribed(self.pm.hook.crashbot_page))
        return sorted(names)

    def _subscribed(self, hook: Any) -> list[Any]:
        """The hook's implementations whose ``@subscribed_when`` holds (or that have none)."""
        found = []
        for impl in hook.get_hookimpls():
            predicate = getattr(impl.function, SUBSCRIBED_WHEN_ATTR, None)
            if predicate is not None:
                try:
                    if not predicate(self.host):
                        continue
                except Exception:
                    log.exception("subscribed_when of plugin %s failed", impl.plugin_name)
            found.append(impl)
        return found

    # ------------------------------------------------------------------ after a commit

    def defers(self) -> bool:
        """Whether this thread's commits leave every delivery to the worker just now."""
        return self.deferred or getattr(self._deferring, "on", False)

    def after_commit(self, saved: Saved) -> None:
        """Deliver a command's events now (or wake the worker), in order per plugin.

        Failures wait for the worker's retries; the commit stands either way.
        """
        # A plugin may run commands while handling an event (an exporter
        # records `postmortem_exported`). Delivering that commit at once would
        # find the outer event still in flight and leave the new one to the
        # worker; instead it queues behind the outer call's own events.
        queue: list[Saved] | None = getattr(self._delivering, "queue", None)
        if queue is not None:
            queue.append(saved)
            return
        if self.defers():
            self.pending.set()
            return
        if self.inline_budget is None:
            self._drain(saved)
            return
        thread = threading.Thread(
            target=self._drain, args=(saved,), name="crashbot-deliver", daemon=True
        )
        thread.start()
        thread.join(self.inline_budget)
        if thread.is_alive():
            log.warning(
                "delivery of %s is taking over %gs; it goes on in the background, "
                "and the worker retries what is left undone",
                saved.incident.ref,
                self.inline_budget,
            )

    @contextmanager
    def deferring(self) -> Iterator[None]:
        """Within the block, this thread's commits only write their delivery rows.

        The worker delivers them (woken at once through :attr:`pending`). The
        alert intake runs inside it: a webhook request never waits on, or
        makes, a chat call, even in a process that delivers inline otherwise.
        """
        previous = getattr(self._deferring, "on", False)
        self._deferring.on = True
        try:
            yield
        finally:
            self._deferring.on = previous

    def _drain(self, saved: Saved) -> None:
        self._delivering.queue = queue = [saved]
        try:
            while queue:
                self._deliver_saved(queue.pop(0))
        except Exception:
            # The rows stay in the outbox: the worker delivers them.
            log.exception("delivery after the commit of %s failed", saved.incident.ref)
        finally:
            self._delivering.queue = None

    def _deliver_saved(self, saved: Saved) -> None:
        # The rows are leased first, so a worker polling the outbox at this
        # moment cannot deliver them too. A plugin with an earlier event of
        # this incident still undelivered (failed, waiting for a retry) gets
        # nothing here: the claim skips it and the worker delivers in order.
        if not saved.events or not self.subscribers():
            return
        now = self.clock.now()
        claimed = self.store.claim_deliveries(
            now,
            owner=self.instance_id,
            lease_until=now + self.lease,
            limit=10_000,
            event_ids=[e.id for e in saved.events],
        )
        events = {e.id: e for e in saved.events}
        failed: set[str] = set()
        unused: list[tuple[int, str]] = []
        for d in claimed:  # oldest event first
            if d.plugin in failed:
                unused.append((d.event_id, d.plugin))  # waits behind the failed one
                continue
            if not self._deliver_one(d.plugin, saved.incident, events[d.event_id], attempts=0):
                failed.add(d.plugin)
        if unused:
            self.store.release_deliveries(unused, owner=self.instance_id)

    # ------------------------------------------------------------------ the worker's side

    def deliveries(self, *, failed_only: bool = False, limit: int = 100) -> list[Delivery]:
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
            now = self.clock.now()
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

    def _deliver_one(self, plugin: str, incident: Incident, event: Event, *, attempts: int) -> bool:
        rid = event.data.get(REQUEST_ID_KEY)
        with log_context(
            request_id=str(rid) if rid else None, incident=incident.ref, plugin=plugin
        ):
            ok = self._deliver_one_logged(plugin, incident, event, attempts=attempts)
            log.info(
                "event %s (%s) %s to %s",
                event.id,
                event.kind.value,
                "delivered" if ok else "not delivered",
                plugin,
            )
            return ok

    def _deliver_one_logged(
        self, plugin: str, incident: Incident, event: Event, *, attempts: int
    ) -> bool:
        impls = [
            i
            for i in self.pm.hook.crashbot_incident_event.get_hookimpls()
            if i.plugin_name == plugin
        ]
        kwargs: dict[str, Any] = {"crashbot": self.host, "incident": incident, "event": event}
        if event.kind is EventKind.REMINDER_SENT:
            # The reminder itself first: it is what this delivery is for.
            kwargs["reminder"] = reminder = reminder_of(event)
            if reminder.kind is ReminderKind.ESCALATION:
                impls = self._page_impls(plugin, incident, reminder, kwargs) + impls
            else:
                impls = [
                    i
                    for i in self.pm.hook.crashbot_reminder.get_hookimpls()
                    if i.plugin_name == plugin
                ] + impls
        now = self.clock.now()
        if not impls and "page" in kwargs and kwargs["page"] is None:
            # An escalation step stopped by an acknowledgement: nothing to do.
            self.store.finish_delivery(
                event.id, plugin, DeliveryState.DELIVERED, owner=self.instance_id, at=now
            )
            return True
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
        try:
            for impl in impls:
                impl.function(**{k: kwargs[k] for k in impl.argnames})
        except DeliverLater as later:
            # The plugin coalesces: it wants this event again later, not a retry.
            self.store.finish_delivery(
                event.id,
                plugin,
                DeliveryState.PENDING,
                owner=self.instance_id,
                at=now,
                next_attempt_at=max(later.at, now),
            )
            return True
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

    def _page_impls(
        self, plugin: str, incident: Incident, reminder: Reminder, kwargs: dict[str, Any]
    ) -> list[Any]:
        """``plugin``'s ``crashbot_page`` for an escalation step, unless it no longer applies."""
        impls = [i for i in self.pm.hook.crashbot_page.get_hookimpls() if i.plugin_name == plugin]
        # A retried delivery must not page someone after the incident was
        # acknowledged or resolved: the escalation stopped there.
        fresh = self.store.get_incident(incident.id) or incident
        if fresh.acknowledged_at is not None or not fresh.is_open:
            log.info("escalation step %s: stopped (acknowledged or resolved)", reminder.key)
            kwargs["page"] = None
            return []
        kwargs["page"] = page_of(reminder, self.host.config.escalation)
        return impls

    # ------------------------------------------------------------------ reminders

    def send_reminder(
        self, incident: Incident, reminder: Reminder, *, record: RecordReminder
    ) -> bool:
        """Send a reminder exactly once across workers, through the retried outbox.

        The key is leased in the store first (for :attr:`lease`), so among any
        number of workers one goes on. It then commits a ``reminder_sent``
        event whose transaction also marks the key sent, only while it still
        holds the lease, and writes one delivery row per plugin: each
        ``crashbot_reminder`` implementation gets the reminder like any
        event, retried with backoff while its chat API is down, never twice
        after it succeeded. A worker that dies before the commit leaves the
        key unsent; another takes it over once the lease runs out.

        :param record: commits the ``reminder_sent`` event with the lease (a command).
        :returns: False when another worker holds or already sent it.
        """
        now = self.clock.now()
        if not self.store.lease_reminder(
            reminder.key,
            incident.id,
            owner=self.instance_id,
            now=now,
            lease_until=now + self.lease,
        ):
            return False
        try:
            record(incident.id, reminder, owner=self.instance_id)
        except LeaseLost:
            # Our lease ran out before the commit and another worker took it.
            log.warning("reminder %s: lease lost before it was recorded", reminder.key)
            return False
        return True


def reminder_of(event: Event) -> Reminder:
    """The reminder a ``reminder_sent`` event carries (see :func:`reminder_data`)."""
    d = event.data
    step = d.get("step")
    return Reminder(
        incident_id=event.incident_id,
        kind=ReminderKind(str(d["reminder"])),
        due_at=datetime.fromisoformat(str(d.get("due_at") or event.at.isoformat())),
        key=str(d["key"]),
        message=str(d.get("message") or ""),
        step=int(step) if step is not None else None,
        action=str(d["action"]) if d.get("action") else None,
        target=str(d["target"]) if d.get("target") else None,
    )


def reminder_data(reminder: Reminder) -> dict[str, Any]:
    """The data of the ``reminder_sent`` event that sends ``reminder``."""
    data: dict[str, Any] = {
        "reminder": reminder.kind.value,
        "key": reminder.key,
        "message": reminder.message,
        "due_at": reminder.due_at.isoformat(),
    }
    if reminder.step is not None:
        data.update(step=reminder.step, action=reminder.action, target=reminder.target)
    return data
