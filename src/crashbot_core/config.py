"""Configuration: ``crashbot.toml`` plus the environment, structured with cattrs.

The file is optional; every setting has a default. Secrets and deployment
settings come from the environment and override the file. A bad setting
raises :class:`~crashbot_core.errors.ConfigError` naming the file, the key
path, what was found and what was expected.

This module reads and validates; the settings classes (the file's tables and
:class:`Config`) are defined in :mod:`crashbot_core.config_settings` and
importable from here too.
"""

from __future__ import annotations

import enum
import math
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import cattrs

from crashbot_core.config_settings import (
    DEFAULT_DATABASE_URL,
    AlertRuleTable,
    AlertsTable,
    ComponentTable,
    Config,
    CostTable,
    FileSettings,
    GeneralSettings,
    LogFormat,
    LoggingSettings,
    MaintenanceSettings,
    RoleTable,
    SeverityTable,
    ThresholdTable,
    env_field,
)
from crashbot_core.cost import CostRates
from crashbot_core.durations import parse_duration
from crashbot_core.errors import ConfigError, CrashbotError
from crashbot_core.escalation import build_escalation
from crashbot_core.models import Component
from crashbot_core.roles import DEFAULT_ROLES, Role, RolePolicy
from crashbot_core.routing import Action, AlertPolicy, AlertRule, OnResolved, Threshold
from crashbot_core.severity import DEFAULT_POLICY, NEXT_BUSINESS_DAY, Severity, SeverityPolicy

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_DATABASE_URL",
    "AlertRuleTable",
    "AlertsTable",
    "ComponentTable",
    "Config",
    "CostTable",
    "FileSettings",
    "GeneralSettings",
    "LogFormat",
    "LoggingSettings",
    "MaintenanceSettings",
    "RoleTable",
    "SeverityTable",
    "ThresholdTable",
    "env_field",
    "find_config_file",
    "load_config",
    "make_converter",
]

_E = TypeVar("_E", bound=enum.Enum)

CONFIG_ENV = "CRASHBOT_CONFIG"
DEFAULT_CONFIG_FILE = "crashbot.toml"


def make_converter() -> cattrs.Converter:
    """The converter for settings: unknown keys are errors (typos must not pass silently)."""
    conv = cattrs.Converter(forbid_extra_keys=True)

    # cattrs would happily turn 5 into "5"; a config expecting text gets text.
    def _str(value: Any, _: type) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, found {type(value).__name__} {value!r}")
        return value

    def _bool(value: Any, _: type) -> bool:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, found {value!r}")
        return value

    def _int(value: Any, _: type) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, found {value!r}")
        return value

    def _enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in cls)
            raise ValueError(f"expected one of {allowed}, found {value!r}") from None

    def _str_list(value: Any, _: type) -> list[str]:
        # cattrs would happily split the string "ic" into ["i", "c"].
        if not isinstance(value, list):
            raise ValueError(f"expected a list of strings, found {value!r}")
        return [_str(v, str) for v in value]

    conv.register_structure_hook(str, _str)
    conv.register_structure_hook_func(lambda t: t == list[str], _str_list)
    # StrEnum precedes str in an enum's MRO, so this wins over the str hook.
    conv.register_structure_hook(enum.StrEnum, _enum)
    conv.register_structure_hook(enum.Enum, _enum)
    conv.register_structure_hook(bool, _bool)
    conv.register_structure_hook(int, _int)
    return conv


def _apply_env(conv_target: type[Any], data: dict[str, Any], env: Mapping[str, str]) -> None:
    """Overlay environment variables named in field metadata onto raw section data."""
    for a in attrs.fields(conv_target):
        name = a.metadata.get("env")
        if name and env.get(name):
            value: Any = env[name]
            if a.type in (bool, "bool", "bool | None"):
                value = value.strip().lower() in {"1", "true", "yes", "on"}
            elif a.type in (list[str], "list[str]"):
                # A list in the environment is comma-separated.
                value = [v.strip() for v in value.split(",") if v.strip()]
            elif a.type in (int, "int", "int | None"):
                try:
                    value = int(value)
                except ValueError:
                    raise ConfigError(
                        f"environment variable {name}: found {value!r}, expected an integer"
                    ) from None
            data[a.name] = value


def _format_exception(exc: BaseException, type_: Any) -> str:
    # Our own hooks say what they found; cattrs' default only says what it expected.
    if isinstance(exc, ValueError) and str(exc).startswith("expected"):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required key missing"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        known = ", ".join(a.name for a in attrs.fields(exc.cl))
        return f"unknown key(s) {', '.join(sorted(exc.extra_fields))}; expected {known}"
    name = getattr(type_, "__name__", None) or str(type_)
    return f"found an unusable value ({exc}), expected {name}"


def _structure(conv: cattrs.Converter, data: Any, cls: type[Any], where: str, path: str) -> Any:
    try:
        return conv.structure(data, cls)
    except cattrs.ClassValidationError as exc:
        lines = cattrs.transform_error(exc, path=path, format_exception=_format_exception)
        raise ConfigError(f"{where}: " + "; ".join(lines)) from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {path}: {exc}") from None


def find_config_file(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to read: ``explicit``, else ``$CRASHBOT_CONFIG``, else ``./crashbot.toml`` if present."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.exists() else None


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    sections: Mapping[str, type[Any]] | None = None,
    data: Mapping[str, Any] | None = None,
) -> Config:
    """Load configuration from a TOML file (optional) and the environment.

    :param path: the file; defaults to ``$CRASHBOT_CONFIG`` or ``./crashbot.toml``.
    :param env: environment to read (default ``os.environ``).
    :param sections: plugin settings classes by section name (from the
        ``crashbot_config_sections`` hook).
    :param data: parsed TOML to use instead of reading a file (tests, embedding).
    :raises ConfigError: naming the file, key path, what was found and expected.
    """
    env = os.environ if env is None else env
    sections = dict(sections or {})
    file = find_config_file(path) if data is None else None
    where = str(file) if file else "configuration"
    raw: dict[str, Any]
    if data is not None:
        raw = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in data.items()}
    elif file is not None:
        try:
            with open(file, "rb") as fh:
                raw = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"{file}: no such config file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    else:
        raw = {}

    conv = make_converter()
    known = {
        *("crashbot", "severity", "roles", "components", "alerts", "cost"),
        *("oncall", "escalation", "logging", "maintenance"),
    }
    unknown = sorted(set(raw) - known - set(sections))
    if unknown:
        expected = ", ".join(sorted(known | set(sections)))
        raise ConfigError(
            f"{where}: unknown section [{unknown[0]}]; expected one of {expected} "
            "(is the plugin for it installed?)"
        )

    general_raw = raw.get("crashbot", {})
    if not isinstance(general_raw, dict):
        raise ConfigError(f"{where}: $.crashbot: expected a table, found {general_raw!r}")
    general_raw = dict(general_raw)
    _apply_env(GeneralSettings, general_raw, env)
    core_raw = {k: raw[k] for k in known if k in raw}
    core_raw["crashbot"] = general_raw
    logging_raw = raw.get("logging", {})
    if not isinstance(logging_raw, dict):
        raise ConfigError(f"{where}: $.logging: expected a table, found {logging_raw!r}")
    core_raw["logging"] = logging_raw = dict(logging_raw)
    _apply_env(LoggingSettings, logging_raw, env)
    settings: FileSettings = _structure(conv, core_raw, FileSettings, where, "$")

    for name in ("stale_after", "rca_due_after", "delivery_retry_horizon"):
        if _duration(getattr(settings.crashbot, name), where, f"$.crashbot.{name}") is None:
            raise ConfigError(
                f"{where}: $.crashbot.{name}: found {getattr(settings.crashbot, name)!r}, "
                "expected a duration such as 7d or 48h"
            )
    try:
        ZoneInfo(settings.crashbot.time_zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(
            f"{where}: $.crashbot.time_zone: found {settings.crashbot.time_zone!r}, "
            "expected a time zone name such as UTC or Europe/Berlin"
        ) from None
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,15}", settings.crashbot.ref_prefix):
        raise ConfigError(
            f"{where}: $.crashbot.ref_prefix: found {settings.crashbot.ref_prefix!r}, "
            "expected letters (then letters, digits or '_'), such as INC"
        )
    policy = _build_policy(settings, where)
    try:
        roles = _build_roles(settings)
    except CrashbotError as exc:
        raise ConfigError(f"{where}: $.roles: {exc.message}") from None
    for key in settings.components:
        # The same rule as for components named on incidents (lifecycle).
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.\-]{0,63}", key):
            raise ConfigError(
                f"{where}: $.components.{key}: found the key {key!r}, expected lower-case "
                "letters, digits, '-', '_' or '.' (such as api or web-app)"
            )
    alert_policy = _build_alerts(settings.alerts, where, policy)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,15}", settings.maintenance.ref_prefix):
        raise ConfigError(
            f"{where}: $.maintenance.ref_prefix: found {settings.maintenance.ref_prefix!r}, "
            "expected letters (then letters, digits or '_'), such as MNT"
        )
    if settings.maintenance.ref_prefix.upper() == settings.crashbot.ref_prefix.upper():
        raise ConfigError(
            f"{where}: $.maintenance.ref_prefix: {settings.maintenance.ref_prefix!r} is the "
            "incident prefix too; choose another, such as MNT"
        )
    cost = _build_cost(settings.cost, roles, where)
    escalation = build_escalation(settings.oncall, settings.escalation, policy, where)
    levels = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
    if settings.logging.level is not None and settings.logging.level.upper() not in levels:
        raise ConfigError(
            f"{where}: $.logging.level: found {settings.logging.level!r}, "
            "expected DEBUG, INFO, WARNING or ERROR"
        )
    components = tuple(
        Component(key=key, name=t.name or key, group=t.group, description=t.description, position=i)
        for i, (key, t) in enumerate(settings.components.items())
    )
    loaded: dict[str, Any] = {}
    for name, cls in sections.items():
        section_raw = raw.get(name, {})
        if not isinstance(section_raw, dict):
            raise ConfigError(f"{where}: $.{name}: expected a table, found {section_raw!r}")
        section_raw = dict(section_raw)
        _apply_env(cls, section_raw, env)
        loaded[name] = _structure(conv, section_raw, cls, where, f"$.{name}")
    return Config(
        general=settings.crashbot,
        severity_policy=policy,
        roles=roles,
        components=components,
        sections=loaded,
        path=file,
        alerts=alert_policy,
        maintenance=settings.maintenance,
        cost=cost,
        escalation=escalation,
        logging=settings.logging,
    )


def _build_cost(table: CostTable, roles: RolePolicy, where: str) -> CostRates | None:
    """Validate ``[cost]``: rates are non-negative numbers, role rates name known roles."""
    rates = {"hourly_rate": table.hourly_rate} if table.hourly_rate is not None else {}
    rates.update({f"roles.{k}": v for k, v in table.roles.items()})
    for path, value in rates.items():
        if not math.isfinite(value) or value < 0:
            raise ConfigError(
                f"{where}: $.cost.{path}: found {value!r}, expected a rate of 0 or more per hour"
            )
    role_rates: dict[str, float] = {}
    for key, value in table.roles.items():
        try:
            role_rates[roles.parse(key).key] = value
        except CrashbotError:
            raise ConfigError(
                f"{where}: $.cost.roles.{key}: found the role {key!r}, expected one of "
                + ", ".join(r.key for r in roles)
            ) from None
    if table.hourly_rate is None:
        if role_rates:
            raise ConfigError(
                f"{where}: $.cost.hourly_rate: missing, expected a default rate "
                "for people without a role (role rates are set)"
            )
        return None
    return CostRates(
        hourly_rate=table.hourly_rate, role_rates=role_rates, currency=table.currency.strip()
    )


def _duration(value: str | None, where: str, path: str) -> timedelta | None:
    if value is None or value.strip().lower() in {"", "none", "never"}:
        return None
    try:
        return parse_duration(value)
    except CrashbotError:
        raise ConfigError(
            f"{where}: {path}: found {value!r}, expected a duration such as 5m, 2h or 1d"
        ) from None


def _build_policy(settings: FileSettings, where: str) -> SeverityPolicy:
    by_key = {lv.key: lv for lv in DEFAULT_POLICY.levels}
    order = [lv.key for lv in DEFAULT_POLICY.levels]
    for key, t in settings.severity.items():
        base = by_key.get(key) or Severity(key=key, priority=key, label=key, rank=len(order))
        if key not in order:
            order.append(key)
        path = f"$.severity.{key}"
        changes: dict[str, Any] = {
            name: getattr(t, name)
            for name in (
                "priority",
                "label",
                "postmortem",
                "channel",
                "public",
                "impact",
                "color",
                "public_impact",
            )
            if getattr(t, name) is not None
        }
        if t.aliases is not None:
            changes["aliases"] = tuple(t.aliases)
        if t.respond_within is not None:
            if t.respond_within.strip().lower() == NEXT_BUSINESS_DAY:
                changes["respond_within"] = None
            else:
                changes["respond_within"] = _duration(
                    t.respond_within, where, f"{path}.respond_within"
                )
        for name in ("first_update", "update_every"):
            value = getattr(t, name)
            if value is not None:
                changes[name] = _duration(value, where, f"{path}.{name}")
        by_key[key] = attrs.evolve(base, **changes)
    if settings.crashbot.severity_levels:
        missing = [k for k in settings.crashbot.severity_levels if k not in by_key]
        if missing:
            raise ConfigError(
                f"{where}: $.crashbot.severity_levels: found {missing[0]!r}, expected one of "
                + ", ".join(by_key)
            )
        order = list(settings.crashbot.severity_levels)
    levels = [attrs.evolve(by_key[k], rank=i) for i, k in enumerate(order)]
    try:
        policy = SeverityPolicy(levels=tuple(levels), default=levels[-1].key)
    except CrashbotError as exc:
        raise ConfigError(f"{where}: $.severity: {exc.message}") from None
    wanted = settings.crashbot.default_severity
    try:
        # Any name of a level will do ("P3", "low"); the policy stores its key.
        default = policy.parse(wanted).key
    except CrashbotError:
        raise ConfigError(
            f"{where}: $.crashbot.default_severity: found {wanted!r}, expected one of "
            + ", ".join(policy.keys)
        ) from None
    return attrs.evolve(policy, default=default)


def _build_roles(settings: FileSettings) -> RolePolicy:
    roles = {r.key: r for r in DEFAULT_ROLES}
    for key, t in settings.roles.items():
        base = roles.get(key) or Role(key=key, name=key, description="")
        roles[key] = Role(
            key=key,
            name=t.name if t.name is not None else base.name,
            description=t.description if t.description is not None else base.description,
            aliases=tuple(t.aliases) if t.aliases is not None else base.aliases,
        )
    return RolePolicy(roles=tuple(roles.values()))


def _choice(value: str | None, cls: type[_E], where: str, path: str) -> _E | None:
    if value is None:
        return None
    try:
        return cls(value.strip().lower())
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in cls)
        raise ConfigError(f"{where}: {path}: found {value!r}, expected one of {allowed}") from None


def _window(value: str, where: str, path: str) -> timedelta:
    if value.strip() in {"0", "0s", "none", "never", ""}:
        return timedelta(0)
    return _duration(value, where, path) or timedelta(0)


def _build_alerts(table: AlertsTable, where: str, severity: SeverityPolicy) -> AlertPolicy:
    """Validate ``[alerts]`` into the routing policy (regexes compiled, durations parsed)."""
    rules = []
    for i, t in enumerate(table.rules):
        path = f"$.alerts.rules[{i}]"
        patterns: dict[str, re.Pattern[str]] = {}
        for key, pattern in t.labels_re.items():
            try:
                patterns[key] = re.compile(pattern)
            except re.error as exc:
                raise ConfigError(
                    f"{where}: {path}.labels_re.{key}: found {pattern!r}, "
                    f"expected a regular expression ({exc})"
                ) from None
        level = t.severity
        if level is not None:
            try:
                level = severity.parse(level).key
            except CrashbotError:
                raise ConfigError(
                    f"{where}: {path}.severity: found {level!r}, expected one of "
                    + ", ".join(lv.key for lv in severity.levels)
                ) from None
        rules.append(
            AlertRule(
                name=t.name or f"rule {i + 1}",
                source=t.source,
                labels=dict(t.labels),
                labels_re=patterns,
                severity=level,
                components=tuple(c.strip().lower() for c in t.components),
                impact=t.impact,
                action=_choice(t.action, Action, where, f"{path}.action"),
                group_by=tuple(t.group_by) if t.group_by is not None else None,
                window=_window(t.window, where, f"{path}.window") if t.window is not None else None,
                on_resolved=_choice(t.on_resolved, OnResolved, where, f"{path}.on_resolved"),
                threshold=_threshold(t.threshold, where, f"{path}.threshold"),
            )
        )
    return AlertPolicy(
        rules=tuple(rules),
        action=_choice(table.action, Action, where, "$.alerts.action") or Action.PRIVATE,
        group_by=tuple(table.group_by),
        window=_window(table.window, where, "$.alerts.window"),
        on_resolved=_choice(table.on_resolved, OnResolved, where, "$.alerts.on_resolved")
        or OnResolved.MONITORING,
        reopened_message=_sentence(table.reopened_message, where, "$.alerts.reopened_message"),
        public_title=_sentence(table.public_title, where, "$.alerts.public_title"),
        public_message=_sentence(table.public_message, where, "$.alerts.public_message"),
        chat_interval=_window(table.chat_interval, where, "$.alerts.chat_interval"),
    )


def _threshold(table: ThresholdTable | None, where: str, path: str) -> Threshold | None:
    if table is None:
        return None
    if not 1 <= table.count <= 1_000_000:
        raise ConfigError(
            f"{where}: {path}.count: found {table.count!r}, expected a whole number from 1"
        )
    within = _duration(table.within, where, f"{path}.within")
    if within is None or within <= timedelta(0):
        raise ConfigError(
            f"{where}: {path}.within: found {table.within!r}, expected a duration such as 1h"
        )
    return Threshold(count=table.count, within=within)


def _sentence(value: str, where: str, path: str) -> str:
    """A fixed public sentence: one line of text, not empty."""
    text = " ".join(value.split())
    if not text:
        raise ConfigError(f"{where}: {path}: found an empty text, expected a sentence")
    return text
