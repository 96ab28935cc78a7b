"""Hostile bodies on the alert intake: a 4xx senders do not retry, never a 5xx, nothing stored.

One test per input class that once gave a 5xx (issue 15, item 7). A 5xx here is
worse than elsewhere: Alertmanager, Datadog and GitHub retry on it, forever.
They run on SQLite and, with ``CRASHBOT_TEST_POSTGRES_URL`` set, on PostgreSQL.
"""

from __future__ import annotations

import io
import json
from typing import Any

from flask.testing import FlaskClient

from alerts.alerts_support import auth, stored_alerts
from crashbot_core import Crashbot, hookimpl
from crashbot_core.models import Alert, AlertStatus


def post(client: FlaskClient, body: bytes, source: str = "generic") -> Any:
    return client.post(f"/api/alerts/{source}", data=body, headers=auth())


def refused(response: Any, status: int, code: str, bot: Crashbot) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.json["error"] == code and response.json["reason"]
    assert stored_alerts(bot) == []
    return str(response.json["reason"])


def test_lone_surrogate_is_400_not_503_and_stores_nothing(
    client: FlaskClient, intake_bot: Crashbot
) -> None:
    reason = refused(post(client, b'{"title": "disk \\ud800 full"}'), 400, "bad_json", intake_bot)
    assert "surrogate" in reason


def test_lone_surrogate_in_an_alertmanager_label_is_400(
    client: FlaskClient, intake_bot: Crashbot
) -> None:
    body = (
        b'{"version": "4", "status": "firing", "alerts": [{"status": "firing",'
        b' "labels": {"alertname": "x", "\\udc80": "y"}, "annotations": {}}]}'
    )
    refused(post(client, body, "alertmanager"), 400, "bad_json", intake_bot)


def test_lone_surrogate_escaped_in_upper_case_hex_is_400(
    client: FlaskClient, intake_bot: Crashbot
) -> None:
    body = b'{"title": "disk full", "labels": {"host": "a\\uDFFFb"}}'
    refused(post(client, body), 400, "bad_json", intake_bot)


def test_escaped_surrogate_pair_is_one_character_and_accepted(
    client: FlaskClient, intake_bot: Crashbot
) -> None:
    response = post(client, b'{"title": "disk \\ud83d\\udd25 full", "fingerprint": "fp"}')

    assert response.status_code == 202, response.get_data(as_text=True)
    assert [a["title"] for a in stored_alerts(intake_bot)] == ["disk \U0001f525 full"]


def test_integer_over_pythons_4300_digit_limit_is_400(
    client: FlaskClient, intake_bot: Crashbot
) -> None:
    body = b'{"title": "x", "started_at": ' + b"9" * 5000 + b"}"
    assert "digits" in refused(post(client, body), 400, "bad_json", intake_bot)


def test_json_nested_1000_deep_is_400(client: FlaskClient, intake_bot: Crashbot) -> None:
    body = b'{"title": "x", "labels": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    assert "nested" in refused(post(client, body), 400, "bad_json", intake_bot)


def test_nul_bytes_are_stripped_before_the_store(client: FlaskClient, intake_bot: Crashbot) -> None:
    body = json.dumps(
        {
            "title": "disk\x00 full",
            "description": "on\x00 db-1",
            "labels": {"ho\x00st": "db\x001"},
            "fingerprint": "fp\x00x",
        }
    ).encode()
    response = post(client, body)
    assert response.status_code == 202, response.json
    (row,) = stored_alerts(intake_bot)
    assert row["title"] == "disk full" and row["description"] == "on db-1"
    assert row["labels"] == {"ho st": "db 1"}  # one-line text: a control becomes a space
    assert "\x00" not in row["fingerprint"]


def test_label_key_longer_than_its_column_is_cut_to_fit(
    client: FlaskClient, intake_bot: Crashbot
) -> None:
    body = json.dumps({"title": "x", "labels": {"k" * 1000: "v"}}).encode()
    assert post(client, body).status_code == 202
    (row,) = stored_alerts(intake_bot)
    assert row["labels"] == {"k" * 128: "v"}


def test_time_that_overflows_with_its_offset_is_422(
    client: FlaskClient, intake_bot: Crashbot
) -> None:
    body = json.dumps({"title": "x", "started_at": "9999-12-31T23:59:59-14:00"}).encode()
    assert "not a real date" in refused(post(client, body), 422, "invalid_input", intake_bot)


def test_go_zero_time_with_an_offset_means_no_start(
    client: FlaskClient, intake_bot: Crashbot
) -> None:
    body = json.dumps({"title": "x", "started_at": "0001-01-01T00:00:00+14:00"}).encode()
    assert post(client, body).status_code == 202
    (row,) = stored_alerts(intake_bot)
    assert row["started_at"] is None


def test_url_with_an_unbalanced_ipv6_bracket_is_422(
    client: FlaskClient, intake_bot: Crashbot
) -> None:
    body = json.dumps({"title": "x", "url": "http://[::1"}).encode()
    refused(post(client, body), 422, "invalid_input", intake_bot)


class Trickle(io.BytesIO):
    """A chunked request body as a server hands it over: a little per read()."""

    def read(self, size: int | None = -1) -> bytes:
        return super().read(1000 if size is None or size < 0 else min(size, 1000))

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def post_chunked(client: FlaskClient, body: bytes) -> Any:
    return client.post(
        "/api/alerts/generic",
        input_stream=Trickle(body),
        headers={**auth(), "Transfer-Encoding": "chunked"},
        # What gunicorn sets for a chunked request: the stream ends where the body does.
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_chunked_body_over_the_limit_is_413_not_422(
    client: FlaskClient, intake_bot: Crashbot
) -> None:
    response = post_chunked(client, b'{"title": "' + b"x" * 1_100_000 + b'"}')
    refused(response, 413, "too_large", intake_bot)


def test_chunked_body_under_the_limit_is_read_whole(
    client: FlaskClient, intake_bot: Crashbot
) -> None:
    body = json.dumps({"title": "x", "description": "d" * 15_000}).encode()
    assert post_chunked(client, body).status_code == 202
    (row,) = stored_alerts(intake_bot)
    assert row["description"] == "d" * 15_000


class _CarelessSource:
    """A third-party source that hands the intake whatever the body said, unchecked."""

    name = "careless"
    signature_header = None

    def verify(self, headers: dict[str, str], body: bytes, secret: str | None) -> bool:
        return False

    def parse(self, headers: dict[str, str], body: bytes) -> list[Alert]:
        data = json.loads(body)
        if data.get("crash"):
            raise KeyError("a bug in the parser")
        return [
            Alert(
                source="careless",
                fingerprint=data["fingerprint"],
                status=AlertStatus.FIRING,
                title=data["title"],
                labels=data.get("labels", {}),
            )
        ]


class _CarelessPlugin:
    @hookimpl
    def crashbot_alert_sources(self) -> list[Any]:
        return [_CarelessSource()]


def test_unstorable_text_from_a_third_party_source_is_422_not_503(
    client: FlaskClient, intake_bot: Crashbot
) -> None:
    intake_bot.pm.register(_CarelessPlugin(), name="careless")
    cases = [
        {"title": "a\x00b", "fingerprint": "fp"},
        {"title": "a\ud800b", "fingerprint": "fp"},
        {"title": "x", "fingerprint": "f" * 300},
        {"title": "x", "fingerprint": "fp", "labels": {"k" * 300: "v"}},
    ]
    for case in cases:
        body = json.dumps(case).encode()
        refused(post(client, body, "careless"), 422, "invalid_input", intake_bot)


def test_a_parser_that_crashes_is_422_not_500(client: FlaskClient, intake_bot: Crashbot) -> None:
    intake_bot.pm.register(_CarelessPlugin(), name="careless")
    response = post(client, b'{"crash": true}', "careless")
    refused(response, 422, "unreadable_payload", intake_bot)


def test_an_alert_with_the_most_labels_still_declares_an_incident(
    client: FlaskClient, intake_bot: Crashbot
) -> None:
    labels = {f"k{i}": "v" * 1024 for i in range(200)}  # cut to 64 by the source
    response = post(client, json.dumps({"title": "x", "labels": labels}).encode())
    assert response.status_code == 202, response.json
    (result,) = response.json["alerts"]
    assert result["action"] == "declared"
    incident = intake_bot.get(result["incident"])
    assert len(incident.labels) == 65  # the alert's 64 and crashbot's alert_group
