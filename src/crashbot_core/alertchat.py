"""Quiet chat under alert storms: alert events coalesced per incident.

Every alert that joins an incident (or changes status) is an
``alert_attached`` event, and an Alertmanager storm makes hundreds of them.
A chat plugin does not post each one: it keeps, in the incident's refs,
when it last posted about alerts and the newest ``alert_attached`` event it
covered. :func:`plan` then says, for each such event delivered by the
worker, whether it is already covered (nothing to send), too early (raise
:class:`~crashbot_core.delivery.DeliverLater` until the ``[alerts]
chat_interval`` has passed since the last post) or due: one post saying what
changed since (:func:`news`), and the incident's alert message edited in
place with its repeat count and last occurrence (:func:`summary_line`).

Pure functions of events, refs and times: no store, no clock, no chat API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from attrs import frozen

from crashbot_core.delivery import DeliverLater
from crashbot_core.models import AlertSummary, Event, EventKind

#: Ref suffixes a plugin keeps under its own prefix (``slack.alerts_at`` …).
AT = "alerts_at"
UPTO = "alerts_upto"
MESSAGE = "alerts_message"

#: Titles named in one post; the rest are counted.
MAX_NAMED = 10


@frozen
class Due:
    """An alert post is due: it covers ``alert_attached`` events after ``after``."""

    after: int


@frozen
class AlertNews:
    """What changed on an incident's alerts since the last post."""

    #: Alerts that fired (joined, or fired again), titles in arrival order, distinct.
    firing: tuple[str, ...] = ()
    #: Alerts that resolved.
    resolved: tuple[str, ...] = ()
    #: Alerts the sender left out of its latest payload (``truncatedAlerts``).
    omitted: int = 0
    #: The newest ``alert_attached`` event covered (0: none).
    upto: int = 0
    #: Events counted (several may name the same alert).
    events: int = 0

    @property
    def empty(self) -> bool:
        """Nothing to say."""
        return not (self.firing or self.resolved)


def refs_key(prefix: str, name: str) -> str:
    """``slack`` + ``alerts_at`` → ``slack.alerts_at``."""
    return f"{prefix}.{name}"


def plan(
    event: Event,
    refs: Mapping[str, str],
    prefix: str,
    *,
    now: datetime,
    interval: timedelta,
) -> Due | None:
    """What a chat plugin does with an ``alert_attached`` event.

    :returns: None when a post already covered it; :class:`Due` when a post
        is due now.
    :raises DeliverLater: when the last post is younger than ``interval``:
        the worker hands the event back once it is not, and that one post
        covers every alert event that arrived meanwhile.
    """
    upto = _int(refs.get(refs_key(prefix, UPTO)))
    if event.id <= upto:
        return None
    last = _time(refs.get(refs_key(prefix, AT)))
    if last is not None and interval > timedelta(0) and now < last + interval:
        raise DeliverLater(last + interval)
    return Due(after=upto)


def news(events: Sequence[Event], after: int) -> AlertNews:
    """The ``alert_attached`` events newer than ``after``, summed up (events oldest first)."""
    firing: dict[str, None] = {}
    resolved: dict[str, None] = {}
    omitted = upto = count = 0
    for e in events:
        if e.kind is not EventKind.ALERT_ATTACHED or e.id <= after:
            continue
        count += 1
        upto = max(upto, e.id)
        title = str(e.data.get("title") or e.data.get("fingerprint") or "alert")
        if e.data.get("status") == "resolved":
            resolved[title] = None
            firing.pop(title, None)
        else:
            firing[title] = None
            resolved.pop(title, None)
        if "omitted" in e.data:
            omitted = _int(str(e.data["omitted"]))
    return AlertNews(
        firing=tuple(firing), resolved=tuple(resolved), omitted=omitted, upto=upto, events=count
    )


def news_line(news: AlertNews) -> str:
    """``2 alerts fired: a, b · 1 resolved: c`` (plain text; renderers escape it)."""
    parts = []
    if news.firing:
        parts.append(f"{_count(len(news.firing), 'alert')} fired: {_names(news.firing)}")
    if news.resolved:
        parts.append(f"{len(news.resolved)} resolved: {_names(news.resolved)}")
    if news.omitted:
        parts.append(f"{news.omitted} more left out by the sender")
    return " · ".join(parts) or "No change in the alerts"


def summary_line(summary: AlertSummary) -> str:
    """``12 alert notifications (3 distinct alerts, 9 repeats), last at 10:32 UTC``."""
    if not summary.received:
        return "No alerts"
    text = (
        f"{_count(summary.received, 'alert notification')} "
        f"({_count(summary.distinct, 'distinct alert')}, {_count(summary.repeats, 'repeat')})"
    )
    if summary.last_at is not None:
        text += f", last at {summary.last_at:%Y-%m-%d %H:%M} UTC"
    if summary.omitted:
        text += f"; the sender left {summary.omitted} out of its latest notification"
    return text


def sent_refs(prefix: str, news: AlertNews, now: datetime) -> dict[str, str]:
    """Refs to store after a post: when, and up to which event."""
    return {refs_key(prefix, AT): now.isoformat(), refs_key(prefix, UPTO): str(news.upto)}


def _names(titles: Sequence[str]) -> str:
    named = ", ".join(t[:120] for t in titles[:MAX_NAMED])
    more = len(titles) - MAX_NAMED
    return named + (f" and {more} more" if more > 0 else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
