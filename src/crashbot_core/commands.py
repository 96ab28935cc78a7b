"""Lifecycle commands: one method per thing a responder can do to an incident.

Each command validates its input, then hands a pure transition from
:mod:`crashbot_core.lifecycle` to the commit path
(:class:`~crashbot_core.commit.CommitPath`), which writes it and has it
delivered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import attrs

from crashbot_core import lifecycle
from crashbot_core.commit import CommitPath
from crashbot_core.config import Config
from crashbot_core.errors import IllegalTransition, InvalidInput, NotFound
from crashbot_core.inputs import clean_title, clean_url
from crashbot_core.models import (
    Actor,
    EventKind,
    FollowUp,
    Impact,
    Incident,
    Reminder,
    ReminderKind,
    Status,
)
from crashbot_core.outbox import reminder_data
from crashbot_core.severity import Severity
from crashbot_core.store import Saved


def parse_status(value: Status | str) -> Status:
    """A :class:`Status` from its name (any case).

    :raises InvalidInput: naming the allowed statuses.
    """
    if isinstance(value, Status):
        return value
    try:
        return Status(value.strip().lower())
    except ValueError:
        allowed = ", ".join(s.value for s in Status)
        raise InvalidInput(f"unknown status {value!r}; expected one of {allowed}") from None


def component_map(
    components: Mapping[str, Impact | str | None] | Iterable[str] | None,
) -> Mapping[str, Impact | str | None]:
    """Components as given to ``declare``: a mapping key → impact, keys, one key, or None."""
    if components is None:
        return {}
    if isinstance(components, Mapping):
        return components
    if isinstance(components, str):
        return {components: None}  # one key, not its letters
    return {c: None for c in components}


def new_incident_inputs(
    config: Config,
    severity: str | None,
    components: Mapping[str, Impact | str | None] | Iterable[str] | None,
    *,
    new_components: bool,
) -> tuple[Severity, Mapping[str, Impact | str | None]]:
    """A new incident's level (default: the policy's) and checked components, declared or recorded."""
    policy = config.severity_policy
    level = policy.parse(severity) if severity else policy.default_level
    comps = component_map(components)
    check_components(config, comps, new=new_components)
    return level, comps


def check_components(config: Config, keys: Iterable[str], *, new: bool) -> None:
    """Refuse component keys ``[components]`` does not list, unless ``new`` says to add them.

    A misspelt key (``apii``) would otherwise be published as a new
    component in outage. The catalogue is the configuration, the same on
    every surface and in the HTTP API's document. With no
    ``[components]`` configured there is none, and any valid key is
    accepted as before.
    """
    configured = {c.key for c in config.components}
    if not configured or new:
        return
    unknown = [k for k in dict.fromkeys(k.strip().lower() for k in keys) if k not in configured]
    if unknown:
        raise InvalidInput(
            f"unknown component {', '.join(repr(k) for k in unknown)}; known: "
            f"{', '.join(sorted(configured))} (add it under [components] in "
            "crashbot.toml, or add it with --new-component)"
        )


class Commands:
    """The lifecycle commands.

    :param config: the severity policy and roles (read on every command).
    :param commit: the path every command commits through.
    """

    def __init__(self, config: Config, commit: CommitPath) -> None:
        self.config = config
        self.commit = commit

    def declare(
        self,
        title: str,
        *,
        actor: Actor | None = None,
        severity: str | None = None,
        description: str = "",
        public: bool | None = None,
        components: Mapping[str, Impact | str | None] | Iterable[str] | None = None,
        labels: Mapping[str, str] | None = None,
        source: str = "api",
        started_at: datetime | None = None,
        new_components: bool = False,
    ) -> Incident:
        """Declare a new incident. Severity defaults to the policy's default level.

        :param new_components: add component keys that ``[components]`` does
            not list (refused otherwise, when it lists any).
        """
        return self.declare_saved(
            title,
            actor=actor,
            severity=severity,
            description=description,
            public=public,
            components=components,
            labels=labels,
            source=source,
            started_at=started_at,
            new_components=new_components,
        ).incident

    def declare_saved(
        self,
        title: str,
        *,
        actor: Actor | None = None,
        severity: str | None = None,
        description: str = "",
        public: bool | None = None,
        components: Mapping[str, Impact | str | None] | Iterable[str] | None = None,
        labels: Mapping[str, str] | None = None,
        source: str = "api",
        started_at: datetime | None = None,
        new_components: bool = False,
    ) -> Saved:
        """:meth:`declare`, returning everything the commit wrote (the incident and its events)."""
        level, comps = new_incident_inputs(
            self.config, severity, components, new_components=new_components
        )
        incident, events = lifecycle.declare(
            title=title,
            severity=level,
            actor=actor or Actor.system(),
            now=self.commit.clock.now(),
            description=description,
            public=public,
            components=comps,
            labels=labels,
            source=source,
            started_at=started_at,
        )
        return self.commit.commit_new(self.commit.new_change(incident, events))

    def acknowledge(self, incident_id: int | str, *, actor: Actor | None = None) -> Incident:
        """Acknowledge: someone is on it."""
        who = actor or Actor.system()
        return self.commit.run(
            incident_id, lambda inc, now: lifecycle.acknowledge(inc, actor=who, now=now)
        )

    def update(
        self,
        incident_id: int | str,
        *,
        actor: Actor | None = None,
        status: Status | str | None = None,
        severity: str | None = None,
        message: str | None = None,
        public: bool = False,
    ) -> Incident:
        """Change status and/or severity and/or post a message (internal unless ``public``)."""
        who = actor or Actor.system()
        new_status = parse_status(status) if status is not None else None
        level = self.config.severity_policy.parse(severity) if severity is not None else None

        def transition(inc: Incident, now: datetime) -> lifecycle.Result:
            new, events = lifecycle.update(
                inc,
                actor=who,
                now=now,
                status=new_status,
                severity=level,
                message=message,
                public=public,
            )
            # Promoted to a level that is public by default: the public hears of
            # it, unless someone took it off the status page on purpose.
            policy = self.config.severity_policy
            if (
                level is not None
                and level.public
                and level.rank < policy.get(inc.severity).rank  # more severe: a promotion
                and not new.public
                and lifecycle.UNPUBLISHED_REF not in new.refs
            ):
                new, more = lifecycle.publish(
                    new, actor=who, now=now, message=self.config.general.publish_message
                )
                events = events + more
            return new, events

        return self.commit.run(incident_id, transition)

    def publish(
        self, incident_id: int | str, *, actor: Actor | None = None, message: str | None = None
    ) -> Incident:
        """Show the incident on the status page; ``message`` (default ``[crashbot]
        publish_message``) is its first public update. Internal updates stay internal."""
        who = actor or Actor.system()
        text = message if message is not None else self.config.general.publish_message
        return self.commit.run(
            incident_id, lambda inc, now: lifecycle.publish(inc, actor=who, now=now, message=text)
        )

    def unpublish(self, incident_id: int | str, *, actor: Actor | None = None) -> Incident:
        """Take the incident off every public output; promotions no longer publish it."""
        who = actor or Actor.system()
        return self.commit.run(
            incident_id, lambda inc, now: lifecycle.unpublish(inc, actor=who, now=now)
        )

    def assign_role(
        self, incident_id: int | str, role: str, user: Actor, *, actor: Actor | None = None
    ) -> Incident:
        """Give a role (``commander``/``ic``, ``communications``/``cl`` …) to a user."""
        the_role = self.config.roles.parse(role)
        who = actor or user
        return self.commit.run(
            incident_id,
            lambda inc, now: lifecycle.assign_role(
                inc, role=the_role, user=user, actor=who, now=now
            ),
        )

    def unassign_role(
        self, incident_id: int | str, role: str, *, actor: Actor | None = None
    ) -> Incident:
        """Take a role away."""
        the_role = self.config.roles.parse(role)
        who = actor or Actor.system()
        return self.commit.run(
            incident_id,
            lambda inc, now: lifecycle.unassign_role(inc, role=the_role, actor=who, now=now),
        )

    def set_components(
        self,
        incident_id: int | str,
        components: Mapping[str, Impact | str],
        *,
        actor: Actor | None = None,
        new_components: bool = False,
    ) -> Incident:
        """Replace the affected components and their impact (see :meth:`declare`)."""
        who = actor or Actor.system()
        check_components(self.config, components, new=new_components)
        return self.commit.run(
            incident_id,
            lambda inc, now: lifecycle.set_components(
                inc, components=components, actor=who, now=now
            ),
        )

    def resolve(
        self,
        incident_id: int | str,
        *,
        actor: Actor | None = None,
        message: str | None = None,
        public: bool | None = None,
    ) -> Incident:
        """Resolve the incident."""
        who = actor or Actor.system()
        return self.commit.run(
            incident_id,
            lambda inc, now: lifecycle.resolve(
                inc, actor=who, now=now, message=message, public=public
            ),
        )

    def reopen(
        self, incident_id: int | str, *, actor: Actor | None = None, message: str | None = None
    ) -> Incident:
        """Reopen a resolved incident."""
        who = actor or Actor.system()
        return self.commit.run(
            incident_id, lambda inc, now: lifecycle.reopen(inc, actor=who, now=now, message=message)
        )

    def link_rca(self, incident_id: int | str, url: str, *, actor: Actor | None = None) -> Incident:
        """Link the RCA / postmortem of a resolved incident."""
        who = actor or Actor.system()
        return self.commit.run(
            incident_id, lambda inc, now: lifecycle.link_rca(inc, url=url, actor=who, now=now)
        )

    def add_follow_up(
        self,
        incident_id: int | str,
        title: str,
        *,
        actor: Actor | None = None,
        owner: Actor | None = None,
        due: date | None = None,
        url: str | None = None,
    ) -> FollowUp:
        """Add an action item to an incident."""
        who = actor or Actor.system()
        text = clean_title(title)
        link = clean_url(url) if url else None
        created: list[FollowUp] = []

        def transition(inc: Incident, now: datetime) -> lifecycle.Result:
            fu = FollowUp(
                incident_id=inc.id, title=text, created_at=now, owner=owner, due=due, url=link
            )
            created[:] = [fu]
            return lifecycle.note(
                inc,
                kind=EventKind.FOLLOW_UP_ADDED,
                actor=who,
                now=now,
                title=text,
                owner=attrs.asdict(owner) if owner else None,
                due=due.isoformat() if due else None,
            )

        saved = self.commit.run_saved(incident_id, transition, follow_ups=created)
        return saved.follow_ups[0]

    def complete_follow_up(self, follow_up_id: int, *, actor: Actor | None = None) -> FollowUp:
        """Mark a follow-up done."""
        who = actor or Actor.system()
        fu = self.commit.store.get_follow_up(follow_up_id)
        if fu is None:
            raise NotFound(f"no follow-up {follow_up_id}")
        if fu.done:
            raise InvalidInput(f"follow-up {follow_up_id} is already done")
        done: list[FollowUp] = []

        def transition(inc: Incident, now: datetime) -> lifecycle.Result:
            # Re-read on every try: after a conflict, someone may have done it.
            current = self.commit.store.get_follow_up(follow_up_id)
            if current is not None and current.done:
                raise InvalidInput(f"follow-up {follow_up_id} is already done")
            done[:] = [attrs.evolve(current or fu, done=True, done_at=now)]
            return lifecycle.note(
                inc,
                kind=EventKind.FOLLOW_UP_DONE,
                actor=who,
                now=now,
                follow_up_id=fu.id,
                title=fu.title,
            )

        saved = self.commit.run_saved(fu.incident_id, transition, follow_ups=done)
        return saved.follow_ups[0]

    def update_follow_up(self, follow_up: FollowUp) -> FollowUp:
        """Save a follow-up's fields (e.g. the external URL set by an exporter); no event."""
        if self.commit.store.get_follow_up(follow_up.id) is None:
            raise NotFound(f"no follow-up {follow_up.id}")
        saved = self.commit.run_saved(
            follow_up.incident_id, lambda inc, now: (inc, []), follow_ups=[follow_up]
        )
        return saved.follow_ups[0]

    def set_refs(self, /, incident_id: int | str, **refs: str | None) -> Incident:
        """Save plugin references on the incident (None removes a key); no event."""

        def transition(inc: Incident, now: datetime) -> lifecycle.Result:
            merged = {**inc.refs}
            for key, value in refs.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            return inc.with_changes(refs=merged), []

        return self.commit.run(incident_id, transition)

    def send_reminder(self, incident_id: int, reminder: Reminder, *, owner: str) -> Incident:
        """Record a leased reminder as sent (``reminder_sent``); the outbox delivers it.

        :raises LeaseLost: ``owner`` no longer holds the reminder's lease.
        """

        def transition(inc: Incident, now: datetime) -> lifecycle.Result:
            if reminder.kind is ReminderKind.ESCALATION and (
                inc.acknowledged_at is not None or not inc.is_open
            ):
                # Acknowledged (or closed) since the worker found the step due:
                # the escalation stops here.
                raise IllegalTransition(
                    "escalate", inc.status.value, (), why="acknowledged or resolved meanwhile"
                )
            return lifecycle.note(
                inc,
                kind=EventKind.REMINDER_SENT,
                actor=Actor.system(),
                now=now,
                **reminder_data(reminder),
            )

        return self.commit.run_saved(
            incident_id, transition, reminder=(reminder.key, owner)
        ).incident

    def record(
        self, /, incident_id: int | str, kind: EventKind, *, actor: Actor | None = None, **data: Any
    ) -> Incident:
        """Add an internal note-like event (reminder sent, postmortem exported)."""
        who = actor or Actor.system()
        return self.commit.run(
            incident_id,
            lambda inc, now: lifecycle.note(inc, kind=kind, actor=who, now=now, **data),
        )
