"""GitHub Actions: the ``workflow_run`` webhook event.

A completed run that failed (``failure``, ``timed_out``, ``startup_failure``)
fires; a successful run of the same workflow on the same branch resolves it.
Cancelled, skipped and in-progress runs, ``ping`` and other events are
acknowledged and ignored. The fingerprint is repository + workflow + branch,
so repeated failures of one workflow on one branch are one alert group.
Requests are signed: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``
keyed with the webhook's secret.
"""

from __future__ import annotations

from crashbot_alerts.sources import _common as c
from crashbot_core.errors import InvalidInput
from crashbot_core.models import Alert, AlertStatus

EVENT_HEADER = "x-github-event"
SIGNATURE_HEADER = "x-hub-signature-256"
FAILED = {"failure", "timed_out", "startup_failure"}


class GitHubActionsSource:
    """``POST /api/alerts/github_actions``: a repository or organisation webhook."""

    name = "github_actions"
    signature_header: str | None = SIGNATURE_HEADER

    def verify(self, headers: dict[str, str], body: bytes, secret: str | None) -> bool:
        """True when ``X-Hub-Signature-256`` is ``sha256=`` + the body's HMAC under ``secret``."""
        signature = headers.get(SIGNATURE_HEADER, "").strip()
        if not secret or not signature.startswith("sha256="):
            return False
        return c.same(signature[len("sha256=") :].lower(), c.hmac_sha256_hex(secret, body))

    def parse(self, headers: dict[str, str], body: bytes) -> list[Alert]:
        """One alert for a failed or successful completed run; [] for anything else.

        :raises InvalidInput: not JSON, or a ``workflow_run`` payload of the wrong shape.
        """
        event = headers.get(EVENT_HEADER, "workflow_run").strip()
        data = c.obj(c.load_json(body), "$")
        if event != "workflow_run":
            return []
        if c.text(data, "action", "$") != "completed":
            return []
        run = c.obj(data.get("workflow_run"), "$.workflow_run")
        conclusion = c.text(run, "conclusion", "$.workflow_run")
        if conclusion in FAILED:
            status = AlertStatus.FIRING
        elif conclusion == "success":
            status = AlertStatus.RESOLVED
        else:
            return []
        repo = c.opt_obj(data, "repository", "$")
        workflow = c.opt_obj(data, "workflow", "$")
        repo_name = c.text(repo, "full_name", "$.repository") or c.text(
            c.opt_obj(run, "repository", "$.workflow_run"), "full_name", "$.workflow_run.repository"
        )
        workflow_id = c.text(run, "workflow_id", "$.workflow_run") or c.text(
            workflow, "id", "$.workflow"
        )
        workflow_name = (
            c.text(workflow, "name", "$.workflow")
            or c.text(run, "name", "$.workflow_run")
            or c.text(run, "path", "$.workflow_run")
        )
        branch = c.text(run, "head_branch", "$.workflow_run")
        if not repo_name or not (workflow_id or workflow_name):
            raise InvalidInput("$.repository.full_name and $.workflow_run.workflow_id: required")
        labels = {
            "repository": repo_name,
            "workflow": workflow_name,
            "branch": branch,
            "event": c.text(run, "event", "$.workflow_run"),
            "conclusion": conclusion,
            "run_number": c.text(run, "run_number", "$.workflow_run"),
            "head_sha": c.text(run, "head_sha", "$.workflow_run"),
        }
        actor = c.opt_obj(run, "actor", "$.workflow_run") or c.opt_obj(data, "sender", "$")
        if c.text(actor, "login", "$.sender"):
            labels["actor"] = c.text(actor, "login", "$.sender")
        labels = {k: c.clean_line(v, c.MAX_LABEL_VALUE) for k, v in labels.items() if v}
        verb = "failed" if status is AlertStatus.FIRING else "passed"
        where = f" on {branch}" if branch else ""
        commit = c.opt_obj(run, "head_commit", "$.workflow_run")
        # One workflow on one branch is one group: its failures are one incident.
        group = c.fingerprint(repo_name, workflow_id or workflow_name, branch)
        return [
            Alert(
                source=self.name,
                fingerprint=group,
                status=status,
                title=c.clean_line(
                    f"{workflow_name or 'workflow'} {verb}{where} ({repo_name})", c.MAX_TITLE
                ),
                severity=None,
                labels=labels,
                started_at=c.timestamp(
                    run.get("run_started_at") or run.get("created_at"), "$.workflow_run.created_at"
                ),
                url=c.url(c.text(run, "html_url", "$.workflow_run")),
                description=c.clean_text(c.text(commit, "message", "$.workflow_run.head_commit")),
                group=f"workflow:{group}",
            )
        ]
