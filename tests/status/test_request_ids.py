"""Request ids and JSON logs: one id from the HTTP request to the worker's deliveries."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from crashbot_core import Crashbot, FixedClock
from crashbot_core.logs import configure_logging
from crashbot_core.testing import Recorder, make_crashbot
from crashbot_core.worker import Worker
from crashbot_status import create_app


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Every log record of the process, as JSON lines in a buffer."""
    stream = io.StringIO()
    handler = configure_logging("json", "INFO", stream=stream)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture
def served(database_url: str, clock: FixedClock) -> Iterator[tuple[Crashbot, Recorder]]:
    recorder = Recorder()
    bot = make_crashbot(database_url=database_url, clock=clock, plugins={"recorder": recorder})
    bot.defer_deliveries()  # as in `crashbot serve`: the worker delivers
    try:
        yield bot, recorder
    finally:
        bot.close()


def test_the_workers_delivery_logs_the_request_id_of_the_request_that_caused_it(
    served: tuple[Crashbot, Recorder], json_lines: io.StringIO
) -> None:
    bot, recorder = served
    token = bot.create_token("writer", "write")[0]
    client = create_app(bot, {"TESTING": True}).test_client()

    response = client.post(
        "/api/incidents",
        json={"title": "Checkout down", "severity": "SEV2"},
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-0123456789"},
    )
    assert response.status_code == 201
    assert response.headers["X-Request-ID"] == "req-0123456789"
    assert recorder.kinds == []  # nothing delivered in the request

    Worker(bot).run_once()

    assert recorder.kinds == ["declared"]
    lines = parsed(json_lines)
    [request_line] = [r for r in lines if r["logger"] == "crashbot.request"]
    assert request_line["message"] == "POST /api/incidents 201"
    assert request_line["request_id"] == "req-0123456789"
    delivered = [r for r in lines if r.get("plugin") == "recorder"]
    assert delivered and {r["request_id"] for r in delivered} == {"req-0123456789"}
    assert {r["incident"] for r in delivered} == {"INC-1"}
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line)


def test_a_malformed_incoming_request_id_is_replaced_by_a_fresh_one(
    served: tuple[Crashbot, Recorder],
) -> None:
    bot, _ = served
    client = create_app(bot, {"TESTING": True}).test_client()

    mine = client.get("/api/list", headers={"X-Request-ID": "<script>alert(1)</script>"})
    other = client.get("/api/list")

    assert mine.headers["X-Request-ID"] != "<script>alert(1)</script>"
    assert len(mine.headers["X-Request-ID"]) == 32
    assert mine.headers["X-Request-ID"] != other.headers["X-Request-ID"]


def test_text_logs_carry_no_colour_codes_off_a_terminal() -> None:
    stream = io.StringIO()
    handler = configure_logging("text", "INFO", stream=stream)
    try:
        logging.getLogger("crashbot.test").error("store unreachable")
    finally:
        logging.getLogger().removeHandler(handler)
    assert "store unreachable" in stream.getvalue()
    assert "\x1b[" not in stream.getvalue()
