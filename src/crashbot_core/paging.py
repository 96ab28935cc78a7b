"""Paging rules: which incidents page, and what a pager is told after each event.

Pure functions shared by the paging plugins (``crashbot_pagerduty``,
``crashbot_opsgenie``) and open to any other pager. A pager mirrors the
incident: it is *triggered* when a paging incident is declared, reopened or
escalated into a paging level or component; *acknowledged* when the incident
is; *resolved* when the incident closes, whatever its resolution. What was
last sent is kept on the incident (a ref written by the plugin, read back
with :meth:`PageState.parse`), so a delivery retried after a crash never
sends the same event twice and a pager that was never triggered is never
told to acknowledge or resolve.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from attrs import frozen

from crashbot_core.delivery import RetryAfter
from crashbot_core.errors import IllegalTransition, InvalidInput
from crashbot_core.models import Actor, Event, EventKind, Incident
from crashbot_core.severity import SeverityPolicy

#: Levels that page when a paging plugin's settings do not say otherwise.
DEFAULT_PAGING_SEVERITIES = ("SEV1", "SEV2")

#: Events that may start a page: a new paging incident, one reopened, or one
#: that became a paging incident (severity raised, a paging component added).
#: Any other event on a paging incident that was never paged (the plugin was
#: configured later) leaves it alone: posting a note must not wake anyone.
TRIGGERING = frozenset(
    {
        EventKind.DECLARED,
        EventKind.REOPENED,
        EventKind.SEVERITY_CHANGED,
        EventKind.COMPONENTS_CHANGED,
    }
)


class PageAction(enum.StrEnum):
    """What a pager is told; the names are PagerDuty's ``event_action`` values."""

    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


@frozen
class PageState:
    """The last action sent to a pager for an incident, and for which event."""

    event_id: int
    action: PageAction

    @classmethod
    def parse(cls, text: str | None) -> PageState | None:
        """Read a ref written by :meth:`format`; None when absent or unreadable."""
        if not text:
            return None
        event_id, _, action = text.partition(":")
        try:
            return cls(int(event_id), PageAction(action))
        except ValueError:
            return None

    def format(self) -> str:
        """The ref value: ``EVENT_ID:ACTION``."""
        return f"{self.event_id}:{self.action.value}"


@frozen
class PagingRules:
    """Which incidents page: by severity, with per-component exceptions.

    An incident pages when its severity is one of ``severities``, or, for an
    incident with components, when any of its components' own levels (from
    ``components``, else ``severities``) includes it. A component listed with
    no levels never pages on its own.
    """

    severities: frozenset[str]
    components: Mapping[str, frozenset[str]]

    @classmethod
    def build(
        cls,
        policy: SeverityPolicy,
        severities: Iterable[str],
        components: Mapping[str, Iterable[str] | None] | None = None,
        *,
        section: str = "paging",
    ) -> PagingRules:
        """Rules from settings, each level parsed by the policy (``P0``, ``critical``, ``1`` …).

        :param components: component key → its paging levels (None: the section's).
        :param section: the settings section, for the error message.
        :raises InvalidInput: a level the policy does not know, naming where it is set.
        """

        def keys(names: Iterable[str], where: str) -> frozenset[str]:
            found = set()
            for name in names:
                try:
                    found.add(policy.parse(name).key)
                except InvalidInput as exc:
                    raise InvalidInput(f"[{section}] {where}: {exc.message}") from None
            return frozenset(found)

        default = keys(severities, "severities")
        per_component = {
            key: default if levels is None else keys(levels, f"components.{key}.severities")
            for key, levels in (components or {}).items()
        }
        return cls(severities=default, components=per_component)

    def levels_for(self, component: str) -> frozenset[str]:
        """The levels that page for an incident on ``component``."""
        return self.components.get(component, self.severities)

    def pages(self, incident: Incident) -> bool:
        """True when the incident, as it is now, should page."""
        if not incident.components:
            return incident.severity in self.severities
        return any(incident.severity in self.levels_for(c) for c in incident.components)

    def paging_components(self, incident: Incident) -> list[str]:
        """The incident's components that make it page, sorted (for routing)."""
        return sorted(c for c in incident.components if incident.severity in self.levels_for(c))


def next_action(
    incident: Incident, event: Event, *, pages: bool, last: PageState | None
) -> PageAction | None:
    """What to tell the pager after ``event``, or None for nothing.

    :param incident: the incident as it is now (after the event).
    :param pages: :meth:`PagingRules.pages` for it.
    :param last: what was last sent (:meth:`PageState.parse` of the plugin's ref).
    """
    if last is not None and last.event_id >= event.id:
        return None  # already sent for this event: a retry after a crash
    paging = last is not None and last.action is not PageAction.RESOLVE
    if event.kind is EventKind.RESOLVED or not incident.is_open:
        return PageAction.RESOLVE if paging else None
    if not paging:
        return PageAction.TRIGGER if pages and event.kind in TRIGGERING else None
    if event.kind is EventKind.ACKNOWLEDGED and last is not None:
        return PageAction.ACKNOWLEDGE if last.action is PageAction.TRIGGER else None
    return None


def escalation_key(incident: Incident, target: str) -> str:
    """The pager-side key of an escalation page (``INC-42:primary``): one alert per target."""
    return f"{incident.ref}:{target}"


def escalated_targets(ref: str | None) -> list[str]:
    """The on-call targets a plugin paged for an incident (its ref, comma-separated)."""
    return [t for t in (ref or "").split(",") if t]


def with_target(ref: str | None, target: str) -> str:
    """``ref`` (see :func:`escalated_targets`) with ``target`` added once."""
    return ",".join(dict.fromkeys([*escalated_targets(ref), target]))


def escalation_follow_up(incident: Incident, event: Event) -> PageAction | None:
    """What the escalation pages of an incident are told after ``event``, or None.

    They follow the incident as the incident's own page does: acknowledged
    with it, resolved when it closes.
    """
    if event.kind is EventKind.RESOLVED:
        return PageAction.RESOLVE
    if event.kind is EventKind.ACKNOWLEDGED and incident.is_open:
        return PageAction.ACKNOWLEDGE
    return None


def rank_choice(policy: SeverityPolicy, severity: str, choices: list[str]) -> str:
    """``choices[rank]`` for the level's rank in the policy, the last one past the end.

    Renamed or added levels still map: SEV1 (rank 0) is the first choice.
    """
    rank = policy.get(severity).rank
    return choices[min(rank, len(choices) - 1)]


class _Commands(Protocol):
    """What :func:`follow_pager` needs of the service facade."""

    def get(self, incident_id: int | str) -> Incident: ...

    def acknowledge(self, incident_id: int | str, *, actor: Actor | None = None) -> Incident: ...

    def resolve(
        self,
        incident_id: int | str,
        *,
        actor: Actor | None = None,
        message: str | None = None,
        public: bool | None = None,
    ) -> Incident: ...


def follow_pager(
    crashbot: _Commands,
    incident_id: int,
    action: PageAction,
    *,
    actor: Actor,
    message: str,
) -> str:
    """Acknowledge or resolve an incident because its page was; idempotent.

    A pager's webhook is retried and repeated, and the page may follow what
    crashbot did itself: an incident already in the asked state is left as
    it is. Returns what happened: ``acknowledged``, ``resolved``,
    ``already acknowledged`` or ``already resolved``.
    """
    if action is PageAction.TRIGGER:
        raise ValueError("a pager's trigger does not change an incident")
    for _ in range(2):
        incident = crashbot.get(incident_id)
        if not incident.is_open:
            return "already resolved"
        try:
            if action is PageAction.ACKNOWLEDGE:
                if incident.acknowledged_at is not None:
                    return "already acknowledged"
                crashbot.acknowledge(incident_id, actor=actor)
                return "acknowledged"
            crashbot.resolve(incident_id, actor=actor, message=message, public=False)
            return "resolved"
        except IllegalTransition:
            continue  # someone else got there first: read again and say so
    raise IllegalTransition(action.value, "changing under us", ())


class PagerResponse(Protocol):
    """What :func:`pager_answer` reads of an HTTP response (``httpx.Response`` has it all)."""

    @property
    def status_code(self) -> int:
        """The HTTP status."""
        ...

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers (``Retry-After`` is read)."""
        ...

    @property
    def text(self) -> str:
        """The body as text."""
        ...

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` when it is not JSON."""
        ...


def pager_answer(
    response: PagerResponse,
    *,
    pager: str,
    request: str,
    error: type[Exception],
    default_retry_after: float,
) -> dict[str, Any]:
    """A pager's answer to one request: its JSON object on 2xx, ``{}`` when the body is not one.

    :param pager: the service's name in messages (``PagerDuty``).
    :param request: what was asked, for the error message (``POST /v2/alerts``).
    :param default_retry_after: seconds to wait after a 429 without a usable ``Retry-After``.
    :raises RetryAfter: on 429, so the worker waits as long as the pager asked (at least 1 s).
    :raises error: on any other status from 300 up, with the start of the body.
    """
    if response.status_code == 429:
        raise RetryAfter(
            retry_after_seconds(response.headers.get("Retry-After"), default_retry_after),
            f"{pager} rate limit (429): retrying later",
        )
    if response.status_code >= 300:
        raise error(f"{pager} answered {response.status_code} to {request}: {response.text[:300]}")
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    return answer if isinstance(answer, dict) else {}


def retry_after_seconds(value: str | None, default: float) -> float:
    """A ``Retry-After`` header in seconds, at least 1; ``default`` when absent or not a number."""
    try:
        return max(float(value or ""), 1.0)
    except ValueError:
        return default
