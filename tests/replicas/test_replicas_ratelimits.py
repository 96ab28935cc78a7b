"""The subscribe form's limit holds for the site, not per process."""

from __future__ import annotations

from pathlib import Path

from replica_support import Children
from support import T0

PROCESSES = 4
POSTS = 4
LIMIT = 5  # [email] subscribe_limit's default


def test_processes_posting_the_subscribe_form_at_once_share_one_limit(
    replica_url: str, children: Children, tmp_path: Path
) -> None:
    out = tmp_path / "answers"
    for i in range(PROCESSES):
        children.start(
            "subscribe", url=replica_url, n=POSTS, name=f"p{i}", out=str(out), at=T0.isoformat()
        )
    children.release()
    children.wait(timeout=120)

    answers = sorted(out.read_text().split("\n")[:-1])
    # One client address, four processes: five accepted in all, not five each.
    assert answers == ["status 202"] * LIMIT + ["status 429"] * (PROCESSES * POSTS - LIMIT)
