"""The worker loop: due reminders and delivery retries, round after round."""

from __future__ import annotations

import logging
import threading

from attrs import frozen

from crashbot_core.errors import CrashbotError
from crashbot_core.service import Crashbot

log = logging.getLogger("crashbot.worker")


@frozen
class RoundResult:
    """What one round did."""

    reminders: int
    deliveries: int


class Worker:
    """Runs :meth:`run_once` every ``interval`` seconds until stopped.

    Safe to run several at once: reminders are claimed by key in the store,
    so each fires once.
    """

    def __init__(self, crashbot: Crashbot, *, interval: float = 15.0) -> None:
        self.crashbot = crashbot
        self.interval = interval

    def run_once(self) -> RoundResult:
        """Send every due reminder and retry due deliveries."""
        sent = 0
        for incident, reminder in self.crashbot.due_reminders():
            try:
                if self.crashbot.send_reminder(incident, reminder):
                    sent += 1
            except CrashbotError as exc:
                log.warning("reminder %s not sent: %s", reminder.key, exc)
        retried = self.crashbot.retry_deliveries()
        return RoundResult(reminders=sent, deliveries=retried)

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set; a round in progress always finishes."""
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("worker round failed")
            stop.wait(self.interval)
