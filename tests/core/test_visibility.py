"""Visibility: publish, unpublish, and promotion to a severity that is public by default."""

from __future__ import annotations

import pytest
from support import ALICE, BOB

from crashbot_core import Crashbot
from crashbot_core.errors import InvalidInput
from crashbot_core.models import EventKind


def _public_messages(bot: Crashbot, incident_id: int) -> list[str]:
    return [e.data["message"] for e in bot.timeline(incident_id, public_only=True)]


def test_publish_makes_its_message_the_first_public_update(bot: Crashbot) -> None:
    inc = bot.declare("Checkout slow", severity="SEV4", actor=ALICE)
    bot.update(inc.id, message="db-7 is swapping", actor=ALICE)  # internal

    published = bot.publish(inc.id, message="Checkout is slow for some customers.", actor=BOB)

    assert published.public is True
    assert _public_messages(bot, inc.id) == ["Checkout is slow for some customers."]
    changed = [e for e in bot.timeline(inc.id) if e.kind is EventKind.VISIBILITY_CHANGED]
    assert [(e.data["to"], e.actor.id, e.public) for e in changed] == [("public", "bob", False)]


def test_publish_without_a_message_uses_the_configured_sentence(bot: Crashbot) -> None:
    inc = bot.declare("Checkout slow", actor=ALICE)

    bot.publish(inc.id)

    assert _public_messages(bot, inc.id) == ["We are investigating an issue affecting our service."]


def test_publishing_twice_or_unpublishing_a_private_incident_is_a_conflict(
    bot: Crashbot,
) -> None:
    inc = bot.declare("Checkout slow", actor=ALICE)

    with pytest.raises(InvalidInput, match="is not public") as private:
        bot.unpublish(inc.id)
    bot.publish(inc.id)
    with pytest.raises(InvalidInput, match="is public already") as public:
        bot.publish(inc.id)

    assert private.value.http_status == public.value.http_status == 409


def test_promotion_to_a_public_level_publishes_the_incident(bot: Crashbot) -> None:
    inc = bot.declare("Checkout slow", severity="SEV4", actor=ALICE)

    promoted = bot.update(inc.id, severity="SEV1", actor=ALICE)

    assert promoted.public is True
    assert _public_messages(bot, inc.id) == ["We are investigating an issue affecting our service."]


def test_an_explicit_unpublish_survives_a_promotion(bot: Crashbot) -> None:
    inc = bot.declare("Checkout slow", severity="SEV2", actor=ALICE)
    assert inc.public is True
    bot.unpublish(inc.id, actor=ALICE)

    promoted = bot.update(inc.id, severity="SEV1", actor=ALICE)
    republished = bot.publish(inc.id, message="Back on the page.")

    assert promoted.public is False
    assert republished.public is True
    assert "crashbot.unpublished" not in republished.refs


def test_an_incident_declared_private_on_purpose_stays_private_when_promoted(
    bot: Crashbot,
) -> None:
    inc = bot.declare("Payroll export failing", severity="SEV3", public=False, actor=ALICE)

    promoted = bot.update(inc.id, severity="SEV1", actor=ALICE)

    assert promoted.public is False


def test_a_demotion_to_a_public_level_does_not_publish(bot: Crashbot) -> None:
    inc = bot.declare("Checkout slow", severity="SEV1", actor=ALICE)
    bot.unpublish(inc.id)
    quiet = bot.declare("Search slow", severity="SEV3", actor=ALICE)

    demoted = bot.update(inc.id, severity="SEV2", actor=ALICE)
    same = bot.update(quiet.id, severity="SEV3", message="still slow", actor=ALICE)

    assert demoted.public is False
    assert same.public is False
