"""Optimistic concurrency across replicas: nothing lost, conflicts explained."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from replica_support import Children
from support import ALICE, BOB

from crashbot_core import Crashbot, FixedClock
from crashbot_core.errors import IllegalTransition
from crashbot_core.models import EventKind
from crashbot_core.testing import make_crashbot

PROCESSES = 8
UPDATES = 250


def test_eight_processes_posting_updates_to_one_incident_lose_none(
    replica_url: str, children: Children, tmp_path: Path
) -> None:
    bot = make_crashbot(database_url=replica_url)
    try:
        inc = bot.declare("Everyone is clicking", severity="SEV1")
        outs = [tmp_path / f"out-{i}.json" for i in range(PROCESSES)]
        for i, out in enumerate(outs):
            children.start(
                "update", url=replica_url, incident=inc.id, n=UPDATES, name=f"p{i}", out=str(out)
            )
        children.release()
        # 2,000 commits serialised on one row: ~8 s on SQLite and ~25 s on PostgreSQL on a
        # quiet 2-CPU machine; the timeout leaves room for a heavily loaded one.
        children.wait(timeout=170)

        results = [json.loads(out.read_text()) for out in outs]
        updates = [e for e in bot.timeline(inc.id) if e.kind is EventKind.UPDATE_POSTED]
        assert len(updates) == PROCESSES * UPDATES
        for i in range(PROCESSES):
            mine = [e.data["message"] for e in updates if e.data["message"].startswith(f"p{i} ")]
            # Each process's updates are all there, in the order it posted them.
            assert mine == [f"p{i} {n}" for n in range(UPDATES)]
        every_version = [v for r in results for v in r["versions"]]
        for r in results:
            assert r["versions"] == sorted(r["versions"])  # strictly increasing per process
        # No two commands ever saved the same version: none overwrote another.
        assert sorted(every_version) == list(range(2, PROCESSES * UPDATES + 2))
        assert bot.get(inc.id).version == PROCESSES * UPDATES + 1
        # The processes really raced (one at a time would never conflict).
        assert sum(r["conflicts"] for r in results) > 0
    finally:
        bot.close()


def _race_on_next_commit(loser: Crashbot, winner_move: Any) -> None:
    """Make ``loser``'s next commit lose: ``winner_move`` commits first, in between."""
    real_commit = loser.store.commit
    fired: list[bool] = []

    def commit(change: Any) -> Any:
        if not fired:
            fired.append(True)
            winner_move()
        return real_commit(change)

    loser.store.commit = commit  # type: ignore[method-assign]


@pytest.fixture
def two_replicas(replica_url: str) -> Any:
    """Two services on one database, as two replicas are."""
    clock = FixedClock()
    a = make_crashbot(database_url=replica_url, clock=clock)
    b = make_crashbot(database_url=replica_url, clock=clock)
    try:
        yield a, b, clock
    finally:
        a.close()
        b.close()


def test_a_second_resolve_that_lost_the_race_says_who_resolved_first(two_replicas: Any) -> None:
    alice_replica, bob_replica, clock = two_replicas
    inc = alice_replica.declare("Checkout down", severity="SEV2", actor=ALICE)
    clock.advance(minutes=62)
    _race_on_next_commit(
        alice_replica, lambda: bob_replica.resolve(inc.id, actor=BOB, message="Rolled back")
    )

    with pytest.raises(IllegalTransition) as caught:
        alice_replica.resolve(inc.id, actor=ALICE, message="Fixed the config")

    assert str(caught.value).startswith(f"{inc.ref} was already resolved by Bob at 10:02 UTC; ")
    assert "cannot resolve: the incident is resolved" in str(caught.value)
    resolved = [e for e in alice_replica.timeline(inc.id) if e.kind is EventKind.RESOLVED]
    assert [e.data["message"] for e in resolved] == ["Rolled back"]
    assert alice_replica.conflicts == 1


def test_a_resolve_refused_without_a_race_keeps_the_plain_message(two_replicas: Any) -> None:
    alice_replica, bob_replica, _ = two_replicas
    inc = alice_replica.declare("Checkout down", actor=ALICE)
    bob_replica.resolve(inc.id, actor=BOB)

    with pytest.raises(IllegalTransition) as caught:
        alice_replica.resolve(inc.id, actor=ALICE)

    assert str(caught.value).startswith("cannot resolve: the incident is resolved")


def test_an_update_that_lost_the_race_is_retried_and_both_are_kept(two_replicas: Any) -> None:
    alice_replica, bob_replica, _ = two_replicas
    inc = alice_replica.declare("Checkout down", actor=ALICE)
    _race_on_next_commit(
        alice_replica, lambda: bob_replica.update(inc.id, actor=BOB, message="from Bob")
    )

    saved = alice_replica.update(inc.id, actor=ALICE, message="from Alice", status="identified")

    assert saved.version == 3
    assert saved.status.value == "identified"
    messages = [
        e.data.get("message")
        for e in alice_replica.timeline(inc.id)
        if e.kind is EventKind.UPDATE_POSTED
    ]
    assert messages == ["from Bob", "from Alice"]
    assert alice_replica.conflicts == 1
