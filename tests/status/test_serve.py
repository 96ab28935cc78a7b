"""``crashbot serve --demo`` on a fresh directory with no configuration (the README's command)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read()


@pytest.mark.e2e
def test_serve_demo_in_an_empty_directory(tmp_path):
    port = _free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CRASHBOT_", "SLACK_", "DISCORD_"))
    }
    cmd = [
        sys.executable,
        "-c",
        "from crashbot_core.cli import main; main()",
        "serve",
        "--demo",
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = _get(f"http://127.0.0.1:{port}/health")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        proc.stdout.read() if proc.stdout else "server did not start"
                    ) from None
                time.sleep(0.2)
        assert status == 200
        assert (tmp_path / "crashbot.db").exists()
        status, html = _get(f"http://127.0.0.1:{port}/")
        assert status == 200 and b"Webhook deliveries delayed for some customers" in html
        summary = json.loads(_get(f"http://127.0.0.1:{port}/api/v2/summary.json")[1])
        assert summary["status"]["indicator"] == "major"
        assert len(summary["components"]) >= 9
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "seeded" in out
