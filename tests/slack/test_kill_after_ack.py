"""A command Slack was told is done survives ``kill -9`` of the server the moment after.

The server is a real ``crashbot slack run`` process; the declare arrives as a
signed HTTP request, as Slack sends it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from fake_slack import FakeSlack, sign
from slack_support import SECRET, slack_env

from crashbot_core import FixedClock
from crashbot_core.testing import make_crashbot


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_health(proc: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"crashbot slack run did not start:\n{out}")
        time.sleep(0.1)


@pytest.mark.e2e
def test_a_declare_acked_by_a_server_killed_right_after_is_stored(
    tmp_path: Path, database_url: str, clock: FixedClock, fake_slack: FakeSlack
) -> None:
    port = _free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CRASHBOT_", "SLACK_", "DISCORD_"))
    }
    env.update(slack_env(fake_slack), CRASHBOT_DATABASE_URL=database_url)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from crashbot_core.cli import main; main()",
            "slack",
            "run",
            "--port",
            str(port),
            "--no-worker",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for_health(proc, f"http://127.0.0.1:{port}/health")
        body = urllib.parse.urlencode(
            {
                "team_id": "T0001",
                "channel_id": "CGENERAL1",
                "channel_name": "general",
                "user_id": "UALICE",
                "user_name": "alice",
                "command": "/incident",
                "text": "declare Payments down sev1",
                "response_url": fake_slack.response_url(),
                "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            }
        )
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/slack/events",
            data=body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", **sign(SECRET, body)},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            status, answer = response.status, response.read().decode()
        # The ack is in: kill the server before it can do anything more.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()
    assert status == 200 and "Declared INC-1 (SEV1): Payments down" in answer
    reader = make_crashbot(database_url=database_url, clock=clock)
    try:
        [inc] = reader.list()
    finally:
        reader.close()
    assert (inc.title, inc.severity, inc.source) == ("Payments down", "SEV1", "slack")
    assert inc.declared_by is not None and inc.declared_by.name == "alice"
