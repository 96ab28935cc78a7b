"""Several threads and processes writing one database at once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest
from sqlstore_support import DeclareFn, new_incident

from crashbot_core.errors import ConflictError
from crashbot_core.store import Change, IncidentFilter
from crashbot_sqlalchemy.store import SqlStore


def _run_together(count: int, work: Callable[[int], None]) -> list[BaseException]:
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        start.wait()
        try:
            work(n)
        except BaseException as exc:  # collected and asserted by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_declares_get_distinct_sequential_ids(
    store: SqlStore, declare: DeclareFn
) -> None:
    def declare_five(n: int) -> None:
        for m in range(5):
            declare(title=f"thread {n} incident {m}", subscribers=("slack",))

    errors = _run_together(8, declare_five)

    assert errors == []
    listed = store.list_incidents(IncidentFilter(newest_first=False))
    assert [i.id for i in listed] == list(range(1, 41))
    assert all(i.ref == f"INC-{i.id}" for i in listed)
    assert len(store.deliveries(limit=100)) == 40


def test_concurrent_updates_of_one_incident_let_exactly_one_win(
    store: SqlStore, declare: DeclareFn
) -> None:
    incident = declare().incident

    def rename(n: int) -> None:
        store.commit(Change(incident.with_changes(title=f"writer {n}"), expected_version=1))

    errors = _run_together(6, rename)

    assert len(errors) == 5
    assert all(isinstance(e, ConflictError) for e in errors)
    stored = store.get_incident(incident.id)
    assert stored is not None
    assert stored.version == 2


_DECLARE_SCRIPT = """
import sys
from crashbot_core.store import Change
from crashbot_sqlalchemy.store import SqlStore
from sqlstore_support import new_incident

store = SqlStore.from_url(sys.argv[1])
for _ in range(5):
    store.commit(Change(new_incident(), expected_version=None))
store.close()
"""


def test_processes_opening_and_declaring_at_once_all_succeed(db_url: str) -> None:
    # Every process starts on the empty database, so they also race to migrate it.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _DECLARE_SCRIPT, db_url],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    failures = [p.communicate(timeout=120)[1] for p in processes if p.wait(timeout=120) != 0]

    assert failures == []
    store = SqlStore.from_url(db_url)
    ids = [i.id for i in store.list_incidents(IncidentFilter(newest_first=False))]
    store.close()
    assert ids == list(range(1, 21))


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_shared_by_threads(url: str) -> None:
    store = SqlStore.from_url(url)

    def declare(n: int) -> None:
        store.commit(Change(new_incident(title=f"thread {n}"), expected_version=None))

    errors = _run_together(4, declare)

    assert errors == []
    assert store.count_incidents(IncidentFilter()) == 4
    store.close()
