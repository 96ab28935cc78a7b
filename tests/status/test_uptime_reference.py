"""The uptime bars equal their day-by-day definition, on random histories."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from crashbot_core.models import Impact, Incident, Status
from crashbot_status import public


def reference(
    key: str, incidents: list[Incident], now: datetime, days: int = public.UPTIME_DAYS
) -> tuple[list[tuple[object, ...]], float]:
    """Every day against every incident, as the bars are defined (slow, obviously right)."""
    first = now.astimezone(UTC).date() - timedelta(days=days - 1)
    out: list[tuple[object, ...]] = []
    total_down = total = 0.0
    for n in range(days):
        start = datetime.combine(first + timedelta(days=n), datetime.min.time(), tzinfo=UTC)
        end = min(start + timedelta(days=1), now)
        if end <= start:
            out.append((first + timedelta(days=n), None, (), 0.0))
            continue
        total += (end - start).total_seconds() / 60
        worst: Impact | None = None
        listed = []
        down = 0.0
        for inc in incidents:
            if not inc.public or key not in inc.components or inc.started_at > now:
                continue
            s, e = max(inc.started_at, start), min(inc.resolved_at or now, end)
            if e < s or (e == s and inc.started_at != s):
                continue
            impact = inc.components[key]
            listed.append((inc.ref, inc.title, impact.value))
            worst = impact if worst is None or impact.rank > worst.rank else worst
            weight = {Impact.MAJOR_OUTAGE: 1.0, Impact.PARTIAL_OUTAGE: public.PARTIAL_WEIGHT}
            down += (e - s).total_seconds() / 60 * weight.get(impact, 0.0)
        down = min(down, (end - start).total_seconds() / 60)
        total_down += down
        out.append((first + timedelta(days=n), worst, tuple(listed), down))
    return out, 100.0 if total == 0 else max(0.0, 100.0 * (1 - total_down / total))


def history(rng: random.Random, now: datetime) -> list[Incident]:
    """Up to 40 incidents over 200 days, some starting or ending at midnight, some open."""
    out = []
    for i in range(rng.randint(0, 40)):
        start = now - timedelta(minutes=rng.randint(-600, 200 * 24 * 60))
        if rng.random() < 0.2:
            start = start.replace(hour=0, minute=0, second=0, microsecond=0)
        length = rng.choice([0, 5, 600, 3000, 24 * 60 * rng.randint(0, 100)])
        end = None if rng.random() < 0.2 else start + timedelta(minutes=length)
        if end is not None and rng.random() < 0.2:
            end = max(start, end.replace(hour=0, minute=0, second=0, microsecond=0))
        keys = rng.sample(["a", "b", "c"], rng.randint(0, 3))
        out.append(
            Incident(
                id=i + 1,
                ref=f"INC-{i + 1}",
                title=f"t{i}",
                severity="SEV2",
                status=Status.RESOLVED if end else Status.INVESTIGATING,
                declared_at=start,
                started_at=start,
                resolved_at=end,
                public=rng.random() < 0.8,
                components={k: rng.choice(list(Impact)) for k in keys},
            )
        )
    return out


@pytest.mark.parametrize("seed", range(8))
def test_uptime_bars_equal_the_day_by_day_definition(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        now = datetime(2026, 3, 2, rng.choice([0, 7, 23]), rng.choice([0, 17]), tzinfo=UTC)
        incidents = history(rng, now)
        for key in "abc":
            days, uptime = public.uptime_days(key, incidents, now=now)
            bars = [(d.day, d.worst, d.incidents, d.down_minutes) for d in days]
            assert (bars, uptime) == reference(key, incidents, now)
