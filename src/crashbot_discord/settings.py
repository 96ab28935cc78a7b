"""``[discord]`` settings: bot token, webhook routes, channel ids, API base URL."""

from __future__ import annotations

from attrs import define, field

from crashbot_core.config import env_field

#: Discord's REST API; tests and proxies point this elsewhere.
DEFAULT_API_URL = "https://discord.com/api/v10"


@define
class WebhookRoute:
    """``[[discord.webhooks]]``: one more webhook, for some severities and/or event kinds."""

    #: The webhook URL (``https://discord.com/api/webhooks/ID/TOKEN``).
    url: str
    #: Severity keys this webhook receives (``["SEV1", "SEV2"]``); empty: every severity.
    severities: list[str] = field(factory=list)
    #: Event kinds this webhook receives (``["declared", "resolved"]``); empty: every kind.
    kinds: list[str] = field(factory=list)
    #: Post only public events of public incidents (for a community-facing channel).
    public_only: bool = False


@define
class DiscordSettings:
    """``[discord]`` in ``crashbot.toml``. Inert until a token or a webhook is set."""

    #: Bot mode: the bot token (``DISCORD_BOT_TOKEN``).
    bot_token: str | None = env_field("DISCORD_BOT_TOKEN")
    #: Webhook mode: every event is posted here (``DISCORD_WEBHOOK_URL``).
    webhook_url: str | None = env_field("DISCORD_WEBHOOK_URL")
    #: Whether ``webhook_url`` gets only public events of public incidents.
    #: Default false: the webhook is normally the team's own channel.
    public_only: bool = False
    #: Extra webhooks routed by severity and/or event kind.
    webhooks: list[WebhookRoute] = field(factory=list)
    #: Guild (server) the application commands are registered in; unset: global commands.
    guild_id: int | None = env_field("DISCORD_GUILD_ID")
    #: Text channel where a thread is opened per incident.
    incidents_channel_id: int | None = env_field("DISCORD_INCIDENTS_CHANNEL_ID")
    #: Text channel holding one digest embed per incident, edited on every change.
    digest_channel_id: int | None = env_field("DISCORD_DIGEST_CHANNEL_ID")
    #: Send role descriptions by DM on role assignment.
    dm_roles: bool = True
    #: Reacting to a message with this emoji declares an incident from it (bot
    #: mode): the emoji itself (``🚨``) or a custom emoji's name; empty disables it.
    react_emoji: str = "🚨"
    #: REST API base URL (``DISCORD_API_URL``), without a trailing slash.
    api_base_url: str = env_field("DISCORD_API_URL", DEFAULT_API_URL)
    #: Seconds to wait for one Discord HTTP request.
    timeout: float = 10.0

    @property
    def bot_enabled(self) -> bool:
        """True when a bot token is configured."""
        return bool(self.bot_token)

    @property
    def webhooks_enabled(self) -> bool:
        """True when any webhook is configured."""
        return bool(self.webhook_url or self.webhooks)

    def routes(self) -> list[WebhookRoute]:
        """Every webhook route: ``webhook_url`` (all events) first, then ``webhooks``."""
        routes = []
        if self.webhook_url:
            routes.append(WebhookRoute(url=self.webhook_url, public_only=self.public_only))
        routes.extend(self.webhooks)
        return routes
