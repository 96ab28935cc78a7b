"""``crashbot serve`` as a production server: worker processes, graceful SIGTERM, a supervised outbox worker.

Each test runs the real command in a subprocess, as a user or systemd would,
and looks at it from outside: HTTP answers, the process tree, the log, the
database and what a (local) Discord webhook received.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from serve_support import TOKEN, Serve, children, wait

from crashbot_core.store import IncidentFilter
from crashbot_sqlalchemy.store import SqlStore

pytestmark = pytest.mark.e2e


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Serve]]:
    started: list[Serve] = []

    def start(*args: str, **env: str) -> Serve:
        server = Serve(tmp_path, *args, **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_two_http_workers_and_an_outbox_worker_answer_and_are_kept_running(
    serve: Callable[..., Serve],
) -> None:
    server = serve("--workers", "2")
    started = wait(
        lambda: len(children(server.proc.pid)) == 3 and children(server.proc.pid), "3 children"
    )
    outbox = wait(server.outbox_pids, "the outbox worker")[-1]
    http_workers = started - {outbox}
    assert len(http_workers) == 2
    # The complaint: --port is what the links say, not a hard-coded 8080.
    summary = server.get_json("/api/v2/summary.json")
    assert summary["page"]["url"] == server.base
    inc = server.declare("Checkout down")
    assert server.get_json("/api/list")["open"][0]["url"] == f"{server.base}/incidents/{inc['id']}"

    # An HTTP worker that dies is replaced; the site keeps answering meanwhile.
    os.kill(min(http_workers), signal.SIGKILL)
    wait(
        lambda: len(children(server.proc.pid) - {outbox} - http_workers) == 1,
        "a replacement HTTP worker",
    )
    for _ in range(20):
        assert server.get_json("/api/v2/status.json")["status"]["indicator"] == "critical"
    assert server.stop() == 0


def test_sigterm_lets_a_request_in_flight_finish(serve: Callable[..., Serve]) -> None:
    server = serve("--workers", "2")
    body = json.dumps({"title": "Sent while stopping", "severity": "SEV2"}).encode()
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    with conn:
        head = (
            "POST /api/incidents HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\n"
            f"Authorization: Bearer {TOKEN}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        # Headers and half the body: the app is reading it when SIGTERM arrives.
        conn.sendall(head.encode() + body[:10])
        time.sleep(1)
        server.proc.send_signal(signal.SIGTERM)
        wait(lambda: "Handling signal: term" in server.output(), "the server to see SIGTERM")
        # No new connections once stopping (the listener is closed)...
        wait(lambda: _refused(server.port), "the listener to close", timeout=20)
        # ...but the request in flight completes.
        time.sleep(0.5)
        conn.sendall(body[10:])
        response = b""
        while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            response += chunk
    assert response.startswith(b"HTTP/1.1 201"), response
    assert server.proc.wait(60) == 0, server.output()
    store = SqlStore.from_url(f"sqlite:///{server.db}")
    try:
        assert [i.title for i in store.list_incidents(IncidentFilter())] == ["Sent while stopping"]
    finally:
        store.close()


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_a_killed_outbox_worker_is_restarted_and_delivers_at_once(
    serve: Callable[..., Serve], httpserver: HTTPServer
) -> None:
    posted: list[dict[str, Any]] = []

    def discord(request: Any) -> Any:
        from werkzeug import Response

        posted.append(request.get_json())
        return Response(json.dumps({"id": str(len(posted))}), content_type="application/json")

    httpserver.expect_request("/api/webhooks/1/tok", method="POST").respond_with_handler(discord)
    server = serve("--workers", "2", DISCORD_WEBHOOK_URL=httpserver.url_for("/api/webhooks/1/tok"))
    first = wait(server.outbox_pids, "the outbox worker")[-1]
    os.kill(first, signal.SIGKILL)
    wait(lambda: len(server.outbox_pids()) == 2, "a new outbox worker", timeout=30)
    second = server.outbox_pids()[-1]
    assert second != first and second in children(server.proc.pid)
    assert "exited (killed by signal 9)" in server.output()

    server.declare("Payments failing")
    # The worker polls every 15 s; a commit in an HTTP process wakes it at once.
    wait(lambda: posted, "the Discord webhook to be called", timeout=10)
    assert "Payments failing" in json.dumps(posted[0])
    assert server.stop() == 0
    assert f"outbox worker (pid {second}) stopped" in server.output()
