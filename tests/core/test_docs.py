"""The manual keeps up with the code: settings, environment variables and commands."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import click
import pytest

from crashbot_core.cli import build_cli
from crashbot_core.config import (
    AlertRuleTable,
    AlertsTable,
    ComponentTable,
    GeneralSettings,
    RoleTable,
    SeverityTable,
    ThresholdTable,
)
from crashbot_core.plugins import collect_sections, get_plugin_manager

DOCS = Path(__file__).resolve().parents[2] / "docs"


def section(page: str, heading: str) -> str:
    """The text under ``## heading`` up to the next ``## ``."""
    text = (DOCS / page).read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/{page} has no section {heading!r}"
    return match.group(1)


@pytest.mark.parametrize(
    ("heading", "cls"),
    [
        ("`[crashbot]`: the service", GeneralSettings),
        ("`[severity.KEY]`: severity levels", SeverityTable),
        ("`[roles.KEY]`: incident roles", RoleTable),
        ("`[components.KEY]`: status page components", ComponentTable),
        ("`[alerts]`: alert routing", AlertsTable),
        ("`[alerts]`: alert routing", AlertRuleTable),
        ("`[alerts]`: alert routing", ThresholdTable),
    ],
)
def test_every_core_setting_is_documented(heading: str, cls: type) -> None:
    text = section("configuration.md", heading)
    rows = set(re.findall(r"^\| `(\w+)` \|", text, re.M))
    assert {a.name for a in attrs.fields(cls)} <= rows


def test_every_environment_variable_of_core_and_plugins_is_documented() -> None:
    text = section("configuration.md", "Environment variables")
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", text, re.M))
    classes = [GeneralSettings, *collect_sections(get_plugin_manager(disabled=())).values()]
    wanted = {
        a.metadata["env"]: cls.__name__
        for cls in classes
        for a in attrs.fields(cls)
        if a.metadata.get("env")
    }
    missing = {env: owner for env, owner in wanted.items() if env not in documented}
    assert not missing, f"undocumented in docs/configuration.md: {missing}"


def core_commands() -> dict[str, click.Command]:
    """Leaf commands of the core CLI (no plugins), by full name."""
    found: dict[str, click.Command] = {}

    def walk(cmd: click.Command, name: str) -> None:
        if isinstance(cmd, click.Group):
            for sub_name, sub in cmd.commands.items():
                walk(sub, f"{name} {sub_name}")
        else:
            found[name] = cmd

    walk(build_cli(get_plugin_manager(entry_points=False)), "crashbot")
    return found


@pytest.mark.parametrize("name", sorted(core_commands()))
def test_every_core_command_and_option_is_in_the_cli_page(name: str) -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    match = re.search(rf"^### {re.escape(name)}\n(.*?)(?=^##|\Z)", text, re.M | re.S)
    assert match, f"docs/cli.md has no heading '### {name}'"
    body = match.group(1)
    for param in core_commands()[name].params:
        if isinstance(param, click.Option):
            assert any(
                re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", body) for opt in param.opts
            ), f"{name} {param.opts[-1]} is not described in docs/cli.md"
