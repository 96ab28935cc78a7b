"""The bolt app: inbound commands, buttons, modals and events.

Structured like slack-samples' bolt-python-starter-template: :func:`build_app`
makes the :class:`~slack_bolt.App`, :func:`crashbot_slack.listeners.register_listeners`
adds one module of listeners per kind. Listeners are thin: parse → one
:class:`Crashbot` call → reply.

Every command is carried out in the request thread before Slack is answered:
parse, one service call (committed to the store), then the ack, carrying the
reply. A change Slack showed as done is stored, even if the process dies the
moment after. ``process_before_response=True`` makes bolt run the listener
in the request thread and send its ack as the HTTP response (or the Socket
Mode envelope reply) only when the listener returns. What the commit sets
off in chat (channels, posts, the digest) is delivered by the outbox, not by
the listener. Only chat calls that change nothing stored — opening a modal,
a confirmation on a ``response_url`` or by DM — go to ``listener_executor``
after the ack.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltContext, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from crashbot_slack.listeners import register_listeners

if TYPE_CHECKING:
    from crashbot_slack.runtime import SlackRuntime

log = logging.getLogger("crashbot.slack")


class _DropTokenWarning(logging.Filter):
    """bolt reads SLACK_BOT_TOKEN itself and warns that our token-less client wins;
    that is on purpose (see ``authorize`` in :func:`build_app`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("As you gave `client` as well")


bolt_log = logging.getLogger("crashbot.slack.bolt")
bolt_log.addFilter(_DropTokenWarning())


def build_app(
    runtime: SlackRuntime,
    *,
    verify_requests: bool = True,
    listener_executor: Executor | None = None,
) -> App:
    """A bolt app wired to ``runtime``'s service.

    :param verify_requests: check the ``X-Slack-Signature`` with the signing
        secret (HTTP); Socket Mode turns it off (the socket is authenticated).
    :param listener_executor: where chat-only work runs after the ack
        (opening a modal, a confirmation); tests pass one that runs it inline.
    """
    settings = runtime.settings
    if verify_requests and not settings.signing_secret:
        from crashbot_core.errors import ConfigError

        raise ConfigError(
            "slack: SLACK_SIGNING_SECRET is required to receive Slack requests over HTTP"
        )
    token = settings.bot_token

    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        # One workspace, one token. bolt's own single-team authorization would
        # call auth.test on the first request, holding the ack on Slack's API
        # (and answering 500 while it is unreachable); this never calls Slack.
        bot_user_id, bot_id = runtime.api.known_identity()
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            bot_token=token,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
        )

    executor = listener_executor or ThreadPoolExecutor(
        settings.listener_threads, thread_name_prefix="crashbot-slack"
    )
    app = App(
        name="crashbot",
        # A token-less client makes bolt use ``authorize``; listeners call
        # Slack through ``runtime.api`` (which has the token) anyway.
        client=WebClient(base_url=settings.base_url, timeout=10),
        signing_secret=settings.signing_secret or "",
        authorize=authorize,
        request_verification_enabled=verify_requests,
        process_before_response=True,
        listener_executor=executor,
        logger=bolt_log,
    )
    if settings.workspace_id:
        app.middleware(_only_team(settings.workspace_id))
    register_listeners(app, runtime, executor)
    return app


def _only_team(team_id: str) -> Callable[..., Any]:
    """Middleware refusing requests from any workspace but ``team_id`` (an org-wide
    install of the app must not let another workspace run incidents here)."""

    def only_team(context: BoltContext, next: Callable[[], BoltResponse]) -> BoltResponse:
        if context.team_id and context.team_id != team_id:
            log.warning("refused a request from workspace %s", context.team_id)
            return BoltResponse(status=403, body="this workspace may not use this crashbot")
        return next()

    return only_team
