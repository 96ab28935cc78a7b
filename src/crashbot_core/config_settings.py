"""The shape of ``crashbot.toml`` and of the loaded configuration.

The attrs classes here mirror the file's tables (``[crashbot]``,
``[severity.KEY]``, ``[alerts]`` …) and :class:`Config`, what the loader
builds from them. Reading the file, the environment overrides and the
validation live in :mod:`crashbot_core.config`, which re-exports every name
defined here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from attrs import define, field, frozen

from crashbot_core.cost import CostRates
from crashbot_core.durations import parse_duration
from crashbot_core.escalation import EscalationPolicy, EscalationTable, OnCallTable
from crashbot_core.models import Component, Impact
from crashbot_core.roles import DEFAULT_ROLES, RolePolicy
from crashbot_core.routing import AlertPolicy
from crashbot_core.severity import DEFAULT_POLICY, Postmortem, PublicImpact, SeverityPolicy

DEFAULT_DATABASE_URL = "sqlite:///crashbot.db"


def env_field(env: str, default: Any = None, **kwargs: Any) -> Any:
    """An attrs field read from environment variable ``env`` when set (overrides the file).

    Plugins use it in their settings classes::

        @attrs.define
        class SlackSettings:
            bot_token: str | None = env_field("SLACK_BOT_TOKEN")
    """
    return field(default=default, metadata={"env": env}, **kwargs)


# ---------------------------------------------------------------------------
# The file's shape. These mirror crashbot.toml; the loaded Config holds domain
# objects (SeverityPolicy, RolePolicy) built from them.
# ---------------------------------------------------------------------------


@define
class GeneralSettings:
    """``[crashbot]``: settings of the service itself."""

    #: Where incidents are stored: ``sqlite:///PATH`` or ``postgresql+psycopg://user:pw@host/db``.
    database_url: str = env_field("CRASHBOT_DATABASE_URL", DEFAULT_DATABASE_URL)
    #: A write-scoped bearer token for bootstrapping and alert senders.
    api_token: str | None = env_field("CRASHBOT_API_TOKEN")
    #: Incident refs are PREFIX-N.
    ref_prefix: str = "INC"
    #: Severity of incidents declared without one.
    default_severity: str = "SEV4"
    #: Which severity levels exist, in order (most severe first); empty: all defined.
    severity_levels: list[str] = field(factory=list)
    #: Remind about an unresolved incident after this long.
    stale_after: str = "7d"
    #: Remind about a missing RCA link this long after a resolve (postmortem-required levels).
    rca_due_after: str = "48h"
    #: Give up retrying a failed event delivery this long after the event
    #: (it is then ``dead``: shown by ``crashbot deliveries --failed`` and /metrics).
    delivery_retry_horizon: str = "24h"
    #: The team's time zone (an IANA name such as ``Europe/Berlin``): the day
    #: a follow-up's due date ends, so when it counts as overdue.
    time_zone: str = "UTC"
    #: Remind in the incident's chat, once a day, about each open follow-up
    #: past its due date.
    follow_up_reminders: bool = True
    #: Deprecated: ``[status] public_url`` (``CRASHBOT_PUBLIC_URL``), which wins
    #: when both are set. Read as its fallback so older files keep their links.
    base_url: str = env_field("CRASHBOT_BASE_URL", "")
    #: First public update of an incident published without a message (``crashbot
    #: publish``, or a promotion to a severity that is public by default).
    publish_message: str = "We are investigating an issue affecting our service."
    #: Name shown on the status page and in messages.
    name: str = "crashbot"


@define
class MaintenanceSettings:
    """``[maintenance]``: scheduled maintenance windows."""

    #: Maintenance refs are PREFIX-N.
    ref_prefix: str = "MNT"
    #: First update of a maintenance scheduled without a message.
    scheduled_message: str = "Scheduled maintenance is planned for the affected components."
    #: Update posted when a maintenance starts (by the worker, or early by a person).
    start_message: str = "Scheduled maintenance is now in progress."
    #: Update posted when a maintenance completes.
    complete_message: str = "Scheduled maintenance has been completed."
    #: Update posted when a maintenance is cancelled without a message.
    cancel_message: str = "This scheduled maintenance has been cancelled."


@define
class SeverityTable:
    """``[severity.KEY]``: one severity level. Missing fields keep the built-in level's values."""

    #: Priority alias, such as ``P1``.
    priority: str | None = None
    #: Human label, such as ``High``.
    label: str | None = None
    #: Time to acknowledge before an escalation: ``"5m"``, ``"2h"`` or ``"next business day"``.
    respond_within: str | None = None
    #: Nudge for an update after this long without one; ``"none"`` turns nudges off.
    first_update: str | None = None
    #: Later update nudges every this long; ``"none"``: no more nudges.
    update_every: str | None = None
    #: Whether the level needs a postmortem (and an RCA link reminder).
    postmortem: Postmortem | None = None
    #: Whether chat adapters open a channel or thread per incident.
    channel: bool | None = None
    #: Whether new incidents of this level are on the status page unless declared private.
    public: bool | None = None
    #: Impact given to components named without one.
    impact: Impact | None = None
    #: More names accepted when parsing (replaces the built-in aliases).
    aliases: list[str] | None = None
    #: Hex colour for chat embeds and the status site, such as ``"#d1242f"``.
    color: str | None = None
    #: What the status page shows for it (Statuspage's incident impact): ``critical``,
    #: ``major``, ``minor`` or ``none``; omitted: by rank (SEV1 critical … SEV4 none).
    public_impact: PublicImpact | None = None


@define
class RoleTable:
    """``[roles.KEY]``: one incident role. Missing fields keep the built-in role's values."""

    #: Display name, such as ``Incident commander``.
    name: str | None = None
    #: What the role does; sent to whoever takes it.
    description: str | None = None
    #: Short names accepted in commands (replaces the built-in aliases).
    aliases: list[str] | None = None


@define
class ComponentTable:
    """``[components.KEY]``: one component shown on the status page."""

    #: Display name; empty: the key.
    name: str = ""
    #: Group heading on the status page; empty: ungrouped.
    group: str = ""
    #: One line shown with the component.
    description: str = ""


@define
class ThresholdTable:
    """``threshold = { count = 3, within = "1h" }`` in an ``[[alerts.rules]]`` entry."""

    #: Occurrences of the alert group needed before an incident is declared.
    count: int = 1
    #: Window the occurrences are counted in (``30m``, ``1h`` …).
    within: str = "1h"


@define
class AlertRuleTable:
    """``[[alerts.rules]]``: one alert routing rule (see :mod:`crashbot_core.routing`)."""

    #: Shown in the timeline and the intake reply; defaults to ``rule N``.
    name: str = ""
    #: Only alerts from this source (``alertmanager``, ``sentry`` …); omitted: any.
    source: str | None = None
    #: Labels that must equal these values.
    labels: dict[str, str] = field(factory=dict)
    #: Labels whose values must fully match these regular expressions.
    labels_re: dict[str, str] = field(factory=dict)
    #: Severity for matching alerts (any name the policy accepts); omitted: the alert's own hint.
    severity: str | None = None
    #: Components those incidents affect.
    components: list[str] = field(factory=list)
    #: Impact on ``components``; omitted: the severity's default impact.
    impact: Impact | None = None
    #: ``declare``, ``private`` or ``record``.
    action: str | None = None
    #: Labels whose values identify "the same problem" (one incident); omitted: ``[alerts] group_by``.
    group_by: list[str] | None = None
    #: Reopen window for this rule; omitted: ``[alerts] window``.
    window: str | None = None
    #: ``record``, ``monitoring`` or ``resolve``.
    on_resolved: str | None = None
    #: Declare only after ``count`` occurrences ``within`` a window; fewer are recorded.
    threshold: ThresholdTable | None = None


@define
class AlertsTable:
    """``[alerts]``: how incoming alerts become incidents."""

    #: Default for alerts no rule matches: ``declare``, ``private`` or ``record``.
    action: str = "private"
    #: Default grouping labels; empty: the sender's own group (Alertmanager's
    #: ``groupKey`` …), else the alert's fingerprint.
    group_by: list[str] = field(factory=list)
    #: A firing alert this soon after its incident resolved reopens it.
    window: str = "30m"
    #: When all of an incident's alerts resolved: ``record``, ``monitoring`` or ``resolve``.
    on_resolved: str = "monitoring"
    #: Public update when an alert reopens a resolved incident (alert text is never public).
    reopened_message: str = "The problem has recurred; we are investigating again."
    #: Public title of an incident an alert declared (its own title is the alert's).
    public_title: str = "Service disruption"
    #: Public first update of an incident an alert declared (instead of the alert's text).
    public_message: str = "We are investigating reports of a problem."
    #: At most one new chat post per incident this often about its alerts
    #: (one message is edited in place meanwhile).
    chat_interval: str = "30s"
    rules: list[AlertRuleTable] = field(factory=list)


class LogFormat(enum.StrEnum):
    """How every crashbot process writes its log."""

    #: One line of text per record (colour only on a terminal).
    TEXT = "text"
    #: One JSON object per line, for log collectors.
    JSON = "json"


@define
class LoggingSettings:
    """``[logging]``: how every process (CLI, worker, serve, bots) logs."""

    #: ``text`` (default) or ``json``: one JSON object per line with time, level,
    #: logger, message, request_id, incident and plugin.
    format: LogFormat = env_field("CRASHBOT_LOG_FORMAT", LogFormat.TEXT)  # noqa: RUF009 (an enum: immutable)
    #: Least severe level written: ``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``
    #: (default: ``INFO`` for workers, servers and bots, ``WARNING`` for other commands).
    level: str | None = env_field("CRASHBOT_LOG_LEVEL")


@define
class CostTable:
    """``[cost]``: hourly rates for the estimated cost of incidents.

    Without ``hourly_rate`` no cost is computed or shown anywhere (it is
    absent, not zero). The formula is in docs/metrics.md.
    """

    #: Cost of one person-hour, for everyone engaged without a role rate.
    hourly_rate: float | None = None
    #: Shown after amounts (``USD``, ``EUR`` …); nothing is converted.
    currency: str = "USD"
    #: Role key -> hourly rate for people assigned that role (``commander = 150``).
    roles: dict[str, float] = field(factory=dict)


@define
class FileSettings:
    """The whole of ``crashbot.toml`` except plugin sections."""

    crashbot: GeneralSettings = field(factory=GeneralSettings)
    severity: dict[str, SeverityTable] = field(factory=dict)
    roles: dict[str, RoleTable] = field(factory=dict)
    components: dict[str, ComponentTable] = field(factory=dict)
    alerts: AlertsTable = field(factory=AlertsTable)
    maintenance: MaintenanceSettings = field(factory=MaintenanceSettings)
    cost: CostTable = field(factory=CostTable)
    oncall: dict[str, OnCallTable] = field(factory=dict)
    escalation: dict[str, EscalationTable] = field(factory=dict)
    logging: LoggingSettings = field(factory=LoggingSettings)


@frozen
class Config:
    """The loaded configuration, handed to the service and every plugin."""

    general: GeneralSettings = field(factory=GeneralSettings)
    severity_policy: SeverityPolicy = DEFAULT_POLICY
    roles: RolePolicy = DEFAULT_ROLES
    components: tuple[Component, ...] = ()
    #: Plugin sections by name (``config.section("slack")``).
    sections: Mapping[str, Any] = field(factory=dict)
    #: The file it was read from, if any.
    path: Path | None = None
    #: Alert routing rules (``[alerts]``).
    alerts: AlertPolicy = field(factory=AlertPolicy)
    #: Scheduled maintenance settings (``[maintenance]``).
    maintenance: MaintenanceSettings = field(factory=MaintenanceSettings)
    #: Hourly rates (``[cost]``); None when no ``hourly_rate`` is set.
    cost: CostRates | None = None
    #: Escalation steps per level and on-call targets (``[escalation]``, ``[oncall]``).
    escalation: EscalationPolicy = field(factory=EscalationPolicy)
    #: ``[logging]``.
    logging: LoggingSettings = field(factory=LoggingSettings)

    @property
    def database_url(self) -> str:
        """Where the store lives (``CRASHBOT_DATABASE_URL``)."""
        return self.general.database_url

    @property
    def ref_prefix(self) -> str:
        """Prefix of incident refs."""
        return self.general.ref_prefix

    @property
    def stale_after(self) -> timedelta:
        """How long an open incident may go before a stale reminder."""
        return parse_duration(self.general.stale_after)

    @property
    def rca_due_after(self) -> timedelta:
        """How long after resolve a missing RCA link is reminded."""
        return parse_duration(self.general.rca_due_after)

    @property
    def delivery_retry_horizon(self) -> timedelta:
        """How long failed event deliveries are retried before they are given up."""
        return parse_duration(self.general.delivery_retry_horizon)

    @property
    def zone(self) -> ZoneInfo:
        """The team's time zone (``[crashbot] time_zone``)."""
        return ZoneInfo(self.general.time_zone)

    @property
    def public_url(self) -> str:
        """Where people open the status site, without a trailing slash; "" when not set.

        ``[status] public_url`` (``CRASHBOT_PUBLIC_URL``), else the deprecated
        ``[crashbot] base_url``. Messages sent outside any request (chat,
        postmortems) link to it only when it is set.
        """
        status = self.sections.get("status")
        url = getattr(status, "public_url", "") or self.general.base_url
        return str(url).strip().rstrip("/")

    def section(self, name: str) -> Any:
        """A plugin's settings object, or None when no plugin declared that section."""
        return self.sections.get(name)
