"""The store contract's part for :class:`~crashbot_core.store.MaintenanceStore`.

:class:`~crashbot_core.store_contract.StoreContract` includes these tests; a
store without the capability skips them, naming it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from crashbot_core.errors import ConflictError, NotFound
from crashbot_core.models import Actor, Maintenance, MaintenanceStatus, MaintenanceUpdate
from crashbot_core.store import MaintenanceStore, Store

#: When the contract's maintenances are announced.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BOB = Actor(platform="slack", id="U2", name="Bob")
_S = MaintenanceStatus


def _maintenance(**changes: Any) -> Maintenance:
    fields: dict[str, Any] = {
        "id": 0,
        "ref": "",
        "title": "Database upgrade",
        "scheduled_for": T0 + timedelta(days=1),
        "scheduled_until": T0 + timedelta(days=1, hours=2),
        "status": _S.SCHEDULED,
        "created_at": T0,
        "components": ("api", "db"),
        "created_by": BOB,
        "updates": (MaintenanceUpdate(at=T0, status=_S.SCHEDULED, body="Planned.", actor=BOB),),
    }
    fields.update(changes)
    return Maintenance(**fields)


def _capable(store: Store) -> MaintenanceStore:
    if not isinstance(store, MaintenanceStore):
        pytest.skip("the store does not offer MaintenanceStore")
    return store


class MaintenanceContract:
    """What ``MaintenanceStore`` promises (mixed into ``StoreContract``)."""

    def test_a_new_maintenance_gets_an_id_a_ref_version_1_and_update_ids(
        self, store: Store
    ) -> None:
        ms = _capable(store)

        saved = ms.save_maintenance(_maintenance(), expected_version=None, ref_prefix="WIN")

        assert (saved.ref, saved.version) == (f"WIN-{saved.id}", 1)
        assert [u.id > 0 for u in saved.updates] == [True]
        assert ms.get_maintenance(saved.id) == saved

    def test_every_maintenance_field_round_trips_in_utc(self, store: Store) -> None:
        ms = _capable(store)
        plus2 = datetime(2026, 3, 3, 11, 0, tzinfo=UTC).astimezone()
        saved = ms.save_maintenance(
            _maintenance(scheduled_for=plus2, auto=False, created_by=None, title="Ünïcode ✓"),
            expected_version=None,
        )

        got = ms.get_maintenance(saved.id)

        assert got == saved
        assert got is not None and got.scheduled_for.utcoffset() == timedelta(0)
        assert (got.auto, got.created_by, got.components) == (False, None, ("api", "db"))

    def test_a_save_adds_only_new_updates_and_checks_the_version(self, store: Store) -> None:
        ms = _capable(store)
        first = ms.save_maintenance(_maintenance(), expected_version=None)
        started = attrs.evolve(
            first,
            status=_S.IN_PROGRESS,
            started_at=T0 + timedelta(days=1),
            updates=(
                *first.updates,
                MaintenanceUpdate(at=T0 + timedelta(days=1), status=_S.IN_PROGRESS, body="Go."),
            ),
        )

        second = ms.save_maintenance(started, expected_version=1)

        assert second.version == 2
        assert [u.body for u in second.updates] == ["Planned.", "Go."]
        assert ms.get_maintenance(first.id) == second
        with pytest.raises(ConflictError):
            ms.save_maintenance(started, expected_version=1)
        stored = ms.get_maintenance(first.id)
        assert stored is not None and len(stored.updates) == 2  # the loser wrote nothing

    def test_saving_a_missing_maintenance_is_not_found(self, store: Store) -> None:
        ms = _capable(store)

        with pytest.raises(NotFound):
            ms.save_maintenance(_maintenance(id=404, ref="MNT-404"), expected_version=1)
        assert ms.get_maintenance(404) is None

    def test_maintenances_list_newest_window_first_by_status(self, store: Store) -> None:
        ms = _capable(store)
        early = ms.save_maintenance(_maintenance(), expected_version=None)
        late = ms.save_maintenance(
            _maintenance(scheduled_for=T0 + timedelta(days=5), status=_S.CANCELLED),
            expected_version=None,
        )

        assert [m.id for m in ms.list_maintenances()] == [late.id, early.id]
        assert [m.id for m in ms.list_maintenances(statuses=[_S.SCHEDULED])] == [early.id]
        assert [m.id for m in ms.list_maintenances(limit=1)] == [late.id]
        assert ms.list_maintenances()[1].updates == early.updates

    def test_a_maintenance_write_moves_the_change_token(self, store: Store) -> None:
        ms = _capable(store)
        before = store.change_token()

        ms.save_maintenance(_maintenance(), expected_version=None)

        assert store.change_token() != before

    def test_one_of_two_racing_saves_of_one_version_wins(self, store: Store) -> None:
        ms = _capable(store)
        first = ms.save_maintenance(_maintenance(), expected_version=None)
        outcomes: list[str] = []
        gate = threading.Barrier(2)

        def race(body: str) -> None:
            new = attrs.evolve(
                first,
                status=_S.IN_PROGRESS,
                updates=(
                    *first.updates,
                    MaintenanceUpdate(at=T0, status=_S.IN_PROGRESS, body=body),
                ),
            )
            gate.wait()
            try:
                ms.save_maintenance(new, expected_version=first.version)
                outcomes.append("won")
            except ConflictError:
                outcomes.append("lost")

        threads = [threading.Thread(target=race, args=(b,)) for b in ("one", "two")]
        for th in threads:
            th.start()
        for th in threads:
            th.join()

        assert sorted(outcomes) == ["lost", "won"]
        stored = ms.get_maintenance(first.id)
        assert stored is not None and len(stored.updates) == 2
