"""How many SQL statements a read costs: fixed, whatever the number of incidents.

A public page rendered cold (just after any change) must not run a query per
incident: with 1,000 incidents that is 1,000 round trips, paid again by every
worker after every change. These tests count the statements each route runs
(``before_cursor_execute`` on the store's engine; transaction control such as
``BEGIN`` not counted) with 10 incidents and again with 1,000 in the same
store, and require the counts to be equal. The authenticated incident read
and the admin list have fixed budgets too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from status_support import auth, seed_components
from support import ALICE

from crashbot_core import Crashbot, FixedClock, Impact
from crashbot_core.models import Event, EventKind, Status
from crashbot_core.store import Change, IncidentFilter
from crashbot_status import create_app

#: Every public route (pages, Statuspage JSON, feeds, badge, /api/list).
PUBLIC_ROUTES = (
    "/",
    "/history",
    "/incidents/{public_id}",
    "/feed.atom",
    "/feed.rss",
    "/history.atom",
    "/badge.svg",
    "/api/list",
    "/api/v2/summary.json",
    "/api/v2/status.json",
    "/api/v2/components.json",
    "/api/v2/incidents.json",
    "/api/v2/incidents/unresolved.json",
    "/api/v2/scheduled-maintenances.json",
    "/api/v2/history.atom",
    "/api/v2/history.rss",
)

_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


class StatementCounter:
    """Counts the statements an engine sends while :meth:`counting` is active."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.statements: list[str] = []
        self._on = False
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self._on and not statement.lstrip().upper().startswith(_CONTROL):
            self.statements.append(statement)

    @contextmanager
    def counting(self) -> Iterator[list[str]]:
        """Record the statements sent inside the block."""
        self.statements = []
        self._on = True
        try:
            yield self.statements
        finally:
            self._on = False

    def close(self) -> None:
        """Stop listening."""
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)


@pytest.fixture
def counter(bot: Crashbot) -> Iterator[StatementCounter]:
    c = StatementCounter(bot.store.engine)  # type: ignore[attr-defined]
    yield c
    c.close()


def grow_to(bot: Crashbot, clock: FixedClock, total: int) -> None:
    """Add incidents until the store holds ``total``: a history of every kind over 200 days.

    Public and private, open and resolved, with public and internal updates,
    components, and incidents older than the 90-day uptime window. Written as
    one commit each, straight to the store (faster than the lifecycle, and
    the reads are what is measured).
    """
    have = bot.store.count_incidents(IncidentFilter())
    now = clock.now()
    for n in range(have, total):
        start = now - timedelta(days=200) + timedelta(days=200) * (n / total) * 0.999
        public = n % 5 != 0
        resolved = n % 7 != 0
        incident = bot.declare(
            f"Incident {n}",
            severity=("SEV1", "SEV2", "SEV3", "SEV4")[n % 4],
            public=public,
            components={("api", "web", "db")[n % 3]: Impact.PARTIAL_OUTAGE},
            started_at=start,
        )
        events = [
            Event(
                kind=EventKind.UPDATE_POSTED,
                at=start + timedelta(minutes=10),
                actor=ALICE,
                data={"message": f"Looking into {n}", "status": "identified"},
                public=True,
            ),
            Event(
                kind=EventKind.UPDATE_POSTED,
                at=start + timedelta(minutes=20),
                actor=ALICE,
                data={"message": "internal note"},
                public=False,
            ),
        ]
        changed = incident.with_changes(status=Status.IDENTIFIED)
        if resolved:
            events.append(
                Event(
                    kind=EventKind.RESOLVED,
                    at=start + timedelta(hours=2),
                    actor=ALICE,
                    public=True,
                )
            )
            changed = changed.with_changes(
                status=Status.RESOLVED, resolved_at=start + timedelta(hours=2)
            )
        bot.store.commit(Change(changed, incident.version, events))


def cold_counts(bot: Crashbot, counter: StatementCounter) -> dict[str, int]:
    """Statements per public route, each rendered by a fresh app (an empty render cache)."""
    public_id = bot.list(public=True, limit=1)[0].id
    out = {}
    for route in PUBLIC_ROUTES:
        path = route.format(public_id=public_id)
        client = create_app(bot, {"TESTING": True, "CHANGE_TOKEN_TTL": 0}).test_client()
        with counter.counting() as seen:
            resp = client.get(path)
        assert resp.status_code == 200, (path, resp.get_data(as_text=True)[:200])
        out[route] = len(seen)
    return out


def test_public_routes_run_as_many_statements_for_1000_incidents_as_for_10(
    bot: Crashbot, clock: FixedClock, counter: StatementCounter
) -> None:
    seed_components(bot)
    grow_to(bot, clock, 10)
    few = cold_counts(bot, counter)
    grow_to(bot, clock, 1000)

    many = cold_counts(bot, counter)

    assert many == few
    # And few in absolute terms: the change token, up to four lists, one
    # batch of timelines, the components, the maintenances (one list; their
    # updates are a second statement only when there are any).
    assert max(few.values()) <= 9, few


def test_the_authenticated_incident_read_runs_at_most_three_statements(
    bot: Crashbot, clock: FixedClock, counter: StatementCounter, read_token: str
) -> None:
    seed_components(bot)
    grow_to(bot, clock, 10)
    inc = bot.list(limit=1)[0]
    bot.add_follow_up(inc.id, "Add an alert on checkout errors")
    client: FlaskClient = create_app(bot, {"TESTING": True}).test_client()
    # The token's first use of the minute also records last_used_at (one
    # write a minute, not per request): count a request after it.
    client.get(f"/api/incidents/{inc.ref}", headers=auth(read_token))

    with counter.counting() as seen:
        resp = client.get(f"/api/incidents/{inc.ref}", headers=auth(read_token))

    assert resp.status_code == 200
    body = resp.get_json()
    assert body["ref"] == inc.ref
    assert sorted(e["kind"] for e in body["timeline"]) == sorted(
        [
            "declared",
            "update_posted",
            "update_posted",
            "follow_up_added",
            *(["resolved"] if inc.resolved_at else []),
        ]
    )
    assert [f["title"] for f in body["follow_ups"]] == ["Add an alert on checkout errors"]
    assert len(seen) <= 3, seen


def test_a_page_of_the_admin_list_runs_as_many_statements_for_1000_incidents_as_for_10(
    bot: Crashbot, clock: FixedClock, counter: StatementCounter, read_token: str
) -> None:
    seed_components(bot)
    client: FlaskClient = create_app(bot, {"TESTING": True}).test_client()
    client.get("/api/incidents?limit=1", headers=auth(read_token))  # last_used_at, once a minute
    counts = []
    for total in (10, 1000):
        grow_to(bot, clock, total)
        with counter.counting() as seen:
            resp = client.get("/api/incidents?limit=5&status=resolved", headers=auth(read_token))
        assert resp.status_code == 200
        assert len(resp.get_json()["incidents"]) == 5
        counts.append(len(seen))

    assert counts[0] == counts[1]
    assert counts[0] <= 2  # the token, the page
