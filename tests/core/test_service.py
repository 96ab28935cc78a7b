"""The facade: ids, reads, listeners and building from config.

Store-backed tests use the ``bot``/``database_url`` fixtures, so they run on
PostgreSQL as well when ``CRASHBOT_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from crashbot_core import (
    Crashbot,
    Event,
    Incident,
)
from crashbot_core.errors import (
    ConfigError,
    InvalidInput,
    NotFound,
)
from crashbot_core.testing import make_crashbot

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
    # SEV4 → SEV2 (public by default) publishes it too: the public hears of it.
    assert seen == [
        ("INC-1", "declared", 1),
        ("INC-1", "severity_changed", 2),
        ("INC-1", "status_changed", 3),
        ("INC-1", "visibility_changed", 4),
        ("INC-1", "update_posted", 5),
    ]
    bot.pm.unregister(name=name)
    bot.acknowledge(inc.id)
    assert len(seen) == 5


def test_two_listeners_with_names(bot: Crashbot) -> None:
    a: list[str] = []
    b: list[str] = []
    bot.on_event(lambda i, e: a.append(e.kind.value), name="a")
    bot.on_event(lambda i, e: b.append(e.kind.value), name="b")
    bot.declare("DB down")
    assert a == b == ["declared"]


# --------------------------------------------------------------------------- tokens


def test_an_unhandled_database_url_is_a_config_error(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="no installed plugin can open database 'mysql://x/y'"):
        make_crashbot(tmp_path, database_url="mysql://x/y")


# --------------------------------------------------------------------------- concurrency
