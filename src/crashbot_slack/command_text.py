"""Parse the text after ``/incident`` (pure; no Slack, no store).

Slack sends the text as typed, with users, channels and links escaped when
the command has ``should_escape`` on (our manifest sets it): ``<@U123|alice>``,
``<#C123|name>``, ``<https://x|label>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from attrs import frozen

#: Subcommands and one line of help for each, in help order.
SUBCOMMANDS: dict[str, str] = {
    "declare": "`declare [title] [severity]` — declare an incident (no title: a form)",
    "update": "`update [message]` — post an internal update (no message: a form)",
    "ack": "`ack` — acknowledge: someone is on it",
    "severity": "`severity SEV` — change the severity (SEV1, P1, high …)",
    "status": "`status STATUS` — investigating, identified, monitoring or resolved",
    "role": "`role ROLE @user` — commander (ic), communications (cl), technical-lead (tl), scribe",
    "resolve": "`resolve [message]` — resolve the incident",
    "close": "`close [message | invalid [reason] | duplicate INC-n [reason]]` — resolve, or close "
    "as a false alarm or as a duplicate of INC-n (merged into it)",
    "edit": "`edit` — correct the record: title, description, components, times (a form)",
    "record": "`record [title] [severity]` — record a past incident found after the fact: "
    "stored resolved with its times, nobody paged (a form)",
    "rca": "`rca URL` — link the RCA of a resolved incident",
    "follow-up": "`follow-up TITLE` — add an action item",
    "publish": "`publish [message]` — show the incident on the status page (message: its first public update)",
    "unpublish": "`unpublish` — take the incident off the status page",
    "maintenance": "`maintenance [list]` · `maintenance schedule START END [components=a,b] TITLE` · "
    "`maintenance start|complete|cancel MNT-3 [message]` · `maintenance update MNT-3 message` — "
    "scheduled maintenance (times in UTC, e.g. 2026-12-06T02:00)",
    "help": "`help` — this list",
}

#: Other spellings users type.
SYNONYMS = {
    "create": "declare",
    "new": "declare",
    "open": "declare",
    "acknowledge": "ack",
    "sev": "severity",
    "followup": "follow-up",
    "follow_up": "follow-up",
    "fu": "follow-up",
    "postmortem": "rca",
    "assign": "role",
    "?": "help",
    "maint": "maintenance",
    "retro": "record",
    "retrospective": "record",
    "mnt": "maintenance",
}

#: ``maintenance`` steps.
MAINTENANCE_STEPS = ("list", "schedule", "start", "complete", "cancel", "update")

_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|([^>]*))?>$")
_LINK = re.compile(r"^<(https?://[^|>]+)(?:\|[^>]*)?>$")
_EXPLICIT_REF = re.compile(r"^(?:[A-Za-z]+-\d{1,18}|#\d{1,18})$")
_BARE_REF = re.compile(r"^\d{1,18}$")
#: The endings ``close`` takes besides resolving (see :func:`_close`).
_ENDINGS = {"invalid", "duplicate"}
_PUBLIC_FLAGS = {"--public": True, "public:": True, "--private": False, "--internal": False}


class CommandError(ValueError):
    """The text cannot be understood; ``str(exc)`` is a reply for the user."""


@frozen
class ParsedCommand:
    """What the user asked for. ``action`` is a key of :data:`SUBCOMMANDS` or ``modal``."""

    action: str
    #: Incident id or ref given in the text (``INC-4``, ``#4``, ``4``), if any.
    ref: str | None = None
    title: str = ""
    severity: str | None = None
    status: str | None = None
    role: str | None = None
    #: Slack user id for ``role``.
    user_id: str | None = None
    #: The name Slack put in the mention (``<@U123|alice>``), if any.
    user_name: str | None = None
    message: str = ""
    url: str | None = None
    #: ``--public`` / ``--private`` on update and resolve; None: the default.
    public: bool | None = None
    #: For ``modal``: which form (``declare``, ``update``, ``edit`` or ``record``).
    form: str | None = None
    #: For ``maintenance``: one of :data:`MAINTENANCE_STEPS`.
    step: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    components: tuple[str, ...] = ()
    #: For ``close``: ``invalid`` or ``duplicate``.
    resolution: str | None = None
    #: For ``close`` as a duplicate: the ref of the original.
    duplicate_of: str | None = None


def help_text(command: str = "/incident") -> str:
    """The help reply, one subcommand per line."""
    lines = [f"*{command}* subcommands:"]
    lines += [f"• {line}" for line in SUBCOMMANDS.values()]
    lines.append(
        "Inside an incident channel the incident is implied; elsewhere put its id or ref "
        "first, e.g. `update INC-4 rolled back`."
    )
    return "\n".join(lines)


def parse(
    text: str,
    *,
    implied: bool = False,
    is_severity: Callable[[str], bool] = lambda _: False,
    alias: str | None = None,
    command: str = "/incident",
) -> ParsedCommand:
    """Parse ``/incident`` text into a :class:`ParsedCommand`.

    :param implied: the command ran in an incident channel, so a bare number is
        text, not an incident id (``update 5 pods restarted``). ``INC-5`` and
        ``#5`` are always ids.
    :param is_severity: tells whether a token names a severity level (the policy's).
    :param alias: the subcommand an alias command stands for (``/close`` → ``close``).
    :raises CommandError: with a message fit to show the user.
    """
    body = " ".join(text.split()) if alias is None else text.strip()
    if alias is not None:
        sub, rest = alias, " ".join(body.split())
    else:
        if not body:
            return ParsedCommand(action="modal", form="declare")
        sub_raw, _, rest = body.partition(" ")
        sub = sub_raw.lower()
        sub = SYNONYMS.get(sub, sub)
    if sub not in SUBCOMMANDS:
        raise CommandError(
            f"I don't know `{_shorten(sub)}`. Try `{command} help`.\n" + help_text(command)
        )
    tokens = rest.split()
    if sub == "help":
        return ParsedCommand(action="help")
    if sub == "declare":
        return _declare(tokens, is_severity)
    if sub == "record":
        # Times need a form: the text, if any, fills the form's title and severity.
        found = _declare(tokens, is_severity)
        return ParsedCommand(
            action="modal", form="record", title=found.title, severity=found.severity
        )
    if sub == "maintenance":
        return _maintenance(tokens)

    ref, tokens = _take_ref(tokens, sub, implied)
    if sub == "edit":
        if tokens:
            raise CommandError(
                f"`edit` opens a form and takes no text; found `{_shorten(' '.join(tokens))}`"
            )
        return ParsedCommand(action="modal", form="edit", ref=ref)
    if sub == "close":
        if tokens and tokens[0].lower() in _ENDINGS:
            return _close(ref, tokens)
        sub = "resolve"  # ``close [message]`` resolves, as it always did
    if sub in {"ack", "unpublish"}:
        if tokens:
            raise CommandError(f"`{sub}` takes no text; found `{_shorten(' '.join(tokens))}`")
        return ParsedCommand(action=sub, ref=ref)
    if sub == "publish":
        # No message: the configured default ([crashbot] publish_message).
        return ParsedCommand(action="publish", ref=ref, message=" ".join(tokens))
    if sub in {"severity", "status"}:
        if len(tokens) != 1:
            raise CommandError(f"Usage: {SUBCOMMANDS[sub]}")
        value = tokens[0]
        return ParsedCommand(
            action=sub,
            ref=ref,
            severity=value if sub == "severity" else None,
            status=value.lower() if sub == "status" else None,
        )
    if sub == "role":
        if len(tokens) != 2:
            raise CommandError(f"Usage: {SUBCOMMANDS['role']}")
        m = _USER.match(tokens[1])
        if not m:
            raise CommandError(
                f"`{_shorten(tokens[1])}` is not a Slack user; mention them, e.g. `role ic @alice`"
            )
        return ParsedCommand(
            action="role", ref=ref, role=tokens[0], user_id=m.group(1), user_name=m.group(2) or None
        )
    if sub == "rca":
        if len(tokens) != 1:
            raise CommandError(f"Usage: {SUBCOMMANDS['rca']}")
        url = _unlink(tokens[0])
        if not re.match(r"^https?://\S+$", url):
            raise CommandError(f"`{_shorten(url)}` is not an http(s) URL")
        return ParsedCommand(action="rca", ref=ref, url=url)
    if sub == "follow-up":
        title = " ".join(_unlink(t) for t in tokens)
        if not title:
            raise CommandError(f"Usage: {SUBCOMMANDS['follow-up']}")
        return ParsedCommand(action="follow-up", ref=ref, title=title)
    # update and resolve: optional visibility flag, then free text
    public: bool | None = None
    while tokens and tokens[0].lower() in _PUBLIC_FLAGS:
        public = _PUBLIC_FLAGS[tokens.pop(0).lower()]
    message = " ".join(tokens)
    if sub == "update" and not message:
        return ParsedCommand(action="modal", form="update", ref=ref)
    return ParsedCommand(action=sub, ref=ref, message=message, public=public)


def _close(ref: str | None, tokens: list[str]) -> ParsedCommand:
    """``invalid [reason]`` or ``duplicate [of] INC-n [reason]``."""
    ending = tokens[0].lower()
    rest = tokens[1:]
    if ending == "invalid":
        return ParsedCommand(action="close", ref=ref, resolution="invalid", message=" ".join(rest))
    if rest and rest[0].lower() == "of":
        rest = rest[1:]
    if not rest or not (_EXPLICIT_REF.match(rest[0]) or _BARE_REF.match(rest[0])):
        raise CommandError(
            "Say which incident it duplicates: `close duplicate INC-4 [reason]`"
            + (f"; found `{_shorten(rest[0])}`" if rest else "")
        )
    return ParsedCommand(
        action="close",
        ref=ref,
        resolution="duplicate",
        duplicate_of=rest[0],
        message=" ".join(rest[1:]),
    )


def _declare(tokens: list[str], is_severity: Callable[[str], bool]) -> ParsedCommand:
    severity: str | None = None
    if tokens and is_severity(tokens[-1]):
        severity = tokens.pop()
    title = " ".join(tokens)
    if len(title) >= 2 and title[0] == title[-1] and title[0] in "\"'“”":
        title = title[1:-1].strip()
    if not title:
        return ParsedCommand(action="modal", form="declare", severity=severity)
    return ParsedCommand(action="declare", title=title, severity=severity)


def _maintenance(tokens: list[str]) -> ParsedCommand:
    step = tokens.pop(0).lower() if tokens else "list"
    if step not in MAINTENANCE_STEPS:
        raise CommandError(f"Usage: {SUBCOMMANDS['maintenance']}")
    if step == "list":
        return ParsedCommand(action="maintenance", step="list")
    if step == "schedule":
        if len(tokens) < 3:
            raise CommandError(f"Usage: {SUBCOMMANDS['maintenance']}")
        starts, ends = _instant(tokens[0]), _instant(tokens[1])
        rest = tokens[2:]
        components: tuple[str, ...] = ()
        if rest and rest[0].lower().startswith("components="):
            components = tuple(k for k in rest.pop(0).partition("=")[2].split(",") if k)
        title = " ".join(_unlink(t) for t in rest)
        if not title:
            raise CommandError("The maintenance needs a title after its times.")
        return ParsedCommand(
            action="maintenance",
            step="schedule",
            title=title,
            starts_at=starts,
            ends_at=ends,
            components=components,
        )
    if not tokens:
        raise CommandError(f"Which maintenance? e.g. `maintenance {step} MNT-3`")
    message = " ".join(_unlink(t) for t in tokens[1:])
    if step == "update" and not message:
        raise CommandError("Usage: `maintenance update MNT-3 message`")
    return ParsedCommand(action="maintenance", step=step, ref=tokens[0], message=message)


def _instant(token: str) -> datetime:
    """``2026-12-06T02:00``, ``2026-12-06T02:00Z`` or with an offset; no zone means UTC."""
    try:
        value = datetime.fromisoformat(token.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise CommandError(
            f"`{_shorten(token)}` is not a time like 2026-12-06T02:00 (UTC)"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _take_ref(tokens: list[str], sub: str, implied: bool) -> tuple[str | None, list[str]]:
    if not tokens:
        return None, tokens
    first = tokens[0]
    fixed = {"ack": 0, "unpublish": 0, "severity": 1, "status": 1, "role": 2, "rca": 1, "edit": 0}
    if _EXPLICIT_REF.match(first) and not _is_severity_like(first, sub):
        return first, tokens[1:]
    if sub in fixed:
        # Commands with a fixed number of arguments: one extra leading token is the incident.
        if len(tokens) == fixed[sub] + 1:
            return first, tokens[1:]
        return None, tokens
    if not implied and _BARE_REF.match(first):
        return first, tokens[1:]
    return None, tokens


def _is_severity_like(token: str, sub: str) -> bool:
    # "severity sev-2" must not take "sev-2" for an incident ref.
    return sub == "severity" and bool(re.match(r"^(?:sev|p)-?\d+$", token, re.IGNORECASE))


def _unlink(token: str) -> str:
    m = _LINK.match(token)
    return m.group(1) if m else token


def _shorten(text: str, limit: int = 40) -> str:
    text = text.replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"
