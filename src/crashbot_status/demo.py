"""``crashbot serve --demo``: seed a believable history, once.

Components in groups, about four months of resolved incidents of every
severity (public and private, some with RCA links), and one open incident
with public updates and an internal note. Seeding uses a plugin manager with
no plugins, so nothing is posted to Slack or Discord, and a clock walked
through the past, so every timestamp is plausible.

Idempotent: incidents carry the label ``demo=crashbot``; a store that has
them is left alone, and so is a store that already holds real incidents.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from crashbot_core.clock import FixedClock
from crashbot_core.models import Actor, Component, Impact
from crashbot_core.plugins import get_plugin_manager
from crashbot_core.service import Crashbot
from crashbot_core.store import IncidentFilter

DEMO_LABEL = ("demo", "crashbot")

COMPONENTS = (
    Component("api", "Public API", "Core platform", "REST and GraphQL endpoints", 0),
    Component("web", "Web app", "Core platform", "app.example.com", 1),
    Component("auth", "Sign-in", "Core platform", "Login, SSO and sessions", 2),
    Component("database", "Database", "Data", "Primary PostgreSQL cluster", 3),
    Component("search", "Search", "Data", "", 4),
    Component("storage", "File storage", "Data", "Uploads and attachments", 5),
    Component("webhooks", "Webhooks", "Delivery", "Outbound webhook delivery", 6),
    Component("email", "Email notifications", "Delivery", "", 7),
    Component("push", "Push notifications", "Delivery", "", 8),
)

STORIES = (
    (
        "Elevated error rates on the Public API",
        ["api"],
        "Requests to the API return 5xx errors for some customers.",
    ),
    ("Slow page loads in the web app", ["web"], "Pages take longer than usual to load."),
    ("Sign-in failures for SSO users", ["auth"], "Some users cannot sign in with single sign-on."),
    (
        "Database failover caused write errors",
        ["database", "api"],
        "Writes failed during an unplanned failover.",
    ),
    (
        "Search results are delayed",
        ["search"],
        "New content takes longer than usual to appear in search.",
    ),
    (
        "Uploads failing intermittently",
        ["storage", "web"],
        "Some file uploads fail with a timeout.",
    ),
    ("Webhook deliveries delayed", ["webhooks"], "Webhooks are delivered late; none are lost."),
    ("Email notifications delayed", ["email"], "Notification emails are queued at our provider."),
    (
        "Push notifications not delivered on iOS",
        ["push"],
        "iOS devices do not receive push notifications.",
    ),
    (
        "Partial outage of the Public API in eu-west",
        ["api", "webhooks"],
        "API requests routed to eu-west fail.",
    ),
    ("Increased latency on dashboard queries", ["database", "web"], "Dashboards load slowly."),
)

IDENTIFIED = (
    "We have identified the cause: a configuration change rolled out this morning.",
    "The issue is caused by an overloaded database replica; we are adding capacity.",
    "A third-party provider is degraded; we are routing traffic around it.",
    "A bad deploy has been identified and is being rolled back.",
)
MONITORING = (
    "A fix has been deployed and error rates are back to normal. We are monitoring.",
    "Traffic has been rerouted and the backlog is draining. We are monitoring.",
)
RESOLVED = (
    "This incident has been resolved. We will publish a root cause analysis.",
    "All systems are operating normally. Thank you for your patience.",
    "The backlog has been fully processed and the incident is resolved.",
)
INTERNAL = (
    "Paged the database on-call; looking at replication lag.",
    "Rollback PR is up, waiting for CI.",
    "Customer support reports a spike in tickets from EU customers.",
)


def already_seeded(bot: Crashbot) -> bool:
    """True when demo incidents exist."""
    return bot.store.count_incidents(IncidentFilter(label=DEMO_LABEL)) > 0


def seed(
    bot: Crashbot, *, now: datetime | None = None, days: int = 120, seed_value: int = 7
) -> str:
    """Seed demo data into ``bot``'s store unless already done; returns what happened."""
    if already_seeded(bot):
        return "demo data already present; not seeding again"
    if bot.store.count_incidents(IncidentFilter()) > 0:
        return "the store already holds incidents; not adding demo data"
    end = now or bot.now()
    for c in COMPONENTS:
        if c.key not in {k.key for k in bot.components()}:
            bot.store.upsert_component(c)
    clock = FixedClock(end - timedelta(days=days))
    quiet_pm = get_plugin_manager(entry_points=False, disabled=())
    demo = Crashbot(bot.config, bot.store, quiet_pm, clock=clock)
    rng = random.Random(seed_value)
    levels = [lv.key for lv in bot.policy.levels]
    people = [
        Actor("slack", f"U0{i}", name) for i, name in enumerate(("Ana", "Ben", "Chen", "Dara"))
    ]
    count = 0
    t = clock.now()
    while True:
        t += timedelta(hours=rng.randint(30, 110))
        if t > end - timedelta(days=1):
            break
        clock.set(t)
        title, comps, description = rng.choice(STORIES)
        severity = rng.choice(levels)
        rank = bot.policy.get(severity).rank
        impact = (Impact.MAJOR_OUTAGE, Impact.PARTIAL_OUTAGE, Impact.DEGRADED_PERFORMANCE)[
            min(rank, 2)
        ]
        public = rank <= 1 or rng.random() < 0.6
        who = rng.choice(people)
        inc = demo.declare(
            title,
            actor=who,
            severity=severity,
            description=description,
            public=public,
            components={c: impact for c in comps},
            labels=dict([DEMO_LABEL]),
            source="slack",
        )
        clock.advance(minutes=rng.randint(2, 15))
        demo.assign_role(inc.id, "commander", who)
        clock.advance(minutes=rng.randint(5, 40))
        demo.update(inc.id, actor=who, message=rng.choice(INTERNAL))
        demo.update(
            inc.id, actor=who, status="identified", message=rng.choice(IDENTIFIED), public=True
        )
        clock.advance(minutes=rng.randint(10, 120))
        demo.update(
            inc.id, actor=who, status="monitoring", message=rng.choice(MONITORING), public=True
        )
        clock.advance(minutes=rng.randint(15, 90))
        demo.resolve(inc.id, actor=who, message=rng.choice(RESOLVED))
        if rank <= 1 and rng.random() < 0.7:
            clock.advance(hours=rng.randint(20, 46))
            demo.link_rca(inc.id, f"https://wiki.example.com/rca/{inc.ref.lower()}", actor=who)
        count += 1
        t = clock.now()
    # One incident still open, with public updates and an internal note.
    clock.set(end - timedelta(minutes=47))
    who = people[0]
    open_inc = demo.declare(
        "Webhook deliveries delayed for some customers",
        actor=who,
        severity=levels[min(1, len(levels) - 1)],
        public=True,
        description="Some webhooks are delivered with a delay of up to 20 minutes.",
        components={"webhooks": Impact.PARTIAL_OUTAGE, "email": Impact.DEGRADED_PERFORMANCE},
        labels=dict([DEMO_LABEL]),
        source="slack",
    )
    clock.advance(minutes=4)
    demo.assign_role(open_inc.id, "commander", who)
    clock.advance(minutes=11)
    demo.update(
        open_inc.id, actor=who, message="Queue depth on the delivery workers is 40k and rising."
    )
    clock.advance(minutes=9)
    demo.update(
        open_inc.id,
        actor=who,
        status="identified",
        public=True,
        message="We have identified a slow downstream dependency and are scaling out the delivery workers.",
    )
    clock.advance(minutes=14)
    demo.update(
        open_inc.id,
        actor=who,
        public=True,
        message="Delivery workers have been scaled out; the backlog is draining. Delays are now under 5 minutes.",
    )
    return f"seeded {len(COMPONENTS)} components and {count + 1} demo incidents"
