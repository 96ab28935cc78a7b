"""Maintenance rows: the SQL half of :class:`crashbot_core.store.MaintenanceStore`.

Functions over an open connection; :class:`~crashbot_sqlalchemy.store.SqlStore`
wraps each in its transaction and bumps the change token after a write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from crashbot_core.errors import ConflictError, NotFound
from crashbot_core.models import Actor, Maintenance, MaintenanceStatus, MaintenanceUpdate
from crashbot_sqlalchemy import schema as t


def save(
    conn: Connection, m: Maintenance, *, expected_version: int | None, ref_prefix: str
) -> Maintenance:
    """Insert or version-check-update ``m`` and insert its new updates."""
    values = _row(m)
    if expected_version is None:
        values["version"] = 1
        key = conn.execute(sa.insert(t.maintenances).values(values)).inserted_primary_key
        assert key is not None
        new_id = int(key[0])
        ref = f"{ref_prefix}-{new_id}"
        conn.execute(sa.update(t.maintenances).where(t.maintenances.c.id == new_id).values(ref=ref))
        m = attrs.evolve(m, id=new_id, ref=ref, version=1)
    else:
        values["version"] = expected_version + 1
        done = conn.execute(
            sa.update(t.maintenances)
            .where(t.maintenances.c.id == m.id, t.maintenances.c.version == expected_version)
            .values(values)
        )
        if not done.rowcount:
            found = conn.execute(
                sa.select(t.maintenances.c.version).where(t.maintenances.c.id == m.id)
            ).first()
            if found is None:
                raise NotFound(f"no maintenance {m.ref or m.id}")
            raise ConflictError(
                f"{m.ref} changed meanwhile (version {found[0]}, expected {expected_version})"
            )
        m = attrs.evolve(m, version=expected_version + 1)
    updates = []
    for u in m.updates:
        if u.id == 0:
            row = {
                "maintenance_id": m.id,
                "at": u.at,
                "status": u.status.value,
                "body": u.body,
                "actor": _actor_json(u.actor),
            }
            key = conn.execute(sa.insert(t.maintenance_updates).values(row)).inserted_primary_key
            assert key is not None
            u = attrs.evolve(u, id=int(key[0]))
        updates.append(u)
    return attrs.evolve(m, updates=tuple(updates))


def get(conn: Connection, maintenance_id: int) -> Maintenance | None:
    """One maintenance with its updates, or None."""
    found = _load(conn, sa.select(t.maintenances).where(t.maintenances.c.id == maintenance_id))
    return found[0] if found else None


def listing(
    conn: Connection, *, statuses: Sequence[MaintenanceStatus], limit: int | None
) -> list[Maintenance]:
    """Maintenances newest window first, with their updates (two queries)."""
    query = sa.select(t.maintenances).order_by(
        t.maintenances.c.scheduled_for.desc(), t.maintenances.c.id.desc()
    )
    if statuses:
        query = query.where(t.maintenances.c.status.in_([s.value for s in statuses]))
    if limit is not None:
        query = query.limit(limit)
    return _load(conn, query)


def _load(conn: Connection, query: sa.Select[Any]) -> list[Maintenance]:
    rows = list(conn.execute(query).mappings())
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    u = t.maintenance_updates
    updates: dict[int, list[MaintenanceUpdate]] = {i: [] for i in ids}
    for row in conn.execute(
        sa.select(u).where(u.c.maintenance_id.in_(ids)).order_by(u.c.at, u.c.id)
    ).mappings():
        updates[row["maintenance_id"]].append(
            MaintenanceUpdate(
                id=row["id"],
                at=row["at"],
                status=MaintenanceStatus(row["status"]),
                body=row["body"],
                actor=_actor_from(row["actor"]),
            )
        )
    return [_from(row, tuple(updates[row["id"]])) for row in rows]


def _row(m: Maintenance) -> dict[str, Any]:
    return {
        "title": m.title,
        "scheduled_for": m.scheduled_for,
        "scheduled_until": m.scheduled_until,
        "status": m.status.value,
        "components": list(m.components),
        "auto": m.auto,
        "created_at": m.created_at,
        "created_by": _actor_json(m.created_by),
        "started_at": m.started_at,
        "completed_at": m.completed_at,
    }


def _from(row: RowMapping, updates: tuple[MaintenanceUpdate, ...]) -> Maintenance:
    return Maintenance(
        id=row["id"],
        ref=row["ref"],
        title=row["title"],
        scheduled_for=row["scheduled_for"],
        scheduled_until=row["scheduled_until"],
        status=MaintenanceStatus(row["status"]),
        created_at=row["created_at"],
        components=tuple(row["components"]),
        auto=bool(row["auto"]),
        created_by=_actor_from(row["created_by"]),
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        updates=updates,
        version=row["version"],
    )


def _actor_json(actor: Actor | None) -> dict[str, str] | None:
    return (
        None if actor is None else {"platform": actor.platform, "id": actor.id, "name": actor.name}
    )


def _actor_from(data: Mapping[str, Any] | None) -> Actor | None:
    return None if not data else Actor(data["platform"], data["id"], data.get("name", ""))
