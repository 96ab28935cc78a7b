"""Hook implementations of the github plugin (entry point ``github``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from crashbot_core.hookspecs import PostmortemExporter, hookimpl
from crashbot_github.exporter import GitHubExporter, GitHubSettings, sync_follow_ups


@hookimpl
def crashbot_config_sections() -> dict[str, type[Any]]:
    """``[github]``; ``GITHUB_TOKEN``, ``GITHUB_REPO`` and ``GITHUB_API_URL`` override it."""
    return {"github": GitHubSettings}


@hookimpl
def crashbot_postmortem_exporters() -> Sequence[PostmortemExporter]:
    """The ``github`` exporter (it says what to set when asked to export unconfigured)."""
    return [GitHubExporter()]


@hookimpl
def crashbot_cli(group: click.Group) -> None:
    """``crashbot github sync [ID]``."""
    from crashbot_core.cli import CliState, pass_state, printable
    from crashbot_core.cli.params import INCIDENT_ID

    @group.group("github")
    def github() -> None:
        """GitHub Issues: postmortem and follow-up issues."""

    @github.command("sync")
    @click.argument("incident_id", metavar="[ID]", required=False, type=INCIDENT_ID)
    @pass_state
    def sync(state: CliState, incident_id: str | None) -> None:
        """Mark follow-ups done whose GitHub issue was closed (one incident, or all exported)."""
        done = sync_follow_ups(state.crashbot(), incident_id)
        for fu in done:
            click.echo(f"follow-up #{fu.id} done (issue closed): {printable(fu.title)}")
        click.echo(f"{len(done)} follow-up(s) marked done")
