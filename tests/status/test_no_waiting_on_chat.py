"""No HTTP request waits on a chat API: servers commit, the worker delivers (#15 item 2).

Reproduced before: with Slack accepting connections but never answering,
each declare, first update and new alert took 10 s, because delivery ran in
the request thread.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from status_support import auth

from crashbot_core import Crashbot, hookimpl
from crashbot_core.models import DeliveryState, Event, Incident
from crashbot_core.store import IncidentFilter
from crashbot_core.testing import registered
from crashbot_sqlalchemy.store import SqlStore
from crashbot_status import create_app


class Hanging:
    """A chat plugin whose API accepts the call and answers only when released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.delivered: list[str] = []

    @hookimpl
    def crashbot_incident_event(self, incident: Incident, event: Event) -> None:
        self.entered.set()
        if not self.release.wait(10):
            raise TimeoutError("chat API did not answer")
        self.delivered.append(event.kind.value)


def test_a_server_answers_a_declare_while_chat_hangs_and_the_worker_delivers(
    bot: Crashbot,
) -> None:
    bot.defer_deliveries()  # as crashbot serve, the Slack and Discord bots do
    chat = Hanging()
    client = create_app(bot, {"TESTING": True}).test_client()
    token = bot.create_token("ops", "write")[0]
    with registered(bot.pm, chat, "chat"):
        created = client.post(
            "/api/incidents",
            json={"title": "Checkout down", "severity": "SEV1"},
            headers=auth(token),
        )
        # Answered, stored, and chat not even called yet.
        assert created.status_code == 201
        assert not chat.entered.is_set()
        assert bot.get(created.get_json()["id"]).title == "Checkout down"
        assert bot.outbox.pending.is_set()  # the worker was woken

        worker = threading.Thread(target=bot.retry_deliveries)
        worker.start()
        assert chat.entered.wait(5)  # the worker is the one waiting on chat
        updated = client.post(
            f"/api/incidents/{created.get_json()['id']}/updates",
            json={"message": "Rolled back"},
            headers=auth(token),
        )
        assert updated.status_code in (200, 201)
        chat.release.set()
        worker.join(10)
        bot.retry_deliveries()

    assert chat.delivered == ["declared", "update_posted"]
    assert {d.state for d in bot.deliveries() if d.plugin == "chat"} == {DeliveryState.DELIVERED}


@pytest.fixture
def silent_slack() -> Iterator[tuple[int, threading.Event]]:
    """A "Slack" that accepts connections and never answers (until the test ends)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = threading.Event()
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)
            accepted.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1]), accepted
    finally:
        done.set()
        thread.join(2)
        for conn in held:
            conn.close()
        server.close()


CLI = "from crashbot_core.cli import main; main()"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.e2e
def test_crashbot_serve_answers_while_slack_never_does(
    tmp_path: Path, silent_slack: tuple[int, threading.Event]
) -> None:
    slack_port, slack_called = silent_slack
    port = _free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CRASHBOT_", "SLACK_", "DISCORD_"))
    }
    env.update(
        CRASHBOT_API_TOKEN="cbt_e2e_token",
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET="secret",
        SLACK_API_URL=f"http://127.0.0.1:{slack_port}/api/",
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("server did not start") from None
                time.sleep(0.2)
        answers = []
        for title in ("Checkout down", "Search slow"):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/incidents",
                data=json.dumps({"title": title, "severity": "SEV1"}).encode(),
                headers={
                    "Authorization": "Bearer cbt_e2e_token",
                    "Content-Type": "application/json",
                },
                method="POST",
            )
            # Slack's client would wait far longer than this for a reply.
            with urllib.request.urlopen(request, timeout=3) as response:
                answers.append((response.status, json.loads(response.read())["ref"]))
        assert slack_called.wait(10)  # the worker did try Slack, and is waiting on it
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()

    assert answers == [(201, "INC-1"), (201, "INC-2")]
    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'crashbot.db'}")
    try:
        titles = [i.title for i in store.list_incidents(IncidentFilter())]
        assert titles == ["Search slow", "Checkout down"]
    finally:
        store.close()
