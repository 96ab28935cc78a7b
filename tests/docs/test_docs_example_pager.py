"""The example plugin of the plugin author's guide works as documented."""

from __future__ import annotations

import importlib
import json
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from pytest_httpserver import HTTPServer
from support import ALICE
from werkzeug import Request, Response

from crashbot_core import Crashbot, DeliveryState, FixedClock
from crashbot_core.testing import make_crashbot

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "my-pager"


@pytest.fixture
def pager_module() -> Iterator[ModuleType]:
    """Import the example package from its source folder, as an installed copy would be."""
    sys.path.insert(0, str(EXAMPLE / "src"))
    try:
        yield importlib.import_module("my_pager")
    finally:
        sys.path.remove(str(EXAMPLE / "src"))
        sys.modules.pop("my_pager", None)


@pytest.fixture
def paged_bot(
    pager_module: ModuleType, httpserver: HTTPServer, database_url: str, clock: FixedClock
) -> Iterator[Crashbot]:
    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        plugins={"my_pager": pager_module},
        config={"my_pager": {"api_url": httpserver.url_for("/v2/enqueue")}},
        env={"MY_PAGER_ROUTING_KEY": "R0UT1NGKEY"},
    )
    try:
        yield bot
    finally:
        bot.close()


def _accept(request: Request) -> Response:
    body = request.get_json()
    return Response(
        json.dumps(
            {"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]}
        ),
        status=202,
        content_type="application/json",
    )


def test_example_declares_its_entry_point_in_the_crashbot_group() -> None:
    meta = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["crashbot"] == {"my_pager": "my_pager"}


def test_sev1_lifecycle_triggers_acknowledges_and_resolves_the_page(
    paged_bot: Crashbot, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v2/enqueue", method="POST").respond_with_handler(_accept)
    inc = paged_bot.declare("Checkout down", severity="SEV1", actor=ALICE, components=["api"])
    paged_bot.acknowledge(inc.id, actor=ALICE)
    paged_bot.resolve(inc.id, actor=ALICE, message="fixed")

    sent = [json.loads(req.data) for req, _ in httpserver.log]
    assert [b["event_action"] for b in sent] == ["trigger", "acknowledge", "resolve"]
    assert {b["dedup_key"] for b in sent} == {"INC-1"}
    assert all(b["routing_key"] == "R0UT1NGKEY" for b in sent)
    trigger = sent[0]["payload"]
    assert trigger["severity"] == "critical"
    assert trigger["summary"] == "INC-1 [SEV1] Checkout down"
    assert trigger["component"] == "api"


def test_low_severity_incidents_do_not_page_until_escalated(
    paged_bot: Crashbot, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v2/enqueue", method="POST").respond_with_handler(_accept)
    inc = paged_bot.declare("Slow search", severity="SEV3", actor=ALICE)
    assert httpserver.log == []
    paged_bot.update(inc.id, severity="SEV2", actor=ALICE)
    sent = [json.loads(req.data) for req, _ in httpserver.log]
    assert [(b["event_action"], b["payload"]["severity"]) for b in sent] == [("trigger", "error")]


def test_rate_limited_page_is_retried_after_the_delay_pagerduty_asked_for(
    paged_bot: Crashbot, httpserver: HTTPServer, clock: FixedClock
) -> None:
    httpserver.expect_ordered_request("/v2/enqueue").respond_with_data(
        '{"status":"throttle event"}', status=429, headers={"Retry-After": "120"}
    )
    httpserver.expect_ordered_request("/v2/enqueue").respond_with_handler(_accept)
    inc = paged_bot.declare("Checkout down", severity="SEV1", actor=ALICE)

    assert paged_bot.get(inc.id).title == "Checkout down"  # the incident is saved regardless
    [failed] = paged_bot.deliveries(failed_only=True)
    assert failed.plugin == "my_pager" and failed.state is DeliveryState.FAILED
    assert failed.next_attempt_at is not None
    assert (failed.next_attempt_at - clock.now()).total_seconds() >= 120

    clock.advance(seconds=121)
    assert paged_bot.retry_deliveries() == 1
    assert paged_bot.deliveries(failed_only=True) == []
    assert len(httpserver.log) == 2


def test_plugin_is_inert_without_a_routing_key(
    pager_module: ModuleType, httpserver: HTTPServer, database_url: str
) -> None:
    bot = make_crashbot(database_url=database_url, plugins={"my_pager": pager_module})
    try:
        bot.declare("Checkout down", severity="SEV1", actor=ALICE)
    finally:
        bot.close()
    assert httpserver.log == []
