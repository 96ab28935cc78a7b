"""docs/discord.md keeps up with the settings and the commands."""

from __future__ import annotations

import re
from pathlib import Path

import attrs

from crashbot_discord.bot import build_incident_group
from crashbot_discord.settings import DiscordSettings

PAGE = Path(__file__).resolve().parents[2] / "docs" / "discord.md"


def test_every_setting_and_its_environment_variable_is_documented() -> None:
    text = PAGE.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| (?:`([A-Z_]+)`)? ?\|", text, re.M))
    for a in attrs.fields(DiscordSettings):
        assert a.name in rows, f"setting {a.name} missing from docs/discord.md"
        assert rows[a.name] == a.metadata.get("env", ""), a.name


def test_every_subcommand_is_documented() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for cmd in build_incident_group().commands:
        assert f"`/incident {cmd.name}" in text, cmd.name
