"""Constants shared by tests: ``from support import T0, ALICE, BOB``.

(Not in conftest.py: with several conftest files, ``import conftest`` is ambiguous.)
"""

from __future__ import annotations

from datetime import UTC, datetime

from crashbot_core import Actor

#: A Monday morning, so business-day rules are easy to reason about.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALICE = Actor(platform="cli", id="alice", name="Alice")
BOB = Actor(platform="cli", id="bob", name="Bob")
