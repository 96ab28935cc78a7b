"""Modal submissions: the declare, update, edit, close and record forms.

The service call runs and commits before the ack. Input errors and the
service's refusals go back in the ``ack`` (``response_action: errors``), so
the form stays open with the message under the field and nothing typed is
lost; an empty ack closes the form once the change is stored. A declare or
a recorded past incident is confirmed by a DM from the bot after the ack (a
chat side effect only).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from attrs import frozen

from crashbot_core.errors import CrashbotError, InvalidInput
from crashbot_core.inputs import MAX_TITLE
from crashbot_core.severity import SeverityPolicy
from crashbot_slack import record_forms, render
from crashbot_slack.listeners.context import Later, guarded, log, request_actor
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


#: Under the form's field when something unexpected broke (view errors are plain text).
FORM_OOPS = "Something went wrong on crashbot's side; nothing was saved. Try again in a moment."


def _commit(ack: Ack, field: str, work: Callable[[], Any]) -> Any:
    """Run ``work`` before the ack; a failure keeps the form open with the reason under ``field``.

    :returns: what ``work`` returned, or None when the form was answered with errors.
    """
    try:
        return work()
    except CrashbotError as exc:
        # Shown as plain text under the field: mentions and links cannot render.
        ack(response_action="errors", errors={field: exc.message})
    except Exception:
        log.exception("Slack form submission failed")
        ack(response_action="errors", errors={field: FORM_OOPS})
    return None


def register(app: App, runtime: SlackRuntime, later: Later) -> None:
    """Listen to the forms."""
    bot = runtime.crashbot

    def dm(user_id: str) -> Callable[[str], Any]:
        return lambda text: runtime.api.post(user_id, text, [])

    @app.view(render.VIEW_DECLARE)
    def on_declare(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        form, errors = read_declare_form(view, bot.policy)
        if form is None:
            ack(response_action="errors", errors=errors)
            return
        user_id = str(body["user"]["id"])

        def declare() -> Incident:
            return bot.declare(
                form.title,
                actor=request_actor(runtime, body["user"]),
                severity=form.severity,
                description=form.description,
                public=form.public,
                components=form.components,
                source="slack",
            )

        inc = _commit(ack, "title", declare)
        if inc is None:
            return
        ack()
        later(lambda: guarded(dm(user_id), lambda: dm(user_id)(_declared(bot, inc))))

    @app.view(render.VIEW_UPDATE)
    def on_update(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        read = _commit(ack, "message", lambda: read_update_form(view, bot))
        if read is None:
            return
        form, errors = read
        if form is None:
            ack(response_action="errors", errors=errors)
            return

        def update() -> Incident:
            # status "resolved" goes through the service's resolve, carrying the message.
            return bot.update(
                form.incident.id,
                actor=request_actor(runtime, body["user"]),
                status=form.status,
                severity=form.severity,
                message=form.message or None,
                public=form.public,
            )

        if _commit(ack, "message", update) is not None:
            ack()

    @app.view(record_forms.VIEW_EDIT)
    def on_edit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        form, errors = record_forms.read_edit_form(view)
        if form is None:
            ack(response_action="errors", errors=errors)
            return
        try:
            # One edit with only the changed fields: one ``edited`` event per field.
            bot.edit(
                form.incident_id,
                actor=request_actor(runtime, body["user"]),
                title=form.title,
                description=form.description,
                components=dict(form.components),
                remove_components=form.remove_components,
                **form.times,
            )
        except CrashbotError as exc:
            # The time order, an unknown component …: under the field it is about.
            ack(response_action="errors", errors={form.error_block(exc): exc.message})
            return
        except Exception:
            log.exception("Slack edit form submission failed")
            ack(response_action="errors", errors={form.blocks()[0]: FORM_OOPS})
            return
        ack()

    @app.view(record_forms.VIEW_CLOSE)
    def on_close(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        form, errors = record_forms.read_close_form(view)
        if form is None:
            ack(response_action="errors", errors=errors)
            return

        def close() -> Incident:
            return bot.close_incident(
                form.incident_id,
                form.resolution,
                actor=request_actor(runtime, body["user"]),
                message=form.reason,
                duplicate_of=form.duplicate_of,
            )

        field = "duplicate_of" if form.resolution == "duplicate" else "resolution"
        if _commit(ack, field, close) is not None:
            ack()

    @app.view(record_forms.VIEW_RECORD)
    def on_record(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        form, errors = record_forms.read_record_form(view, bot.policy)
        if form is None:
            ack(response_action="errors", errors=errors)
            return
        user_id = str(body["user"]["id"])
        try:
            inc = bot.declare_retrospective(
                form.title,
                actor=request_actor(runtime, body["user"]),
                severity=form.severity,
                description=form.description,
                source="slack",
                started_at=form.times["started_at"],
                resolved_at=form.times["resolved_at"],
                detected_at=form.times.get("detected_at"),
                acknowledged_at=form.times.get("acknowledged_at"),
                mitigated_at=form.times.get("mitigated_at"),
            )
        except CrashbotError as exc:
            # Times out of order or in the future: the library's rule, under the field it names.
            ack(response_action="errors", errors={form.error_block(exc): exc.message})
            return
        except Exception:
            log.exception("Slack record form submission failed")
            ack(response_action="errors", errors={"title": FORM_OOPS})
            return
        ack()
        later(lambda: guarded(dm(user_id), lambda: dm(user_id)(_recorded(inc))))


def _recorded(inc: Incident) -> str:
    return (
        f"Recorded {inc.ref} ({inc.severity}, resolved): {render.escape(inc.title)}. "
        "Nobody was paged."
    )


def _declared(bot: Crashbot, inc: Incident) -> str:
    channel = bot.get(inc.id).refs.get(REF_CHANNEL)
    where = f" — join <#{channel}>" if channel else ""
    return f"Declared {inc.ref} ({inc.severity}): {render.escape(inc.title)}{where}"
