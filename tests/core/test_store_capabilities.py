"""Store capabilities: checked once at start, required where a feature needs one, else optional.

A store here is the real SQL store seen through a narrowing proxy that
offers only the methods named, so a "third-party store" without a capability
behaves as one would.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from support import ALICE, T0

from crashbot_core import Crashbot, FixedClock
from crashbot_core.config import load_config
from crashbot_core.errors import ConfigError, NotFound
from crashbot_core.models import Alert, AlertStatus
from crashbot_core.plugins import collect_sections, get_plugin_manager
from crashbot_core.store import AlertGroupCommit, Store, StoreCapabilities
from crashbot_sqlalchemy.store import SqlStore

#: The methods every store has (the Store protocol's).
REQUIRED = frozenset(
    name for name, value in vars(Store).items() if not name.startswith("_") and callable(value)
)


class Narrowed:
    """``inner`` offering only ``REQUIRED`` plus ``extra`` methods, as a smaller store would."""

    def __init__(self, inner: SqlStore, extra: frozenset[str] = frozenset()) -> None:
        self._inner = inner
        self._allowed = REQUIRED | extra

    def __getattr__(self, name: str) -> Any:
        if name not in self._allowed:
            raise AttributeError(name)
        return getattr(self._inner, name)


@pytest.fixture
def sql_store(database_url: str) -> Iterator[SqlStore]:
    store = SqlStore.from_url(database_url)
    try:
        yield store
    finally:
        store.close()


def build(store: object, *, disabled: tuple[str, ...] = ()) -> Crashbot:
    pm = get_plugin_manager(disabled=disabled)
    config = load_config(data={}, env={}, sections=collect_sections(pm))
    return Crashbot(config, store, pm, clock=FixedClock(T0))  # type: ignore[arg-type]


def test_the_required_methods_alone_offer_no_capability(sql_store: SqlStore) -> None:
    assert StoreCapabilities.of(Narrowed(sql_store)).names() == []  # type: ignore[arg-type]


def test_a_store_without_alert_group_commit_fails_at_start_naming_it(
    sql_store: SqlStore,
) -> None:
    with pytest.raises(ConfigError) as caught:
        build(Narrowed(sql_store))

    message = caught.value.message
    assert "store Narrowed lacks the AlertGroupCommit capability" in message
    assert "commit_for_alert_group" in message
    assert "alert intake" in message
    assert "CRASHBOT_DISABLED_PLUGINS=alerts" in message


def test_without_alert_sources_the_required_methods_are_enough(sql_store: SqlStore) -> None:
    bot = build(Narrowed(sql_store), disabled=("alerts",))
    inc = bot.declare("Checkout down", severity="SEV2", actor=ALICE)
    bot.acknowledge(inc.id, actor=ALICE)
    bot.clock.advance(minutes=10)  # type: ignore[attr-defined]
    bot.resolve(inc.id, actor=ALICE)

    report = bot.metrics(since=timedelta(days=1))

    assert bot.capabilities.names() == []
    assert bot.get(inc.id).status.value == "resolved"
    assert report.counts.total == 1
    assert report.durations.mttr.mean == 600


def test_alert_intake_without_bulk_alerts_routes_as_with_them(
    sql_store: SqlStore, tmp_path: Any
) -> None:
    bot = build(Narrowed(sql_store, frozenset({"commit_for_alert_group"})))
    firing = Alert(source="generic", fingerprint="f1", status=AlertStatus.FIRING, title="Disk full")

    results = bot.ingest_alerts([firing, firing, firing])
    resolved = bot.ingest_alert(
        Alert(source="generic", fingerprint="f1", status=AlertStatus.RESOLVED, title="Disk full")
    )

    assert isinstance(bot.store, AlertGroupCommit)
    assert bot.capabilities.bulk_alerts is None
    assert [r.action for r in results] == ["declared", "grouped", "grouped"]
    assert resolved.action == "attached"
    incident_id = results[0].incident.id  # type: ignore[union-attr]
    assert len(sql_store.alerts(incident_id)) == 4
    assert resolved.incident is not None and resolved.incident.status.value == "monitoring"


def test_without_bulk_reads_timelines_and_records_come_one_read_at_a_time(
    sql_store: SqlStore,
) -> None:
    narrow = build(Narrowed(sql_store), disabled=("alerts",))
    full = build(sql_store, disabled=("alerts",))
    first = narrow.declare("Checkout down", severity="SEV2", actor=ALICE, public=True)
    narrow.update(first.id, actor=ALICE, message="internal")
    narrow.add_follow_up(first.id, "Add an alert", actor=ALICE)
    second = narrow.declare("Search slow", severity="SEV3", actor=ALICE)

    assert narrow.capabilities.bulk_reads is None
    for public_only in (False, True):
        ids = [second.id, first.id]
        assert narrow.timelines(ids, public_only=public_only) == full.timelines(
            ids, public_only=public_only
        )
    assert narrow.incident_record(first.ref) == full.incident_record(first.ref)
    with pytest.raises(NotFound):
        narrow.incident_record(404)
    with pytest.raises(NotFound):
        full.incident_record(404)
