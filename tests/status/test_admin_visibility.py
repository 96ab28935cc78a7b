"""Publishing and unpublishing through the admin API."""

from __future__ import annotations

from flask.testing import FlaskClient
from status_support import auth

from crashbot_core import Crashbot


def test_publish_then_unpublish_moves_the_incident_on_and_off_the_page(
    bot: Crashbot, client: FlaskClient, write_token: str
) -> None:
    inc = bot.declare("Search slow zq8p", severity="SEV4")
    headers = auth(write_token)

    published = client.post(
        f"/api/incidents/{inc.ref}/publish", json={"message": "Search is slow."}, headers=headers
    )
    listed = client.get("/api/list").get_json()
    again = client.post(f"/api/incidents/{inc.id}/publish", headers=headers)
    unpublished = client.post(f"/api/incidents/{inc.id}/unpublish", headers=headers)
    after = client.get("/api/list").get_json()
    twice = client.post(f"/api/incidents/{inc.id}/unpublish", headers=headers)

    assert published.status_code == 200 and published.get_json()["public"] is True
    assert [u["body"] for u in listed["open"][0]["updates"]] == ["Search is slow."]
    assert again.status_code == 409 and again.get_json()["error"] == "conflict"
    assert unpublished.status_code == 200 and unpublished.get_json()["public"] is False
    assert after == {"open": [], "closed": []}
    assert twice.status_code == 409


def test_an_empty_publish_message_is_422_and_changes_nothing(
    bot: Crashbot, client: FlaskClient, write_token: str
) -> None:
    inc = bot.declare("Search slow", severity="SEV4")

    refused = client.post(
        f"/api/incidents/{inc.id}/publish", json={"message": "  "}, headers=auth(write_token)
    )

    assert refused.status_code == 422
    assert bot.get(inc.id).public is False


def test_publishing_needs_a_write_token(
    bot: Crashbot, client: FlaskClient, read_token: str
) -> None:
    inc = bot.declare("Search slow", severity="SEV4")

    assert (
        client.post(f"/api/incidents/{inc.id}/publish", headers=auth(read_token)).status_code == 403
    )
