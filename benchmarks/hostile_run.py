"""A hostile hour against a real ``crashbot serve``: 5xx, leaks, acknowledged-then-lost.

Starts ``crashbot serve`` in a fresh directory (SQLite, or PostgreSQL with
``--postgres URL``), seeds private data carrying secret markers, then sends
the classes of hostile input issue #15 listed plus ``--requests`` seeded
random mutations of valid requests to every route. It counts:

* responses >= 500 (there must be none);
* leaks: a secret marker (private incident title, internal update, alert
  title) in any answer given without a token;
* acknowledged-then-lost: declares answered 201, the server then killed with
  SIGKILL mid-stream, restarted, and every acknowledged incident looked up.

Run by hand (never in the test run); the seed makes a run repeatable::

    python benchmarks/hostile_run.py --requests 9000 --seed 15
    python benchmarks/hostile_run.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test

It prints its figures and exits 1 if any count is not zero.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

TOKEN = "cbt_hostile_run_token"
SECRETS = ("S3CRET-TITLE-7741", "S3CRET-NOTE-7741", "S3CRET-ALERT-7741")
PUBLIC_GETS = [
    "/",
    "/history",
    "/history/page/1",
    "/feed.atom",
    "/feed.rss",
    "/badge.svg",
    "/api/list",
    "/api/v2/summary.json",
    "/api/v2/status.json",
    "/api/v2/components.json",
    "/api/v2/incidents.json",
    "/api/v2/incidents/unresolved.json",
    "/api/v2/scheduled-maintenances.json",
    "/health",
    "/metrics",
    "/api/openapi.json",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``crashbot serve`` in ``workdir``; restartable, killable."""

    def __init__(self, workdir: Path, database_url: str | None) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CRASHBOT_", "SLACK_", "DISCORD_"))
        }
        self.env["CRASHBOT_API_TOKEN"] = TOKEN
        if database_url:
            self.env["CRASHBOT_DATABASE_URL"] = database_url
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-c", "from crashbot_core.cli import main; main()", "serve"]
        self.proc = subprocess.Popen(
            [*cmd, "--port", str(self.port)],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/health", timeout=2).close()
                return
            except (OSError, urllib.error.HTTPError):
                time.sleep(0.2)
        raise SystemExit("crashbot serve did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def send(
    base: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request; (status, body). A refused or reset connection is status 0."""
    request = urllib.request.Request(base + path, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def authed(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", **(extra or {})}


def seed(base: str) -> None:
    """A public incident, a private one with secrets, an internal note, a secret alert."""

    def post(path: str, data: dict[str, Any]) -> Any:
        status, body = send(base, "POST", path, json.dumps(data).encode(), authed())
        assert status < 300, (path, status, body)
        return json.loads(body)

    public = post("/api/incidents", {"title": "Checkout slow", "severity": "SEV2", "public": True})
    post(f"/api/incidents/{public['id']}/updates", {"message": SECRETS[1], "public": False})
    post("/api/incidents", {"title": SECRETS[0], "severity": "SEV1", "public": False})
    alert = {
        "title": SECRETS[2],
        "fingerprint": "hostile-1",
        "status": "firing",
        "severity": "SEV1",
    }
    send(base, "POST", "/api/alerts/generic", json.dumps(alert).encode(), authed())


def hostile_cases() -> list[tuple[str, str, bytes | None, dict[str, str]]]:
    """The classes of input issue #15 reproduced, one request each."""
    deep = b"[" * 1000 + b"]" * 1000
    big_int = b'{"title": "x", "severity": ' + b"9" * 5000 + b"}"
    cases: list[tuple[str, str, bytes | None, dict[str, str]]] = [
        ("POST", "/api/incidents", b'{"title": "nul \\u0000 byte"}', authed()),
        ("POST", "/api/incidents", b'{"title": "lone \\ud800 surrogate"}', authed()),
        ("POST", "/api/alerts/generic", b'{"title": "\\udfff", "fingerprint": "s"}', authed()),
        ("POST", "/api/incidents", big_int, authed()),
        ("POST", "/api/incidents", deep, authed()),
        ("POST", "/api/alerts/generic", deep, authed()),
        (
            "POST",
            "/api/incidents",
            b'{"title": "x", "started_at": "0001-01-01T00:00:00+14:00"}',
            authed(),
        ),
        ("GET", "/incidents/2147483648", None, {}),
        ("GET", "/incidents/999999999999999999", None, {}),
        ("GET", "/api/incidents/999999999999999999", None, authed()),
        ("GET", "/history/page/400000000000000000", None, {}),
        (
            "POST",
            "/api/alerts/generic",
            json.dumps({"title": "t", "fingerprint": "f", "labels": {"k" * 5000: "v"}}).encode(),
            authed(),
        ),
        ("POST", "/api/incidents/1/rca", b'{"url": "http://[::1"}', authed()),
        ("GET", "/api/metrics?since=3000000d", None, authed()),
        ("GET", "/api/incidents?since=3000000d", None, authed()),
    ]
    for n in range(20):
        cases.append((f"X{uuid.UUID(int=n).hex[:8].upper()}", "/", None, {}))
    return cases


def mutate(rng: random.Random) -> tuple[str, str, bytes | None, dict[str, str]]:
    """A random mutation of a valid request (seeded)."""
    strings = [
        "",
        "\x00",
        "\ud800",
        "A" * 70000,
        "<script>alert(1)</script>",
        "<!channel>",
        "-1",
        "1e309",
        "NaN",
        "9" * 40,
        "\u202e",
        "%00",
        "../../etc/passwd",
    ]
    numbers: list[Any] = [0, -1, 2**31, 2**63, 10**400, 1.5, None, True, "1", [], {}]
    value: Any = rng.choice([rng.choice(strings), rng.choice(numbers)])
    kind = rng.randrange(5)
    if kind == 0:
        field = rng.choice(
            ["title", "severity", "description", "public", "components", "started_at"]
        )
        data = {"title": "ok", field: value}
        return ("POST", "/api/incidents", _json(data), authed())
    if kind == 1:
        field = rng.choice(["message", "status", "severity", "public"])
        return ("POST", "/api/incidents/1/updates", _json({field: value}), authed())
    if kind == 2:
        field = rng.choice(["title", "fingerprint", "status", "labels", "severity", "started_at"])
        return ("POST", "/api/alerts/generic", _json({"title": "a", field: value}), authed())
    if kind == 3:
        path = rng.choice([*PUBLIC_GETS, "/incidents/1", "/api/incidents/1"])
        text = urllib.parse.quote(str(value).encode("utf-8", "surrogatepass"), safe="")
        query = rng.choice(["", "?page=" + text, "?since=" + text, "?x=%ff"])
        return ("GET", path + query, None, authed() if path.startswith("/api/inc") else {})
    raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    return (
        rng.choice(["POST", "PATCH"]),
        rng.choice(["/api/incidents", "/api/incidents/1", "/api/alerts/generic"]),
        raw,
        authed(),
    )


def _json(data: Any) -> bytes:
    try:
        return json.dumps(data).encode("utf-8", "surrogatepass")
    except (ValueError, OverflowError):
        return b"{}"


def durability(server: Server, declares: int, rng: random.Random) -> tuple[int, int]:
    """(acknowledged, lost): declares in flight while the server is killed with SIGKILL.

    Sixteen clients declare at once; once a random share of ``declares`` has
    been answered 201, the server is killed mid-stream, restarted, and every
    acknowledged incident is looked up.
    """
    acknowledged: list[str] = []
    lock = threading.Lock()
    kill_at = rng.randrange(declares // 4, declares // 2)
    killed = threading.Event()
    numbers = iter(range(declares))

    def client() -> None:
        while not killed.is_set():
            with lock:
                n = next(numbers, None)
            if n is None:
                return
            body = json.dumps({"title": f"durability {n}", "severity": "SEV3"}).encode()
            status, answer = send(server.url, "POST", "/api/incidents", body, authed())
            if status == 201:
                with lock:
                    acknowledged.append(json.loads(answer)["ref"])
                    if len(acknowledged) >= kill_at and not killed.is_set():
                        killed.set()
                        server.kill()

    clients = [threading.Thread(target=client) for _ in range(16)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    if not killed.is_set():
        server.kill()
    server.start()
    lost = 0
    for ref in acknowledged:
        status, _ = send(server.url, "GET", f"/api/incidents/{ref}", None, authed())
        lost += status != 200
    return len(acknowledged), lost


def _fresh_schema(url: str) -> str:
    """A URL to a new, empty schema of ``url``'s database: the run touches nothing else."""
    import sqlalchemy as sa

    schema = f"hostile_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine.dispose()
    fresh = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return fresh.render_as_string(hide_password=False)


def _drop_schema(url: str, fresh: str | None) -> None:
    import sqlalchemy as sa

    if fresh is None:
        return
    schema = sa.make_url(fresh).query["options"].split("=", 1)[1]  # type: ignore[union-attr]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="random mutations to send")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--declares", type=int, default=200, help="declares in the kill test")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL database to use")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        database = _fresh_schema(args.postgres) if args.postgres else None
        server = Server(Path(tmp), database)
        server.start()
        try:
            seed(server.url)
            statuses: dict[int, int] = {}
            errors: list[str] = []
            leaks: list[str] = []
            requests = hostile_cases() + [mutate(rng) for _ in range(args.requests)]
            for method, path, body, headers in requests:
                status, answer = send(server.url, method, path, body, headers)
                statuses[status] = statuses.get(status, 0) + 1
                if status >= 500 or status == 0:
                    errors.append(f"{status} {method} {path[:80]}")
            for path in [*PUBLIC_GETS, "/incidents/1", "/incidents/2", "/incidents/3"]:
                _, answer = send(server.url, "GET", path)
                leaks += [f"{path}: {s}" for s in SECRETS if s.encode() in answer]
            acknowledged, lost = durability(server, args.declares, rng)
        finally:
            server.stop()
            if args.postgres:
                _drop_schema(args.postgres, database)
    print(f"requests: {len(requests)} (seed {args.seed}, {'PostgreSQL' if database else 'SQLite'})")
    print("statuses:", dict(sorted(statuses.items())))
    print(f"responses >= 500 or dropped: {len(errors)}")
    for line in errors[:20]:
        print("  ", line)
    print(f"leaks: {len(leaks)}")
    for line in leaks[:20]:
        print("  ", line)
    print(f"declares acknowledged before SIGKILL: {acknowledged}, lost: {lost}")
    sys.exit(1 if errors or leaks or lost else 0)


if __name__ == "__main__":
    main()
