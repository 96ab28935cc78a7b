"""Embedding crashbot_core in another program: the library guide's example.

Run it: ``python docs/examples/embed_library.py [DATABASE_URL]``
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from crashbot_core import Actor, Crashbot, Event, Incident, load_config


def main(database_url: str) -> None:
    """Declare, run and resolve one incident, printing every event as it happens."""
    config = load_config(data={}, env={"CRASHBOT_DATABASE_URL": database_url})
    bot = Crashbot.from_config(config)

    def show(incident: Incident, event: Event) -> None:
        print(f"{incident.ref} {event.kind.value} by {event.actor.display}")

    bot.on_event(show)

    alice = Actor(platform="example", id="alice", name="Alice")
    incident = bot.declare(
        "Checkout API returns 500s", severity="P1", components=["api"], public=True, actor=alice
    )
    bot.assign_role(incident.id, "ic", alice)  # taking command acknowledges it
    bot.update(
        incident.id, status="monitoring", message="Rolled back v1.2.3", public=True, actor=alice
    )
    bot.resolve(incident.id, message="Error rate back to normal", actor=alice)

    report = bot.metrics(by="severity")
    print(f"incidents: {report.counts.total}")
    bot.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(f"sqlite:///{Path(tmp) / 'example.db'}")
