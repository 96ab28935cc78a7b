"""What an incident cost: people engaged * time engaged * hourly rate.

The formula (also in docs/metrics.md):

People engaged
    Every person on the incident's timeline: whoever authored an event
    (declared it, posted an update, acknowledged, changed status…) and whoever
    was assigned a role. Actors of platform ``system`` (reminders, routing) and
    ``alert`` (alert senders) are machines, not people. A person is one
    ``(platform, id)``, counted once however many events they authored.

Time engaged
    From the person's *first engagement* — the earliest of the first event
    they authored and the first time they were assigned a role — to the
    incident's resolve time (``resolved_at``), or to *now* while it is open.
    A reopened incident runs to its latest resolve. Someone who first appears
    after the resolve (an RCA link, a follow-up) is engaged for 0 seconds.

Rate
    ``[cost] hourly_rate`` per person-hour; with ``[cost.roles]`` set, a
    person who was assigned a role is charged that role's rate (the role
    assigned to them last, when they held several), everyone else the default.

Cost
    ``sum over people of rate * seconds engaged / 3600``.

The SQL store keeps each person's engagement in a table of its own, derived
with :func:`engagements` on every write, so the metrics read it in bulk.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from attrs import field, frozen

from crashbot_core.models import Actor, Event, EventKind, Incident

__all__ = [
    "MACHINE_PLATFORMS",
    "CostLine",
    "CostRates",
    "Engagement",
    "IncidentCost",
    "breakdown",
    "engaged_seconds",
    "engagement_end",
    "engagements",
    "format_money",
    "incident_cost",
]

#: Actor platforms that are not people and so cost nothing.
MACHINE_PLATFORMS: frozenset[str] = frozenset({"system", "alert"})


def format_money(amount: float, currency: str) -> str:
    """``1,234.50 USD``: two decimals, thousands separated, the currency after."""
    return f"{amount:,.2f} {currency}".rstrip()


def _rate_map(value: Mapping[str, float]) -> dict[str, float]:
    return {str(k): float(v) for k, v in value.items()}


@frozen
class CostRates:
    """Hourly rates from ``[cost]``: a default and, optionally, one per role."""

    #: Per person-hour, for everyone without a role rate.
    hourly_rate: float
    #: Role key -> per person-hour, for people assigned that role.
    role_rates: Mapping[str, float] = field(factory=dict, converter=_rate_map)
    #: Shown beside amounts (``USD``, ``EUR``, ``€`` …); never converted.
    currency: str = "USD"

    def rate(self, role: str | None) -> float:
        """The hourly rate of someone whose (last) role is ``role`` (None: no role)."""
        if role is not None and role in self.role_rates:
            return self.role_rates[role]
        return self.hourly_rate


@frozen
class Engagement:
    """One person's engagement on one incident."""

    #: ``platform:id``: one key per person.
    person: str
    #: Their display name when it was last seen.
    name: str
    #: Their first engagement (first event authored or first role assigned).
    since: datetime
    #: The role assigned to them last, if any.
    role: str | None = None


def _person(actor: Actor) -> str | None:
    if actor.platform in MACHINE_PLATFORMS or not actor.id:
        return None
    return f"{actor.platform}:{actor.id}"


def engagements(events: Iterable[Event], previous: Iterable[Engagement] = ()) -> list[Engagement]:
    """Who engaged and since when, from timeline ``events`` (taken in commit order, by id).

    ``previous`` is what earlier events gave, so a store can fold each new
    batch of events into what it kept: ``engagements(b, engagements(a))``
    equals ``engagements([*a, *b])``. Ordered by first engagement, then person.
    """
    found: dict[str, Engagement] = {e.person: e for e in previous}

    def engage(actor: Actor, at: datetime, role: str | None) -> None:
        key = _person(actor)
        if key is None:
            return
        seen = found.get(key)
        if seen is None:
            found[key] = Engagement(person=key, name=actor.display, since=at, role=role)
            return
        found[key] = Engagement(
            person=key,
            name=actor.display or seen.name,
            since=min(seen.since, at),
            role=role if role is not None else seen.role,
        )

    # Commit order (event id), not time order: "the role assigned last" is the
    # last assignment stored. A store folds each commit's events as they come,
    # and a timeline read back is sorted by time, which skewed clocks can make
    # differ from commit order; sorting here makes both give the same roles.
    for event in sorted(events, key=lambda e: e.id):
        engage(event.actor, event.at, None)
        if EventKind(event.kind) is EventKind.ROLE_ASSIGNED:
            user = event.data.get("user")
            role = event.data.get("role")
            if isinstance(user, Mapping) and isinstance(role, str):
                engage(_actor(user), event.at, role)
    return sorted(found.values(), key=lambda e: (e.since, e.person))


def _actor(data: Mapping[str, Any]) -> Actor:
    return Actor(
        platform=str(data.get("platform", "")),
        id=str(data.get("id", "")),
        name=str(data.get("name", "")),
    )


def engagement_end(incident: Incident) -> datetime | None:
    """Where engagement stops: the resolve time of a closed incident, None (now) while open."""
    if incident.is_open or incident.resolved_at is None:
        return None
    return incident.resolved_at


def engaged_seconds(engagement: Engagement, incident: Incident, now: datetime) -> float:
    """Seconds from first engagement to resolve (or ``now`` while open); never negative."""
    end = engagement_end(incident) or now
    return max(0.0, (end - engagement.since).total_seconds())


@frozen
class CostLine:
    """One person's share of an incident's cost."""

    person: str
    name: str
    role: str | None
    seconds: float
    rate: float

    @property
    def cost(self) -> float:
        """``rate * seconds / 3600``."""
        return self.rate * self.seconds / 3600


@frozen
class IncidentCost:
    """An incident's estimated cost, person by person (``crashbot show``, postmortems)."""

    currency: str
    lines: Sequence[CostLine]

    @property
    def total(self) -> float:
        """Sum of every person's cost."""
        return math.fsum(line.cost for line in self.lines)

    @property
    def person_seconds(self) -> float:
        """Time engaged, summed over people."""
        return math.fsum(line.seconds for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: ``currency``, ``total``, ``person_seconds`` and ``people``."""
        return {
            "currency": self.currency,
            "total": self.total,
            "person_seconds": self.person_seconds,
            "people": [
                {
                    "person": line.person,
                    "name": line.name,
                    "role": line.role,
                    "seconds": line.seconds,
                    "hourly_rate": line.rate,
                    "cost": line.cost,
                }
                for line in self.lines
            ],
        }


def breakdown(
    incident: Incident, people: Sequence[Engagement], rates: CostRates, now: datetime
) -> list[CostLine]:
    """Each person's engaged time, rate and cost on ``incident``."""
    return [
        CostLine(
            person=e.person,
            name=e.name,
            role=e.role,
            seconds=engaged_seconds(e, incident, now),
            rate=rates.rate(e.role),
        )
        for e in people
    ]


def incident_cost(
    incident: Incident, people: Sequence[Engagement], rates: CostRates, now: datetime
) -> float:
    """The estimated cost of ``incident``: ``sum(rate * seconds engaged) / 3600``."""
    return math.fsum(line.cost for line in breakdown(incident, people, rates, now))
