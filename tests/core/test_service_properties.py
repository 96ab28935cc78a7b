"""Random command sequences through the service and a real store.

After every command: the stored version went up by exactly one and the new
timeline entries are exactly the events delivered to plugins (a refused
command changes neither), and the stored incident keeps its invariants.
Runs on PostgreSQL too when ``CRASHBOT_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from support import ALICE, BOB
from test_lifecycle import EXPLAINED_BY, FIXED

from crashbot_core import Crashbot, FixedClock
from crashbot_core.errors import CrashbotError
from crashbot_core.models import Actor, Event, Impact, Status
from crashbot_core.testing import Recorder, registered

actors = st.sampled_from([ALICE, BOB, Actor("slack", "U123", "Carol")])
severity_texts = st.sampled_from(["SEV1", "sev-2", "3", "P3", "high", "SEV9", "critical"])
status_texts = st.sampled_from(["investigating", "Identified", "monitoring", "resolved", "fixed"])
role_texts = st.sampled_from(["commander", "ic", "cl", "technical-lead", "scribe", "janitor"])
messages = st.one_of(st.none(), st.text(max_size=12))
components = st.dictionaries(
    st.sampled_from(["api", "db", "web", "Bad Key"]), st.sampled_from(list(Impact)), max_size=2
)


def _comparable(events: list[Event]) -> list[tuple[Any, ...]]:
    return [(e.id, e.kind, e.at, e.actor, e.data, e.public) for e in events]


def make_machine(bot: Crashbot, clock: FixedClock, recorder: Recorder) -> type:
    class ServiceMachine(RuleBasedStateMachine):
        @initialize(title=st.sampled_from(["DB down", "Checkout API returns 500s"]))
        def declare(self, title: str) -> None:
            recorder.events.clear()
            self.incident = bot.declare(title, actor=ALICE, severity="SEV2", components=["api"])
            assert self.incident.version == 1
            self.timeline = bot.timeline(self.incident.id)
            assert [e.kind.value for e in self.timeline] == ["declared"]
            assert _comparable([e for _, e in recorder.events]) == _comparable(self.timeline)

        def run(self, command: str, *args: Any, **kwargs: Any) -> None:
            clock.advance(minutes=1)
            recorder.events.clear()
            before = bot.get(self.incident.id)
            try:
                getattr(bot, command)(self.incident.id, *args, **kwargs)
            except CrashbotError as exc:
                assert str(exc)
                assert bot.get(self.incident.id) == before
                assert _comparable(bot.timeline(self.incident.id)) == _comparable(self.timeline)
                assert recorder.events == []
                return
            after = bot.get(self.incident.id)
            timeline = bot.timeline(self.incident.id)
            new_events = timeline[len(self.timeline) :]
            assert _comparable(timeline[: len(self.timeline)]) == _comparable(self.timeline)
            assert after.version == before.version + 1
            assert new_events, f"{command} succeeded without an event"
            # Each event reached the plugin exactly once, in timeline order.
            assert _comparable([e for _, e in recorder.events]) == _comparable(new_events)
            assert all(inc == after for inc, _ in recorder.events)
            kinds = {e.kind for e in new_events}
            for name, allowed in EXPLAINED_BY.items():
                if getattr(before, name) != getattr(after, name):
                    assert kinds & allowed, f"{name} changed; events were {kinds}"
            for name in FIXED:
                assert getattr(before, name) == getattr(after, name)
            self.incident = after
            self.timeline = timeline

        @rule(actor=actors)
        def ack(self, actor: Actor) -> None:
            self.run("acknowledge", actor=actor)

        @rule(
            actor=actors,
            status=st.one_of(st.none(), status_texts),
            severity=st.one_of(st.none(), severity_texts),
            message=messages,
            public=st.booleans(),
        )
        def update(
            self,
            actor: Actor,
            status: str | None,
            severity: str | None,
            message: str | None,
            public: bool,
        ) -> None:
            self.run(
                "update",
                actor=actor,
                status=status,
                severity=severity,
                message=message,
                public=public,
            )

        @rule(role=role_texts, user=actors, actor=actors)
        def assign(self, role: str, user: Actor, actor: Actor) -> None:
            self.run("assign_role", role, user, actor=actor)

        @rule(role=role_texts)
        def unassign(self, role: str) -> None:
            self.run("unassign_role", role, actor=BOB)

        @rule(comps=components)
        def set_components(self, comps: dict[str, Impact]) -> None:
            self.run("set_components", comps, actor=ALICE)

        @rule(actor=actors, message=messages)
        def resolve(self, actor: Actor, message: str | None) -> None:
            self.run("resolve", actor=actor, message=message)

        @rule(actor=actors, message=messages)
        def reopen(self, actor: Actor, message: str | None) -> None:
            self.run("reopen", actor=actor, message=message)

        @rule(url=st.sampled_from(["https://wiki.example.com/rca/1", "wiki/rca"]))
        def rca(self, url: str) -> None:
            self.run("link_rca", url, actor=ALICE)

        @rule(title=st.sampled_from(["Add alerting", ""]))
        def follow_up(self, title: str) -> None:
            self.run("add_follow_up", title, actor=ALICE)

        @invariant()
        def stored_incident_is_consistent(self) -> None:
            inc = bot.get(self.incident.id)
            assert (inc.resolved_at is not None) == (inc.status is Status.RESOLVED)
            if inc.acknowledged_at and inc.resolved_at:
                assert inc.acknowledged_at <= inc.resolved_at
            if inc.rca_url is not None:
                assert any(e.kind.value == "rca_linked" for e in self.timeline)
            # Versions count saves: one for the declare plus one per command.
            assert inc.version == len({e.at for e in self.timeline})

    return ServiceMachine


def test_any_command_sequence_keeps_the_stored_invariants(bot: Crashbot, clock: FixedClock) -> None:
    recorder = Recorder()
    with registered(bot.pm, recorder, name="recorder"):
        run_state_machine_as_test(
            make_machine(bot, clock, recorder),
            settings=settings(
                max_examples=40,
                stateful_step_count=15,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
            ),
        )


def test_a_refused_command_leaves_no_trace(bot: Crashbot) -> None:
    inc = bot.declare("DB down", actor=ALICE)
    before, timeline = bot.get(inc.id), bot.timeline(inc.id)
    for call in (
        lambda: bot.link_rca(inc.id, "https://wiki.example.com/rca/1"),
        lambda: bot.update(inc.id, severity="SEV9"),
        lambda: bot.reopen(inc.id),
        lambda: bot.assign_role(inc.id, "janitor", BOB),
    ):
        try:
            call()
        except CrashbotError:
            pass
        else:  # pragma: no cover - the point of the test
            raise AssertionError("command was not refused")
    assert bot.get(inc.id) == before
    assert bot.timeline(inc.id) == timeline
