"""The GitHub exporter and follow-up sync against a local server speaking GitHub's REST API."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt
from pytest_httpserver import HTTPServer
from support import ALICE, BOB
from werkzeug import Request, Response

from crashbot_core import Crashbot, FixedClock
from crashbot_core.cli import build_cli
from crashbot_core.models import Actor, EventKind, Incident
from crashbot_core.postmortem import ExporterNotConfigured, ExportError
from crashbot_core.testing import make_crashbot
from crashbot_github import sync_follow_ups
from crashbot_github.exporter import REF_ISSUE, REF_ISSUE_URL

TOKEN = "ghp_testtoken"
REPO = "acme/ops"
WEB = "https://github.example"


def gh_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": str(status),
    }
    return Response(
        json.dumps(body), status=status, headers=headers or {}, content_type="application/json"
    )


class FakeGitHub:
    """Issues of one repository, answering as GitHub's REST API does."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.issues: dict[int, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, Any] | None]] = []
        #: Answers to give instead, one per request; None lets that request through.
        self.failures: list[Response | None] = []

    def issue(self, number: int, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": 1000 + number,
            "node_id": f"I_kwDO{number}",
            "url": f"https://api.github.example/repos/{REPO}/issues/{number}",
            "html_url": f"{WEB}/{REPO}/issues/{number}",
            "number": number,
            "state": "open",
            "state_reason": None,
            "title": body["title"],
            "body": body.get("body"),
            "labels": [
                {"id": i, "name": n, "color": "ededed", "default": False}
                for i, n in enumerate(body.get("labels", []))
            ],
            "user": {"login": "crashbot-bot", "id": 1, "type": "User"},
            "closed_by": None,
            "comments": 0,
        }

    def handle(self, request: Request) -> Response:
        body = request.get_json(silent=True) if request.data else None
        path = request.path.removeprefix(self.prefix)
        self.requests.append((request.method, path, body))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return gh_error(401, "Bad credentials")
        assert request.headers["Accept"] == "application/vnd.github+json"
        assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
        if self.failures:
            failure = self.failures.pop(0)
            if failure is not None:
                return failure
        if not path.startswith(f"/repos/{REPO}/issues"):
            return gh_error(404, "Not Found")
        m = re.fullmatch(rf"/repos/{REPO}/issues(?:/(\d+))?", path)
        assert m, path
        if request.method == "POST" and m.group(1) is None:
            assert body is not None and isinstance(body["title"], str) and body["title"]
            assert set(body) <= {"title", "body", "labels", "assignees", "milestone"}
            number = len(self.issues) + 1
            self.issues[number] = self.issue(number, body)
            return Response(
                json.dumps(self.issues[number]), status=201, content_type="application/json"
            )
        number = int(m.group(1))
        if number not in self.issues:
            return gh_error(404, "Not Found")
        issue = self.issues[number]
        if request.method == "GET":
            return Response(json.dumps(issue), content_type="application/json")
        if request.method == "PATCH":
            assert body is not None
            assert set(body) <= {"title", "body", "labels", "state", "state_reason", "assignees"}
            for key in ("title", "body", "state", "state_reason"):
                if key in body:
                    issue[key] = body[key]
            if "labels" in body:
                issue["labels"] = [{"id": i, "name": n} for i, n in enumerate(body["labels"])]
            return Response(json.dumps(issue), content_type="application/json")
        return gh_error(404, "Not Found")

    def close(self, number: int, login: str) -> None:
        self.issues[number].update(
            state="closed",
            state_reason="completed",
            closed_by={"login": login, "id": 7, "type": "User"},
        )

    def posts(self) -> list[str]:
        return [p for m, p, _ in self.requests if m == "POST"]


@pytest.fixture
def github(httpserver: HTTPServer) -> FakeGitHub:
    fake = FakeGitHub()
    httpserver.expect_request(re.compile(r"^/repos/.*")).respond_with_handler(fake.handle)
    return fake


def env(httpserver: HTTPServer, **over: str) -> dict[str, str]:
    values = {
        "GITHUB_API_URL": httpserver.url_for("/").rstrip("/"),
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_REPO": REPO,
    }
    values.update(over)
    return values


@pytest.fixture
def gbot(database_url: str, clock: FixedClock, httpserver: HTTPServer) -> Iterator[Crashbot]:
    bot = make_crashbot(database_url=database_url, clock=clock, env=env(httpserver))
    try:
        yield bot
    finally:
        bot.close()


def story(bot: Crashbot, clock: FixedClock) -> Incident:
    inc = bot.declare("Checkout down", severity="SEV2", actor=ALICE)
    bot.assign_role(inc.id, "ic", ALICE)
    bot.update(inc.id, message="Root cause: expired certificate", actor=BOB)
    clock.advance(minutes=25)
    bot.resolve(inc.id, actor=ALICE)
    bot.add_follow_up(inc.id, "Expiry alert", owner=BOB, due=date(2026, 3, 16))
    bot.add_follow_up(inc.id, "Runbook for renewals", owner=ALICE)
    bot.add_follow_up(inc.id, "Vendor ticket", url="https://jira.example/browse/OPS-1")
    done = bot.add_follow_up(inc.id, "Renew now")
    bot.complete_follow_up(done.id)
    return bot.get(inc.id)


def test_export_creates_a_postmortem_issue_and_one_issue_per_open_follow_up(
    gbot: Crashbot, clock: FixedClock, github: FakeGitHub
) -> None:
    inc = story(gbot, clock)
    url = gbot.export_postmortem(inc.id, "github", actor=ALICE)
    assert url == f"{WEB}/{REPO}/issues/1"
    assert github.posts() == [f"/repos/{REPO}/issues"] * 3
    pm = github.issues[1]
    assert pm["title"] == f"Postmortem: {inc.ref} Checkout down"
    assert [lb["name"] for lb in pm["labels"]] == ["postmortem", "SEV2"]
    fu1 = github.issues[2]
    assert github.issues[3]["title"] == f"Runbook for renewals ({inc.ref} follow-up)"
    assert fu1["title"] == f"Expiry alert ({inc.ref} follow-up)"
    assert [lb["name"] for lb in fu1["labels"]] == ["follow-up"]
    assert fu1["body"].startswith("Follow-up of #1 ")
    assert "**Owner:** Bob" in fu1["body"] and "**Due:** 2026-03-16" in fu1["body"]
    # the postmortem issue lists its follow-ups as a task list, cross-linked by number
    assert "- [ ] #2 Expiry alert — owner: Bob, due: 2026-03-16" in pm["body"]
    assert "- [ ] #3 Runbook for renewals — owner: Alice" in pm["body"]
    assert (
        "- [ ] Vendor ticket — owner: unassigned, due: — (<https://jira.example/browse/OPS-1>)"
        in pm["body"]
    )
    assert "- [x] Renew now" in pm["body"]
    after = gbot.get(inc.id)
    assert after.refs[REF_ISSUE] == "1" and after.refs[REF_ISSUE_URL] == url
    assert after.rca_url == url
    urls = {f.title: f.url for f in gbot.follow_ups(inc.id)}
    assert urls == {
        "Expiry alert": f"{WEB}/{REPO}/issues/2",
        "Runbook for renewals": f"{WEB}/{REPO}/issues/3",
        "Vendor ticket": "https://jira.example/browse/OPS-1",
        "Renew now": None,
    }
    assert gbot.timeline(inc.id)[-2].kind is EventKind.POSTMORTEM_EXPORTED


def test_postmortem_issue_body_is_markdown_with_a_utc_timeline_table(
    gbot: Crashbot, clock: FixedClock, github: FakeGitHub
) -> None:
    inc = story(gbot, clock)
    gbot.export_postmortem(inc.id, "github")
    tokens = MarkdownIt("commonmark").enable("table").parse(github.issues[1]["body"])
    h2 = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert h2 == [
        "Summary",
        "Impact",
        "Timeline (UTC)",
        "Root cause",
        "What went well",
        "What went wrong",
        "Action items",
    ]
    cells = [t.content for t in tokens if t.type == "inline"]
    assert "2026-03-02 09:00:00" in cells and "Time (UTC)" in cells


def test_re_export_updates_the_same_issues_instead_of_duplicating(
    gbot: Crashbot, clock: FixedClock, github: FakeGitHub
) -> None:
    inc = story(gbot, clock)
    gbot.export_postmortem(inc.id, "github")
    github.requests.clear()
    fu = gbot.follow_ups(inc.id)[0]
    gbot.complete_follow_up(fu.id)
    gbot.add_follow_up(inc.id, "Rotate keys", owner=BOB)
    url = gbot.export_postmortem(inc.id, "github")
    assert url == f"{WEB}/{REPO}/issues/1"
    assert github.posts() == [f"/repos/{REPO}/issues"]  # only the new follow-up
    assert len(github.issues) == 4
    assert github.issues[2]["state"] == "closed" and github.issues[2]["state_reason"] == "completed"
    assert github.issues[3]["state"] == "open"
    assert "- [x] #2 Expiry alert" in github.issues[1]["body"]
    assert "- [ ] #4 Rotate keys" in github.issues[1]["body"]


def test_failure_half_way_keeps_what_was_created_and_the_next_run_finishes(
    gbot: Crashbot, clock: FixedClock, github: FakeGitHub
) -> None:
    inc = story(gbot, clock)
    # postmortem issue and first follow-up go through, the second follow-up hits a 502
    github.failures = [None, None, gh_error(502, "Server Error")]
    with pytest.raises(ExportError, match=r"failed \(502 Server Error\); try again later") as info:
        gbot.export_postmortem(inc.id, "github")
    assert info.value.retryable
    saved = gbot.get(inc.id)
    assert saved.refs[REF_ISSUE] == "1"
    assert saved.rca_url is None
    assert not any(e.kind is EventKind.POSTMORTEM_EXPORTED for e in gbot.timeline(inc.id))
    assert [f.url for f in gbot.follow_ups(inc.id)][:2] == [f"{WEB}/{REPO}/issues/2", None]
    gbot.export_postmortem(inc.id, "github")
    assert sorted(i["title"] for i in github.issues.values()) == [
        "Expiry alert (INC-1 follow-up)",
        "Postmortem: INC-1 Checkout down",
        "Runbook for renewals (INC-1 follow-up)",
    ]


def test_sync_completes_follow_ups_whose_issue_was_closed(
    gbot: Crashbot, clock: FixedClock, github: FakeGitHub
) -> None:
    inc = story(gbot, clock)
    gbot.export_postmortem(inc.id, "github")
    github.close(2, "carol")
    done = sync_follow_ups(gbot)
    assert [f.title for f in done] == ["Expiry alert"]
    fus = {f.title: f for f in gbot.follow_ups(inc.id)}
    assert fus["Expiry alert"].done and not fus["Runbook for renewals"].done
    event = gbot.timeline(inc.id)[-1]
    assert event.kind is EventKind.FOLLOW_UP_DONE
    assert event.actor == Actor(platform="github", id="carol", name="carol")
    # closed ones are not asked again; nothing more to do
    github.requests.clear()
    assert sync_follow_ups(gbot, inc.ref) == []
    assert [p for _, p, _ in github.requests] == [f"/repos/{REPO}/issues/3"]


def test_cli_github_sync(
    tmp_path: Path,
    database_url: str,
    clock: FixedClock,
    httpserver: HTTPServer,
    github: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot = make_crashbot(database_url=database_url, clock=clock, env=env(httpserver))
    inc = story(bot, clock)
    bot.export_postmortem(inc.id, "github")
    bot.close()
    github.close(3, "dave")
    for k, v in env(httpserver).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("CRASHBOT_DATABASE_URL", database_url)
    result = CliRunner().invoke(build_cli(), ["github", "sync"])
    assert result.exit_code == 0, result.output
    assert result.output == (
        "follow-up #2 done (issue closed): Runbook for renewals\n1 follow-up(s) marked done\n"
    )


@pytest.mark.parametrize(
    ("failure", "message", "retryable"),
    [
        (
            gh_error(404, "Not Found"),
            "found nothing \\(404\\): repository acme/ops does not exist or GITHUB_TOKEN cannot see it",
            False,
        ),
        (
            gh_error(
                403,
                "API rate limit exceeded for user ID 1.",
                {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "4102444800"},
            ),
            "is rate limiting \\(403\\); try again in",
            True,
        ),
        (
            gh_error(429, "You have exceeded a secondary rate limit.", {"retry-after": "60"}),
            "is rate limiting \\(429\\); try again in 60s",
            True,
        ),
        (
            gh_error(410, "Issues are disabled for this repo"),
            "issues are disabled in acme/ops \\(410\\)",
            False,
        ),
        (
            Response(
                json.dumps(
                    {
                        "message": "Validation Failed",
                        "errors": [
                            {"resource": "Issue", "code": "missing_field", "field": "title"}
                        ],
                    }
                ),
                status=422,
                content_type="application/json",
            ),
            "rejected the request \\(422 Validation Failed \\(title missing_field\\)\\)",
            False,
        ),
        (gh_error(500, "Server Error"), "failed \\(500 Server Error\\); try again later", True),
    ],
)
def test_api_failures_are_clear_errors_and_nothing_is_recorded(
    gbot: Crashbot,
    clock: FixedClock,
    github: FakeGitHub,
    failure: Response,
    message: str,
    retryable: bool,
) -> None:
    inc = story(gbot, clock)
    github.failures.append(failure)
    with pytest.raises(ExportError, match=message) as info:
        gbot.export_postmortem(inc.id, "github")
    assert info.value.retryable is retryable
    assert gbot.get(inc.id) == inc
    assert github.issues == {}


def test_bad_token_is_a_401(
    database_url: str, clock: FixedClock, httpserver: HTTPServer, github: FakeGitHub
) -> None:
    bot = make_crashbot(
        database_url=database_url, clock=clock, env=env(httpserver, GITHUB_TOKEN="nope")
    )
    try:
        inc = story(bot, clock)
        with pytest.raises(ExportError, match=r"rejected GITHUB_TOKEN \(401 Bad credentials\)"):
            bot.export_postmortem(inc.id, "github")
    finally:
        bot.close()


@pytest.mark.parametrize(
    ("over", "message"),
    [
        (
            {"GITHUB_TOKEN": "", "GITHUB_REPO": ""},
            "the github exporter is not configured: set GITHUB_TOKEN and GITHUB_REPO",
        ),
        ({"GITHUB_REPO": ""}, "the github exporter is not configured: set GITHUB_REPO"),
        ({"GITHUB_REPO": "just-a-name"}, "GITHUB_REPO 'just-a-name' is not like owner/name"),
    ],
)
def test_unconfigured_exporter_says_what_to_set(
    database_url: str, clock: FixedClock, httpserver: HTTPServer, over: dict[str, str], message: str
) -> None:
    bot = make_crashbot(database_url=database_url, clock=clock, env=env(httpserver, **over))
    try:
        inc = story(bot, clock)
        with pytest.raises(ExporterNotConfigured) as info:
            bot.export_postmortem(inc.id, "github")
        assert info.value.message == message
        with pytest.raises(ExporterNotConfigured):
            sync_follow_ups(bot)
    finally:
        bot.close()


def test_enterprise_server_api_url(
    database_url: str, clock: FixedClock, httpserver: HTTPServer
) -> None:
    fake = FakeGitHub(prefix="/api/v3")
    httpserver.expect_request(re.compile(r"^/api/v3/repos/.*")).respond_with_handler(fake.handle)
    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        env=env(httpserver, GITHUB_API_URL=httpserver.url_for("/api/v3")),
    )
    try:
        inc = story(bot, clock)
        assert bot.export_postmortem(inc.id, "github") == f"{WEB}/{REPO}/issues/1"
        assert len(fake.issues) == 3
    finally:
        bot.close()


def test_configured_labels(
    database_url: str, clock: FixedClock, httpserver: HTTPServer, github: FakeGitHub
) -> None:
    bot = make_crashbot(
        database_url=database_url,
        clock=clock,
        env=env(httpserver),
        config={"github": {"labels": ["incident", "rca"], "follow_up_labels": ["action"]}},
    )
    try:
        bot.export_postmortem(story(bot, clock).id, "github")
        assert [lb["name"] for lb in github.issues[1]["labels"]] == ["incident", "rca", "SEV2"]
        assert [lb["name"] for lb in github.issues[2]["labels"]] == ["action"]
    finally:
        bot.close()
