"""Modal submissions: the declare and update forms.

Input errors go back in the ``ack`` (``response_action: errors``) so the form
stays open with the message under the field; the service call runs after
the ack, and its failures arrive as a DM from the bot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attrs import frozen

from crashbot_core.errors import CrashbotError, InvalidInput
from crashbot_core.lifecycle import MAX_TITLE
from crashbot_core.severity import SeverityPolicy
from crashbot_slack import render
from crashbot_slack.listeners.context import Later, guarded
from crashbot_slack.notifier import REF_CHANNEL

if TYPE_CHECKING:
    from slack_bolt import Ack, App

    from crashbot_core.models import Incident
    from crashbot_core.service import Crashbot
    from crashbot_slack.runtime import SlackRuntime


@frozen
class DeclareForm:
    """The declare form's values, read and checked."""

    title: str
    severity: str | None
    description: str
    public: bool
    components: list[str]


@frozen
class UpdateForm:
    """The update form's values, as changes to one incident."""

    incident: Incident
    status: str | None
    severity: str | None
    message: str
    public: bool


def read_declare_form(
    view: dict[str, Any], policy: SeverityPolicy
) -> tuple[DeclareForm | None, dict[str, str]]:
    """The form's values, or field errors keyed by block id."""
    values = render.read_view((view.get("state") or {}).get("values") or {})
    errors: dict[str, str] = {}
    title = " ".join(str(values.get("title") or "").split())
    if not title:
        errors["title"] = "Say in a few words what is broken."
    elif len(title) > MAX_TITLE:
        errors["title"] = f"Keep it under {MAX_TITLE} characters."
    severity = values.get("severity")
    if severity:
        try:
            policy.parse(str(severity))
        except InvalidInput as exc:
            errors["severity"] = exc.message
    if errors:
        return None, errors
    form = DeclareForm(
        title=title,
        severity=str(severity) if severity else None,
        description=str(values.get("description") or ""),
        public="public" in (values.get("public") or []),
        components=[str(c) for c in values.get("components") or []],
    )
    return form, {}


def read_update_form(
    view: dict[str, Any], bot: Crashbot
) -> tuple[UpdateForm | None, dict[str, str]]:
    """What changes, or field errors (nothing changed, incident gone)."""
    values = render.read_view((view.get("state") or {}).get("values") or {})
    try:
        inc = bot.get(str(view.get("private_metadata") or ""))
    except CrashbotError as exc:
        return None, {"message": f"This form lost its incident: {exc.message}"}
    status = values.get("status")
    severity = values.get("severity")
    message = str(values.get("message") or "").strip()
    new_status = str(status) if status and status != inc.status.value else None
    new_severity = str(severity) if severity and severity != inc.severity else None
    if new_status is None and new_severity is None and not message:
        return None, {"message": "Change the status or severity, or write a message."}
    public = "public" in (values.get("public") or [])
    return UpdateForm(inc, new_status, new_severity, message, public), {}


def register(app: App, runtime: SlackRuntime, later: Later) -> None:
    """Listen to the two forms."""
    bot = runtime.crashbot

    def dm(user_id: str) -> Any:
        return lambda text: runtime.api.post(user_id, text, [])

    def on_declare(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        form, errors = read_declare_form(view, bot.policy)
        if form is None:
            ack(response_action="errors", errors=errors)
            return
        ack()
        later(lambda: declare(str(body["user"]["id"]), form))

    def declare(user_id: str, form: DeclareForm) -> None:
        def work() -> None:
            inc = bot.declare(
                form.title,
                actor=runtime.api.actor(user_id),
                severity=form.severity,
                description=form.description,
                public=form.public,
                components=form.components,
                source="slack",
            )
            channel = bot.get(inc.id).refs.get(REF_CHANNEL)
            where = f" — join <#{channel}>" if channel else ""
            dm(user_id)(f"Declared {inc.ref} ({inc.severity}): {render.escape(inc.title)}{where}")

        guarded(dm(user_id), work)

    def on_update(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        form, errors = read_update_form(view, bot)
        if form is None:
            ack(response_action="errors", errors=errors)
            return
        ack()
        later(lambda: update(str(body["user"]["id"]), form))

    def update(user_id: str, form: UpdateForm) -> None:
        def work() -> None:
            # status "resolved" goes through the service's resolve, carrying the message.
            bot.update(
                form.incident.id,
                actor=runtime.api.actor(user_id),
                status=form.status,
                severity=form.severity,
                message=form.message or None,
                public=form.public,
            )

        guarded(dm(user_id), work)

    app.view(render.VIEW_DECLARE)(on_declare)
    app.view(render.VIEW_UPDATE)(on_update)
