"""The OpenAPI document matches the app: schemathesis drives every operation with every check.

All checks run, not only "no server error": a request the document allows must
be accepted or refused only by state (404, 409: a ``started_at`` later than the
server's clock is a rule JSON Schema cannot state, and a 409), and one it
forbids must be refused. Times out of order and a duplicate of itself are the
two 422s the document states only in words. CI runs a fixed, derandomized set of examples, so a run fails the same
way twice. To explore further, raise the budget and let Hypothesis pick new
examples (see docs/reliability.md)::

    CRASHBOT_FUZZ_EXAMPLES=2000 pytest tests/status/test_openapi_schemathesis.py
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from status_support import open_incident

from crashbot_status import create_app

#: Unset: the CI budget, derandomized. Set: that many examples, freshly random.
FUZZ_EXAMPLES = int(os.environ.get("CRASHBOT_FUZZ_EXAMPLES", "0"))


@pytest.fixture
def api_setup(bot):
    open_incident(bot)
    resolved = bot.declare("Old outage", severity="SEV3")
    bot.resolve(resolved.id)
    secret = bot.create_token("schemathesis", "write")[0]
    app = create_app(bot, {"CHANGE_TOKEN_TTL": 0})
    return app, secret


def config(secret: str) -> SchemathesisConfig:
    """Checks as the document states them, the token as the document's bearer scheme.

    Giving the token through the scheme (not as a header of each call) tells
    schemathesis that requests carry it, so it does not count a request as
    "missing Authorization" and then see it accepted.
    """
    return SchemathesisConfig.from_dict(
        {
            "auth": {"openapi": {"bearer": {"bearer": secret}}},
            # 413 is the transport's answer, not the document's: a body the schema
            # allows (20,000 characters sent as \uXXXX escapes) can exceed the app's
            # 64 KiB limit, checked before the body is read, valid or not.
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "3xx", 401, 403, 404, 409, 413, 429]
                },
                "negative_data_rejection": {
                    "expected-statuses": [
                        400,
                        401,
                        403,
                        404,
                        405,
                        406,
                        409,
                        413,
                        415,
                        422,
                        428,
                        429,
                    ]
                },
            },
        }
    )


@pytest.fixture
def api_schema(api_setup):
    app, secret = api_setup
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app, config=config(secret))


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES or 25,
    derandomize=not FUZZ_EXAMPLES,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_openapi_document(case):
    response = case.call()
    # Two rules the document states in words, as JSON Schema cannot: an
    # incident's times keep their order, and an incident is no duplicate of
    # itself. Refusing them is the documented 422, naming the rule.
    if response.status_code == 422:
        reason = response.json().get("reason", "")
        if "times must keep the order" in reason or "duplicate of itself" in reason:
            return
    # No ``checks=``: every check schemathesis has, positive and negative data alike.
    case.validate_response(response)
