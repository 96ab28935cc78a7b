"""The service: ids, listeners, tokens, event delivery and optimistic concurrency.

Store-backed tests use the ``bot``/``database_url`` fixtures, so they run on
PostgreSQL as well when ``CRASHBOT_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support import ALICE, BOB, T0

from crashbot_core import (
    Crashbot,
    DeliveryState,
    Event,
    FixedClock,
    Incident,
    RetryAfter,
    TokenScope,
    hookimpl,
    subscribed_when,
)
from crashbot_core.errors import (
    ConfigError,
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from crashbot_core.testing import Recorder, make_crashbot, registered

# --------------------------------------------------------------------------- ids


@pytest.fixture(scope="module")
def idle_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crashbot]:
    """One service for tests that never write (parsing needs no fresh database)."""
    service = make_crashbot(tmp_path_factory.mktemp("idle"))
    yield service
    service.close()


@pytest.mark.parametrize("value", [42, "42", " 42 ", "#42", "INC-42", "inc-42", "Inc-42"])
def test_parse_id_accepts_numbers_hashes_and_refs(idle_bot: Crashbot, value: int | str) -> None:
    assert idle_bot.parse_id(value) == 42


@pytest.mark.parametrize("value", ["", "INC42", "INC-", "OPS-42", "42a", "4 2", "-1", "#", True])
def test_parse_id_refuses_anything_else_with_an_example(idle_bot: Crashbot, value: Any) -> None:
    bot = idle_bot
    with pytest.raises(
        InvalidInput, match="is not an incident id; expected a number or a ref like INC-42"
    ):
        bot.parse_id(value)


def test_parse_id_follows_the_configured_prefix(tmp_path: Any) -> None:
    bot = make_crashbot(tmp_path, config={"crashbot": {"ref_prefix": "OPS"}})
    try:
        inc = bot.declare("DB down")
        assert inc.ref == "OPS-1"
        assert bot.get("OPS-1") == bot.get("#1") == inc
        with pytest.raises(InvalidInput, match="like OPS-42"):
            bot.parse_id("INC-1")
    finally:
        bot.close()


def test_get_unknown_incident_is_not_found(bot: Crashbot) -> None:
    with pytest.raises(NotFound, match=r"^no incident INC-7$"):
        bot.get("INC-7")


# --------------------------------------------------------------------------- commands


def test_declare_defaults_and_sequential_refs(bot: Crashbot) -> None:
    first = bot.declare("DB down", actor=ALICE)
    second = bot.declare("Checkout API returns 500s", severity="P1", components=["api"], actor=BOB)
    assert (first.id, first.ref, first.severity, first.public) == (1, "INC-1", "SEV4", False)
    assert (second.ref, second.severity, second.public) == ("INC-2", "SEV2", True)
    assert second.components == {"api": "partial_outage"}
    assert first.declared_by == ALICE and first.declared_at == T0
    assert [i.ref for i in bot.list()] == ["INC-2", "INC-1"]


def test_components_may_be_one_key(bot: Crashbot) -> None:
    inc = bot.declare("API down", severity="SEV1", components="api")
    assert inc.components == {"api": "major_outage"}


def test_a_follow_up_completed_concurrently_is_done_once(
    two_bots: tuple[Crashbot, Crashbot],
) -> None:
    a, b = two_bots
    inc = a.declare("DB down")
    fu = a.add_follow_up(inc.id, "Add an alert")
    original = a.store.commit

    def commit_after_b(change: Any) -> Any:
        a.store.commit = original  # type: ignore[method-assign]
        b.complete_follow_up(fu.id, actor=BOB)
        return original(change)

    a.store.commit = commit_after_b  # type: ignore[method-assign]
    with pytest.raises(InvalidInput, match="already done"):
        a.complete_follow_up(fu.id, actor=ALICE)
    kinds = [e.kind.value for e in a.timeline(inc.id)]
    assert kinds.count("follow_up_done") == 1


def test_unknown_severity_is_refused_before_anything_is_stored(bot: Crashbot) -> None:
    with pytest.raises(
        InvalidInput, match="unknown severity 'SEV9'; expected one of SEV1/P0/critical"
    ):
        bot.declare("DB down", severity="SEV9")
    assert bot.list() == []


def test_unknown_status_lists_the_statuses(bot: Crashbot) -> None:
    inc = bot.declare("DB down")
    with pytest.raises(InvalidInput, match="unknown status 'fixed'; expected one of investigating"):
        bot.update(inc.id, status="fixed")


def test_rca_on_an_open_incident_is_an_illegal_transition(bot: Crashbot) -> None:
    inc = bot.declare("DB down")
    with pytest.raises(IllegalTransition, match="resolve it first"):
        bot.link_rca(inc.ref, "https://wiki.example.com/rca/1")


def test_follow_ups_are_added_and_completed_with_events(bot: Crashbot, clock: FixedClock) -> None:
    inc = bot.declare("DB down")
    fu = bot.add_follow_up(inc.id, "Add an alert on replication lag", owner=BOB, actor=ALICE)
    assert (fu.id, fu.incident_id, fu.done) == (1, inc.id, False)
    clock.advance(hours=1)
    done = bot.complete_follow_up(fu.id, actor=BOB)
    assert done.done and done.done_at == T0 + timedelta(hours=1)
    assert bot.follow_ups(inc.id) == [done]
    assert [e.kind.value for e in bot.timeline(inc.id)] == [
        "declared",
        "follow_up_added",
        "follow_up_done",
    ]
    with pytest.raises(InvalidInput, match="already done"):
        bot.complete_follow_up(fu.id)
    with pytest.raises(NotFound):
        bot.complete_follow_up(99)


def test_set_refs_merges_and_removes_without_an_event(bot: Crashbot) -> None:
    inc = bot.declare("DB down")
    bot.set_refs(inc.id, **{"slack.channel": "C1", "slack.ts": "1.2"})
    after = bot.set_refs(inc.id, **{"slack.ts": None})
    assert after.refs == {"slack.channel": "C1"}
    assert after.version == 3
    assert len(bot.timeline(inc.id)) == 1


def test_public_timeline_hides_private_incidents_and_internal_events(bot: Crashbot) -> None:
    public = bot.declare("API down", severity="SEV1")
    bot.update(public.id, message="internal note")
    bot.update(public.id, message="We are on it", public=True)
    private = bot.declare("Staging down", severity="SEV4")
    bot.update(private.id, message="We are on it", public=True)
    shown = bot.timeline(public.id, public_only=True)
    assert [e.data.get("message") for e in shown] == [None, "We are on it"]
    assert bot.timeline(private.id, public_only=True) == []


# --------------------------------------------------------------------------- on_event


def test_on_event_receives_every_event_after_commit(bot: Crashbot) -> None:
    seen: list[tuple[str, str, int]] = []

    def listener(incident: Incident, event: Event) -> None:
        # The event is stored when the listener runs: it has its id.
        seen.append((incident.ref, event.kind.value, event.id))

    name = bot.on_event(listener)
    inc = bot.declare("DB down")
    bot.update(inc.id, status="identified", severity="SEV2")
    assert seen == [
        ("INC-1", "declared", 1),
        ("INC-1", "severity_changed", 2),
        ("INC-1", "status_changed", 3),
    ]
    bot.pm.unregister(name=name)
    bot.acknowledge(inc.id)
    assert len(seen) == 3


def test_two_listeners_with_names(bot: Crashbot) -> None:
    a: list[str] = []
    b: list[str] = []
    bot.on_event(lambda i, e: a.append(e.kind.value), name="a")
    bot.on_event(lambda i, e: b.append(e.kind.value), name="b")
    bot.declare("DB down")
    assert a == b == ["declared"]


# --------------------------------------------------------------------------- tokens


def test_tokens_store_only_a_hash_and_respect_scope(bot: Crashbot) -> None:
    secret, token = bot.create_token("grafana", scope="read")
    assert secret.startswith("cbt_") and len(secret) > 40
    assert secret not in token.token_hash
    assert token.scope is TokenScope.READ
    assert bot.authenticate(secret).name == "grafana"
    with pytest.raises(PermissionDenied, match="'grafana' is read-only; this needs a write token"):
        bot.authenticate(secret, scope="write")
    wsecret, _ = bot.create_token("deploy-bot", scope=TokenScope.WRITE)
    assert bot.authenticate(wsecret, scope="write").scope is TokenScope.WRITE
    assert bot.authenticate(wsecret, scope="read").name == "deploy-bot"


def test_token_errors(bot: Crashbot) -> None:
    bot.create_token("grafana")
    with pytest.raises(InvalidInput, match="exists already"):
        bot.create_token("grafana")
    with pytest.raises(InvalidInput, match="token name"):
        bot.create_token("has space")
    with pytest.raises(InvalidInput, match="unknown scope 'admin'; expected read or write"):
        bot.create_token("x", scope="admin")
    with pytest.raises(PermissionDenied, match="an API token is required"):
        bot.authenticate("")
    with pytest.raises(PermissionDenied, match="unknown API token"):
        bot.authenticate("cbt_nope")


def test_env_token_is_a_write_token(tmp_path: Any) -> None:
    bot = make_crashbot(tmp_path, env={"CRASHBOT_API_TOKEN": "s3cret-from-env"})
    try:
        token = bot.authenticate("s3cret-from-env", scope="write")
        assert (token.name, token.scope) == ("CRASHBOT_API_TOKEN", TokenScope.WRITE)
        with pytest.raises(PermissionDenied):
            bot.authenticate("s3cret-from-en", scope="read")
    finally:
        bot.close()


# --------------------------------------------------------------------------- delivery


class Flaky:
    """A notifier whose chat API is down for the first ``failures`` calls."""

    def __init__(self, failures: int, exc: Exception | None = None) -> None:
        self.failures = failures
        self.exc = exc or RuntimeError("chat API is down")
        self.received: list[tuple[int, str]] = []

    @hookimpl
    def crashbot_incident_event(self, incident: Incident, event: Event) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise self.exc
        self.received.append((event.id, event.kind.value))


def test_a_failing_plugin_never_rolls_back_the_incident(bot: Crashbot) -> None:
    flaky, recorder = Flaky(failures=1), Recorder()
    with registered(bot.pm, flaky, "flaky"), registered(bot.pm, recorder, "recorder"):
        inc = bot.declare("DB down", actor=ALICE)
    assert bot.get(inc.id).title == "DB down"
    assert recorder.kinds == ["declared"]
    failed = bot.deliveries(failed_only=True)
    assert [(d.event_id, d.plugin, d.state, d.attempts) for d in failed] == [
        (1, "flaky", DeliveryState.FAILED, 1)
    ]
    assert failed[0].last_error == "RuntimeError: chat API is down"
    assert failed[0].next_attempt_at is not None and failed[0].next_attempt_at > T0


def test_retry_delivers_failed_events_once_and_in_order(bot: Crashbot, clock: FixedClock) -> None:
    flaky = Flaky(failures=1)
    with registered(bot.pm, flaky, "flaky"):
        inc = bot.declare("DB down", actor=ALICE)  # event 1 fails
        clock.advance(seconds=1)
        bot.acknowledge(inc.id, actor=BOB)  # event 2 must wait behind event 1
        bot.update(inc.id, message="looking")  # event 3 too
        assert flaky.received == []
        assert bot.retry_deliveries() == 0  # event 1 is not due yet: nothing jumps the queue
        assert flaky.received == []
        clock.advance(minutes=1)
        assert bot.retry_deliveries() == 3
        assert flaky.received == [(1, "declared"), (2, "acknowledged"), (3, "update_posted")]
        assert bot.retry_deliveries() == 0
        assert bot.deliveries(failed_only=True) == []
        states = {(d.event_id, d.plugin): d.state for d in bot.deliveries()}
        assert states[(1, "flaky")] is DeliveryState.DELIVERED
        # Later commands go straight through again.
        bot.resolve(inc.id)
        assert flaky.received[-1] == (4, "resolved")


def test_retry_after_is_honoured(bot: Crashbot, clock: FixedClock) -> None:
    flaky = Flaky(failures=1, exc=RetryAfter(120))
    with registered(bot.pm, flaky, "flaky"):
        bot.declare("DB down")
        (failed,) = bot.deliveries(failed_only=True)
        assert failed.next_attempt_at is not None
        assert failed.next_attempt_at >= T0 + timedelta(seconds=120)
        clock.advance(seconds=60)
        assert bot.retry_deliveries() == 0
        clock.advance(seconds=61)
        assert bot.retry_deliveries() == 1


def test_a_plugin_that_keeps_failing_is_given_up_after_the_horizon(
    bot: Crashbot, clock: FixedClock
) -> None:
    flaky = Flaky(failures=10**6)
    with registered(bot.pm, flaky, "flaky"):
        bot.declare("DB down")
        clock.advance(hours=25)
        assert bot.retry_deliveries() == 0
    (dead,) = bot.deliveries(failed_only=True)
    assert (dead.plugin, dead.state, dead.attempts) == ("flaky", DeliveryState.DEAD, 2)


def test_a_delivery_to_an_uninstalled_plugin_is_dead(bot: Crashbot, clock: FixedClock) -> None:
    with registered(bot.pm, Flaky(failures=1), "flaky"):
        bot.declare("DB down")
    clock.advance(minutes=5)
    assert bot.retry_deliveries() == 0
    (dead,) = bot.deliveries(failed_only=True)
    assert dead.state is DeliveryState.DEAD
    assert dead.last_error == "plugin is no longer installed"


class Switchable:
    """A notifier that subscribes only while ``configured`` is set."""

    def __init__(self, configured: bool) -> None:
        self.configured = configured
        self.received: list[str] = []

        @subscribed_when(lambda _crashbot: self.configured)
        def crashbot_incident_event(event: Event) -> None:
            self.received.append(event.kind.value)

        self.crashbot_incident_event = hookimpl(crashbot_incident_event)


def test_an_unconfigured_plugin_gets_no_deliveries(bot: Crashbot) -> None:
    inert, recorder = Switchable(configured=False), Recorder()
    with registered(bot.pm, inert, "inert"), registered(bot.pm, recorder, "recorder"):
        inc = bot.declare("DB down", actor=ALICE)
        bot.acknowledge(inc.id, actor=BOB)
        assert inert.received == []
        assert recorder.kinds == ["declared", "acknowledged"]
        assert {d.plugin for d in bot.deliveries()} == {"recorder"}
        # Configured later: it gets what happens from then on, never the past.
        inert.configured = True
        bot.update(inc.id, message="looking")
        assert inert.received == ["update_posted"]
        assert bot.retry_deliveries() == 0
        assert inert.received == ["update_posted"]
        assert bot.deliveries(failed_only=True) == []


class SwitchableFlaky(Flaky):
    """A :class:`Flaky` notifier that subscribes only while ``configured`` is set."""

    def __init__(self, failures: int) -> None:
        super().__init__(failures)
        self.configured = True

        @subscribed_when(lambda _crashbot: self.configured)
        def crashbot_incident_event(incident: Incident, event: Event) -> None:
            Flaky.crashbot_incident_event(self, incident, event)

        self.crashbot_incident_event = hookimpl(crashbot_incident_event)  # type: ignore[method-assign]


def test_a_plugin_configured_away_still_gets_its_recorded_retries(
    bot: Crashbot, clock: FixedClock
) -> None:
    flaky = SwitchableFlaky(failures=1)
    with registered(bot.pm, flaky, "flaky"):
        inc = bot.declare("DB down")  # recorded, fails
        flaky.configured = False
        bot.acknowledge(inc.id)  # not recorded for flaky
        clock.advance(minutes=1)
        assert bot.retry_deliveries() == 1
        assert flaky.received == [(1, "declared")]


def test_a_failing_subscription_check_keeps_the_plugin_subscribed(
    bot: Crashbot, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_crashbot: Crashbot) -> bool:
        raise KeyError("settings")

    received: list[str] = []

    class Plugin:
        @hookimpl
        @subscribed_when(broken)
        def crashbot_incident_event(self, event: Event) -> None:
            received.append(event.kind.value)

    with registered(bot.pm, Plugin(), "careful"):
        bot.declare("DB down")
    assert received == ["declared"]
    assert "subscribed_when of plugin careful failed" in caplog.text


def test_builtin_plugins_subscribe_only_when_configured(tmp_path: Path) -> None:
    idle = make_crashbot(tmp_path)
    try:
        idle.declare("Nothing set up")
        assert idle.deliveries() == []
    finally:
        idle.close()
    (tmp_path / "busy").mkdir()
    closed_port = "http://127.0.0.1:9/"  # refused at once: every delivery fails fast
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_API_URL": closed_port,
        "DISCORD_WEBHOOK_URL": closed_port + "hook",
    }
    busy = make_crashbot(
        tmp_path / "busy", env=env, config={"postmortem": {"export_on_resolve": ["markdown"]}}
    )
    try:
        busy.declare("Everything set up")
        assert sorted(d.plugin for d in busy.deliveries()) == ["discord", "markdown", "slack"]
    finally:
        busy.close()


# --------------------------------------------------------------------------- store and config


def test_an_unhandled_database_url_is_a_config_error(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="no installed plugin can open database 'mysql://x/y'"):
        make_crashbot(tmp_path, database_url="mysql://x/y")


# --------------------------------------------------------------------------- concurrency


@pytest.fixture
def two_bots(database_url: str, clock: FixedClock) -> Any:
    """Two services on one database, as two replicas or processes would be."""
    a = make_crashbot(database_url=database_url, clock=clock)
    b = make_crashbot(database_url=database_url, clock=clock)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def test_an_interleaved_update_is_not_lost(two_bots: tuple[Crashbot, Crashbot]) -> None:
    a, b = two_bots
    inc = a.declare("DB down")
    original = a.store.commit
    calls = 0

    def commit_after_b(change: Any) -> Any:
        # B saves between A's read and A's write: A's first save must conflict.
        nonlocal calls
        calls += 1
        if calls == 1:
            b.update(inc.id, message="from B")
        return original(change)

    a.store.commit = commit_after_b  # type: ignore[method-assign]
    a.update(inc.id, message="from A", status="identified")
    stored = a.get(inc.id)
    assert stored.version == 3
    assert stored.status.value == "identified"
    messages = [e.data.get("message") for e in a.timeline(inc.id)]
    assert messages == [None, "from B", None, "from A"]
    assert calls == 2  # A re-read and re-ran its command once


def test_a_conflicting_command_fails_with_the_real_reason(
    two_bots: tuple[Crashbot, Crashbot],
) -> None:
    a, b = two_bots
    inc = a.declare("DB down")
    original = a.store.commit

    def commit_after_b(change: Any) -> Any:
        a.store.commit = original  # type: ignore[method-assign]
        b.resolve(inc.id, message="B was faster")
        return original(change)

    a.store.commit = commit_after_b  # type: ignore[method-assign]
    with pytest.raises(IllegalTransition, match="cannot resolve: the incident is resolved"):
        a.resolve(inc.id, message="A too")
    assert a.get(inc.id).version == 2
    assert [e.data.get("message") for e in a.timeline(inc.id)][-1] == "B was faster"


def test_concurrent_updates_from_two_services_are_all_kept(
    two_bots: tuple[Crashbot, Crashbot],
) -> None:
    a, b = two_bots
    inc = a.declare("DB down")
    errors: list[BaseException] = []

    def post(bot: Crashbot, who: str) -> None:
        try:
            for n in range(5):
                bot.update(inc.id, message=f"{who}-{n}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=post, args=(bot, f"{name}{t}"))
        for bot, name in ((a, "a"), (b, "b"))
        for t in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = b.get(inc.id)
    messages = [e.data["message"] for e in b.timeline(inc.id)[1:]]
    assert sorted(messages) == sorted(
        f"{n}{t}-{i}" for n in "ab" for t in range(3) for i in range(5)
    )
    assert stored.version == 1 + 30
