"""Severity levels and the policy that defines them (config, not code)."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, time, timedelta

import attrs
from attrs import field, frozen

from crashbot_core.errors import InvalidInput
from crashbot_core.models import Impact


class Postmortem(enum.StrEnum):
    """Whether a level needs a postmortem."""

    REQUIRED = "required"
    OPTIONAL = "optional"
    NONE = "none"


class PublicImpact(enum.StrEnum):
    """How the status page names a level: Statuspage's incident ``impact``.

    Public pages show this instead of the team's own severity names, which
    are jargon to customers ("SEV2 (High)").
    """

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    NONE = "none"


#: Default public impact by rank: SEV1 critical, SEV2 major, SEV3 minor, lower none.
IMPACT_BY_RANK: tuple[PublicImpact, ...] = (
    PublicImpact.CRITICAL,
    PublicImpact.MAJOR,
    PublicImpact.MINOR,
)


#: ``respond_within`` value meaning "by the end of the next business day".
NEXT_BUSINESS_DAY = "next business day"


def _strs(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _items(values: Iterable[Severity]) -> tuple[Severity, ...]:
    return tuple(values)


@frozen
class Severity:
    """One severity level of a policy (SEV1 … SEV4 by default)."""

    #: Canonical key stored on incidents: ``SEV1``.
    key: str
    #: Priority alias: ``P0``.
    priority: str
    #: Human label: ``Critical``.
    label: str
    #: Position in the policy: 0 is the most severe.
    rank: int
    #: Time to acknowledge; None means "next business day".
    respond_within: timedelta | None = None
    #: First update nudge after this long without an update; None: no nudges.
    first_update: timedelta | None = None
    #: Later nudges every this long.
    update_every: timedelta | None = None
    postmortem: Postmortem = Postmortem.NONE
    #: Whether chat adapters open a channel/thread for it.
    channel: bool = True
    #: Whether new incidents of this level are public by default.
    public: bool = False
    #: Impact given to components named without one.
    impact: Impact = Impact.DEGRADED_PERFORMANCE
    #: Extra names accepted by :meth:`SeverityPolicy.parse`.
    aliases: tuple[str, ...] = field(default=(), converter=_strs)
    #: Hex colour for chat embeds and the status site.
    color: str = "#888888"
    #: What public pages and Statuspage JSON call it; None: by rank (:data:`IMPACT_BY_RANK`).
    public_impact: PublicImpact | None = None

    @property
    def page_impact(self) -> PublicImpact:
        """The public impact: ``public_impact``, else by rank (SEV1 critical … SEV4 none)."""
        if self.public_impact is not None:
            return self.public_impact
        return IMPACT_BY_RANK[self.rank] if self.rank < len(IMPACT_BY_RANK) else PublicImpact.NONE

    def response_deadline(self, started_at: datetime) -> datetime:
        """When an incident that started at ``started_at`` must be acknowledged.

        "Next business day" means the end of the next weekday after the start
        (UTC): a Friday incident is due by Monday 23:59:59.
        """
        if self.respond_within is not None:
            return started_at + self.respond_within
        day = started_at.date() + timedelta(days=1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
        return datetime.combine(day, time(23, 59, 59), tzinfo=started_at.tzinfo)

    @property
    def names(self) -> Iterator[str]:
        """Every name this level answers to."""
        yield self.key
        yield self.priority
        yield self.label
        yield from self.aliases

    @classmethod
    def parse(cls, text: str, policy: SeverityPolicy | None = None) -> Severity:
        """Parse ``"SEV2"``, ``"sev-2"``, ``"2"``, ``"P1"``, ``"high"`` with a policy (default: built-in)."""
        return (policy or DEFAULT_POLICY).parse(text)


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.strip().lower())


@frozen
class SeverityPolicy:
    """The ordered severity levels of a team, most severe first."""

    levels: tuple[Severity, ...] = field(converter=_items)
    #: Key of the level new incidents get when none is given.
    default: str = "SEV4"

    def __attrs_post_init__(self) -> None:
        if not self.levels:
            raise InvalidInput("a severity policy needs at least one level")
        seen: dict[str, str] = {}
        for level in self.levels:
            for name in level.names:
                n = _norm(name)
                if n in seen and seen[n] != level.key:
                    raise InvalidInput(
                        f"severity name {name!r} is used by both {seen[n]} and {level.key}"
                    )
                seen[n] = level.key
        if self.default not in {lv.key for lv in self.levels}:
            raise InvalidInput(f"default severity {self.default!r} is not one of the levels")

    def __iter__(self) -> Iterator[Severity]:
        return iter(self.levels)

    @property
    def keys(self) -> list[str]:
        """Level keys, most severe first."""
        return [lv.key for lv in self.levels]

    def get(self, key: str) -> Severity:
        """The level with this exact key (as stored on an incident)."""
        for level in self.levels:
            if level.key == key:
                return level
        # A level dropped from the policy after incidents used it: treat as least severe.
        return Severity(key=key, priority=key, label=key, rank=len(self.levels))

    @property
    def default_level(self) -> Severity:
        """The level for incidents declared without one."""
        return self.get(self.default)

    def parse(self, text: str) -> Severity:
        """Find a level by key, priority, label, alias, or the number in its key.

        ``"SEV2"``, ``"sev-2"``, ``"sev 2"``, ``"2"``, ``"P1"`` and ``"high"`` all
        give SEV2 with the default policy.

        :raises InvalidInput: naming the accepted values.
        """
        n = _norm(text)
        if n:
            for level in self.levels:
                if any(_norm(name) == n for name in level.names):
                    return level
            # isdigit() alone is True for "²", which int() refuses.
            if n.isascii() and n.isdigit():
                for level in self.levels:
                    digits = re.sub(r"\D", "", level.key)
                    if digits and int(digits) == int(n):
                        return level
        accepted = ", ".join(f"{lv.key}/{lv.priority}/{lv.label.lower()}" for lv in self.levels)
        raise InvalidInput(f"unknown severity {text!r}; expected one of {accepted}")

    def is_more_severe(self, a: str, b: str) -> bool:
        """True when level ``a`` ranks above ``b``."""
        return self.get(a).rank < self.get(b).rank

    def with_levels(self, levels: Iterable[Severity], default: str | None = None) -> SeverityPolicy:
        """A new policy with other levels (ranks are renumbered in the given order)."""
        ranked = tuple(attrs.evolve(lv, rank=i) for i, lv in enumerate(levels))
        return SeverityPolicy(levels=ranked, default=default or self.default)


_M = timedelta(minutes=1)

DEFAULT_POLICY = SeverityPolicy(
    levels=(
        Severity(
            key="SEV1", priority="P0", label="Critical", rank=0,
            respond_within=5 * _M, first_update=30 * _M, update_every=25 * _M,
            postmortem=Postmortem.REQUIRED, public=True, impact=Impact.MAJOR_OUTAGE,
            aliases=("critical", "crit", "emergency"), color="#d1242f",
        ),
        Severity(
            key="SEV2", priority="P1", label="High", rank=1,
            respond_within=30 * _M, first_update=30 * _M, update_every=25 * _M,
            postmortem=Postmortem.REQUIRED, public=True, impact=Impact.PARTIAL_OUTAGE,
            aliases=("major", "error"), color="#e8590c",
        ),
        Severity(
            key="SEV3", priority="P2", label="Medium", rank=2,
            respond_within=120 * _M, postmortem=Postmortem.OPTIONAL,
            impact=Impact.DEGRADED_PERFORMANCE, aliases=("warning", "minor", "moderate"),
            color="#d4a72c",
        ),
        Severity(
            key="SEV4", priority="P3", label="Low", rank=3,
            respond_within=None, postmortem=Postmortem.NONE,
            impact=Impact.DEGRADED_PERFORMANCE, aliases=("info", "informational"),
            color="#57606a",
        ),
    ),
    default="SEV4",
)  # fmt: skip
