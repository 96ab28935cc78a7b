"""Scheduled maintenance: windows of planned work announced on the status page.

A maintenance is not an incident: it has its own model
(:class:`~crashbot_core.models.Maintenance`), its own store capability
(:class:`~crashbot_core.store.MaintenanceStore`) and counts in no metric.
Its life is ``scheduled → in_progress (→ verifying) → completed``, or
``scheduled → cancelled``. With ``auto`` (the default) the worker starts it at
``scheduled_for`` and completes it at ``scheduled_until``
(:meth:`Maintenances.run_due`); a person may start or complete it earlier.

Every change is one version-checked save: when several workers see the same
maintenance due, one save wins and the others meet a conflict and leave it,
so each start and completion (and its message) happens exactly once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import attrs

from crashbot_core.clock import Clock
from crashbot_core.config import Config
from crashbot_core.errors import (
    ConfigError,
    ConflictError,
    IllegalMaintenanceStep,
    InvalidInput,
    NotFound,
)
from crashbot_core.inputs import clean_components, clean_text, clean_title
from crashbot_core.lifecycle import StateConflict
from crashbot_core.models import MAX_ID, Actor, Maintenance, MaintenanceStatus, MaintenanceUpdate
from crashbot_core.store import MaintenanceStore, StoreCapabilities

log = logging.getLogger("crashbot.maintenance")

#: Called after a save with the maintenance and each update it added (subscriptions, chat).
Listener = Callable[[Maintenance, MaintenanceUpdate], None]

#: Tries of a person's command against concurrent changes (the worker's own
#: transitions never retry: a conflict there means another worker did it).
ATTEMPTS = 3

_S = MaintenanceStatus
#: Which statuses a person may set with ``update --status``.
_SETTABLE = {
    _S.IN_PROGRESS: (_S.SCHEDULED, _S.VERIFYING),
    _S.VERIFYING: (_S.IN_PROGRESS,),
}


# --------------------------------------------------------------------------- pure rules


def _window(starts: datetime, ends: datetime, now: datetime, *, new: bool) -> None:
    if starts.tzinfo is None or ends.tzinfo is None:
        raise InvalidInput("maintenance times need a time zone (e.g. 2026-03-02T02:00:00Z)")
    # 409, not 422: a well-formed request the schema allows (see StateConflict).
    if ends <= starts:
        raise StateConflict(
            f"the window ends ({ends.isoformat()}) before it starts ({starts.isoformat()})"
        )
    if new and ends <= now:
        raise StateConflict(f"the window ended already ({ends.isoformat()}); nothing to announce")


def _note(
    m: Maintenance, status: MaintenanceStatus, body: str, actor: Actor | None, now: datetime
) -> Maintenance:
    update = MaintenanceUpdate(at=now, status=status, body=body, actor=actor)
    changes: dict[str, Any] = {"status": status, "updates": (*m.updates, update)}
    if status.is_active and m.started_at is None:
        changes["started_at"] = now
    if status is _S.COMPLETED:
        changes["completed_at"] = now
    return attrs.evolve(m, **changes)


def _illegal(m: Maintenance, wanted: str, why: str) -> IllegalMaintenanceStep:
    return IllegalMaintenanceStep(wanted, m.ref, m.status.value, why)


def start(m: Maintenance, body: str, actor: Actor | None, now: datetime) -> Maintenance:
    """``scheduled → in_progress``: the work begins (early, when a person does it)."""
    if m.status is not _S.SCHEDULED:
        raise _illegal(m, "start", "only a scheduled maintenance starts")
    return _note(m, _S.IN_PROGRESS, body, actor, now)


def complete(m: Maintenance, body: str, actor: Actor | None, now: datetime) -> Maintenance:
    """``in_progress | verifying → completed``."""
    if not m.status.is_active:
        hint = "cancel it instead" if m.status is _S.SCHEDULED else "it is over"
        raise _illegal(m, "complete", f"only one in progress or verifying completes ({hint})")
    return _note(m, _S.COMPLETED, body, actor, now)


def cancel(m: Maintenance, body: str, actor: Actor | None, now: datetime) -> Maintenance:
    """``scheduled → cancelled``: called off before it began."""
    if m.status is not _S.SCHEDULED:
        hint = "complete it instead" if m.status.is_active else "it is over"
        raise _illegal(m, "cancel", f"only a scheduled maintenance is cancelled ({hint})")
    return _note(m, _S.CANCELLED, body, actor, now)


def due(m: Maintenance, now: datetime) -> MaintenanceStatus | None:
    """The status the worker moves an ``auto`` maintenance to now, or None."""
    if not m.auto:
        return None
    if m.status is _S.SCHEDULED and m.scheduled_for <= now:
        return _S.IN_PROGRESS
    if m.status.is_active and m.scheduled_until <= now:
        return _S.COMPLETED
    return None


def revise(
    m: Maintenance,
    *,
    actor: Actor | None,
    now: datetime,
    message: str = "",
    status: MaintenanceStatus | None = None,
    title: str | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    components: Sequence[str] | None = None,
) -> Maintenance:
    """Change what a person may change, posting ``message`` as a public update.

    A new status (``in_progress`` or ``verifying``) or a new window needs no
    message: the update then says what changed.
    """
    if m.status.is_over:
        raise _illegal(m, "update", "a completed or cancelled maintenance stays as it is")
    changes: dict[str, Any] = {}
    said: list[str] = []
    if title is not None and clean_title(title) != m.title:
        changes["title"] = clean_title(title)
    if components is not None:
        changes["components"] = tuple(components)
    if starts_at is not None or ends_at is not None:
        new_start = starts_at or m.scheduled_for
        new_end = ends_at or m.scheduled_until
        if starts_at is not None and m.status is not _S.SCHEDULED:
            raise _illegal(m, "move the start of", "it has started already")
        _window(new_start, new_end, now, new=False)
        if (new_start, new_end) != (m.scheduled_for, m.scheduled_until):
            changes.update(scheduled_for=new_start, scheduled_until=new_end)
            said.append(
                f"Rescheduled: {new_start.strftime('%Y-%m-%d %H:%M')} to "
                f"{new_end.strftime('%Y-%m-%d %H:%M')} UTC."
            )
    target = m.status
    if status is not None and status is not m.status:
        if status not in _SETTABLE or m.status not in _SETTABLE[status]:
            raise _illegal(
                m,
                f"set {status.value} on",
                "use start, complete or cancel, or set in_progress / verifying once it runs",
            )
        target = status
    text = clean_text(message, "message")
    if not changes and target is m.status and not text:
        raise StateConflict(
            "nothing to change: give a message, a status, a title, times or components"
        )
    revised = attrs.evolve(m, **changes)
    if text or target is not m.status or said:
        revised = _note(
            revised, target, text or " ".join(said) or _status_words(target), actor, now
        )
    return revised


def _status_words(status: MaintenanceStatus) -> str:
    return {
        _S.IN_PROGRESS: "The maintenance is in progress.",
        _S.VERIFYING: "The work is done; we are verifying the results.",
    }.get(status, f"Status: {status.value}.")


# --------------------------------------------------------------------------- the part


class Maintenances:
    """Scheduled maintenance commands (the facade forwards ``schedule_maintenance`` & co here).

    :param listeners: called after each save with every update it added;
        an exception there is logged, never undoes the save.
    """

    def __init__(
        self,
        config: Config,
        capabilities: StoreCapabilities,
        clock: Clock,
        listeners: Callable[[], Iterable[Listener]] = lambda: (),
    ) -> None:
        self.config = config
        self.capabilities = capabilities
        self.clock = clock
        self.listeners = listeners

    @property
    def store(self) -> MaintenanceStore:
        """The store's maintenance capability.

        :raises ConfigError: the store has none.
        """
        found = self.capabilities.maintenances
        if found is None:
            self.capabilities.require(
                "maintenances", needed_by="scheduled maintenance", remedy="use the SQL store"
            )
            raise ConfigError("no maintenance store")  # pragma: no cover - require raised
        return found

    @property
    def available(self) -> bool:
        """Whether the store keeps maintenances (the status page shows none otherwise)."""
        return self.capabilities.maintenances is not None

    # -- reads ------------------------------------------------------------------

    def parse_id(self, key: int | str) -> int:
        """The id in ``3``, ``#3`` or ``MNT-3`` (prefix in any case).

        :raises NotFound: for text that names no maintenance.
        """
        if isinstance(key, int):
            return key
        prefix = re.escape(self.config.maintenance.ref_prefix)
        m = re.fullmatch(rf"\s*(?:(?i:{prefix})-|#)?0*([0-9]{{1,19}})\s*", key)
        if m is None or int(m.group(1)) > MAX_ID:
            raise NotFound(
                f"no maintenance {key[:40]!r}; expected a number or a ref like "
                f"{self.config.maintenance.ref_prefix}-3"
            )
        return int(m.group(1))

    def get_maintenance(self, key: int | str) -> Maintenance:
        """One maintenance with its updates.

        :raises NotFound: there is none with this id or ref.
        """
        number = self.parse_id(key)
        found = self.store.get_maintenance(number)
        if found is None:
            raise NotFound(f"no maintenance {self.config.maintenance.ref_prefix}-{number}")
        return found

    def list_maintenances(
        self, *, statuses: Sequence[MaintenanceStatus | str] = (), limit: int | None = None
    ) -> list[Maintenance]:
        """Maintenances, newest window first; ``statuses`` narrows them."""
        wanted = tuple(_S(s) for s in statuses)
        if not self.available:
            return []
        return self.store.list_maintenances(statuses=wanted, limit=limit)

    # -- commands ---------------------------------------------------------------

    def schedule_maintenance(
        self,
        title: str,
        *,
        starts_at: datetime,
        ends_at: datetime,
        components: Sequence[str] = (),
        message: str | None = None,
        actor: Actor | None = None,
        auto: bool = True,
    ) -> Maintenance:
        """Announce a maintenance window; its first update is ``message``
        (default ``[maintenance] scheduled_message``).

        :param auto: the worker starts and completes it on time (otherwise a person does).
        :raises InvalidInput: an empty title, a window that ends before it
            starts or has ended, an unknown component.
        """
        now = self.clock.now()
        _window(starts_at, ends_at, now, new=True)
        text = clean_text(message, "message") or self.config.maintenance.scheduled_message
        m = Maintenance(
            id=0,
            ref="",
            title=clean_title(title),
            scheduled_for=starts_at,
            scheduled_until=ends_at,
            status=_S.SCHEDULED,
            created_at=now,
            components=self._components(components),
            auto=auto,
            created_by=actor,
            updates=(MaintenanceUpdate(at=now, status=_S.SCHEDULED, body=text, actor=actor),),
        )
        return self._save(m, None)

    def update_maintenance(
        self,
        key: int | str,
        *,
        actor: Actor | None = None,
        message: str | None = None,
        status: MaintenanceStatus | str | None = None,
        title: str | None = None,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
        components: Sequence[str] | None = None,
    ) -> Maintenance:
        """Post a public update and/or change status (``in_progress``, ``verifying``),
        title, window or components.

        :raises IllegalMaintenanceStep: it is over, or the status cannot be set now.
        """
        wanted = None
        if status is not None:
            try:
                wanted = _S(str(status).strip().lower())
            except ValueError:
                raise InvalidInput(
                    f"unknown maintenance status {status!r}; expected in_progress or verifying"
                ) from None
        comps = self._components(components) if components is not None else None
        return self._change(
            key,
            lambda m, now: revise(
                m,
                actor=actor,
                now=now,
                message=message or "",
                status=wanted,
                title=title,
                starts_at=starts_at,
                ends_at=ends_at,
                components=comps,
            ),
        )

    def start_maintenance(
        self, key: int | str, *, actor: Actor | None = None, message: str | None = None
    ) -> Maintenance:
        """Start a scheduled maintenance now (default message ``[maintenance] start_message``)."""
        text = clean_text(message, "message") or self.config.maintenance.start_message
        return self._change(key, lambda m, now: start(m, text, actor, now))

    def complete_maintenance(
        self, key: int | str, *, actor: Actor | None = None, message: str | None = None
    ) -> Maintenance:
        """Complete a maintenance in progress or verifying (``[maintenance] complete_message``)."""
        text = clean_text(message, "message") or self.config.maintenance.complete_message
        return self._change(key, lambda m, now: complete(m, text, actor, now))

    def cancel_maintenance(
        self, key: int | str, *, actor: Actor | None = None, message: str | None = None
    ) -> Maintenance:
        """Call off a maintenance that has not started (``[maintenance] cancel_message``)."""
        text = clean_text(message, "message") or self.config.maintenance.cancel_message
        return self._change(key, lambda m, now: cancel(m, text, actor, now))

    def run_due(self) -> list[Maintenance]:
        """Start and complete ``auto`` maintenances whose time has come (the worker's round).

        :returns: the maintenances this call moved; one another worker moved
            first is skipped (its version-checked save conflicts here).
        """
        if not self.available:
            return []
        moved: list[Maintenance] = []
        candidates = self.store.list_maintenances(
            statuses=(_S.SCHEDULED, _S.IN_PROGRESS, _S.VERIFYING)
        )
        settings = self.config.maintenance
        worker = Actor.system()
        for m in sorted(candidates, key=lambda m: (m.scheduled_for, m.id)):
            current = m
            # A window missed entirely (every worker down) starts and completes
            # in one round, so both messages are on record.
            while (target := due(current, self.clock.now())) is not None:
                now = self.clock.now()
                if target is _S.IN_PROGRESS:
                    new = start(current, settings.start_message, worker, now)
                else:
                    new = complete(current, settings.complete_message, worker, now)
                try:
                    current = self._save(new, current.version)
                except ConflictError:
                    log.info("%s was moved by another worker", current.ref)
                    break
                moved.append(current)
        return moved

    # -- helpers ----------------------------------------------------------------

    def _components(self, keys: Iterable[str]) -> tuple[str, ...]:
        cleaned = list(clean_components({k: "maintenance" for k in keys}))
        configured = {c.key for c in self.config.components}
        unknown = [k for k in cleaned if configured and k not in configured]
        if unknown:
            raise InvalidInput(
                f"unknown component {', '.join(repr(k) for k in unknown)}; known: "
                f"{', '.join(sorted(configured))}"
            )
        return tuple(cleaned)

    def _change(
        self, key: int | str, transition: Callable[[Maintenance, datetime], Maintenance]
    ) -> Maintenance:
        number = self.parse_id(key)
        for attempt in range(ATTEMPTS):
            current = self.get_maintenance(number)
            new = transition(current, self.clock.now())
            try:
                return self._save(new, current.version)
            except ConflictError:
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _save(self, m: Maintenance, expected: int | None) -> Maintenance:
        known = {u.id for u in m.updates if u.id}
        saved = self.store.save_maintenance(
            m, expected_version=expected, ref_prefix=self.config.maintenance.ref_prefix
        )
        for update in saved.updates:
            if update.id in known:
                continue
            for listener in self.listeners():
                try:
                    listener(saved, update)
                except Exception:
                    log.exception("maintenance listener failed on %s", saved.ref)
        return saved
