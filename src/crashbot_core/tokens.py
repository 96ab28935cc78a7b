"""API tokens: created with a random secret, stored only as its hash, checked by scope.

Every request looks its token up in the store (one indexed read) and nothing
caches the answer, so a revoke holds on every replica from the next request.
``last_used_at`` is kept to the minute (:data:`LAST_USED_RESOLUTION`): a
request writes it only when the stored value is older than that, so a busy
token costs one write a minute, not one per request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from datetime import timedelta

import attrs

from crashbot_core.clock import Clock
from crashbot_core.errors import InvalidInput, NotFound, PermissionDenied
from crashbot_core.models import ApiToken, TokenScope
from crashbot_core.store import Store

#: Prefix of API token secrets, so leaked ones are easy to grep for.
TOKEN_PREFIX = "cbt_"

#: How precisely ``last_used_at`` is kept: a use within this long of the
#: recorded one is not written.
LAST_USED_RESOLUTION = timedelta(minutes=1)

log = logging.getLogger("crashbot")


def hash_token(secret: str) -> str:
    """The stored form of an API token secret (hex SHA-256)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class Tokens:
    """Creates API tokens and authenticates bearer secrets.

    :param env_token: ``CRASHBOT_API_TOKEN``: accepted as a write token and
        stored nowhere.
    """

    def __init__(self, store: Store, clock: Clock, *, env_token: str | None = None) -> None:
        self.store = store
        self.clock = clock
        self.env_token = env_token

    def create(self, name: str, scope: TokenScope | str = TokenScope.READ) -> tuple[str, ApiToken]:
        """Create an API token; returns ``(secret, stored token)``. Only the hash is stored.

        The secret is shown once; it is 32 random bytes, so a plain SHA-256
        hash is enough to make the stored value useless to a thief.
        """
        label = name.strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}", label):
            raise InvalidInput(f"token name {name!r}: use letters, digits, '.', '_' or '-'")
        try:
            the_scope = TokenScope(scope)
        except ValueError:
            raise InvalidInput(f"unknown scope {scope!r}; expected read or write") from None
        for existing in self.store.tokens():
            if existing.name == label:
                # A revoked token keeps its name: its record says who used what, when.
                revoked = " (revoked)" if existing.revoked_at is not None else ""
                raise InvalidInput(f"a token named {label!r} exists already{revoked}")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(
            name=label, token_hash=hash_token(secret), scope=the_scope, created_at=self.clock.now()
        )
        return secret, self.store.create_token(token)

    def authenticate(
        self, secret: str | None, scope: TokenScope | str = TokenScope.READ
    ) -> ApiToken:
        """The token for a bearer secret, if it grants ``scope`` (``write`` implies ``read``).

        :raises PermissionDenied: on a missing, unknown or under-scoped token.
        """
        wanted = TokenScope(scope)
        if not secret:
            raise PermissionDenied("an API token is required (Authorization: Bearer TOKEN)")
        if self.env_token and hmac.compare_digest(secret.encode(), self.env_token.encode()):
            return ApiToken(
                name="CRASHBOT_API_TOKEN",
                token_hash="",
                scope=TokenScope.WRITE,
                created_at=self.clock.now(),
            )
        token = self.store.find_token(hash_token(secret))
        if token is None:
            raise PermissionDenied("unknown API token")
        if token.revoked_at is not None:
            raise PermissionDenied(f"API token {token.name!r} was revoked")
        token = self._note_use(token)
        return self.check_scope(token, wanted)

    def check_scope(self, token: ApiToken, scope: TokenScope | str) -> ApiToken:
        """``token`` if it grants ``scope`` (``write`` implies ``read``), without a store read.

        :raises PermissionDenied: for a read token where ``write`` is needed.
        """
        if TokenScope(scope) is TokenScope.WRITE and token.scope is not TokenScope.WRITE:
            raise PermissionDenied(f"token {token.name!r} is read-only; this needs a write token")
        return token

    def _note_use(self, token: ApiToken) -> ApiToken:
        """Record that ``token`` was used now, if the stored time is over a minute old."""
        now = self.clock.now()
        since = now - LAST_USED_RESOLUTION
        if token.last_used_at is not None and token.last_used_at > since:
            return token
        try:
            self.store.touch_token(token.id, now, unless_since=since)
        except Exception:
            # Bookkeeping: a store that refuses writes just now (a standby
            # after a failover) must not turn away a request it can answer.
            log.warning("could not record the use of API token %r", token.name, exc_info=True)
            return token
        return attrs.evolve(token, last_used_at=now)

    def all(self) -> list[ApiToken]:
        """Every stored token, oldest first (revoked ones too); secrets are never stored."""
        return self.store.tokens()

    def revoke(self, name: str) -> ApiToken:
        """Revoke the token named ``name``: from the next request on, it gets 401 everywhere.

        Revoking a revoked token changes nothing (it keeps its first revocation time).

        :raises NotFound: when no token has this name.
        """
        token = self.store.revoke_token(name.strip(), self.clock.now())
        if token is None:
            raise NotFound(f"no API token named {name.strip()!r}; see crashbot token list")
        return token
