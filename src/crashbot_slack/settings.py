"""``[slack]`` settings: secrets from the environment, behaviour from ``crashbot.toml``."""

from __future__ import annotations

from typing import Any

from attrs import define, field

from crashbot_core.config import env_field

DEFAULT_API_URL = "https://slack.com/api/"

#: The seed ADR's commands, mapped to ``/incident`` subcommands.
DEFAULT_ALIASES = {"/create": "declare", "/update": "update", "/close": "close"}


def _default_aliases() -> dict[str, str]:
    return dict(DEFAULT_ALIASES)


def _check_command(_: object, attribute: Any, value: str) -> None:
    if not value.startswith("/") or " " in value:
        raise ValueError(f"expected a slash command like /incident, found {value!r}")


def _check_threads(_: object, attribute: Any, value: int) -> None:
    if not 1 <= value <= 256:
        raise ValueError(f"expected 1 to 256 threads, found {value}")


def _check_aliases(_: object, attribute: Any, value: dict[str, str]) -> None:
    from crashbot_slack.command_text import SUBCOMMANDS, SYNONYMS

    for command, sub in value.items():
        _check_command(_, attribute, command)
        if SYNONYMS.get(sub, sub) not in SUBCOMMANDS:
            raise ValueError(
                f"expected {command} to name a subcommand ({', '.join(SUBCOMMANDS)}), found {sub!r}"
            )


@define
class SlackSettings:
    """The ``[slack]`` section. The plugin is inert until ``bot_token`` is set."""

    #: ``xoxb-…`` bot token (``SLACK_BOT_TOKEN``).
    bot_token: str | None = env_field("SLACK_BOT_TOKEN")
    #: Verifies inbound HTTP requests (``SLACK_SIGNING_SECRET``).
    signing_secret: str | None = env_field("SLACK_SIGNING_SECRET")
    #: ``xapp-…`` app-level token for Socket Mode (``SLACK_APP_TOKEN``).
    app_token: str | None = env_field("SLACK_APP_TOKEN")
    #: Channel *name* (``incidents`` or ``#incidents``) for the digest (``INCIDENTS_DIGEST_CHANNEL``).
    digest_channel: str | None = env_field("INCIDENTS_DIGEST_CHANNEL")
    #: Team id; when set, requests from other workspaces are refused (``SLACK_WORKSPACE_ID``).
    workspace_id: str | None = env_field("SLACK_WORKSPACE_ID")
    #: Web API base URL; GovSlack and tests set another (``SLACK_API_URL``).
    api_url: str = env_field("SLACK_API_URL", DEFAULT_API_URL)
    #: The main slash command.
    command: str = field(default="/incident", validator=_check_command)
    #: Extra slash commands that run one subcommand (the seed ADR's /create, /update, /close).
    aliases: dict[str, str] = field(factory=_default_aliases, validator=_check_aliases)
    #: Reacting with this emoji (name without colons) declares an incident; empty disables it.
    react_emoji: str = "rotating_light"
    #: Incident channels are named ``PREFIX-YYYYMMDD-ID-slug``.
    channel_prefix: str = "inc"
    #: Appended to the incident channel's name for the RCA channel.
    rca_suffix: str = "rca"
    #: Also open a ``<incident channel>-comms`` channel per incident, for
    #: customer-facing coordination (linked from the incident channel).
    comms_channel: bool = False
    #: Threads for the Slack calls made after a command was answered (opening a
    #: form, a confirmation). Commands themselves run before the answer.
    listener_threads: int = field(default=8, validator=_check_threads)
    #: Who an escalation pings in the incident channel (``<!here>``, ``<!subteam^S123>``).
    escalation_mention: str = "<!here>"

    @property
    def enabled(self) -> bool:
        """True when a bot token is configured."""
        return bool(self.bot_token)

    @property
    def base_url(self) -> str:
        """``api_url`` with exactly one trailing slash (slack-sdk joins method names onto it)."""
        return self.api_url.rstrip("/") + "/"
