"""A real ``crashbot serve`` in a subprocess, for the process and nginx tests."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLI = "from crashbot_core.cli import main; main()"
TOKEN = "cbt_serve_e2e_token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except OSError:
            result = None  # not listening yet: try again until the deadline
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(p) for p in (task / "children").read_text().split())
    return found


class Serve:
    """A running ``crashbot serve``; its output goes to a file (a full pipe would block it)."""

    def __init__(self, tmp_path: Path, *args: str, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "serve.log"
        clean = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CRASHBOT_", "SLACK_", "DISCORD_"))
        }
        clean.update(CRASHBOT_API_TOKEN=TOKEN, **env)
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", CLI, "serve", "--port", str(self.port), *args],
                cwd=tmp_path,
                env=clean,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        self.db = tmp_path / "crashbot.db"
        wait(self._healthy, "the server to answer")

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"crashbot serve exited:\n{self.output()}")
        with urllib.request.urlopen(self.base + "/health", timeout=5) as r:
            return r.status == 200

    def output(self) -> str:
        return self.log.read_text()

    def outbox_pids(self) -> list[int]:
        return [int(p) for p in re.findall(r"outbox worker started \(pid (\d+)\)", self.output())]

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=10) as r:
            return json.loads(r.read())

    def declare(self, title: str) -> dict[str, Any]:
        request = urllib.request.Request(
            self.base + "/api/incidents",
            data=json.dumps({"title": title, "severity": "SEV1", "public": True}).encode(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 201
            return json.loads(r.read())  # type: ignore[no-any-return]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"crashbot serve did not stop:\n{self.output()}") from None
