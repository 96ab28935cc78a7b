"""The status page's subscription routes (Flask), mounted by the plugin's ``crashbot_web``.

- ``GET /subscriptions``: the form (also on the front page). ``POST
  /subscriptions`` (form ``email``, optional ``components``) stores the
  request with its consent time and queues a confirmation mail; nothing else
  is sent until it is confirmed. The answer never says whether the address
  was known. Limited per client address (429), counted in the store
  (``RateLimits``) so the limit holds across processes and replicas.
- ``/subscriptions/confirm/<token>``: GET shows a button, POST confirms, so a
  mail scanner opening the link confirms nothing.
- ``/subscriptions/manage/<token>``: components filter and unsubscribe.
- ``/subscriptions/unsubscribe/<token>``: the ``List-Unsubscribe`` URL; one
  POST (RFC 8058 ``List-Unsubscribe=One-Click``, or the page's button) unsubscribes.

Tokens are HMAC-signed (:mod:`crashbot_email.links`). No route sends mail:
the worker does.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs
import flask

from crashbot_core.errors import InvalidInput
from crashbot_core.models import Subscriber, SubscriberKind
from crashbot_core.ratelimit import ProcessRateLimits
from crashbot_email import links
from crashbot_email.addresses import normalise_address
from crashbot_email.fanout import context_of, subscription_store
from crashbot_email.plugin import subscriptions_on
from crashbot_email.settings import settings_of

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot

#: The subscribe form's rate-limit window.
WINDOW = timedelta(hours=1)


class Reply(Exception):
    """An answer other than the happy page: status, machine code, sentence."""

    def __init__(self, status: int, code: str, reason: str, **headers: str) -> None:
        super().__init__(reason)
        self.status, self.code, self.reason, self.headers = status, code, reason, headers


def mount(app: flask.Flask, crashbot: Crashbot) -> None:
    """Add the subscription routes and the front page's form to ``app``."""
    bp = flask.Blueprint("crashbot_email", __name__, template_folder="templates")
    limit = max(settings_of(crashbot).subscribe_limit, 1)
    # In the store, the limit holds across processes and replicas; a store
    # without the capability leaves each process counting on its own.
    limits = crashbot.capabilities.rate_limits or ProcessRateLimits()

    def page(template: str, status: int = 200, **context: Any) -> flask.Response:
        if _wants_json():
            body = {k: v for k, v in context.items() if isinstance(v, str | list | bool)}
            response = flask.jsonify(body)
        else:
            html = flask.render_template(
                f"web/{template}", page_name=crashbot.config.general.name, **context
            )
            response = flask.Response(html, content_type="text/html; charset=utf-8")
        response.status_code = status
        response.headers["Cache-Control"] = "no-store"
        return response

    def components() -> list[tuple[str, str]]:
        return [(c.key, c.display) for c in crashbot.components()]

    @bp.errorhandler(Reply)
    def reply(exc: Reply) -> flask.Response:
        response = page("message.html", exc.status, error=exc.code, reason=exc.reason)
        response.headers.update(exc.headers)
        return response

    @bp.before_request
    def enabled() -> None:
        if not subscriptions_on(crashbot):
            raise Reply(404, "not_found", "this status page takes no subscriptions")

    @bp.get("/subscriptions")
    def form() -> flask.Response:
        return page("subscribe.html", components=components())

    @bp.post("/subscriptions")
    def subscribe() -> flask.Response:
        now = crashbot.now()
        key = _client_key(crashbot, _client(app))
        retry_at = limits.count_attempt(key, limit=limit, window=WINDOW, now=now)
        if retry_at is not None:
            wait = (retry_at - now).total_seconds()
            raise Reply(
                429,
                "too_many_requests",
                "too many subscription requests from your address; try again later",
                **{"Retry-After": str(max(1, math.ceil(wait)))},
            )
        try:
            address = normalise_address(flask.request.form.get("email", ""))
            wanted = _components(crashbot)
        except InvalidInput as exc:
            raise Reply(400, "invalid_input", exc.message) from None
        _subscribe(crashbot, address, wanted)
        return page(
            "message.html",
            202,
            title="Check your inbox",
            reason=f"We sent a mail to {address}. Open the link in it to confirm: "
            "nothing else is sent until you do.",
        )

    def subscriber(purpose: str, token: str) -> Subscriber:
        secret = settings_of(crashbot).secret or ""
        sid = links.verify(secret, purpose, token, now=crashbot.now())
        found = subscription_store(crashbot).get_subscriber(sid) if sid else None
        if found is None:
            raise Reply(404, "not_found", "this link is not valid, or it has expired")
        return found

    @bp.route("/subscriptions/confirm/<token>", methods=["GET", "POST"])
    def confirm(token: str) -> flask.Response:
        sub = subscriber(links.CONFIRM, token)
        if flask.request.method == "GET":
            return page("confirm.html", address=sub.address, confirmed=sub.active)
        if not sub.active:
            now = crashbot.now()
            sub = attrs.evolve(sub, confirmed_at=now, unsubscribed_at=None)
            subscription_store(crashbot).save_subscriber(sub)
        manage = context_of(crashbot).url(links.MANAGE, sub)
        return page(
            "message.html",
            title="Subscription confirmed",
            reason=f"{sub.address} will hear about incidents and maintenance.",
            manage_url=manage,
        )

    @bp.route("/subscriptions/manage/<token>", methods=["GET", "POST"])
    def manage(token: str) -> flask.Response:
        sub = subscriber(links.MANAGE, token)
        saved = False
        if flask.request.method == "POST":
            try:
                wanted = _components(crashbot)
            except InvalidInput as exc:
                raise Reply(400, "invalid_input", exc.message) from None
            sub = attrs.evolve(sub, components=wanted)
            subscription_store(crashbot).save_subscriber(sub)
            saved = True
        ctx = context_of(crashbot)
        return page(
            "manage.html",
            address=sub.address,
            active=sub.active,
            selected=list(sub.components),
            components=components(),
            saved=saved,
            unsubscribe_url=ctx.url(links.UNSUBSCRIBE, sub),
        )

    @bp.route("/subscriptions/unsubscribe/<token>", methods=["GET", "POST"])
    def unsubscribe(token: str) -> flask.Response:
        sub = subscriber(links.UNSUBSCRIBE, token)
        if flask.request.method == "GET":
            return page("unsubscribe.html", address=sub.address, active=sub.unsubscribed_at is None)
        # RFC 8058: the body is List-Unsubscribe=One-Click; the page's button
        # posts the same. Either way one POST is enough, and a repeat is harmless.
        if sub.unsubscribed_at is None:
            sub = attrs.evolve(sub, unsubscribed_at=crashbot.now())
            subscription_store(crashbot).save_subscriber(sub)
        return page(
            "message.html",
            title="Unsubscribed",
            reason=f"{sub.address} will get no more mail from this status page.",
            unsubscribed=True,
        )

    @app.context_processor
    def subscribe_form() -> dict[str, Any]:
        # The front page shows the form when subscriptions are on.
        if not subscriptions_on(crashbot):
            return {}
        return {"subscribe_components": components(), "subscriptions_on": True}

    app.register_blueprint(bp)


def _subscribe(crashbot: Crashbot, address: str, wanted: tuple[str, ...]) -> None:
    store = subscription_store(crashbot)
    ctx = context_of(crashbot)
    now = crashbot.now()
    sub = store.find_subscriber(address)
    if sub is not None and sub.active:
        # Known and confirmed: the mail offers the manage link; the page says
        # the same as for anyone, so it reveals no subscriber.
        store.save_subscriber(sub, messages=[ctx.already_subscribed(sub, now)])
    else:
        if sub is None:
            sub = Subscriber(
                id=secrets.token_urlsafe(12),
                kind=SubscriberKind.EMAIL,
                address=address,
                consent_at=now,
                components=wanted,
            )
        else:
            sub = attrs.evolve(
                sub, components=wanted, consent_at=now, confirmed_at=None, unsubscribed_at=None
            )
        try:
            store.save_subscriber(sub, messages=[ctx.confirmation(sub, now)])
        except InvalidInput:
            return  # the same address sent twice at once: the other request queued the mail
    crashbot.outbox.pending.set()


def _components(crashbot: Crashbot) -> tuple[str, ...]:
    raw = flask.request.form.getlist("components")
    keys = {k.strip() for value in raw for k in value.split(",") if k.strip()}
    known = {c.key for c in crashbot.components()}
    unknown = sorted(keys - known)
    if unknown:
        raise InvalidInput(f"unknown components: {', '.join(unknown)}")
    return tuple(sorted(keys))


def _client(app: flask.Flask) -> str:
    state = app.extensions.get("crashbot_status")
    request = flask.request
    if state is None:
        return request.remote_addr or ""
    return str(state.links.client(request.remote_addr, request.headers.get("X-Forwarded-For")))


def _client_key(crashbot: Crashbot, client: str) -> str:
    # Keyed by an HMAC under [email] secret, so the store holds no IP address
    # and its keys cannot be reversed by hashing every address.
    secret = (settings_of(crashbot).secret or "").encode()
    digest = hmac.new(secret, client.encode(), hashlib.sha256).hexdigest()
    return f"subscribe:{digest[:40]}"


def _wants_json() -> bool:
    accept = flask.request.accept_mimetypes
    return accept.best_match(["text/html", "application/json"]) == "application/json"
