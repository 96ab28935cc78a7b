"""``GET /api/incidents``: every incident (private ones too) for a read token, filtered, by pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from status_support import auth

from crashbot_core import Crashbot, FixedClock, Impact


@pytest.fixture
def incidents(bot: Crashbot, clock: FixedClock) -> dict[str, int]:
    """Five incidents over five days: titles → ids."""
    start = clock.now()
    made = {}
    specs: list[tuple[str, str, bool, dict[str, str], str]] = [
        ("db-failover", "SEV1", True, {"team": "data"}, "resolve"),
        ("slow-search", "SEV3", False, {"team": "search"}, "open"),
        ("payroll-leak", "SEV2", False, {"team": "data"}, "monitoring"),
        ("cdn-errors", "SEV2", True, {}, "resolve"),
        ("login-loop", "SEV4", True, {"team": "identity"}, "open"),
    ]
    for days_ago, (title, severity, public, labels, end) in zip(
        range(5, 0, -1), specs, strict=True
    ):
        clock.set(start - timedelta(days=days_ago))
        inc = bot.declare(
            title,
            severity=severity,
            public=public,
            labels=labels,
            components={"api": Impact.PARTIAL_OUTAGE},
        )
        if end == "resolve":
            bot.resolve(inc.id)
        elif end == "monitoring":
            bot.update(inc.id, status="monitoring")
        made[title] = inc.id
    clock.set(start)
    return made


def titles(client: FlaskClient, token: str, query: str = "") -> list[str]:
    resp = client.get(f"/api/incidents{query}", headers=auth(token))
    assert resp.status_code == 200, resp.get_json()
    return [i["title"] for i in resp.get_json()["incidents"]]


def test_every_incident_newest_first_private_ones_included(
    client: FlaskClient, read_token: str, incidents: dict[str, int]
) -> None:
    resp = client.get("/api/incidents", headers=auth(read_token))

    body = resp.get_json()
    assert [i["title"] for i in body["incidents"]] == [
        "login-loop",
        "cdn-errors",
        "payroll-leak",
        "slow-search",
        "db-failover",
    ]
    assert body["next_cursor"] is None
    first = body["incidents"][0]
    assert first["ref"] == f"INC-{incidents['login-loop']}"
    assert first["labels"] == {"team": "identity"}  # the admin view: internal fields too
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?status=resolved", ["cdn-errors", "db-failover"]),
        ("?status=open", ["login-loop", "payroll-leak", "slow-search"]),
        ("?status=monitoring&status=investigating", ["login-loop", "payroll-leak", "slow-search"]),
        ("?status=monitoring", ["payroll-leak"]),
        ("?status=monitoring&status=open", ["login-loop", "payroll-leak", "slow-search"]),
        ("?severity=SEV2", ["cdn-errors", "payroll-leak"]),
        ("?severity=SEV1&severity=sev4", ["login-loop", "db-failover"]),
        ("?since=2d", ["login-loop", "cdn-errors"]),
        ("?since=2026-02-27T09:00:00Z", ["login-loop", "cdn-errors", "payroll-leak"]),
        ("?since=2026-02-27", ["login-loop", "cdn-errors", "payroll-leak"]),
        ("?public=true", ["login-loop", "cdn-errors", "db-failover"]),
        ("?public=false", ["payroll-leak", "slow-search"]),
        ("?label=team=data", ["payroll-leak", "db-failover"]),
        ("?label=team=data&public=true&status=resolved", ["db-failover"]),
        ("?label=team=nobody", []),
    ],
)
def test_each_filter_narrows_the_list(
    client: FlaskClient,
    read_token: str,
    incidents: dict[str, int],
    query: str,
    expected: list[str],
) -> None:
    assert titles(client, read_token, query) == expected


def walk(client: FlaskClient, token: str, query: str, between: Any = None) -> list[str]:
    """Every page from the first to the last; ``between()`` runs after each page."""
    seen: list[str] = []
    cursor = None
    for _ in range(20):
        url = f"/api/incidents?{query}" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=auth(token)).get_json()
        seen += [i["title"] for i in body["incidents"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
        if between is not None:
            between()
    raise AssertionError(f"no last page: {seen}")


def test_the_cursor_walks_every_incident_once(
    client: FlaskClient, read_token: str, incidents: dict[str, int]
) -> None:
    assert walk(client, read_token, "limit=2") == [
        "login-loop",
        "cdn-errors",
        "payroll-leak",
        "slow-search",
        "db-failover",
    ]
    assert walk(client, read_token, "limit=1&public=true") == [
        "login-loop",
        "cdn-errors",
        "db-failover",
    ]


def test_pages_neither_repeat_nor_skip_while_incidents_are_declared(
    bot: Crashbot,
    clock: FixedClock,
    client: FlaskClient,
    read_token: str,
    incidents: dict[str, int],
) -> None:
    made = iter(range(100))

    def declare_more() -> None:
        n = next(made)
        clock.advance(minutes=1)
        bot.declare(f"new-{n}", severity="SEV3")
        # One that started in the past too, behind the pages already read.
        bot.declare(f"backdated-{n}", severity="SEV3", started_at=clock.now() - timedelta(days=3))

    seen = walk(client, read_token, "limit=2", between=declare_more)

    old = [t for t in seen if not t.startswith(("new-", "backdated-"))]
    assert old == ["login-loop", "cdn-errors", "payroll-leak", "slow-search", "db-failover"]
    assert len(seen) == len(set(seen))


def test_a_page_size_up_to_500(
    client: FlaskClient, read_token: str, incidents: dict[str, int]
) -> None:
    body = client.get("/api/incidents?limit=500", headers=auth(read_token)).get_json()

    assert len(body["incidents"]) == 5
    assert body["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("?status=closed", "status"),
        ("?severity=SEV9", "SEV9"),
        ("?since=yesterday", "since"),
        ("?since=0d", "since"),
        ("?since=2026-13-40", "since"),
        ("?public=yes", "public"),
        ("?label=team", "label"),
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
        ("?limit=ten", "limit"),
        ("?cursor=not*a*cursor", "cursor"),
        ("?cursor=-3", "cursor"),
    ],
)
def test_a_bad_filter_is_a_422_naming_it(
    client: FlaskClient, read_token: str, query: str, named: str
) -> None:
    resp = client.get(f"/api/incidents{query}", headers=auth(read_token))

    assert resp.status_code == 422
    body = resp.get_json()
    assert body["error"] == "invalid_input"
    assert named in body["reason"]


def test_without_a_token_it_is_401(client: FlaskClient, incidents: dict[str, int]) -> None:
    for headers in ({}, auth("cbt_not-a-token")):
        resp = client.get("/api/incidents", headers=headers)

        assert resp.status_code == 401
        assert resp.get_json()["error"] == "unauthorized"
        assert "payroll-leak" not in resp.get_data(as_text=True)


def test_a_write_token_may_read_the_list(
    client: FlaskClient, write_token: str, incidents: dict[str, int]
) -> None:
    assert len(titles(client, write_token)) == 5


@pytest.mark.parametrize("cursor", ["99999", "0", "99999999999999999"])
def test_a_cursor_naming_no_incident_gives_an_empty_last_page(
    client: FlaskClient, read_token: str, incidents: dict[str, int], cursor: str
) -> None:
    resp = client.get(f"/api/incidents?cursor={cursor}", headers=auth(read_token))

    assert resp.status_code == 200
    assert resp.get_json() == {"incidents": [], "next_cursor": None}
