"""One Slack runtime per :class:`Crashbot`: settings, Web API client, notifier, bolt app."""

from __future__ import annotations

import threading
import weakref
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from crashbot_slack.settings import SlackSettings

if TYPE_CHECKING:
    from slack_bolt import App

    from crashbot_core.service import Crashbot
    from crashbot_slack.api import SlackApi
    from crashbot_slack.notifier import SlackNotifier

_runtimes: weakref.WeakKeyDictionary[Any, SlackRuntime] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


class SlackRuntime:
    """Everything the Slack adapter keeps for one service."""

    def __init__(self, crashbot: Crashbot, settings: SlackSettings) -> None:
        from slack_sdk import WebClient

        from crashbot_slack.api import SlackApi
        from crashbot_slack.notifier import SlackNotifier

        self.crashbot = crashbot
        self.settings = settings
        self.api: SlackApi = SlackApi(
            WebClient(token=settings.bot_token, base_url=settings.base_url, timeout=10)
        )
        self.notifier: SlackNotifier = SlackNotifier(crashbot, settings, self.api)

    def app(
        self, *, verify_requests: bool = True, listener_executor: Executor | None = None
    ) -> App:
        """A new bolt :class:`~slack_bolt.App` with crashbot's listeners."""
        from crashbot_slack.app import build_app

        return build_app(self, verify_requests=verify_requests, listener_executor=listener_executor)


def settings_of(crashbot: Crashbot) -> SlackSettings | None:
    """The ``[slack]`` settings, or None when the section is absent."""
    section = crashbot.config.section("slack")
    return section if isinstance(section, SlackSettings) else None


def runtime_for(crashbot: Crashbot) -> SlackRuntime | None:
    """The runtime for this service, or None when Slack is not configured (no bot token)."""
    settings = settings_of(crashbot)
    if settings is None or not settings.enabled:
        return None
    with _lock:
        rt = _runtimes.get(crashbot)
        if rt is None:
            rt = SlackRuntime(crashbot, settings)
            _runtimes[crashbot] = rt
        return rt
