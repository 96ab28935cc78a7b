"""Incident roles (config, not code): commander, communications, technical lead, scribe."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from attrs import field, frozen

from crashbot_core.errors import InvalidInput

#: Taking this role acknowledges an unacknowledged incident.
COMMANDER = "commander"


def _strs(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _items(values: Iterable[Role]) -> tuple[Role, ...]:
    return tuple(values)


@frozen
class Role:
    """A role someone can take in an incident."""

    key: str
    name: str
    description: str
    aliases: tuple[str, ...] = field(default=(), converter=_strs)


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.strip().lower())


@frozen
class RolePolicy:
    """The roles a team uses, in display order."""

    roles: tuple[Role, ...] = field(converter=_items)

    def __attrs_post_init__(self) -> None:
        # A name two roles answer to would silently mean the first one.
        seen: dict[str, str] = {}
        for role in self.roles:
            for name in {role.key, role.name, *role.aliases}:
                n = _norm(name)
                if n in seen and seen[n] != role.key:
                    raise InvalidInput(
                        f"role name {name!r} is used by both {seen[n]} and {role.key}"
                    )
                seen[n] = role.key

    def __iter__(self) -> Iterator[Role]:
        return iter(self.roles)

    def get(self, key: str) -> Role:
        """The role with this exact key; unknown keys get a bare role (dropped from config)."""
        for role in self.roles:
            if role.key == key:
                return role
        return Role(key=key, name=key, description="")

    def parse(self, text: str) -> Role:
        """Find a role by key, name or alias (``ic``, ``Incident commander``, ``commander``).

        :raises InvalidInput: naming the known roles.
        """
        n = _norm(text)
        for role in self.roles:
            if n in {_norm(role.key), _norm(role.name), *(_norm(a) for a in role.aliases)}:
                return role
        known = ", ".join(
            f"{r.key} ({', '.join(r.aliases)})" if r.aliases else r.key for r in self.roles
        )
        raise InvalidInput(f"unknown role {text!r}; expected one of {known}")


DEFAULT_ROLES = RolePolicy(
    roles=(
        Role(
            key="commander",
            name="Incident commander",
            aliases=("ic", "incident-commander"),
            description=(
                "You lead the response: decide, delegate and keep everyone pointed at "
                "mitigation. Set the severity and status, ask for help, and make sure "
                "updates go out on time."
            ),
        ),
        Role(
            key="communications",
            name="Communications liaison",
            aliases=("cl", "comms", "communications-liaison"),
            description=(
                "You own what people outside the response hear: post public updates on "
                "the status page, answer stakeholders, and keep the incident channel free "
                "of side questions."
            ),
        ),
        Role(
            key="technical-lead",
            name="Technical lead",
            aliases=("tl", "tech-lead"),
            description=(
                "You lead the technical investigation: form hypotheses, coordinate the "
                "engineers debugging, and tell the commander what is known and what is "
                "being tried."
            ),
        ),
        Role(
            key="scribe",
            name="Scribe",
            aliases=("notes",),
            description=(
                "You keep the record: note decisions, findings and times in the incident "
                "channel so the timeline and the postmortem are complete."
            ),
        ),
    )
)
