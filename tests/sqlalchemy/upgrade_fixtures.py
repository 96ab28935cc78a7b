"""Rows valid at each schema revision, and what each migration does to older rows.

The upgrade test (``test_sql_upgrades.py``) builds a database at every
revision, fills it with :data:`FIXTURES` [revision], runs ``crashbot db
upgrade`` and compares every row of every table with the fixture carried
through :data:`EFFECTS` of each later revision.

A new migration adds two entries here:

* ``FIXTURES["<rev>"]``: rows for every table that exists at that revision,
  using its new columns with non-default values;
* ``EFFECTS["<rev>"]``: a function from the rows before the migration to the
  rows after it (new columns with their backfilled values).

The test fails while either is missing, and when a table has no row in a
fixture, so a new table cannot be forgotten.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

Rows = dict[str, list[dict[str, Any]]]

T = datetime(2026, 2, 27, 22, 30, 0, 250_000, tzinfo=UTC)  # a Friday night
ALICE = {"platform": "slack", "id": "U1", "name": "alice"}


def _at(minutes: float) -> datetime:
    return T + timedelta(minutes=minutes)


def _rows_0001() -> Rows:
    """Two incidents (one from an alert, resolved; one open and private) and everything around them."""
    return {
        "incidents": [
            {
                "id": 1,
                "ref": "INC-1",
                "title": "Checkout returns 500s",
                "description": "Payments fail — «ünïcode» kept",
                "severity": "SEV1",
                "status": "resolved",
                "public": True,
                "components": {"api": "major_outage"},
                "roles": {"commander": ALICE},
                "labels": {"alert_group": "checkout"},
                "started_at": _at(0),
                "declared_at": _at(2),
                "acknowledged_at": _at(7),
                "mitigated_at": _at(30),
                "resolved_at": _at(95.5),
                "last_update_at": _at(30),
                "rca_url": "https://wiki.example/rca/1",
                "source": "alert:alertmanager",
                "refs": {"slack_channel": "C1"},
                "version": 5,
                "declared_by": ALICE,
            },
            {
                "id": 2,
                "ref": "INC-2",
                "title": "Slow search",
                "description": "",
                "severity": "SEV4",
                "status": "identified",
                "public": False,
                "components": {},
                "roles": {},
                "labels": {},
                "started_at": _at(60 * 24 * 3),
                "declared_at": _at(60 * 24 * 3),
                "acknowledged_at": None,
                "mitigated_at": None,
                "resolved_at": None,
                "last_update_at": None,
                "rca_url": None,
                "source": "cli",
                "refs": {},
                "version": 1,
                "declared_by": None,
            },
        ],
        "incident_components": [{"incident_id": 1, "component": "api"}],
        "incident_labels": [{"incident_id": 1, "key": "alert_group", "value": "checkout"}],
        "events": [
            {
                "id": 1,
                "incident_id": 1,
                "at": _at(2),
                "actor": ALICE,
                "kind": "declared",
                "data": {"severity": "SEV1"},
                "public": True,
            },
            {
                "id": 2,
                "incident_id": 1,
                "at": _at(20),
                "actor": ALICE,
                "kind": "update_posted",
                "data": {"message": "internal: rolled back"},
                "public": False,
            },
            {
                "id": 3,
                "incident_id": 2,
                "at": _at(60 * 24 * 3),
                "actor": ALICE,
                "kind": "declared",
                "data": {},
                "public": False,
            },
        ],
        "follow_ups": [
            {
                "id": 1,
                "incident_id": 1,
                "title": "Add a canary",
                "created_at": _at(100),
                "owner": ALICE,
                "due": date(2026, 3, 13),
                "done": True,
                "done_at": _at(200),
                "url": "https://github.example/issues/7",
            }
        ],
        "alerts": [
            {
                "id": 1,
                "source": "alertmanager",
                "fingerprint": "fp-1",
                "status": "firing",
                "title": "HighErrorRate",
                "severity": "critical",
                "labels": {"service": "checkout"},
                "started_at": _at(-3),
                "url": "https://am.example/1",
                "description": "5xx > 5%",
                "incident_id": 1,
                "received_at": _at(1),
                "raw": b'{"alerts": []}',
            },
            {
                "id": 2,
                "source": "alertmanager",
                "fingerprint": "fp-1",
                "status": "firing",
                "title": "HighErrorRate",
                "severity": None,
                "labels": {},
                "started_at": _at(-1),
                "url": None,
                "description": "",
                "incident_id": 1,
                "received_at": _at(1.5),
                "raw": None,
            },
        ],
        "deliveries": [
            {
                "event_id": 1,
                "plugin": "slack",
                "incident_id": 1,
                "state": "delivered",
                "attempts": 1,
                "last_error": None,
                "next_attempt_at": None,
                "updated_at": _at(2.1),
            },
            {
                "event_id": 2,
                "plugin": "slack",
                "incident_id": 1,
                "state": "failed",
                "attempts": 3,
                "last_error": "ratelimited",
                "next_attempt_at": _at(25),
                "updated_at": _at(21),
            },
        ],
        "reminders_sent": [{"key": "update:1:1", "incident_id": 1, "at": _at(40)}],
        "components": [
            {
                "key": "api",
                "name": "API",
                "group_name": "Core",
                "description": "Public API",
                "position": 0,
            }
        ],
        "api_tokens": [
            {
                "id": 1,
                "name": "alertmanager",
                "token_hash": "ab" * 32,
                "scope": "write",
                "created_at": _at(-1000),
            }
        ],
        "store_state": [{"id": 1, "change_counter": 41}],
    }


def _rows_0002() -> Rows:
    rows = EFFECTS["0002"](_rows_0001())
    rows["deliveries"][1].update(claimed_by="worker-a", lease_until=_at(26))
    rows["reminders_sent"].append(
        {
            "key": "update:1:2",
            "incident_id": 1,
            "at": _at(65),
            "claimed_by": "worker-b",
            "lease_until": _at(67),
            "sent_at": None,
        }
    )
    return rows


def _rows_0002_metrics() -> Rows:
    # The columns this revision adds are derived on every write, so rows
    # valid at it carry the derived values: the effect computes them.
    return EFFECTS["0002_metrics"](_rows_0002())


def _rows_0004_record() -> Rows:
    rows = EFFECTS["0004_record"](_rows_0002_metrics())
    incidents = rows["incidents"]
    incidents[1].update(detected_at=_at(60 * 24 * 3 - 5))
    duplicate = copy.deepcopy(incidents[1])
    duplicate.update(
        id=3,
        ref="INC-3",
        status="resolved",
        resolved_at=_at(60 * 24 * 3 + 1),
        resolution="duplicate",
        duplicate_of=2,
        ttr_seconds=60.0,
    )
    incidents.append(duplicate)
    rows["api_tokens"][0].update(last_used_at=_at(5), revoked_at=_at(500))
    return rows


def _rows_0005_maintenance() -> Rows:
    rows = EFFECTS["0005_maintenance"](_rows_0004_record())
    rows["maintenances"] = [
        {
            "id": 1,
            "ref": "MNT-1",
            "title": "Database upgrade ✓",
            "scheduled_for": _at(60),
            "scheduled_until": _at(180),
            "status": "in_progress",
            "components": ["db", "api"],
            "auto": True,
            "created_at": _at(-60),
            "created_by": ALICE,
            "started_at": _at(61),
            "completed_at": None,
            "version": 2,
        }
    ]
    rows["maintenance_updates"] = [
        {
            "id": 1,
            "maintenance_id": 1,
            "at": _at(-60),
            "status": "scheduled",
            "body": "Writes pause; reads keep working.",
            "actor": ALICE,
        },
        {
            "id": 2,
            "maintenance_id": 1,
            "at": _at(61),
            "status": "in_progress",
            "body": "Started.",
            "actor": None,
        },
    ]
    return rows


def _rows_0006_subscriptions() -> Rows:
    rows = EFFECTS["0006_subscriptions"](_rows_0005_maintenance())
    rows["subscribers"] = [
        {
            "id": "s-ann",
            "kind": "email",
            "address": "ann@example.com",
            "components": ["api"],
            "consent_at": _at(1),
            "confirmed_at": _at(2),
            "unsubscribed_at": _at(300),
            "secret": "",
        }
    ]
    rows["subscriber_messages"] = [
        {
            "key": "incident:1:event:1:s-ann",
            "subscriber_id": "s-ann",
            "kind": "email",
            "recipient": "ann@example.com",
            "subject": "[crashbot] New incident: API down",
            "text": "API down",
            "html": "<p>API down</p>",
            "headers": {"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
            "created_at": _at(3),
            "state": "failed",
            "attempts": 1,
            "next_attempt_at": _at(4),
            "last_error": "451",
            "sent_at": None,
            "claimed_by": "w1",
            "lease_until": _at(5),
        }
    ]
    return rows


def _rows_0007_alert_groups() -> Rows:
    rows = EFFECTS["0007_alert_groups"](_rows_0006_subscriptions())
    rows["alerts"][1].update(group_id="g-0123456789abcdef", omitted=12)
    return rows


def _rows_0008_rate_limits() -> Rows:
    rows = EFFECTS["0008_rate_limits"](_rows_0007_alert_groups())
    rows["rate_limits"] = [
        {
            "key": "subscribe:" + "0f" * 20,
            "window_start": T.replace(minute=0, second=0, microsecond=0),
            "window_end": T.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1),
            "attempts": 6,
        }
    ]
    return rows


# -- effects: what each migration does to rows stored before it -------------------------


def _effect_0002(rows: Rows) -> Rows:
    rows = copy.deepcopy(rows)
    for row in rows["deliveries"]:
        row.update(claimed_by=None, lease_until=None)
    for row in rows["reminders_sent"]:
        # Reminders stored before leases were sent when claimed.
        row.update(claimed_by=None, lease_until=None, sent_at=row["at"])
    return rows


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else max(0.0, (end - start).total_seconds())


def _next_business_day_end(started: datetime) -> datetime:
    day = started.date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def _effect_0002_metrics(rows: Rows) -> Rows:
    rows = copy.deepcopy(rows)
    derived: dict[int, dict[str, Any]] = {}
    for row in rows["incidents"]:
        started = row["started_at"]
        values = {
            "tta_seconds": _seconds(started, row["acknowledged_at"]),
            "ttm_seconds": _seconds(started, row["mitigated_at"]),
            "ttr_seconds": _seconds(started, row["resolved_at"]),
            "started_month": started.strftime("%Y-%m"),
        }
        row.update(values, nbd_deadline=_next_business_day_end(started))
        derived[row["id"]] = {
            **values,
            "severity": row["severity"],
            "status": row["status"],
            "started_at": started,
        }
    for row in rows["incident_components"]:
        row.update(derived[row["incident_id"]])
    return rows


def _effect_0004_record(rows: Rows) -> Rows:
    rows = copy.deepcopy(rows)
    for row in rows["incidents"]:
        firsts = [
            a["started_at"]
            for a in rows["alerts"]
            if a["incident_id"] == row["id"] and a["started_at"] is not None
        ]
        alert_declared = row["source"].startswith("alert:")
        row.update(
            detected_at=min(firsts) if alert_declared and firsts else None,
            resolution="resolved" if row["status"] == "resolved" else None,
            duplicate_of=None,
        )
    for row in rows["api_tokens"]:
        row.update(last_used_at=None, revoked_at=None)
    # MTTD: detected (else declared) - started, mirrored on the component rows.
    ttd: dict[int, float] = {}
    for row in rows["incidents"]:
        detected = row["detected_at"] or row["declared_at"]
        ttd[row["id"]] = max(0.0, (detected - row["started_at"]).total_seconds())
        row["ttd_seconds"] = ttd[row["id"]]
    for row in rows["incident_components"]:
        row["ttd_seconds"] = ttd[row["incident_id"]]
    rows["incident_engagements"] = _engagements(rows)
    return rows


def _effect_0007_alert_groups(rows: Rows) -> Rows:
    rows = copy.deepcopy(rows)
    for row in rows["alerts"]:
        # Alerts stored before had no routing group and left nothing out.
        row.update(group_id=None, omitted=0)
    return rows


def _effect_0008_rate_limits(rows: Rows) -> Rows:
    # A new, empty table; nothing stored before changes.
    rows = copy.deepcopy(rows)
    rows.update(rate_limits=[])
    return rows


def _effect_0005_maintenance(rows: Rows) -> Rows:
    # New tables only: every stored row is left as it was.
    rows = copy.deepcopy(rows)
    rows.update(maintenances=[], maintenance_updates=[])
    return rows


def _engagements(rows: Rows) -> list[dict[str, Any]]:
    """Who engaged on each incident since when: people (not system or alert actors)
    who authored an event or were given a role, as crashbot_core.cost counts them."""
    out = []
    for inc in rows["incidents"]:
        found: dict[str, dict[str, Any]] = {}

        def engage(
            actor: dict[str, Any] | None,
            at: datetime,
            role: str | None,
            found: dict[str, dict[str, Any]] = found,
        ) -> None:
            if not actor or actor.get("platform") in ("system", "alert") or not actor.get("id"):
                return
            key = f"{actor.get('platform', '')}:{actor['id']}"
            seen = found.setdefault(key, {"name": actor.get("name") or actor["id"], "since": at})
            seen["since"] = min(seen["since"], at)
            if role is not None:
                seen["role"] = role

        timeline = sorted(
            (e for e in rows["events"] if e["incident_id"] == inc["id"]), key=lambda e: e["id"]
        )
        for event in timeline:
            engage(event["actor"], event["at"], None)
            if event["kind"] == "role_assigned":
                engage(event["data"].get("user"), event["at"], event["data"].get("role"))
        end = inc["resolved_at"] if inc["status"] == "resolved" else None
        for person, e in found.items():
            out.append(
                {
                    "incident_id": inc["id"],
                    "person": person,
                    "name": e["name"],
                    "role": e.get("role") or "",
                    "engaged_from": e["since"],
                    "engaged_seconds": None
                    if end is None
                    else max(0.0, (end - e["since"]).total_seconds()),
                    "severity": inc["severity"],
                    "started_at": inc["started_at"],
                    "started_month": inc["started_month"],
                }
            )
    return out


def _effect_0006_subscriptions(rows: Rows) -> Rows:
    # Two new, empty tables; nothing stored before changes.
    rows = copy.deepcopy(rows)
    rows.update(subscribers=[], subscriber_messages=[])
    return rows


#: Rows valid at each revision (a function, so each test gets its own copy).
FIXTURES: dict[str, Callable[[], Rows]] = {
    "0001": _rows_0001,
    "0002": _rows_0002,
    "0002_metrics": _rows_0002_metrics,
    "0004_record": _rows_0004_record,
    "0005_maintenance": _rows_0005_maintenance,
    "0006_subscriptions": _rows_0006_subscriptions,
    "0007_alert_groups": _rows_0007_alert_groups,
    "0008_rate_limits": _rows_0008_rate_limits,
}

#: What each migration does to the rows stored before it (the base revision has none).
EFFECTS: dict[str, Callable[[Rows], Rows]] = {
    "0002": _effect_0002,
    "0002_metrics": _effect_0002_metrics,
    "0004_record": _effect_0004_record,
    "0005_maintenance": _effect_0005_maintenance,
    "0006_subscriptions": _effect_0006_subscriptions,
    "0007_alert_groups": _effect_0007_alert_groups,
    "0008_rate_limits": _effect_0008_rate_limits,
}
