"""A child process for the replica tests: one crashbot replica or worker.

Run as ``python replica_child.py ROLE JSON`` where JSON holds the arguments.
Roles:

``update``
    post ``n`` updates to one incident; write the versions it got back.
``worker``
    run worker rounds with a notifier plugin that fails its first ``fail``
    attempts, records each success (``done EVENT INCIDENT``) and may block
    (``block``: seconds, after writing ``start EVENT``) to be killed mid-way;
    stops when ``expect`` deliveries are recorded in the file, on SIGTERM, or
    after ``timeout`` seconds.
``reminders``
    one worker round of reminders at a fixed instant; the reminder plugin
    records ``reminder KEY``.
``subscribe``
    post the status page's subscribe form ``n`` times from one client
    address (the app of ``crashbot serve``, subscriptions on); records each
    answer's status code (``status 202``).

Every child waits for the ``go`` file before starting, so they really run at
the same time. Lines are appended with O_APPEND (atomic for short lines), so
the file's order is the order in which deliveries happened.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import crashbot_sqlalchemy.plugin as sql_plugin
from crashbot_core.clock import FixedClock, SystemClock
from crashbot_core.delivery import RetryPolicy
from crashbot_core.hookspecs import hookimpl
from crashbot_core.models import Event, Incident, Reminder
from crashbot_core.testing import make_crashbot
from crashbot_core.worker import Worker

PUBLIC_URL = "https://status.example.com"


def append(path: str, line: str) -> None:
    """Append one line atomically."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def count_lines(path: str, prefix: str) -> int:
    """Lines of the record file starting with ``prefix``."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return 0
    return sum(1 for line in text.splitlines() if line.startswith(prefix))


class Notifier:
    """Fails its first ``fail`` attempts, optionally blocks, then records the delivery."""

    def __init__(self, record: str, fail: int = 0, block: float = 0.0) -> None:
        self.record = record
        self.fail = fail
        self.block = block

    @hookimpl
    def crashbot_incident_event(self, incident: Incident, event: Event) -> None:
        """Deliver (or fail to)."""
        if self.fail > 0:
            self.fail -= 1
            raise RuntimeError("chat API is down")
        if self.block:
            append(self.record, f"start {event.id}")
            time.sleep(self.block)
        append(self.record, f"done {event.id} {incident.id}")

    @hookimpl
    def crashbot_reminder(self, incident: Incident, reminder: Reminder) -> None:
        """Record the reminder."""
        append(self.record, f"reminder {reminder.key}")


def wait_for_go(args: dict[str, Any]) -> None:
    """Say ready, then wait until the parent says go."""
    append(args["ready"], str(os.getpid()))
    deadline = time.monotonic() + 60
    while not Path(args["go"]).exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go signal")
        time.sleep(0.005)


def main() -> None:
    """Run one role."""
    role, args = sys.argv[1], json.loads(sys.argv[2])
    plugins: dict[str, object] = {"sqlalchemy": sql_plugin}
    notifier = Notifier(args.get("record", os.devnull), args.get("fail", 0), args.get("block", 0))
    if role in ("worker", "reminders"):
        plugins[args.get("plugin", "notifier")] = notifier
    clock = FixedClock(datetime.fromisoformat(args["at"])) if "at" in args else SystemClock()
    config: dict[str, Any] = {}
    env: dict[str, str] = {}
    if role == "subscribe":
        # The installed plugins, as `crashbot serve` loads them (status, email).
        plugins = {}
        config = {"email": {"secret": "replica-secret"}, "status": {"public_url": PUBLIC_URL}}
        # Nothing is mailed: only the worker sends, and none runs here.
        env = {"CRASHBOT_SMTP_URL": "smtp://127.0.0.1:9", "CRASHBOT_MAIL_FROM": "s@example.com"}
    bot = make_crashbot(
        database_url=args["url"],
        plugins=plugins,
        entry_points=role == "subscribe",
        clock=clock,
        config=config,
        env=env,
    )
    bot.retry_policy = RetryPolicy(base=timedelta(milliseconds=20), cap=timedelta(milliseconds=200))
    if "lease" in args:
        bot.lease = timedelta(seconds=args["lease"])
    wait_for_go(args)
    try:
        if role == "update":
            versions = []
            for i in range(args["n"]):
                inc = bot.update(args["incident"], message=f"{args['name']} {i}")
                versions.append(inc.version)
            Path(args["out"]).write_text(
                json.dumps({"versions": versions, "conflicts": bot.conflicts})
            )
        elif role == "subscribe":
            from crashbot_status import create_app

            client = create_app(bot, {"TESTING": True}).test_client()
            for i in range(args["n"]):
                form = {"email": f"{args['name']}-{i}@example.com"}
                append(
                    args["out"], f"status {client.post('/subscriptions', data=form).status_code}"
                )
        elif role == "reminders":
            result = Worker(bot).run_once()
            append(args["out"], str(result.reminders))
        elif role == "worker":
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
            worker = Worker(bot, interval=0.02)
            deadline = time.monotonic() + args.get("timeout", 30)
            while not stop.is_set() and time.monotonic() < deadline:
                worker.run_once(stop)
                if count_lines(args["record"], "done") >= args.get("expect", 1):
                    break
                stop.wait(0.02)
    finally:
        bot.close()


if __name__ == "__main__":
    main()
