"""Severity parsing and the policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crashbot_core import load_config
from crashbot_core.errors import InvalidInput
from crashbot_core.severity import DEFAULT_POLICY, Postmortem, Severity, SeverityPolicy


@pytest.mark.parametrize(
    "text",
    ["SEV2", "sev2", "sev-2", "Sev 2", "SEV_2", "2", " 2 ", "P1", "p1", "high", "HIGH", "major"],
)
def test_every_spelling_of_sev2_parses_alike(text: str) -> None:
    assert DEFAULT_POLICY.parse(text).key == "SEV2"
    assert Severity.parse(text).key == "SEV2"


@pytest.mark.parametrize(
    ("text", "key"),
    [("SEV1", "SEV1"), ("P0", "SEV1"), ("critical", "SEV1"), ("1", "SEV1"), ("01", "SEV1"),
     ("P2", "SEV3"), ("medium", "SEV3"), ("warning", "SEV3"), ("4", "SEV4"), ("low", "SEV4")],
)  # fmt: skip
def test_default_levels_answer_to_key_priority_label_and_aliases(text: str, key: str) -> None:
    assert DEFAULT_POLICY.parse(text).key == key


@pytest.mark.parametrize("text", ["SEV9", "9", "P7", "", "  ", "sev", "urgent!"])
def test_unknown_severity_lists_the_accepted_values(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        DEFAULT_POLICY.parse(text)
    assert str(info.value) == (
        f"unknown severity {text!r}; expected one of "
        "SEV1/P0/critical, SEV2/P1/high, SEV3/P2/medium, SEV4/P3/low"
    )


@given(st.text(max_size=12))
def test_parse_either_finds_a_level_or_says_what_is_accepted(text: str) -> None:
    try:
        level = DEFAULT_POLICY.parse(text)
    except InvalidInput as exc:
        assert "expected one of SEV1/P0/critical" in str(exc)
    else:
        assert level in DEFAULT_POLICY.levels
        # Parsing is idempotent: the canonical key names the same level.
        assert DEFAULT_POLICY.parse(level.key) is level


@given(st.sampled_from(DEFAULT_POLICY.levels), st.sampled_from(["", " ", "-", "_"]))
def test_any_name_of_a_level_in_any_case_finds_it(level: Severity, sep: str) -> None:
    for name in level.names:
        assert DEFAULT_POLICY.parse(name.upper()) is level
        assert DEFAULT_POLICY.parse(f" {name.lower()} ") is level
    digits = level.key.removeprefix("SEV")
    assert DEFAULT_POLICY.parse(f"sev{sep}{digits}") is level


def test_default_table_matches_the_design() -> None:
    sev1, sev2, sev3, sev4 = DEFAULT_POLICY.levels
    assert [lv.key for lv in DEFAULT_POLICY] == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert [lv.priority for lv in DEFAULT_POLICY] == ["P0", "P1", "P2", "P3"]
    assert [lv.label for lv in DEFAULT_POLICY] == ["Critical", "High", "Medium", "Low"]
    assert sev1.respond_within == timedelta(minutes=5)
    assert sev2.respond_within == timedelta(minutes=30)
    assert sev3.respond_within == timedelta(hours=2)
    assert sev4.respond_within is None
    assert [lv.first_update for lv in DEFAULT_POLICY] == [timedelta(minutes=30)] * 2 + [None] * 2
    assert [lv.update_every for lv in DEFAULT_POLICY] == [timedelta(minutes=25)] * 2 + [None] * 2
    assert [lv.postmortem for lv in DEFAULT_POLICY] == [
        Postmortem.REQUIRED, Postmortem.REQUIRED, Postmortem.OPTIONAL, Postmortem.NONE,
    ]  # fmt: skip
    assert [lv.public for lv in DEFAULT_POLICY] == [True, True, False, False]
    assert all(lv.channel for lv in DEFAULT_POLICY)
    assert DEFAULT_POLICY.default_level is sev4


def test_next_business_day_skips_the_weekend() -> None:
    sev4 = DEFAULT_POLICY.get("SEV4")
    friday = datetime(2026, 3, 6, 16, 0, tzinfo=UTC)
    assert sev4.response_deadline(friday) == datetime(2026, 3, 9, 23, 59, 59, tzinfo=UTC)
    monday = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert sev4.response_deadline(monday) == datetime(2026, 3, 3, 23, 59, 59, tzinfo=UTC)
    sev1 = DEFAULT_POLICY.get("SEV1")
    assert sev1.response_deadline(friday) == friday + timedelta(minutes=5)


def test_ranking_and_a_level_dropped_from_the_policy() -> None:
    assert DEFAULT_POLICY.is_more_severe("SEV1", "SEV2")
    assert not DEFAULT_POLICY.is_more_severe("SEV3", "SEV3")
    gone = DEFAULT_POLICY.get("SEV0")
    assert gone.key == "SEV0" and gone.rank == 4
    assert DEFAULT_POLICY.is_more_severe("SEV4", "SEV0")


def test_a_policy_refuses_a_name_shared_by_two_levels() -> None:
    a = Severity(key="SEV1", priority="P0", label="Critical", rank=0)
    b = Severity(key="SEV2", priority="P1", label="Critical", rank=1)
    with pytest.raises(InvalidInput, match="'Critical' is used by both SEV1 and SEV2"):
        SeverityPolicy(levels=(a, b), default="SEV2")


def test_a_policy_needs_levels_and_a_known_default() -> None:
    with pytest.raises(InvalidInput, match="at least one level"):
        SeverityPolicy(levels=())
    with pytest.raises(InvalidInput, match="default severity 'SEV4'"):
        SeverityPolicy(levels=(Severity(key="S1", priority="P0", label="Bad", rank=0),))


def test_custom_levels_from_config_parse_by_their_own_names() -> None:
    config = load_config(
        data={
            "crashbot": {"severity_levels": ["SEV1", "SEV2", "SEV5"], "default_severity": "SEV5"},
            "severity": {
                "SEV2": {"label": "Major", "aliases": ["big"]},
                "SEV5": {"priority": "P9", "label": "Cosmetic", "respond_within": "3d"},
            },
        },
        env={},
    )
    policy = config.severity_policy
    assert policy.keys == ["SEV1", "SEV2", "SEV5"]
    assert [lv.rank for lv in policy] == [0, 1, 2]
    assert policy.parse("major").key == "SEV2"
    assert policy.parse("big").key == "SEV2"
    assert policy.parse("P9").key == "SEV5"
    assert policy.parse("cosmetic").key == "SEV5"
    assert policy.parse("5").key == "SEV5"
    assert policy.get("SEV5").respond_within == timedelta(days=3)
    assert policy.default_level.key == "SEV5"
    # Dropped levels are no longer accepted, and the error lists what is.
    with pytest.raises(
        InvalidInput, match=r"expected one of SEV1/P0/critical, SEV2/P1/major, SEV5/P9/cosmetic"
    ):
        policy.parse("SEV3")


def test_with_levels_renumbers_ranks() -> None:
    sev1, sev2, *_ = DEFAULT_POLICY.levels
    policy = DEFAULT_POLICY.with_levels([sev2, sev1], default="SEV1")
    assert [(lv.key, lv.rank) for lv in policy] == [("SEV2", 0), ("SEV1", 1)]
