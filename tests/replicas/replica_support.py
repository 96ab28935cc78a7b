"""Helpers for the replica tests: child processes started together."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CHILD = Path(__file__).with_name("replica_child.py")


class Children:
    """Child processes started together: each waits for the ``go`` file."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.ready = str(tmp_path / "ready")
        self.go = str(tmp_path / "go")
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, role: str, **args: Any) -> subprocess.Popen[bytes]:
        """Start ``replica_child.py ROLE`` with these arguments."""
        payload = {"ready": self.ready, "go": self.go, **args}
        proc = subprocess.Popen(
            [sys.executable, str(CHILD), role, json.dumps(payload)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.procs.append(proc)
        return proc

    def release(self, timeout: float = 45) -> None:
        """Wait until every child is ready, then let them all go at once."""
        deadline = time.monotonic() + timeout
        while True:
            ready = Path(self.ready).read_text().split() if Path(self.ready).exists() else []
            if len(ready) >= len(self.procs):
                break
            for proc in self.procs:
                if proc.poll() is not None:
                    _, err = proc.communicate()
                    raise AssertionError(f"child exited early: {err.decode()[-2000:]}")
            assert time.monotonic() < deadline, "children did not get ready in time"
            time.sleep(0.01)
        Path(self.go).touch()

    def wait(self, proc: subprocess.Popen[bytes] | None = None, timeout: float = 50) -> None:
        """Wait for one child (or all) and fail with its stderr if it failed."""
        for p in [proc] if proc is not None else self.procs:
            _, err = p.communicate(timeout=timeout)
            assert p.returncode == 0, err.decode()[-3000:]

    def kill_all(self) -> None:
        """Kill whatever is still running (test teardown)."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
