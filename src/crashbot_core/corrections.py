"""Commands that correct the record: close as invalid or duplicate, edit, record after the fact.

Each validates its input, then commits a pure transition from
:mod:`crashbot_core.endings` or :mod:`crashbot_core.edits` through the commit
path. Merging a duplicate changes two incidents, so it commits both in one
transaction through the store's :class:`~crashbot_core.store.MultiCommit`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping
from datetime import datetime

from crashbot_core import edits, endings
from crashbot_core.commands import check_components, new_incident_inputs
from crashbot_core.commit import MAX_CONFLICT_BACKOFF, MAX_CONFLICT_RETRIES, CommitPath
from crashbot_core.config import Config
from crashbot_core.errors import ConflictError, InvalidInput
from crashbot_core.lifecycle import Result
from crashbot_core.models import Actor, EventKind, Impact, Incident, Resolution
from crashbot_core.store import Change, Saved


def parse_resolution(value: Resolution | str) -> Resolution:
    """``invalid`` or ``duplicate`` (any case); ``resolved`` is what ``resolve`` does.

    :raises InvalidInput: for anything else.
    """
    try:
        found = Resolution(str(value).strip().lower())
    except ValueError:
        found = None
    if found not in (Resolution.INVALID, Resolution.DUPLICATE):
        raise InvalidInput(
            f"unknown resolution {str(value)[:40]!r}; close as invalid or duplicate "
            "(resolve the incident to close it as resolved)"
        )
    assert found is not None
    return found


class Corrections:
    """Closing as invalid or duplicate, edits, and retrospective incidents.

    :param config: the severity policy and the ref prefix (read on every command).
    :param commit: the path every command commits through.
    """

    def __init__(self, config: Config, commit: CommitPath) -> None:
        self.config = config
        self.commit = commit

    def close_incident(
        self,
        incident_id: int | str,
        resolution: Resolution | str,
        *,
        actor: Actor | None = None,
        message: str | None = None,
        duplicate_of: int | str | None = None,
    ) -> Incident:
        """Close the incident as ``invalid`` or as a ``duplicate`` of ``duplicate_of``.

        Either way it keeps status ``resolved`` with :attr:`Incident.resolution`
        set, and counts no more (metrics, ``/api/list``, status page). A
        duplicate is merged: its alerts and follow-ups move to the original,
        and both timelines name the other, in one transaction.

        :raises InvalidInput: an unknown resolution, ``duplicate_of`` missing
            (or given for ``invalid``), itself, or an original that is itself
            closed as invalid or duplicate.
        :raises NotFound: either incident does not exist.
        :raises StateConflict: the incident is closed as invalid or duplicate already.
        :raises ConfigError: the store cannot commit two incidents at once
            (it lacks :class:`~crashbot_core.store.MultiCommit`).
        """
        ending = parse_resolution(resolution)
        who = actor or Actor.system()
        if ending is Resolution.INVALID:
            if duplicate_of is not None:
                raise InvalidInput("duplicate_of goes with a duplicate, not an invalid incident")
            return self.commit.run(
                incident_id,
                lambda inc, now: endings.close_invalid(inc, actor=who, now=now, message=message),
            )
        if duplicate_of is None:
            raise InvalidInput("say which incident it duplicates (duplicate_of)")
        return self._merge(
            self.commit.parse_id(incident_id), self.commit.parse_id(duplicate_of), who, message
        )

    def _merge(self, dup_id: int, original_id: int, who: Actor, message: str | None) -> Incident:
        capabilities = self.commit.capabilities
        capabilities.require("multi_commit", needed_by="closing an incident as a duplicate")
        many = capabilities.multi_commit
        assert many is not None
        store = self.commit.store
        for attempt in range(MAX_CONFLICT_RETRIES):
            duplicate = self.commit.get(dup_id)
            original = self.commit.get(original_id)
            merged_into = any(e.kind is EventKind.MERGED for e in store.events(duplicate.id))
            endings.check_merge(duplicate, original, merged_into_duplicate=merged_into)
            alerts = store.alerts(duplicate.id)
            follow_ups = store.follow_ups(duplicate.id)
            (dup, dup_events), (orig, orig_events) = endings.merge(
                duplicate,
                original,
                alerts=alerts,
                follow_ups=follow_ups,
                actor=who,
                now=self.commit.clock.now(),
                message=message,
            )
            subscribers = self.commit.outbox.subscribers()
            changes = [
                Change(
                    incident=dup,
                    expected_version=duplicate.version,
                    events=dup_events,
                    subscribers=subscribers,
                    ref_prefix=self.config.ref_prefix,
                ),
                Change(
                    incident=orig,
                    expected_version=original.version,
                    events=orig_events,
                    # Listed in the original's change, they are written as its own.
                    follow_ups=follow_ups,
                    alert_ids=[a.id for a in alerts],
                    subscribers=subscribers,
                    ref_prefix=self.config.ref_prefix,
                ),
            ]
            try:
                saved: list[Saved] = many.commit_all(changes)
            except ConflictError:
                if attempt:
                    time.sleep(random.uniform(0, min(0.001 * 2**attempt, MAX_CONFLICT_BACKOFF)))
                continue
            for one in saved:
                self.commit.outbox.after_commit(one)
            return saved[0].incident
        raise ConflictError(
            f"{self.config.ref_prefix}-{dup_id} or {self.config.ref_prefix}-{original_id} "
            "kept changing while this command ran; try again"
        )

    def edit(
        self,
        /,
        incident_id: int | str,
        *,
        actor: Actor | None = None,
        title: str | None = None,
        description: str | None = None,
        components: Mapping[str, Impact | str | None] | None = None,
        remove_components: Iterable[str] = (),
        new_components: bool = False,
        **times: datetime | None,
    ) -> Incident:
        """Correct the record: title, description, components, times.

        Each changed field is an internal ``edited`` event (who, old → new).
        Times are given by name (``detected_at``, ``started_at``,
        ``acknowledged_at``, ``mitigated_at``, ``resolved_at``) and must stay
        in order: started ≤ detected ≤ acknowledged ≤ mitigated ≤ resolved,
        none in the future. A component named without an impact keeps its
        impact, or gets the severity's default.

        :raises InvalidInput: nothing to edit, a bad value, an unknown
            component (see :meth:`Commands.declare`), times out of order.
        :raises StateConflict: nothing would change, or a time in the future.
        """
        who = actor or Actor.system()
        given = {name: value for name, value in times.items() if value is not None}
        unknown = sorted(set(times) - set(edits.TIME_FIELDS))
        if unknown:
            raise InvalidInput(
                f"unknown time {unknown[0]!r}; expected one of {', '.join(edits.TIME_FIELDS)}"
            )
        removed = tuple(remove_components)
        if components:
            check_components(self.config, components, new=new_components)
        policy = self.config.severity_policy

        def transition(inc: Incident, now: datetime) -> Result:
            default = policy.get(inc.severity).impact
            comps = {
                k: v if v is not None else inc.components.get(k.strip().lower(), default)
                for k, v in (components or {}).items()
            }
            return edits.edit(
                inc,
                actor=who,
                now=now,
                title=title,
                description=description,
                components=comps,
                remove_components=removed,
                times=given,
            )

        return self.commit.run(incident_id, transition)

    def declare_retrospective(
        self,
        title: str,
        *,
        started_at: datetime,
        resolved_at: datetime,
        detected_at: datetime | None = None,
        acknowledged_at: datetime | None = None,
        mitigated_at: datetime | None = None,
        actor: Actor | None = None,
        severity: str | None = None,
        description: str = "",
        public: bool | None = None,
        components: Mapping[str, Impact | str | None] | Iterable[str] | None = None,
        labels: Mapping[str, str] | None = None,
        source: str = "api",
        new_components: bool = False,
    ) -> Incident:
        """Record a past incident, resolved, from its times (a postmortem of something missed).

        Nobody is paged and no reminder is due: it is stored resolved, with
        one ``recorded`` event (a chat plugin may post one digest line).
        Times must keep the order of :meth:`edit`; ``detected_at`` defaults
        to ``started_at``.

        :raises InvalidInput: times out of order, bad text, unknown components.
        :raises StateConflict: a time in the future.
        """
        level, comps = new_incident_inputs(
            self.config, severity, components, new_components=new_components
        )
        incident, events = edits.record_retrospective(
            title=title,
            severity=level,
            actor=actor or Actor.system(),
            now=self.commit.clock.now(),
            started_at=started_at,
            resolved_at=resolved_at,
            detected_at=detected_at,
            acknowledged_at=acknowledged_at,
            mitigated_at=mitigated_at,
            description=description,
            public=public,
            components=comps,
            labels=labels,
            source=source,
        )
        return self.commit.commit_new(self.commit.new_change(incident, events)).incident
