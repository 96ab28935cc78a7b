"""The GitHub exporter: one issue for the postmortem, one per follow-up, cross-linked.

REST API (``GITHUB_API_URL``, default https://api.github.com; GitHub
Enterprise Server: ``https://HOST/api/v3``): ``POST /repos/{owner}/{repo}/issues``
creates, ``PATCH /repos/{owner}/{repo}/issues/{number}`` updates,
``GET`` of the same reads the state for :func:`sync_follow_ups`.

Nothing is created twice: the postmortem issue's number is saved in the
incident's refs (``github.issue``) right after it is created, and each
follow-up's issue URL in the follow-up's ``url``, so an export that failed
half-way is finished, not duplicated, by running it again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import httpx
from attrs import define, field

from crashbot_core.config import env_field, load_config
from crashbot_core.errors import InvalidInput
from crashbot_core.models import Actor, Event, FollowUp, Incident
from crashbot_core.postmortem import (
    ExportContext,
    ExporterNotConfigured,
    ExportError,
    Postmortem,
    assemble,
    render,
    template_environment,
)
from crashbot_core.severity import DEFAULT_POLICY

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot

POSTMORTEM_TEMPLATE = "postmortem_issue.md.j2"
FOLLOW_UP_TEMPLATE = "follow_up_issue.md.j2"
#: Incident refs keys.
REF_ISSUE = "github.issue"
REF_ISSUE_URL = "github.issue_url"
API_VERSION = "2022-11-28"
_REPO_RE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_ISSUE_URL_RE = re.compile(r"/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)/?$")


@define
class GitHubSettings:
    """``[github]``: the repository postmortem and follow-up issues go to."""

    api_url: str = env_field("GITHUB_API_URL", "https://api.github.com")
    token: str | None = env_field("GITHUB_TOKEN")
    #: ``owner/name``.
    repo: str | None = env_field("GITHUB_REPO")
    #: Labels of the postmortem issue (the severity key is added).
    labels: list[str] = field(factory=lambda: ["postmortem"])
    #: Labels of follow-up issues.
    follow_up_labels: list[str] = field(factory=lambda: ["follow-up"])
    #: Folder with this exporter's own templates (overrides ``[postmortem] templates``).
    templates: str = ""
    #: Seconds to wait for GitHub.
    timeout: int = 20

    def require(self) -> tuple[str, str]:
        """``(token, repo)``; :class:`ExporterNotConfigured` saying what to set otherwise."""
        missing = [
            n for n, v in (("GITHUB_TOKEN", self.token), ("GITHUB_REPO", self.repo)) if not v
        ]
        if missing:
            raise ExporterNotConfigured(
                "the github exporter is not configured: set " + " and ".join(missing)
            )
        assert self.token is not None and self.repo is not None
        if not _REPO_RE.fullmatch(self.repo):
            raise ExporterNotConfigured(f"GITHUB_REPO {self.repo!r} is not like owner/name")
        return self.token, self.repo


def _env(template_dirs: Sequence[str | Path]) -> Any:
    return template_environment("crashbot_github", override_dirs=template_dirs)


def render_postmortem_issue(
    postmortem: Postmortem,
    issues: dict[int, int],
    template_dirs: Sequence[str | Path] = (),
) -> str:
    """The postmortem issue's Markdown body; ``issues`` maps follow-up id → issue number."""
    return render(
        _env(template_dirs),
        POSTMORTEM_TEMPLATE,
        pm=postmortem,
        incident=postmortem.incident,
        issues=issues,
    )


def render_follow_up_issue(
    postmortem: Postmortem,
    follow_up: FollowUp,
    parent: int,
    template_dirs: Sequence[str | Path] = (),
) -> str:
    """A follow-up issue's Markdown body, linking back to postmortem issue ``parent``."""
    return render(
        _env(template_dirs),
        FOLLOW_UP_TEMPLATE,
        pm=postmortem,
        incident=postmortem.incident,
        fu=follow_up,
        parent=parent,
    )


def issue_number(url: str | None, repo: str) -> int | None:
    """The issue number when ``url`` is an issue of ``repo`` (``…/owner/name/issues/12``)."""
    m = _ISSUE_URL_RE.search(url or "")
    if m and m.group("repo").lower() == repo.lower():
        return int(m.group("number"))
    return None


def _reason(resp: httpx.Response) -> str:
    try:
        data = resp.json()
    except ValueError:
        return resp.reason_phrase
    if isinstance(data, dict) and data.get("message"):
        msg = str(data["message"])
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            details = [
                str(e.get("message") or f"{e.get('field')} {e.get('code')}")
                for e in errors
                if isinstance(e, dict)
            ]
            msg += " (" + "; ".join(details) + ")"
        return msg
    return resp.reason_phrase


def _wait(resp: httpx.Response, now: float | None = None) -> float | None:
    value = resp.headers.get("retry-after")
    if value and value.strip().isdigit():
        return float(value)
    reset = resp.headers.get("x-ratelimit-reset")
    if reset and reset.strip().isdigit():
        import time

        return max(float(reset) - (now if now is not None else time.time()), 1.0)
    return None


class GitHub:
    """A small client for the issue endpoints, mapping failures to :class:`ExportError`."""

    def __init__(self, settings: GitHubSettings) -> None:
        token, repo = settings.require()
        self.repo = repo
        self.client = httpx.Client(
            base_url=settings.api_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "crashbot",
            },
            timeout=settings.timeout,
        )

    def __enter__(self) -> GitHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def request(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        """One API call; the JSON answer, or a clear :class:`ExportError`."""
        try:
            resp = self.client.request(method, path, json=json)
        except httpx.TransportError as exc:
            raise ExportError(
                f"cannot reach GitHub at {self.client.base_url}: {exc}; try again later",
                retryable=True,
            ) from None
        if resp.is_success:
            data: dict[str, Any] = resp.json()
            return data
        status = resp.status_code
        reason = _reason(resp)
        where = f"GitHub ({method} {resp.request.url.path})"
        if status == 401:
            raise ExportError(f"{where} rejected GITHUB_TOKEN (401 {reason})")
        limited = resp.headers.get("x-ratelimit-remaining") == "0" or "rate limit" in reason.lower()
        if status == 429 or (status == 403 and limited):
            wait = _wait(resp)
            raise ExportError(
                f"{where} is rate limiting ({status}); try again"
                + (f" in {wait:.0f}s" if wait is not None else " later"),
                retryable=True,
                retry_after=wait,
            )
        if status == 403:
            raise ExportError(f"{where} refused (403 {reason}): the token may not write issues")
        if status == 404:
            raise ExportError(
                f"{where} found nothing (404): repository {self.repo} does not exist "
                "or GITHUB_TOKEN cannot see it"
            )
        if status == 410:
            raise ExportError(f"{where}: issues are disabled in {self.repo} (410)")
        if status >= 500:
            raise ExportError(
                f"{where} failed ({status} {reason}); try again later", retryable=True
            )
        raise ExportError(f"{where} rejected the request ({status} {reason})")

    def create(self, title: str, body: str, labels: Sequence[str]) -> dict[str, Any]:
        """``POST /repos/{repo}/issues``."""
        return self.request(
            "POST",
            f"/repos/{self.repo}/issues",
            {"title": title, "body": body, "labels": list(labels)},
        )

    def edit(self, number: int, **fields: Any) -> dict[str, Any]:
        """``PATCH /repos/{repo}/issues/{number}``."""
        return self.request("PATCH", f"/repos/{self.repo}/issues/{number}", fields)

    def get(self, number: int) -> dict[str, Any]:
        """``GET /repos/{repo}/issues/{number}``."""
        return self.request("GET", f"/repos/{self.repo}/issues/{number}")


def _settings(crashbot: Crashbot | None) -> GitHubSettings:
    if crashbot is not None:
        s = crashbot.config.section("github")
        if isinstance(s, GitHubSettings):
            return s
    loaded: GitHubSettings = load_config(data={}, sections={"github": GitHubSettings}).section(
        "github"
    )
    return loaded


@attrs.define
class GitHubExporter:
    """Publishes the postmortem issue and the follow-up issues; updates them on re-export."""

    name: str = "github"

    def export_postmortem(self, postmortem: Postmortem, context: ExportContext) -> str:
        """Create or update the issues; return the postmortem issue's URL."""
        if context.out is not None:
            raise InvalidInput("--out applies to file exporters such as markdown, not github")
        settings = _settings(context.crashbot)
        dirs = context.template_dirs(settings.templates)
        with GitHub(settings) as gh:
            return _publish(gh, settings, postmortem, dirs, context.crashbot)

    def export(
        self, incident: Incident, timeline: Sequence[Event], follow_ups: Sequence[FollowUp]
    ) -> str:
        """The plain protocol: settings from the environment; creates issues (no refs to save)."""
        settings = _settings(None)
        pm = assemble(
            incident,
            timeline,
            follow_ups,
            policy=DEFAULT_POLICY,
            now=incident.last_update_at or incident.declared_at,
        )
        dirs = [settings.templates] if settings.templates else []
        with GitHub(settings) as gh:
            return _publish(gh, settings, pm, dirs, None)


def _publish(
    gh: GitHub,
    settings: GitHubSettings,
    pm: Postmortem,
    dirs: Sequence[str | Path],
    crashbot: Crashbot | None,
) -> str:
    incident = pm.incident
    labels = [*settings.labels, pm.severity.key]
    issues: dict[int, int] = {}
    for fu in pm.follow_ups:
        n = issue_number(fu.url, gh.repo)
        if n is not None:
            issues[fu.id] = n
    stored = incident.refs.get(REF_ISSUE)
    number = int(stored) if stored and stored.isdigit() else None
    body = render_postmortem_issue(pm, issues, dirs)
    if number is None:
        issue = gh.create(pm.title, body, labels)
        number = int(issue["number"])
        # Saved at once: if a follow-up fails below, the next run updates this issue.
        if crashbot is not None:
            crashbot.set_refs(
                incident.id, **{REF_ISSUE: str(number), REF_ISSUE_URL: str(issue["html_url"])}
            )
    else:
        issue = gh.edit(number, title=pm.title, body=body, labels=labels)
    created = False
    for fu in pm.follow_ups:
        fu_body = render_follow_up_issue(pm, fu, number, dirs)
        title = f"{fu.title} ({incident.ref} follow-up)"
        existing = issues.get(fu.id)
        if existing is not None:
            changes: dict[str, Any] = {"title": title, "body": fu_body}
            if fu.done:
                changes["state"] = "closed"
                changes["state_reason"] = "completed"
            gh.edit(existing, **changes)
            continue
        if fu.done or fu.url:
            continue  # done already, or tracked elsewhere (Jira …): listed in the postmortem only
        fu_issue = gh.create(title, fu_body, settings.follow_up_labels)
        issues[fu.id] = int(fu_issue["number"])
        created = True
        if crashbot is not None:
            crashbot.update_follow_up(attrs.evolve(fu, url=str(fu_issue["html_url"])))
    if created:
        # Now every follow-up has its number: list them as a task list in the postmortem issue.
        issue = gh.edit(number, body=render_postmortem_issue(pm, issues, dirs))
    return str(issue["html_url"])


def sync_follow_ups(crashbot: Crashbot, incident_id: int | str | None = None) -> list[FollowUp]:
    """Mark follow-ups done whose GitHub issue was closed (poll; run from cron or a worker).

    Looks at open follow-ups tracked as issues of ``GITHUB_REPO`` — of one
    incident, or of every incident exported to GitHub — and completes those
    whose issue is closed, as the GitHub user who closed it.

    :returns: the follow-ups completed now.
    :raises ExporterNotConfigured: without ``GITHUB_TOKEN`` / ``GITHUB_REPO``.
    :raises ExportError: when GitHub fails; follow-ups completed before that stay completed.
    """
    settings = _settings(crashbot)
    if incident_id is not None:
        incidents = [crashbot.get(incident_id)]
    else:
        incidents = [i for i in crashbot.list(newest_first=False) if REF_ISSUE in i.refs]
    done: list[FollowUp] = []
    with GitHub(settings) as gh:
        for incident in incidents:
            for fu in crashbot.follow_ups(incident.id):
                n = issue_number(fu.url, gh.repo)
                if fu.done or n is None:
                    continue
                issue = gh.get(n)
                if issue.get("state") != "closed":
                    continue
                closer = issue.get("closed_by") or {}
                login = str(closer.get("login") or "github")
                actor = Actor(platform="github", id=login, name=login)
                done.append(crashbot.complete_follow_up(fu.id, actor=actor))
    return done
