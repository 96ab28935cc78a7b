"""crashbot's Slack adapter (slack-bolt on slack-sdk).

Inbound: ``/incident`` and its aliases, digest buttons, modals and
react-to-create, over HTTP (``/slack/events``) or Socket Mode. Outbound: an
incident channel per incident, a digest message kept current, DMs on role
assignment, an RCA channel on resolve, reminders. Everything goes through
:class:`crashbot_core.Crashbot`; this package only translates.
"""

from __future__ import annotations

from crashbot_slack.settings import SlackSettings

__all__ = ["SlackSettings"]
