"""Discord adapter: application commands, a thread and a digest per incident, DMs on
role assignment (bot mode, ``crashbot discord run``), and a webhook-only notifier
(``DISCORD_WEBHOOK_URL``) that posts every incident event as an embed.

Rendering (:mod:`crashbot_discord.render`) is pure and shared by both modes; the
REST calls (:mod:`crashbot_discord.rest`) are plain HTTPS so any process that
delivers events (``crashbot serve``, ``crashbot worker``) can post, gateway or not.
"""

from __future__ import annotations

from crashbot_discord.settings import DiscordSettings, WebhookRoute

__all__ = ["DiscordSettings", "WebhookRoute"]
