"""The commit path: optimistic concurrency, lost races, and the row lock for hot incidents.

Store-backed: they run on PostgreSQL too when ``CRASHBOT_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from support import ALICE

from crashbot_core import (
    Change,
    ConflictError,
    Crashbot,
    EventKind,
    Saved,
)
from crashbot_core.commit import LOCK_AFTER_CONFLICTS
from crashbot_core.errors import (
    IllegalTransition,
)


def test_an_interleaved_update_is_not_lost(two_bots: tuple[Crashbot, Crashbot]) -> None:
    a, b = two_bots
    inc = a.declare("DB down")
    original = a.store.commit
    calls = 0

    def commit_after_b(change: Any) -> Any:
        # B saves between A's read and A's write: A's first save must conflict.
        nonlocal calls
        calls += 1
        if calls == 1:
            b.update(inc.id, message="from B")
        return original(change)

    a.store.commit = commit_after_b  # type: ignore[method-assign]
    a.update(inc.id, message="from A", status="identified")
    stored = a.get(inc.id)
    assert stored.version == 3
    assert stored.status.value == "identified"
    messages = [e.data.get("message") for e in a.timeline(inc.id)]
    assert messages == [None, "from B", None, "from A"]
    assert calls == 2  # A re-read and re-ran its command once


def test_a_conflicting_command_fails_with_the_real_reason(
    two_bots: tuple[Crashbot, Crashbot],
) -> None:
    a, b = two_bots
    inc = a.declare("DB down")
    original = a.store.commit

    def commit_after_b(change: Any) -> Any:
        a.store.commit = original  # type: ignore[method-assign]
        b.resolve(inc.id, message="B was faster")
        return original(change)

    a.store.commit = commit_after_b  # type: ignore[method-assign]
    with pytest.raises(IllegalTransition, match="cannot resolve: the incident is resolved"):
        a.resolve(inc.id, message="A too")
    assert a.get(inc.id).version == 2
    assert [e.data.get("message") for e in a.timeline(inc.id)][-1] == "B was faster"


def test_concurrent_updates_from_two_services_are_all_kept(
    two_bots: tuple[Crashbot, Crashbot],
) -> None:
    a, b = two_bots
    inc = a.declare("DB down")
    errors: list[BaseException] = []

    def post(bot: Crashbot, who: str) -> None:
        try:
            for n in range(5):
                bot.update(inc.id, message=f"{who}-{n}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=post, args=(bot, f"{name}{t}"))
        for bot, name in ((a, "a"), (b, "b"))
        for t in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = b.get(inc.id)
    messages = [e.data["message"] for e in b.timeline(inc.id)[1:]]
    assert sorted(messages) == sorted(
        f"{n}{t}-{i}" for n in "ab" for t in range(3) for i in range(5)
    )
    assert stored.version == 1 + 30


def test_update_lands_under_the_row_lock_when_optimistic_commits_keep_losing(
    bot: Crashbot,
) -> None:
    inc = bot.declare("Checkout down", severity="SEV2", actor=ALICE)
    store = bot.store
    real_commit = store.commit
    losses: list[int] = []

    def always_loses(change: Change) -> Saved:
        if change.expected_version is not None:
            losses.append(change.expected_version)
            raise ConflictError("someone else saved first")
        return real_commit(change)

    store.commit = always_loses  # type: ignore[method-assign]
    updated = bot.update(inc.id, message="still looking", actor=ALICE)

    assert len(losses) == LOCK_AFTER_CONFLICTS
    assert bot.conflicts == LOCK_AFTER_CONFLICTS
    assert updated.version == inc.version + 1
    kinds = [e.kind for e in bot.timeline(inc.id)]
    assert kinds == [EventKind.DECLARED, EventKind.UPDATE_POSTED]
