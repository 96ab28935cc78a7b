"""The admin API and the component catalogue: a misspelt key is refused, adding one is explicit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from status_support import auth

from crashbot_core import Crashbot, FixedClock
from crashbot_core.testing import make_crashbot
from crashbot_status import create_app


@pytest.fixture
def catalogued(database_url: str, clock: FixedClock) -> Iterator[Crashbot]:
    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        config={"components": {"api": {"name": "API"}, "web": {"name": "Website"}}},
    )
    try:
        yield bot
    finally:
        bot.close()


@pytest.fixture
def api(catalogued: Crashbot) -> tuple[FlaskClient, dict[str, str]]:
    client = create_app(catalogued, {"TESTING": True}).test_client()
    return client, auth(catalogued.create_token("ops", "write")[0])


def test_a_misspelt_component_is_422_naming_the_known_ones(
    api: tuple[FlaskClient, dict[str, str]], catalogued: Crashbot
) -> None:
    client, headers = api

    declared = client.post(
        "/api/incidents", json={"title": "Checkout down", "components": ["apii"]}, headers=headers
    )

    assert declared.status_code == 422
    assert declared.get_json()["error"] == "invalid_input"
    assert "known: api, web" in declared.get_json()["reason"]
    assert catalogued.list() == []


def test_new_components_adds_one_and_the_document_lists_the_catalogue(
    api: tuple[FlaskClient, dict[str, str]], catalogued: Crashbot
) -> None:
    client, headers = api

    declared = client.post(
        "/api/incidents",
        json={"title": "Queue stuck", "components": ["queue"], "new_components": True},
        headers=headers,
    )
    moved = client.patch(
        f"/api/incidents/{declared.get_json()['id']}",
        json={"components": {"queue": "major_outage", "api": None}, "new_components": True},
        headers=headers,
    )
    document = client.get("/api/openapi.json").get_json()

    assert declared.status_code == 201, declared.get_json()
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["components"] == {
        "api": "degraded_performance",
        "queue": "major_outage",
    }
    body = document["paths"]["/api/incidents"]["post"]["requestBody"]["content"]
    known = body["application/json"]["schema"]["else"]["properties"]["components"]
    assert known["oneOf"][0]["items"]["enum"] == ["api", "web"]
    refused = client.patch(
        f"/api/incidents/{declared.get_json()['id']}",
        json={"components": ["queue"]},
        headers=headers,
    )
    assert refused.status_code == 422
    assert "send new_components: true to add one" in refused.get_json()["reason"]
