"""Components, API tokens and the change token."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlstore_support import T0

from crashbot_core.errors import InvalidInput
from crashbot_core.models import ApiToken, Component, TokenScope
from crashbot_sqlalchemy.store import SqlStore


def test_components_are_created_replaced_and_ordered(store: SqlStore) -> None:
    store.upsert_component(Component(key="web", name="Website", position=2))
    store.upsert_component(Component(key="api", name="API", group="Backend", position=1))
    store.upsert_component(Component(key="db", position=1))
    store.upsert_component(
        Component(key="web", name="Storefront", group="Frontend", description="shop", position=0)
    )

    assert store.components() == [
        Component(key="web", name="Storefront", group="Frontend", description="shop", position=0),
        Component(key="api", name="API", group="Backend", position=1),
        Component(key="db", position=1),
    ]


def test_change_token_changes_when_components_change(store: SqlStore) -> None:
    before = store.change_token()

    store.upsert_component(Component(key="api"))

    assert store.change_token() != before


def test_tokens_are_stored_found_by_hash_and_listed(store: SqlStore) -> None:
    ci = store.create_token(ApiToken("ci", "hash-ci", TokenScope.WRITE, T0))
    dash = store.create_token(
        ApiToken("dashboard", "hash-dash", TokenScope.READ, T0 + timedelta(1))
    )

    assert (ci.id, dash.id) == (1, 2)
    assert store.find_token("hash-dash") == dash
    assert store.find_token("nope") is None
    assert store.tokens() == [ci, dash]


def test_token_names_are_unique(store: SqlStore) -> None:
    store.create_token(ApiToken("ci", "hash-1", TokenScope.WRITE, T0))

    with pytest.raises(InvalidInput, match="'ci' already exists"):
        store.create_token(ApiToken("ci", "hash-2", TokenScope.READ, T0))

    assert [t.token_hash for t in store.tokens()] == ["hash-1"]
