"""Domain errors.

Every error carries a message a user can act on. Adapters map them: the CLI
exits 1 with the message, HTTP answers a 4xx with ``{"error": code, "reason":
message}``, chat adapters reply ephemerally.
"""

from __future__ import annotations

from collections.abc import Iterable


class CrashbotError(Exception):
    """Base class of every error crashbot raises on purpose."""

    #: Short machine-readable code, used as the ``error`` field of HTTP replies.
    code = "error"
    #: The HTTP status an adapter should answer with.
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(CrashbotError):
    """A value given by the user cannot be used (bad severity, empty title, bad URL)."""

    code = "invalid_input"
    http_status = 422


class NotFound(CrashbotError):
    """The incident, follow-up or other object asked for does not exist."""

    code = "not_found"
    http_status = 404


class IllegalTransition(CrashbotError):
    """A command is not allowed in the incident's current state."""

    code = "illegal_transition"
    http_status = 409

    def __init__(self, asked: str, current: str, allowed: Iterable[str], why: str = "") -> None:
        allowed_list = sorted(set(allowed))
        allowed_text = ", ".join(allowed_list) if allowed_list else "nothing"
        message = f"cannot {asked}: the incident is {current}"
        if why:
            message += f" ({why})"
        message += f"; allowed now: {allowed_text}"
        super().__init__(message)
        self.asked = asked
        self.current = current
        self.allowed = allowed_list


class IllegalMaintenanceStep(IllegalTransition):
    """A maintenance command is not allowed in the maintenance's current status (409)."""

    def __init__(self, asked: str, ref: str, current: str, why: str) -> None:
        CrashbotError.__init__(self, f"cannot {asked} {ref}: it is {current}; {why}")
        self.asked = asked
        self.current = current
        self.allowed: list[str] = []


class ConflictError(CrashbotError):
    """The incident changed under us (optimistic concurrency) and the retry budget ran out."""

    code = "conflict"
    http_status = 409


class LeaseLost(CrashbotError):
    """A worker's lease on a reminder ran out and another worker holds it now: nothing was written."""

    code = "lease_lost"
    http_status = 409


class ConfigError(CrashbotError):
    """A setting is missing or malformed; the message names the file and key path."""

    code = "config_error"
    http_status = 500


class PermissionDenied(CrashbotError):
    """The caller's token does not allow this operation."""

    code = "forbidden"
    http_status = 403
