"""Hypothesis: whatever arrives, the intake answers a 202 or a 4xx, never a 5xx, never a half-stored batch."""

from __future__ import annotations

import json
import os
from typing import Any

from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from alerts.alerts_support import (
    GITHUB_SECRET,
    SENTRY_SECRET,
    auth,
    payload,
    stored_alerts,
)
from crashbot_alerts.sources import builtin_sources
from crashbot_alerts.sources._common import hmac_sha256_hex
from crashbot_core import Crashbot

SOURCES = [s.name for s in builtin_sources()]
ALLOWED = {202, 400, 413, 415, 422}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)

FIXTURES = {
    "alertmanager": "alertmanager_firing.json",
    "grafana": "grafana_firing.json",
    "sentry": "sentry_event_alert.json",
    "github_actions": "github_workflow_run_completed.json",
    "generic": None,
    "datadog": "datadog_default_template.json",
}


@st.composite
def mutated_fixture(draw: st.DrawFn) -> tuple[str, bytes]:
    """A vendor payload with one value somewhere replaced by something else."""
    source = draw(st.sampled_from([s for s, f in FIXTURES.items() if f]))
    data: Any = payload(FIXTURES[source] or "")
    node = data
    for _ in range(draw(st.integers(0, 4))):
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node)))
            if isinstance(node[key], dict | list) and draw(st.booleans()):
                node = node[key]
                continue
            node[key] = draw(json_values)
            break
        if isinstance(node, list) and node:
            index = draw(st.integers(0, len(node) - 1))
            if isinstance(node[index], dict | list) and draw(st.booleans()):
                node = node[index]
                continue
            node[index] = draw(json_values)
            break
        break
    return source, json.dumps(data).encode()


bodies = (
    st.tuples(st.sampled_from(SOURCES), st.binary(max_size=300))
    | st.tuples(st.sampled_from(SOURCES), json_values.map(lambda v: json.dumps(v).encode()))
    | mutated_fixture()
)


def headers_for(source: str, body: bytes, content_type: str) -> dict[str, str]:
    headers = {**auth(), "Content-Type": content_type}
    if source == "sentry":
        headers["Sentry-Hook-Resource"] = "event_alert"
        headers["Sentry-Hook-Signature"] = hmac_sha256_hex(SENTRY_SECRET, body)
    if source == "github_actions":
        headers["X-GitHub-Event"] = "workflow_run"
        headers["X-Hub-Signature-256"] = "sha256=" + hmac_sha256_hex(GITHUB_SECRET, body)
    return headers


@settings(
    # Derandomized in CI (tests/conftest.py); CRASHBOT_FUZZ_EXAMPLES=N explores N fresh ones.
    max_examples=int(os.environ.get("CRASHBOT_FUZZ_EXAMPLES", "0")) or 150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    case=bodies,
    content_type=st.sampled_from(
        ["application/json", "application/json; charset=utf-8", "text/plain"]
    ),
)
def test_garbage_never_gets_a_5xx_and_a_refusal_stores_nothing(
    client: FlaskClient, intake_bot: Crashbot, case: tuple[str, bytes], content_type: str
) -> None:
    source, body = case
    before = len(stored_alerts(intake_bot))

    response = client.post(
        f"/api/alerts/{source}", data=body, headers=headers_for(source, body, content_type)
    )

    event(f"status {response.status_code}")
    assert response.status_code in ALLOWED, response.get_data(as_text=True)
    reply = response.json
    after = len(stored_alerts(intake_bot))
    if response.status_code == 202:
        assert after - before == reply["accepted"]
        assert all(a["id"] > 0 for a in reply["alerts"])
    else:
        assert set(reply) == {"error", "reason"} and reply["reason"]
        assert after == before
