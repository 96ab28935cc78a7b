"""Click parameter types for values the CLI can check on its own.

A value that cannot be read at all (``show abc``, ``--since forever``,
``--started-at yesterday``, ``--status bogus``) is a usage error: click
prints the usage and exits 2 before anything is opened. Values whose
meaning depends on configuration or data (a severity named ``SEV9``, an
incident that does not exist) are checked by the service and exit 1.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from crashbot_core.durations import parse_since
from crashbot_core.errors import InvalidInput
from crashbot_core.models import Impact, Status
from crashbot_core.serialize import parse_iso

if TYPE_CHECKING:
    _Str = click.ParamType[str]
    _Instant = click.ParamType[datetime]
    _Age = click.ParamType[timedelta]
    _Component = click.ParamType[tuple[str, Impact | None]]
    _Label = click.ParamType[tuple[str, str]]
else:  # older click releases have no generic ParamType
    _Str = _Instant = _Age = _Component = _Label = click.ParamType

#: The shape of an incident id: ``42``, ``#42`` or ``PREFIX-42`` (the prefix is checked later).
_INCIDENT_ID = re.compile(r"(?:[A-Za-z][A-Za-z0-9_]*-|#)?\d{1,18}")


class IncidentIdType(_Str):
    """``42``, ``#42`` or ``INC-42``; passed on as typed for the service to resolve."""

    name = "id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """The id as typed, if it looks like one."""
        text = str(value).strip()
        if not _INCIDENT_ID.fullmatch(text):
            self.fail(
                f"{value!r} is not an incident id; expected a number or a ref like INC-42",
                param,
                ctx,
            )
        return text


class InstantType(_Instant):
    """An ISO 8601 date or time (``2026-03-02``, ``2026-03-02T09:00Z``); naive means UTC."""

    name = "iso8601"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        """The instant, in UTC."""
        if isinstance(value, datetime):
            return value
        try:
            # An offset can push a valid-looking time out of range (0001-01-01T00:00+14:00).
            return parse_iso(str(value)).astimezone(UTC)
        except (ValueError, OverflowError):
            self.fail(
                f"{value!r} is not an ISO 8601 date or time like 2026-03-02T09:00:00Z",
                param,
                ctx,
            )


class AgeType(_Age):
    """A look-back such as ``30d``, ``12h`` or ``2w``."""

    name = "age"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        """The age as a duration."""
        if isinstance(value, timedelta):
            return value
        try:
            age = parse_since(str(value))
            # An age reaching back before the year 1 cannot be subtracted from now.
            datetime.now(UTC) - age
        except InvalidInput as exc:
            if "too long" in exc.message:  # an age, over parse_since's bound
                self.fail(exc.message, param, ctx)
            self.fail(f"{value!r} is not an age like 30d, 12h or 2w", param, ctx)
        except OverflowError:
            self.fail(f"{value!r} reaches back before the year 1", param, ctx)
        return age


class ComponentType(_Component):
    """``KEY`` or ``KEY=IMPACT`` (``api=major``); the key is checked by the service."""

    name = "component"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, Impact | None]:
        """``(key, impact or None)``."""
        if isinstance(value, tuple):
            return value
        key, sep, impact = str(value).partition("=")
        if not key.strip():
            self.fail(f"{value!r} names no component; expected KEY or KEY=IMPACT", param, ctx)
        if not sep:
            return key.strip(), None
        try:
            return key.strip(), Impact.parse(impact)
        except InvalidInput as exc:
            self.fail(exc.message, param, ctx)


class LabelType(_Label):
    """``KEY=VALUE``."""

    name = "label"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, str]:
        """``(key, value)``, both stripped."""
        if isinstance(value, tuple):
            return value
        key, sep, val = str(value).partition("=")
        if not sep or not key.strip():
            self.fail(f"{value!r} is not KEY=VALUE (for example team=payments)", param, ctx)
        return key.strip(), val.strip()


INCIDENT_ID = IncidentIdType()
INSTANT = InstantType()
AGE = AgeType()
COMPONENT = ComponentType()
LABEL = LabelType()
#: ``--status``: the statuses, any case.
STATUS = click.Choice([s.value for s in Status], case_sensitive=False)
