"""The commit path every command takes.

A command is a transition (:data:`Transition`): a pure function of the
current incident and the time, from :mod:`crashbot_core.lifecycle`. The
commit path loads the incident, applies the transition and writes the result
in one version-checked transaction (:meth:`~crashbot_core.store.Store.commit`),
with a pending delivery per subscribed plugin; after commit the outbox
delivers. After a version conflict the transition is re-run on fresh state,
so a commutative command (posting an update) goes through and a conflicting
one (a second resolve) fails with the real reason, led by who won the race.
"""

from __future__ import annotations

import functools
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import attrs

from crashbot_core import lifecycle, logs
from crashbot_core.clock import Clock
from crashbot_core.config import Config
from crashbot_core.errors import ConflictError, IllegalTransition, InvalidInput, NotFound
from crashbot_core.models import Event, EventKind, FollowUp, Incident
from crashbot_core.outbox import Outbox
from crashbot_core.store import Change, Saved, Store, StoreCapabilities

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

#: A command's pure part: the current incident and now → new incident and events.
Transition = Callable[[Incident, datetime], lifecycle.Result]


def parse_id(value: int | str, ref_prefix: str) -> int:
    """Accept ``42``, ``"42"``, ``"#42"`` or ``"INC-42"`` (any case).

    :raises InvalidInput: for anything else.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    prefix = re.escape(ref_prefix)
    m = re.fullmatch(rf"(?:{prefix}-|#)?(\d{{1,18}})", text, flags=re.IGNORECASE)
    if not m:
        raise InvalidInput(
            f"{text!r} is not an incident id; expected a number or a ref like {ref_prefix}-42"
        )
    return int(m.group(1))


class CommitPath:
    """Loads, transitions and commits one incident; retries on version conflicts.

    :param config: the ref prefix (read on every command).
    :param outbox: delivers what each commit wrote.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        capabilities: StoreCapabilities,
        clock: Clock,
        outbox: Outbox,
    ) -> None:
        self.config = config
        self.store = store
        self.capabilities = capabilities
        self.clock = clock
        self.outbox = outbox
        #: Version conflicts met (each one re-ran a command on fresh state).
        self.conflicts = 0
        self._conflicts_lock = threading.Lock()

    def parse_id(self, value: int | str) -> int:
        """An incident id from ``42``, ``"#42"`` or ``"INC-42"``."""
        return parse_id(value, self.config.ref_prefix)

    def get(self, incident_id: int | str) -> Incident:
        """One incident.

        :raises NotFound: when there is no such incident.
        """
        iid = self.parse_id(incident_id)
        incident = self.store.get_incident(iid)
        if incident is None:
            raise NotFound(f"no incident {self.config.ref_prefix}-{iid}")
        return incident

    def commit_new(self, change: Change) -> Saved:
        """Write a new incident's change and deliver it."""
        saved = self.store.commit(change)
        self.outbox.after_commit(saved)
        return saved

    def new_change(
        self, incident: Incident, events: Sequence[Event], *, alert_ids: Sequence[int] = ()
    ) -> Change:
        """The :class:`Change` that stores a new incident, with its deliveries."""
        return Change(
            incident=incident,
            expected_version=None,
            events=with_request_id(events),
            alert_ids=alert_ids,
            subscribers=self.outbox.subscribers(),
            ref_prefix=self.config.ref_prefix,
        )

    def run(self, incident_id: int | str, transition: Transition) -> Incident:
        """Apply ``transition`` to the stored incident and commit; returns the new incident."""
        return self.run_saved(incident_id, transition).incident

    def run_saved(
        self,
        incident_id: int | str,
        transition: Transition,
        *,
        follow_ups: Sequence[FollowUp] = (),
        alert_ids: Sequence[int] = (),
        reminder: tuple[str, str] | None = None,
    ) -> Saved:
        """Apply ``transition`` and commit with ``follow_ups`` and ``alert_ids``; returns all saved.

        ``reminder`` is the ``(key, owner)`` lease of a reminder this change
        sends (:attr:`crashbot_core.store.Change.reminder`).

        Re-runs the transition on fresh state after a version conflict, under
        the store's row lock after :data:`LOCK_AFTER_CONFLICTS` of them.

        :raises ConflictError: the incident kept changing for
            :data:`MAX_CONFLICT_RETRIES` tries.
        """
        iid = self.parse_id(incident_id)

        def build(incident: Incident, attempt: int) -> Change:
            try:
                new, events = transition(incident, self.clock.now())
            except IllegalTransition as exc:
                if attempt == 0:
                    raise
                # We lost a race: say who won, not only what the state is now.
                raise self._lost_race(incident, exc) from None
            return Change(
                incident=new,
                expected_version=incident.version,
                events=with_request_id(events),
                follow_ups=list(follow_ups),
                alert_ids=alert_ids,
                subscribers=self.outbox.subscribers(reminder=reminder is not None)
                if events
                else (),
                ref_prefix=self.config.ref_prefix,
                reminder=reminder,
            )

        locked = self.capabilities.locked_commit
        for attempt in range(MAX_CONFLICT_RETRIES):
            if attempt >= LOCK_AFTER_CONFLICTS and locked is not None:
                # Optimistic retries can starve a writer on a hot incident;
                # holding the row lock from read to write guarantees progress.
                saved = locked.commit_locked(iid, functools.partial(build, attempt=attempt))
                self.outbox.after_commit(saved)
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
            self.outbox.after_commit(saved)
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


def with_request_id(events: Sequence[Event]) -> list[Event]:
    """``events`` with the request id they were made under, when there is one.

    The outbox logs it while it delivers them, so a request's log line and
    the worker's delivery lines share the id (see :mod:`crashbot_core.logs`).
    """
    rid = logs.request_id()
    if rid is None:
        return list(events)
    return [
        e
        if logs.REQUEST_ID_KEY in e.data
        else attrs.evolve(e, data={**e.data, logs.REQUEST_ID_KEY: rid})
        for e in events
    ]
