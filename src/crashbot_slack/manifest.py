"""The Slack app manifest: paste it at api.slack.com/apps → Create New App → From a manifest."""

from __future__ import annotations

from typing import Any

from crashbot_slack.command_text import SUBCOMMANDS
from crashbot_slack.settings import SlackSettings

#: Bot scopes, each for something the bot does.
BOT_SCOPES = [
    "commands",  # /incident and its aliases
    "chat:write",  # messages in incident, RCA and digest channels; DMs
    "chat:write.public",  # the digest in a public channel the bot has not joined
    "channels:manage",  # create incident, RCA and comms channels, set their topic, invite
    "groups:write",  # the same for private incidents, whose channels are private
    "channels:read",  # resolve INCIDENTS_DIGEST_CHANNEL's name to an id
    "channels:join",  # join the digest channel on not_in_channel
    "channels:history",  # react-to-create reads the reacted message
    "groups:read",  # a private digest channel
    "groups:history",  # react-to-create in private channels
    "reactions:read",  # reaction_added events
    "users:read",  # display names of people acting
    "im:write",  # DMs to people given a role
]

ALIAS_DESCRIPTIONS = {
    "declare": "Declare an incident",
    "update": "Post an update to an incident",
    "resolve": "Resolve (close) an incident",
    "close": "Resolve an incident, or close it as invalid or a duplicate",
}


def build_manifest(
    settings: SlackSettings, base_url: str, *, socket_mode: bool = False, name: str = "crashbot"
) -> dict[str, Any]:
    """The manifest as a dict (print it as JSON; Slack accepts JSON and YAML).

    :param base_url: where Slack reaches this server, e.g. ``https://status.example.com``;
        requests go to ``BASE/slack/events``. Ignored URLs in Socket Mode.
    """
    events_url = base_url.rstrip("/") + "/slack/events"
    commands: list[dict[str, Any]] = [
        {
            "command": settings.command,
            "description": "Declare and run incidents",
            "usage_hint": "[" + " | ".join(s for s in SUBCOMMANDS) + "]",
            "should_escape": True,
        }
    ]
    for alias, sub in settings.aliases.items():
        commands.append(
            {
                "command": alias,
                "description": ALIAS_DESCRIPTIONS.get(sub, f"/incident {sub}"),
                "usage_hint": SUBCOMMANDS.get(sub, "").split("—")[0].strip(" `").split(" ", 1)[-1],
                "should_escape": True,
            }
        )
    if not socket_mode:
        for c in commands:
            c["url"] = events_url
    event_subscriptions: dict[str, Any] = {"bot_events": ["reaction_added", "app_home_opened"]}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if not socket_mode:
        event_subscriptions["request_url"] = events_url
        interactivity["request_url"] = events_url
    return {
        "display_information": {
            "name": name,
            "description": "Declare, run and resolve incidents from Slack",
            "background_color": "#1d1c1d",
        },
        "features": {
            "bot_user": {"display_name": name, "always_online": True},
            # The Home tab: open incidents, your roles, a Declare button.
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": True,
            },
            "slash_commands": commands,
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "event_subscriptions": event_subscriptions,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }
