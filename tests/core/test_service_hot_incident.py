"""A hot incident cannot starve a writer: after repeated conflicts the row lock is used."""

from __future__ import annotations

from support import ALICE

from crashbot_core import Change, ConflictError, Crashbot, EventKind, Saved
from crashbot_core.commit import LOCK_AFTER_CONFLICTS


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
