"""Hostile input on the admin API and the public pages: a 4xx in the JSON error shape, never a 5xx.

One test per input class that once gave a 5xx (issue 15, item 7). They run on
SQLite and, with ``CRASHBOT_TEST_POSTGRES_URL`` set, on PostgreSQL, where
several of them (NUL bytes, ids past the 32-bit column, long label keys) used
to fail inside the database.
"""

from __future__ import annotations

import io

import pytest
from status_support import auth

from crashbot_core import Crashbot


def declare(client, token, **body):
    return client.post("/api/incidents", json={"title": "API errors", **body}, headers=auth(token))


def post_raw(client, token, path, raw: bytes):
    return client.post(path, data=raw, headers={**auth(token), "Content-Type": "application/json"})


def refused(resp, status: int, code: str = "invalid_input") -> str:
    assert resp.status_code == status, resp.get_data(as_text=True)
    data = resp.get_json()
    assert set(data) == {"error", "reason"} and data["error"] == code and data["reason"]
    return data["reason"]


def incident_count(bot: Crashbot) -> int:
    return len(bot.list())


# ---------------------------------------------------------------------------- text


def test_nul_bytes_are_stripped_from_title_description_and_labels(bot, client, write_token):
    resp = declare(
        client,
        write_token,
        title="Check\x00out down",
        description="line one\x00\nline two",
        labels={"te\x00am": "pay\x00ments"},
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    stored = bot.get(resp.get_json()["id"])
    assert stored.title == "Checkout down"
    assert stored.description == "line one\nline two"
    assert stored.labels == {"team": "payments"}


def test_nul_bytes_are_stripped_from_update_messages(bot, client, write_token):
    inc = bot.declare("DB slow")
    resp = client.post(
        f"/api/incidents/{inc.id}/updates",
        json={"message": "rolled\x00 back"},
        headers=auth(write_token),
    )
    assert resp.status_code == 201
    assert bot.timeline(inc.id)[-1].data["message"] == "rolled back"


def test_control_characters_are_stripped_from_titles(bot, client, write_token):
    resp = declare(client, write_token, title="\x1b[31mRed\x1b[0m\talert\x07")
    assert resp.status_code == 201
    assert bot.get(resp.get_json()["id"]).title == "[31mRed[0m alert"


def test_a_title_of_only_control_characters_is_422(bot, client, write_token):
    refused(declare(client, write_token, title="\x00\x01 \x7f"), 422)
    assert incident_count(bot) == 0


def test_lone_surrogate_in_a_body_is_422_and_stores_nothing(bot, client, write_token):
    reason = refused(
        post_raw(client, write_token, "/api/incidents", b'{"title": "bad \\ud800 text"}'), 422
    )
    assert "surrogate" in reason
    assert incident_count(bot) == 0


def test_lone_surrogate_in_a_label_key_is_422(bot, client, write_token):
    raw = b'{"title": "x", "labels": {"\\udfff": "v"}}'
    refused(post_raw(client, write_token, "/api/incidents", raw), 422)
    assert incident_count(bot) == 0


def test_label_key_longer_than_its_column_is_422(bot, client, write_token):
    # incident_labels.key is VARCHAR(255) on PostgreSQL; the API allows 128.
    refused(declare(client, write_token, labels={"k" * 300: "v"}), 422)
    assert incident_count(bot) == 0
    resp = declare(client, write_token, labels={"k" * 128: "v"})
    assert resp.status_code == 201
    assert bot.get(resp.get_json()["id"]).labels == {"k" * 128: "v"}


# ---------------------------------------------------------------------------- numbers and JSON


def test_integer_over_pythons_4300_digit_limit_is_422(bot, client, write_token):
    raw = b'{"title": "x", "public": ' + b"9" * 5000 + b"}"
    assert "digits" in refused(post_raw(client, write_token, "/api/incidents", raw), 422)
    assert incident_count(bot) == 0


def test_json_nested_1000_deep_is_422(bot, client, write_token):
    raw = b'{"title": "x", "labels": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    assert "nested" in refused(post_raw(client, write_token, "/api/incidents", raw), 422)
    assert incident_count(bot) == 0


def test_number_too_large_for_a_float_is_422(bot, client, write_token):
    refused(post_raw(client, write_token, "/api/incidents", b'{"title": "x", "n": 1e400}'), 422)


class Trickle(io.BytesIO):
    """A chunked request body as a server hands it over: a little per read()."""

    def read(self, size: int | None = -1) -> bytes:
        return super().read(1000 if size is None or size < 0 else min(size, 1000))

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def post_chunked(client, token, raw: bytes):
    return client.post(
        "/api/incidents",
        input_stream=Trickle(raw),
        headers={**auth(token), "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        # What gunicorn sets for a chunked request: the stream ends where the body does.
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_chunked_body_over_the_limit_is_413_not_422(bot, client, write_token):
    resp = post_chunked(client, write_token, b'{"title": "' + b"x" * 100_000 + b'"}')
    refused(resp, 413, "payload_too_large")
    assert incident_count(bot) == 0


def test_chunked_body_under_the_limit_is_read_whole(bot, client, write_token):
    raw = b'{"title": "chunked", "description": "' + b"d" * 20_000 + b'"}'
    resp = post_chunked(client, write_token, raw)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert bot.get(resp.get_json()["id"]).description == "d" * 20_000


# ---------------------------------------------------------------------------- times


@pytest.mark.parametrize(
    "started_at",
    [
        "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-14:00",  # after year 9999 in UTC
        "2026-02-30T00:00:00Z",  # no such day
        "2026-03-01T00:00:60Z",  # leap second
        "2026-03-01",  # a date is no instant
    ],
)
def test_started_at_outside_what_the_document_allows_is_422(bot, client, write_token, started_at):
    refused(declare(client, write_token, started_at=started_at), 422)
    assert incident_count(bot) == 0


def test_started_at_null_is_422_as_the_document_says(bot, client, write_token):
    refused(declare(client, write_token, started_at=None), 422)


def test_started_at_later_than_the_clock_is_409(bot, client, write_token):
    reason = refused(
        declare(client, write_token, started_at="2999-01-01T00:00:00Z"), 409, "conflict"
    )
    assert "later than the server's clock" in reason


def test_started_at_with_an_offset_is_stored_in_utc(bot, client, write_token):
    resp = declare(client, write_token, started_at="2026-03-02T09:30:00+05:30")
    assert resp.status_code == 201
    assert resp.get_json()["started_at"] == "2026-03-02T04:00:00Z"


# ---------------------------------------------------------------------------- ids and pages


@pytest.mark.parametrize(
    "incident_id",
    [
        "2147483648",
        "999999999999999999",
        "INC-" + "9" * 5000,
        "%2300000000000000000000042000000000",
    ],
)
def test_admin_id_beyond_the_column_range_is_404(client, write_token, incident_id):
    reason = refused(
        client.get(f"/api/incidents/{incident_id}", headers=auth(write_token)), 404, "not_found"
    )
    assert reason.startswith("no incident INC-")


@pytest.mark.parametrize("incident_id", ["A-0", "abc", "INC-", "-1", "4 2"])
def test_admin_text_that_is_no_id_is_422(client, write_token, incident_id):
    refused(client.get(f"/api/incidents/{incident_id}", headers=auth(write_token)), 422)


def test_admin_ref_prefix_is_read_in_any_case(bot, client, write_token):
    inc = bot.declare("x")
    for ref in (f"inc-{inc.id}", f"INC-{inc.id}", f"%23{inc.id}", f"00{inc.id}"):
        assert client.get(f"/api/incidents/{ref}", headers=auth(write_token)).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/incidents/2147483648",
        "/incidents/999999999999999999",
        "/incidents/" + "9" * 5000,
        "/history/page/400000000000000000",
        "/history/page/" + "9" * 5000,
        "/history?page=400000000000000000",
    ],
)
def test_public_ids_and_pages_that_overflow_are_404(client, path):
    resp = client.get(path, headers={"Accept": "application/json"})
    refused(resp, 404, "not_found")


# ---------------------------------------------------------------------------- URLs and windows


@pytest.mark.parametrize(
    "url",
    ["http://[::1", "http://[::1]/rca", "javascript:alert(1)", "https://", "https://wiki\x00.x/"],
)
def test_rca_url_that_is_no_http_url_is_422(bot, client, write_token, url):
    inc = bot.declare("x")
    bot.resolve(inc.id)
    resp = client.post(f"/api/incidents/{inc.id}/rca", json={"url": url}, headers=auth(write_token))
    refused(resp, 422)
    assert bot.get(inc.id).rca_url is None


@pytest.mark.parametrize("since", ["3000000d", "0d", "99999w", "90", "1.5h", ""])
def test_metrics_window_outside_the_document_is_422(client, read_token, since):
    refused(client.get(f"/api/metrics?since={since}", headers=auth(read_token)), 422)


@pytest.mark.parametrize(
    "query",
    ["until=0001-01-01", "until=2026-02-30", "component=%00", "label=novalue", "source=%00"],
)
def test_metrics_filters_outside_the_document_are_422(client, read_token, query):
    refused(client.get(f"/api/metrics?{query}", headers=auth(read_token)), 422)


def test_metrics_filters_the_document_allows_are_answered(bot, client, read_token):
    query = "since=9999w&until=2026-03-02&severity=sev-2&severity=P3&label=team=pay&source=api"
    resp = client.get(f"/api/metrics?{query}", headers=auth(read_token))
    assert resp.status_code == 200, resp.get_data(as_text=True)


# ---------------------------------------------------------------------------- what the document promised


def test_empty_severity_on_an_update_is_422(bot, client, write_token):
    inc = bot.declare("x")
    resp = client.post(
        f"/api/incidents/{inc.id}/updates",
        json={"severity": "", "message": "hello"},
        headers=auth(write_token),
    )
    refused(resp, 422)
    assert [e.kind.value for e in bot.timeline(inc.id)] == ["declared"]


@pytest.mark.parametrize("spelling", ["SEV2", "sev-2", "Sev 2", "p1", "HIGH", "2"])
def test_every_severity_spelling_the_policy_parses_is_accepted(bot, client, write_token, spelling):
    resp = declare(client, write_token, severity=spelling)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert bot.get(resp.get_json()["id"]).severity == "SEV2"


def test_a_change_to_the_current_state_is_409_not_422(bot, client, write_token):
    inc = bot.declare("x", severity="SEV3")
    resp = client.patch(
        f"/api/incidents/{inc.id}", json={"severity": "SEV3"}, headers=auth(write_token)
    )
    assert "nothing changed" in refused(resp, 409, "conflict")
