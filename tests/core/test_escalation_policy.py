"""Escalation policies: loaded from config with one-line errors; due steps as a pure function."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
import pytest
from support import T0

from crashbot_core.config import load_config
from crashbot_core.errors import ConfigError
from crashbot_core.escalation import due_steps
from crashbot_core.models import Incident, Status

ONCALL = {"primary": {"slack": "U012AB3CD"}, "secondary": {"pagerduty": "k" * 32}}


def policy(steps: list[dict[str, Any]], level: str = "SEV1") -> Any:
    config = load_config(data={"oncall": ONCALL, "escalation": {level: {"steps": steps}}})
    return config.escalation


def incident(**changes: Any) -> Incident:
    base = Incident(
        id=7,
        ref="INC-7",
        title="DB down",
        severity="SEV1",
        status=Status.INVESTIGATING,
        declared_at=T0,
        started_at=T0,
    )
    return attrs.evolve(base, **changes)


STEPS = [
    {"after": "0m", "notify": "channel"},
    {"after": "0m", "page": "primary"},
    {"after": "15m", "page": "secondary"},
]


def test_levels_are_parsed_by_the_severity_policy() -> None:
    assert [s.target for s in policy(STEPS, level="p0").steps_for("SEV1")] == [
        "channel",
        "primary",
        "secondary",
    ]


@pytest.mark.parametrize(
    ("escalation", "message"),
    [
        ({"SEV9": {"steps": []}}, "$.escalation.SEV9: unknown severity 'SEV9'"),
        (
            {"SEV1": {"steps": [{"page": "tertiary"}]}},
            "$.escalation.SEV1.steps[0].page: found 'tertiary', expected a key of [oncall] "
            "(primary, secondary)",
        ),
        (
            {"SEV1": {"steps": [{"notify": "channel", "page": "primary"}]}},
            "$.escalation.SEV1.steps[0]: expected exactly one of notify or page",
        ),
        (
            {"SEV1": {"steps": [{"notify": "everyone"}]}},
            "$.escalation.SEV1.steps[0].notify: found 'everyone', expected 'channel'",
        ),
        (
            {"SEV1": {"steps": [{"after": "soon", "notify": "channel"}]}},
            "$.escalation.SEV1.steps[0].after: found 'soon', expected a duration",
        ),
        (
            {
                "SEV1": {
                    "steps": [
                        {"after": "10m", "page": "primary"},
                        {"after": "5m", "page": "secondary"},
                    ]
                }
            },
            "$.escalation.SEV1.steps[1].after: found '5m', expected no earlier than the step before",
        ),
    ],
)
def test_a_bad_escalation_fails_at_load_in_one_line_naming_the_key(
    escalation: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(data={"oncall": ONCALL, "escalation": escalation})
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("oncall", "message"),
    [
        (
            {"primary": {"slack": "alice"}},
            "$.oncall.primary.slack: found 'alice', expected a Slack user id",
        ),
        ({"primary": {}}, "$.oncall.primary: expected at least one of slack, pagerduty, opsgenie"),
        ({"channel": {"slack": "U1234"}}, "$.oncall.channel: found the key 'channel'"),
        ({"primary": {"phone": "555"}}, "unknown key(s) phone"),
    ],
)
def test_a_bad_oncall_target_fails_at_load(oncall: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(data={"oncall": oncall})
    assert message in str(err.value)


def test_steps_fall_due_in_order_from_the_declaration_with_one_key_each() -> None:
    p = policy(STEPS)
    assert [r.step for r in due_steps([incident()], T0, p)] == [1, 2]
    later = due_steps([incident()], T0 + timedelta(minutes=15), p)
    assert [(r.step, r.action, r.target) for r in later] == [
        (1, "notify", "channel"),
        (2, "page", "primary"),
        (3, "page", "secondary"),
    ]
    assert [r.key for r in later] == [
        "7:escalation:SEV1:1",
        "7:escalation:SEV1:2",
        "7:escalation:SEV1:3",
    ]
    assert later[2].due_at == T0 + timedelta(minutes=15)


def test_no_step_is_due_once_acknowledged_or_resolved_or_for_a_level_without_steps() -> None:
    p = policy(STEPS)
    now = T0 + timedelta(hours=1)
    assert due_steps([incident(acknowledged_at=T0 + timedelta(minutes=1))], now, p) == []
    assert due_steps([incident(status=Status.RESOLVED, resolved_at=now)], now, p) == []
    assert due_steps([incident(severity="SEV2")], now, p) == []
