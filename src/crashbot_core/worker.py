"""The worker: timed maintenance, due reminders and delivery retries, round after round.

``crashbot worker`` runs it as a process; ``crashbot serve`` runs one as a
thread. Any number may run against one database: reminders and outbox rows
are leased in the store before anything is sent (see
:meth:`crashbot_core.service.Crashbot.send_reminder` and
:meth:`~crashbot_core.service.Crashbot.retry_deliveries`), so each reminder
fires once and each (event, plugin) delivery succeeds once, in per-incident
order; a worker killed mid-way leaves leases that another worker takes over
when they run out.
"""

from __future__ import annotations

import logging
import threading
import time

from attrs import frozen

from crashbot_core.errors import CrashbotError
from crashbot_core.service import Crashbot

log = logging.getLogger("crashbot.worker")

#: Seconds between checks of the stop flag while waiting for work.
STOP_CHECK = 0.2


@frozen
class RoundResult:
    """What one round did."""

    #: Reminders this worker sent.
    reminders: int
    #: Deliveries this worker completed (successful attempts).
    deliveries: int
    #: Maintenance starts and completions this worker made.
    maintenances: int = 0


class Worker:
    """Runs :meth:`run_once` every ``interval`` seconds until stopped.

    :param batch: most delivery attempts per round; a round that used them all
        is followed by the next one at once (a backlog drains without waiting
        for the interval).
    """

    def __init__(self, crashbot: Crashbot, *, interval: float = 15.0, batch: int = 100) -> None:
        self.crashbot = crashbot
        self.interval = interval
        self.batch = batch

    def run_once(self, stop: threading.Event | None = None) -> RoundResult:
        """Start and complete maintenances on time, send due reminders, deliver due outbox rows.

        :param stop: checked between items: once set, the item in progress
            finishes and nothing new is started (claimed-but-unstarted
            deliveries are handed back for another worker).
        """
        moved = 0
        try:
            moved = len(self.crashbot.run_due_maintenances())
        except CrashbotError as exc:
            log.warning("maintenance round failed: %s", exc)
        sent = 0
        for incident, reminder in self.crashbot.due_reminders():
            if stop is not None and stop.is_set():
                break
            try:
                if self.crashbot.send_reminder(incident, reminder):
                    sent += 1
            except CrashbotError as exc:
                log.warning("reminder %s not sent: %s", reminder.key, exc)
        retried = 0
        if stop is None or not stop.is_set():
            retried = self.crashbot.retry_deliveries(limit=self.batch, stop=stop)
            self.plugin_rounds()
        return RoundResult(reminders=sent, deliveries=retried, maintenances=moved)

    def plugin_rounds(self) -> None:
        """Each ``crashbot_worker_round`` implementation once; one failing stops no other."""
        for impl in self.crashbot.pm.hook.crashbot_worker_round.get_hookimpls():
            try:
                impl.function(**{k: self.crashbot for k in impl.argnames if k == "crashbot"})
            except Exception:
                log.exception("worker round of plugin %s failed", impl.plugin_name)

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set; the item in progress always finishes.

        A full round (reminders and retries) runs every ``interval``; a commit
        of this process that left its deliveries to the worker
        (:meth:`~crashbot_core.service.Crashbot.defer_deliveries`) wakes it to
        deliver at once.
        """
        pending = self.crashbot.outbox.pending
        next_round = 0.0
        while not stop.is_set():
            busy = False
            try:
                if time.monotonic() >= next_round:
                    next_round = time.monotonic() + self.interval
                    result = self.run_once(stop)
                else:
                    result = RoundResult(
                        reminders=0,
                        deliveries=self.crashbot.retry_deliveries(limit=self.batch, stop=stop),
                    )
                    # What a delivery just queued (subscriber mails) goes out now too.
                    self.plugin_rounds()
                busy = result.deliveries >= self.batch
            except Exception:
                log.exception("worker round failed")
            if not busy:
                self._wait(stop, pending, next_round)

    @staticmethod
    def _wait(stop: threading.Event, pending: threading.Event, until: float) -> None:
        """Until the next round, ``stop``, or a commit waiting for delivery."""
        while not stop.is_set():
            left = until - time.monotonic()
            if left <= 0:
                return
            # Short slices so a stop is noticed promptly while waiting on `pending`.
            if pending.wait(min(left, STOP_CHECK)):
                pending.clear()
                return
