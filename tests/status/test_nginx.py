"""docs/deployment.md's nginx ``proxy_cache`` configuration, run as written in front of ``crashbot serve``.

Debian's nginx runs unprivileged-port, with its prefix, cache and temp
directories in ``tmp_path``. Without nginx the test is skipped, unless
``CRASHBOT_REQUIRE_NGINX=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from serve_support import TOKEN, Serve, free_port, wait

pytestmark = pytest.mark.e2e

DOCS = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
#: Seconds crashbot's public responses may be reused (Cache-Control max-age).
MAX_AGE = 10


def nginx_or_skip() -> str:
    """The nginx binary; skipped without one unless CI requires it."""
    if NGINX is None:
        if os.environ.get("CRASHBOT_REQUIRE_NGINX") == "1":
            pytest.fail("nginx is required (CRASHBOT_REQUIRE_NGINX=1) but not installed")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return NGINX


def documented_config() -> str:
    """The ``nginx`` block of docs/deployment.md that starts with the conf.d file name."""
    blocks = re.findall(r"```nginx\n(.*?)```", DOCS.read_text(), re.S)
    (block,) = [b for b in blocks if b.startswith("# /etc/nginx/conf.d/crashbot.conf")]
    return block


def local_config(block: str, root: Path, *, listen: int, upstream: int) -> str:
    """The documented block, pointed at this test's ports and directories, in a whole nginx.conf."""
    for old, new in (
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream};"),
        ("listen 80;", f"listen 127.0.0.1:{listen};"),
        ("/var/cache/nginx/crashbot", str(root / "cache")),
    ):
        assert old in block, old
        block = block.replace(old, new)
    temp = "\n".join(
        f"  {kind}_temp_path {root / 'tmp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, nginx would run its workers as nobody, who cannot enter tmp_path.
    user = "user root;" if os.geteuid() == 0 else ""
    return (
        f"{user}\nworker_processes 1;\npid {root / 'nginx.pid'};\n"
        f"error_log {root / 'error.log'} warn;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n  access_log off;\n{temp}\n{block}\n}}\n"
    )


@pytest.fixture
def nginx_in_front(tmp_path: Path) -> Iterator[tuple[str, Serve]]:
    binary = nginx_or_skip()
    listen = free_port()
    front = f"http://127.0.0.1:{listen}"
    server = Serve(tmp_path, "--workers", "2", CRASHBOT_PUBLIC_URL=front)
    root = tmp_path / "nginx"
    for sub in ("cache", "tmp"):
        (root / sub).mkdir(parents=True)
    conf = root / "nginx.conf"
    conf.write_text(local_config(documented_config(), root, listen=listen, upstream=server.port))
    check = subprocess.run(
        [binary, "-t", "-p", str(root), "-e", str(root / "error.log"), "-c", str(conf)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(
        [
            binary,
            "-p",
            str(root),
            "-e",
            str(root / "error.log"),
            "-c",
            str(conf),
            "-g",
            "daemon off;",
        ]
    )
    try:
        wait(lambda: _get(front + "/health")[0] == 200, "nginx to answer")
        yield front, server
    finally:
        proc.send_signal(signal.SIGQUIT)  # nginx's graceful stop
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        server.stop()


def _get(url: str, **headers: str) -> tuple[int, Message, bytes]:
    """Status, headers (names in any case) and body."""
    request = urllib.request.Request(
        url, headers={k.replace("_", "-"): v for k, v in headers.items()}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def _declare(server: Serve, title: str) -> Any:
    request = urllib.request.Request(
        server.base + "/api/incidents",
        data=json.dumps({"title": title, "severity": "SEV1", "public": True}).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def test_the_documented_nginx_cache_serves_repeats_and_304s_itself(
    nginx_in_front: tuple[str, Serve],
) -> None:
    front, server = nginx_in_front
    _declare(server, "Checkout down")
    for path in ("/", "/api/v2/summary.json"):
        status, first, body = _get(front + path)
        assert status == 200 and first["X-Cache-Status"] in {"MISS", "EXPIRED"}, (path, first)
        status, again, same = _get(front + path)
        assert (status, again["X-Cache-Status"], same) == (200, "HIT", body), path
        assert again["ETag"] == first["ETag"]
        status, revalidated, empty = _get(front + path, If_None_Match=first["ETag"])
        assert (status, revalidated["X-Cache-Status"], empty) == (304, "HIT", b""), path
    summary = json.loads(_get(front + "/api/v2/summary.json")[2])
    # public_url: the links are the address the public uses, not crashbot's own.
    assert summary["page"]["url"] == front
    assert summary["incidents"][0]["shortlink"].startswith(front + "/incidents/")


def test_a_change_is_public_through_the_cache_within_max_age(
    nginx_in_front: tuple[str, Serve],
) -> None:
    front, server = nginx_in_front
    _declare(server, "Checkout down")
    _get(front + "/api/v2/summary.json")
    cached = _get(front + "/api/v2/summary.json")
    assert cached[1]["X-Cache-Status"] == "HIT"
    _declare(server, "Search is slow")
    changed = time.monotonic()
    # The cached copy is served meanwhile...
    assert b"Search is slow" not in _get(front + "/api/v2/summary.json")[2]

    def fresh() -> bool:
        return b"Search is slow" in _get(front + "/api/v2/summary.json")[2]

    wait(fresh, "the change to show through nginx", timeout=MAX_AGE + 10)
    # ...and the change shows once max-age has run out (plus crashbot's 1 s
    # change-token cache and the polling step).
    assert time.monotonic() - changed <= MAX_AGE + 3


def test_answers_for_a_token_are_never_served_from_the_cache(
    nginx_in_front: tuple[str, Serve],
) -> None:
    front, server = nginx_in_front
    private = _declare(server, "Private matters")
    path = f"/api/incidents/{private['id']}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for _ in range(2):
        status, headers, body = _get(front + path, **auth)
        assert status == 200 and b"Private matters" in body
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Cache-Status"] != "HIT"
    status, _, body = _get(front + path)
    assert status == 401 and b"Private matters" not in body
