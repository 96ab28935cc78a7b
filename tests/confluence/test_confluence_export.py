"""The Confluence exporter against a local server speaking Confluence Cloud's REST API (v1 content)."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from confluence_support import NAMESPACES
from pytest_httpserver import HTTPServer
from support import ALICE, BOB
from werkzeug import Request, Response

from crashbot_confluence import render_storage
from crashbot_confluence.exporter import REF_PAGE_ID
from crashbot_core import Crashbot, FixedClock
from crashbot_core.cli import build_cli
from crashbot_core.models import EventKind, Incident
from crashbot_core.postmortem import ExporterNotConfigured, ExportError, build_postmortem
from crashbot_core.testing import make_crashbot

USER = "ops@example.com"
TOKEN = "atlassian-api-token"
SPACE = "OPS"
PARENT = "98765"


def parse_storage(value: str) -> ET.Element:
    """Storage format is an XHTML fragment: wrap it in a root declaring ac: and ri:."""
    decl = " ".join(f'xmlns:{p}="{uri}"' for p, uri in NAMESPACES.items())
    return ET.fromstring(f"<root {decl}>{value}</root>")


def error(status: int, message: str, reason: str) -> Response:
    body = {
        "statusCode": status,
        "data": {"authorized": status != 401, "valid": True, "errors": [], "successful": False},
        "message": message,
        "reason": reason,
    }
    return Response(json.dumps(body), status=status, content_type="application/json")


class FakeConfluence:
    """Pages in spaces, answering as Confluence Cloud does; checks what the real API requires."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/") + "/wiki"
        self.spaces = {SPACE}
        self.pages: dict[str, dict[str, Any]] = {PARENT: self._page(PARENT, "Postmortems", "", 3)}
        self.next_id = 100001
        self.requests: list[tuple[str, str, dict[str, Any] | None]] = []
        #: Status codes to answer instead, one per request, first in first out.
        self.failures: list[Response] = []

    def _page(
        self, pid: str, title: str, body: str, version: int, ancestors: Any = ()
    ) -> dict[str, Any]:
        slug = re.sub(r"\W+", "+", title).strip("+")
        return {
            "id": pid,
            "type": "page",
            "status": "current",
            "title": title,
            "space": {"key": SPACE, "name": "Operations", "type": "global"},
            "version": {"number": version, "minorEdit": False},
            "ancestors": [{"id": a["id"]} for a in ancestors],
            "body": {"storage": {"value": body, "representation": "storage"}},
            "_links": {
                "webui": f"/spaces/{SPACE}/pages/{pid}/{slug}",
                "tinyui": f"/x/{pid}",
                "self": f"{self.base}/rest/api/content/{pid}",
                "base": self.base,
                "context": "/wiki",
            },
        }

    def handle(self, request: Request) -> Response:
        body = request.get_json(silent=True) if request.data else None
        self.requests.append((request.method, request.path, body))
        expected = "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return error(
                401, "Client must be authenticated to access this resource.", "Unauthorized"
            )
        if self.failures:
            return self.failures.pop(0)
        path = request.path.removeprefix("/wiki/rest/api")
        if request.method == "GET" and path == "/content":
            found = [
                p
                for p in self.pages.values()
                if p["space"]["key"] == request.args["spaceKey"]
                and p["title"] == request.args["title"]
            ]
            return Response(
                json.dumps(
                    {
                        "results": found,
                        "start": 0,
                        "limit": 25,
                        "size": len(found),
                        "_links": {"base": self.base},
                    }
                ),
                content_type="application/json",
            )
        m = re.fullmatch(r"/content/(\d+)", path)
        if request.method == "GET" and m:
            page = self.pages.get(m.group(1))
            if page is None:
                return error(
                    404, f"No content found with id: ContentId{{id={m.group(1)}}}", "Not Found"
                )
            return Response(json.dumps(page), content_type="application/json")
        if request.method in {"POST", "PUT"}:
            assert request.content_type == "application/json"
            assert body is not None
            assert body["type"] == "page" and body["body"]["storage"]["representation"] == "storage"
            try:
                parse_storage(body["body"]["storage"]["value"])
            except ET.ParseError as exc:
                return error(400, f"Error parsing xhtml: {exc}", "Bad Request")
            if body["space"]["key"] not in self.spaces:
                return error(404, f"No space with key : {body['space']['key']}", "Not Found")
            for a in body.get("ancestors", []):
                if a["id"] not in self.pages:
                    return error(404, f"No parent with id {a['id']}", "Not Found")
        if request.method == "POST" and path == "/content":
            if any(p["title"] == body["title"] for p in self.pages.values()):
                return error(
                    400,
                    "A page with this title already exists: A page already exists "
                    "with the same TITLE in this space",
                    "Bad Request",
                )
            pid = str(self.next_id)
            self.next_id += 1
            self.pages[pid] = self._page(
                pid, body["title"], body["body"]["storage"]["value"], 1, body.get("ancestors", [])
            )
            return Response(json.dumps(self.pages[pid]), content_type="application/json")
        if request.method == "PUT" and m:
            page = self.pages.get(m.group(1))
            if page is None:
                return error(404, "No content found", "Not Found")
            current = page["version"]["number"]
            if body["version"]["number"] != current + 1:
                return error(
                    409,
                    f"Version must be incremented on update. Current version is: {current}",
                    "Conflict",
                )
            self.pages[m.group(1)] = self._page(
                m.group(1),
                body["title"],
                body["body"]["storage"]["value"],
                current + 1,
                body.get("ancestors", []),
            )
            return Response(json.dumps(self.pages[m.group(1)]), content_type="application/json")
        return error(405, "Method not allowed", "Method Not Allowed")

    @property
    def created(self) -> list[dict[str, Any]]:
        return [p for pid, p in self.pages.items() if pid != PARENT]


@pytest.fixture
def confluence(httpserver: HTTPServer) -> Iterator[FakeConfluence]:
    fake = FakeConfluence(httpserver.url_for("/"))
    httpserver.expect_request(re.compile(r"^/wiki/rest/api/.*")).respond_with_handler(fake.handle)
    yield fake


def env(httpserver: HTTPServer, **over: str) -> dict[str, str]:
    values = {
        "CONFLUENCE_URL": httpserver.url_for("/").rstrip("/"),
        "CONFLUENCE_USER": USER,
        "CONFLUENCE_API_TOKEN": TOKEN,
    }
    values.update(over)
    return values


@pytest.fixture
def cbot(database_url: str, clock: FixedClock, httpserver: HTTPServer) -> Iterator[Crashbot]:
    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        env=env(httpserver),
        config={"confluence": {"space": SPACE, "parent_id": PARENT}},
    )
    try:
        yield bot
    finally:
        bot.close()


def story(bot: Crashbot, clock: FixedClock, title: str = "Checkout down") -> Incident:
    inc = bot.declare(title, severity="SEV1", actor=ALICE, components={"checkout": "major"})
    clock.advance(minutes=3)
    bot.assign_role(inc.id, "ic", ALICE)
    bot.update(inc.id, message="Root cause: expired certificate", actor=BOB)
    clock.advance(minutes=20)
    bot.resolve(inc.id, actor=ALICE, message="Renewed")
    bot.add_follow_up(inc.id, "Expiry alert", owner=BOB, due=date(2026, 3, 16))
    return bot.get(inc.id)


def test_first_export_creates_a_page_in_the_space_under_the_parent(
    cbot: Crashbot, clock: FixedClock, confluence: FakeConfluence
) -> None:
    inc = story(cbot, clock)
    url = cbot.export_postmortem(inc.id, "confluence", actor=ALICE)
    [page] = confluence.created
    assert page["title"] == f"Postmortem: {inc.ref} Checkout down"
    assert page["ancestors"] == [{"id": PARENT}]
    assert (
        url
        == f"{confluence.base}/spaces/{SPACE}/pages/{page['id']}/Postmortem+{inc.ref.replace('-', '+')}+Checkout+down"
    )
    after = cbot.get(inc.id)
    assert after.refs[REF_PAGE_ID] == page["id"]
    assert after.rca_url == url
    assert [e.kind for e in cbot.timeline(inc.id)][-2:] == [
        EventKind.POSTMORTEM_EXPORTED,
        EventKind.RCA_LINKED,
    ]
    # looked for an existing page by title first, then created it
    assert [(m, p) for m, p, _ in confluence.requests] == [
        ("GET", "/wiki/rest/api/content"),
        ("POST", "/wiki/rest/api/content"),
    ]


def test_page_body_is_storage_format_with_every_section(
    cbot: Crashbot, clock: FixedClock, confluence: FakeConfluence
) -> None:
    inc = story(cbot, clock)
    cbot.export_postmortem(inc.id, "confluence")
    root = parse_storage(confluence.created[0]["body"]["storage"]["value"])
    headings = [h.text for h in root.iter("h2")]
    assert headings == [
        "Summary",
        "Impact",
        "Timeline",
        "Root cause",
        "What went well",
        "What went wrong",
        "Action items",
        "Alerts",
    ]
    ac = "{" + NAMESPACES["ac"] + "}"
    status = next(m for m in root.iter(f"{ac}structured-macro") if m.get(f"{ac}name") == "status")
    params = {p.get(f"{ac}name"): p.text for p in status.iter(f"{ac}parameter")}
    assert params == {"colour": "Red", "title": "SEV1"}
    tables = list(root.iter("table"))
    timeline = [[c.text for c in tr] for tr in tables[1].iter("tr")]
    assert timeline[0] == ["Time (UTC)", "Who", "Event", "Visibility"]
    assert len(timeline) - 1 == len(cbot.timeline(inc.id)) - 2  # minus export + rca events
    assert timeline[1][0] == "2026-03-02 09:00:00"
    actions = [[c.text for c in tr] for tr in tables[2].iter("tr")]
    assert actions[1][1:3] == ["Expiry alert", "Bob"]
    due = next(tables[2].iter("time"))
    assert due.get("datetime") == "2026-03-16"


def test_hostile_text_stays_text_in_valid_xml(bot: Crashbot, clock: FixedClock) -> None:
    inc = story(bot, clock, title='<script>alert("x")</script> & ]]> \x07bell')
    value = render_storage(build_postmortem(bot, inc.id))
    root = parse_storage(value)
    assert not list(root.iter("script"))
    cells = [td.text or "" for td in root.iter("td")]
    assert any('<script>alert("x")</script> & ]]> bell' in c for c in cells)


def test_re_export_updates_the_remembered_page_with_the_next_version(
    cbot: Crashbot, clock: FixedClock, confluence: FakeConfluence
) -> None:
    inc = story(cbot, clock)
    first = cbot.export_postmortem(inc.id, "confluence")
    confluence.requests.clear()
    cbot.add_follow_up(inc.id, "Second action")
    second = cbot.export_postmortem(inc.id, "confluence")
    assert second == first
    [page] = confluence.created
    assert page["version"]["number"] == 2
    assert "Second action" in page["body"]["storage"]["value"]
    methods = [(m, p) for m, p, _ in confluence.requests]
    assert methods == [
        ("GET", f"/wiki/rest/api/content/{page['id']}"),
        ("PUT", f"/wiki/rest/api/content/{page['id']}"),
    ]
    put = confluence.requests[-1][2]
    assert put is not None and put["id"] == page["id"] and put["space"] == {"key": SPACE}


def test_existing_page_with_the_title_is_updated_not_duplicated(
    cbot: Crashbot, clock: FixedClock, confluence: FakeConfluence
) -> None:
    inc = story(cbot, clock)
    title = f"Postmortem: {inc.ref} Checkout down"
    confluence.pages["555"] = confluence._page("555", title, "<p>draft</p>", 4)
    url = cbot.export_postmortem(inc.id, "confluence")
    assert confluence.pages["555"]["version"]["number"] == 5
    assert len(confluence.created) == 1
    assert cbot.get(inc.id).refs[REF_PAGE_ID] == "555"
    assert url.endswith(
        "/pages/555/" + title.replace(": ", "+").replace(" ", "+").replace("-", "+")
    )


def test_remembered_page_deleted_in_confluence_is_created_again(
    cbot: Crashbot, clock: FixedClock, confluence: FakeConfluence
) -> None:
    inc = story(cbot, clock)
    cbot.export_postmortem(inc.id, "confluence")
    old = cbot.get(inc.id).refs[REF_PAGE_ID]
    del confluence.pages[old]
    cbot.export_postmortem(inc.id, "confluence")
    new = cbot.get(inc.id).refs[REF_PAGE_ID]
    assert new != old and new in confluence.pages


@pytest.mark.parametrize(
    ("failure", "message", "retryable"),
    [
        (
            error(404, "No space with key : OPS", "Not Found"),
            r"found nothing \(404\): No space with key : OPS; check the space key 'OPS' and parent page 98765",
            False,
        ),
        (
            Response(
                "{}", status=429, headers={"Retry-After": "17"}, content_type="application/json"
            ),
            r"rate limiting \(429\); try again in 17s",
            True,
        ),
        (
            error(503, "Service Unavailable", "Service Unavailable"),
            r"failed \(503 Service Unavailable\); try again later",
            True,
        ),
        (
            error(403, "Not permitted to create pages", "Forbidden"),
            r"refused \(403\): ops@example.com may not write in space OPS",
            False,
        ),
    ],
)
def test_api_failures_are_clear_errors_and_leave_the_store_untouched(
    cbot: Crashbot,
    clock: FixedClock,
    confluence: FakeConfluence,
    failure: Response,
    message: str,
    retryable: bool,
) -> None:
    inc = story(cbot, clock)
    confluence.failures.append(
        Response('{"results": [], "size": 0}', content_type="application/json")
    )
    confluence.failures.append(failure)
    with pytest.raises(ExportError, match=message) as info:
        cbot.export_postmortem(inc.id, "confluence")
    assert info.value.retryable is retryable
    if retryable and failure.status_code == 429:
        assert info.value.retry_after == 17
    assert cbot.get(inc.id) == inc
    assert confluence.created == []
    # run again later: exactly one page
    cbot.export_postmortem(inc.id, "confluence")
    assert len(confluence.created) == 1


def test_wrong_token_is_a_401_naming_the_settings(
    database_url: str, clock: FixedClock, httpserver: HTTPServer, confluence: FakeConfluence
) -> None:
    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        env=env(httpserver, CONFLUENCE_API_TOKEN="wrong"),
        config={"confluence": {"space": SPACE}},
    )
    try:
        inc = story(bot, clock)
        with pytest.raises(
            ExportError,
            match="rejected the credentials \\(401\\): check CONFLUENCE_USER and CONFLUENCE_API_TOKEN",
        ):
            bot.export_postmortem(inc.id, "confluence")
        assert bot.get(inc.id) == inc
    finally:
        bot.close()


def test_unconfigured_exporter_says_what_to_set(bot: Crashbot, clock: FixedClock) -> None:
    inc = story(bot, clock)
    with pytest.raises(ExporterNotConfigured) as info:
        bot.export_postmortem(inc.id, "confluence")
    assert info.value.message == (
        "the confluence exporter is not configured: set CONFLUENCE_URL, CONFLUENCE_USER, "
        "CONFLUENCE_API_TOKEN, [confluence] space (or CONFLUENCE_SPACE)"
    )


def test_unreachable_confluence_is_retryable(database_url: str, clock: FixedClock) -> None:
    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        env={
            "CONFLUENCE_URL": "http://127.0.0.1:9",
            "CONFLUENCE_USER": USER,
            "CONFLUENCE_API_TOKEN": TOKEN,
            "CONFLUENCE_SPACE": SPACE,
        },
    )
    try:
        inc = story(bot, clock)
        with pytest.raises(
            ExportError, match=r"cannot reach Confluence at http://127\.0\.0\.1:9"
        ) as info:
            bot.export_postmortem(inc.id, "confluence")
        assert info.value.retryable
    finally:
        bot.close()


def test_site_url_with_wiki_suffix_works(
    database_url: str, clock: FixedClock, httpserver: HTTPServer, confluence: FakeConfluence
) -> None:
    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        env=env(httpserver, CONFLUENCE_URL=httpserver.url_for("/wiki")),
        config={"confluence": {"space": SPACE}},
    )
    try:
        inc = story(bot, clock)
        bot.export_postmortem(inc.id, "confluence")
        assert confluence.created[0]["ancestors"] == []
    finally:
        bot.close()


def test_cli_reports_an_api_failure_in_one_line(
    tmp_path: Path,
    database_url: str,
    clock: FixedClock,
    httpserver: HTTPServer,
    confluence: FakeConfluence,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot = make_crashbot(database_url=database_url, clock=clock)
    inc = story(bot, clock)
    bot.close()
    for k, v in env(httpserver).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("CRASHBOT_DATABASE_URL", database_url)
    cfg = tmp_path / "crashbot.toml"
    cfg.write_text(f'[confluence]\nspace = "{SPACE}"\n')
    confluence.failures.append(error(503, "down", "Service Unavailable"))
    runner = CliRunner()
    result = runner.invoke(
        build_cli(), ["--config", str(cfg), "postmortem", inc.ref, "--to", "confluence"]
    )
    assert result.exit_code == 1
    assert result.output == (
        "error: Confluence (GET /wiki/rest/api/content) failed (503 down); try again later\n"
    )
    result = runner.invoke(
        build_cli(), ["--config", str(cfg), "postmortem", inc.ref, "--to", "confluence"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        f"{inc.ref} postmortem exported to confluence: {confluence.base}/spaces/OPS/pages/"
    )


def test_resolve_exports_to_confluence_when_configured(
    database_url: str, clock: FixedClock, httpserver: HTTPServer, confluence: FakeConfluence
) -> None:
    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        env=env(httpserver),
        config={
            "confluence": {"space": SPACE},
            "postmortem": {"export_on_resolve": ["confluence"]},
        },
    )
    try:
        inc = story(bot, clock)
        [page] = confluence.created
        assert inc.rca_url is not None and inc.rca_url.endswith(page["_links"]["webui"])
    finally:
        bot.close()
