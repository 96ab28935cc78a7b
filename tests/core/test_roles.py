"""Roles: parsing by key, name and alias; config overrides."""

from __future__ import annotations

import pytest

from crashbot_core import load_config
from crashbot_core.errors import InvalidInput
from crashbot_core.roles import DEFAULT_ROLES


@pytest.mark.parametrize(
    ("text", "key"),
    [("commander", "commander"), ("ic", "commander"), ("IC", "commander"),
     ("Incident commander", "commander"), ("incident-commander", "commander"),
     ("cl", "communications"), ("comms", "communications"), ("communications", "communications"),
     ("tl", "technical-lead"), ("technical lead", "technical-lead"), ("tech_lead", "technical-lead"),
     ("scribe", "scribe"), ("notes", "scribe")],
)  # fmt: skip
def test_roles_answer_to_key_name_and_alias(text: str, key: str) -> None:
    assert DEFAULT_ROLES.parse(text).key == key


def test_unknown_role_lists_the_known_ones_with_aliases() -> None:
    with pytest.raises(InvalidInput) as info:
        DEFAULT_ROLES.parse("janitor")
    assert str(info.value) == (
        "unknown role 'janitor'; expected one of commander (ic, incident-commander), "
        "communications (cl, comms, communications-liaison), technical-lead (tl, tech-lead), "
        "scribe (notes)"
    )


def test_every_default_role_has_a_description_to_send() -> None:
    assert [r.key for r in DEFAULT_ROLES] == [
        "commander",
        "communications",
        "technical-lead",
        "scribe",
    ]
    assert all(len(r.description) > 40 for r in DEFAULT_ROLES)


def test_a_role_dropped_from_config_still_reads_back() -> None:
    assert DEFAULT_ROLES.get("sre-on-call").name == "sre-on-call"


def test_config_renames_and_adds_roles() -> None:
    roles = load_config(
        data={
            "roles": {
                "commander": {"aliases": ["boss"]},
                "customer-liaison": {
                    "name": "Customer liaison",
                    "description": "Talk to customers.",
                },
            }
        },
        env={},
    ).roles
    assert roles.parse("boss").key == "commander"
    with pytest.raises(InvalidInput):
        roles.parse("ic")  # replaced aliases
    assert roles.parse("customer liaison").description == "Talk to customers."
    assert roles.get("commander").name == "Incident commander"
    assert [r.key for r in roles][-1] == "customer-liaison"


def test_two_roles_answering_to_one_name_is_a_config_error() -> None:
    from crashbot_core.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"\$\.roles: role name 'ic' is used by both commander and incident-chief"
    ):
        load_config(data={"roles": {"incident-chief": {"aliases": ["ic"]}}}, env={})
