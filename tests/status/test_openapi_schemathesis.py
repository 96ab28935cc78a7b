"""The OpenAPI document matches the app: schemathesis drives every operation (bounded)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi import checks as oa_checks
from status_support import open_incident

from crashbot_status import create_app


@pytest.fixture
def api_setup(bot):
    open_incident(bot)
    secret = bot.create_token("schemathesis", "write")[0]
    app = create_app(bot, {"CHANGE_TOKEN_TTL": 0})
    return app, secret


@pytest.fixture
def api_schema(api_setup):
    app, _ = api_setup
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_openapi_document(case, api_setup):
    _, secret = api_setup
    case.call_and_validate(
        headers={"Authorization": f"Bearer {secret}"},
        checks=[
            schemathesis.checks.not_a_server_error,
            oa_checks.status_code_conformance,
            oa_checks.content_type_conformance,
            oa_checks.response_schema_conformance,
        ],
    )
