"""API tokens: hashed at rest, scoped, and the environment token (crashbot_core.tokens)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from support import T0

from crashbot_core import (
    Crashbot,
    FixedClock,
    TokenScope,
)
from crashbot_core.errors import (
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from crashbot_core.testing import make_crashbot


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


def test_a_revoked_token_authenticates_nothing_and_keeps_its_record(
    bot: Crashbot, clock: FixedClock
) -> None:
    secret, _ = bot.create_token("grafana", scope="write")
    bot.authenticate(secret)
    clock.advance(minutes=5)

    revoked = bot.revoke_token("grafana")

    assert revoked.revoked_at == T0 + timedelta(minutes=5)
    with pytest.raises(PermissionDenied, match="API token 'grafana' was revoked"):
        bot.authenticate(secret)
    clock.advance(minutes=5)
    assert bot.revoke_token(" grafana ").revoked_at == T0 + timedelta(minutes=5)
    [listed] = bot.list_tokens()
    assert (listed.name, listed.last_used_at, listed.revoked_at) == (
        "grafana",
        T0,
        T0 + timedelta(minutes=5),
    )
    with pytest.raises(InvalidInput, match="a token named 'grafana' exists already \\(revoked\\)"):
        bot.create_token("grafana")
    with pytest.raises(NotFound, match="no API token named 'grafna'; see crashbot token list"):
        bot.revoke_token("grafna")


def test_last_use_is_kept_to_the_minute(bot: Crashbot, clock: FixedClock) -> None:
    secret, _ = bot.create_token("grafana")
    assert bot.list_tokens()[0].last_used_at is None

    assert bot.authenticate(secret).last_used_at == T0
    clock.advance(seconds=59)
    assert bot.authenticate(secret).last_used_at == T0  # within the minute: not written
    assert bot.list_tokens()[0].last_used_at == T0
    clock.advance(seconds=1)
    assert bot.authenticate(secret).last_used_at == T0 + timedelta(minutes=1)
    assert bot.list_tokens()[0].last_used_at == T0 + timedelta(minutes=1)


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
