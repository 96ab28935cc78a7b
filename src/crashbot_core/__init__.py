"""crashbot_core: incidents, severity policy, roles, timeline, metrics and reminders.

Embed it in a few lines::

    from crashbot_core import Actor, Crashbot

    bot = Crashbot.from_config()            # crashbot.toml / env / defaults
    inc = bot.declare("Checkout API returns 500s", severity="P1",
                      actor=Actor("cli", "alice", "Alice"))
    bot.resolve(inc.id, message="Rolled back")
"""

from __future__ import annotations

from crashbot_core.clock import Clock, FixedClock, SystemClock
from crashbot_core.config import Config, env_field, load_config
from crashbot_core.delivery import RetryAfter, RetryPolicy
from crashbot_core.errors import (
    ConfigError,
    ConflictError,
    CrashbotError,
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from crashbot_core.hookspecs import hookimpl, hookspec, subscribed_when
from crashbot_core.intake import IngestResult
from crashbot_core.models import (
    Actor,
    Alert,
    AlertStatus,
    ApiToken,
    Component,
    Delivery,
    DeliveryState,
    Event,
    EventKind,
    FollowUp,
    Impact,
    Incident,
    Reminder,
    ReminderKind,
    Status,
    TokenScope,
)
from crashbot_core.plugins import get_plugin_manager
from crashbot_core.roles import Role, RolePolicy
from crashbot_core.service import Crashbot
from crashbot_core.severity import Severity, SeverityPolicy
from crashbot_core.store import Change, FollowUpFilter, IncidentFilter, Saved, Store

__version__ = "0.1.0"

__all__ = [
    "Actor",
    "Alert",
    "AlertStatus",
    "ApiToken",
    "Change",
    "Clock",
    "Component",
    "Config",
    "ConfigError",
    "ConflictError",
    "Crashbot",
    "CrashbotError",
    "Delivery",
    "DeliveryState",
    "Event",
    "EventKind",
    "FixedClock",
    "FollowUp",
    "FollowUpFilter",
    "IllegalTransition",
    "Impact",
    "Incident",
    "IncidentFilter",
    "IngestResult",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "Reminder",
    "ReminderKind",
    "RetryAfter",
    "RetryPolicy",
    "Role",
    "RolePolicy",
    "Saved",
    "Severity",
    "SeverityPolicy",
    "Status",
    "Store",
    "SystemClock",
    "TokenScope",
    "env_field",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
    "load_config",
    "subscribed_when",
]
