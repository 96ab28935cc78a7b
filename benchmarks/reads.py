"""Reads at scale (#20): cold renders, the ASGI entry under changes, the admin API, memory.

Seeds 20 components and 2,000 incidents (``benchmarks/status_site.py``'s
history plus one private open incident that gets internal notes), then:

* ``cold``: every public route rendered by a fresh app (the first render of
  a worker), then again right after an internal note on a private incident
  (what every change costs every worker): milliseconds and SQL statements;
* ``asgi``: gunicorn with uvicorn workers (``crashbot_status.asgi``), wrk on
  ``/``, ``summary.json`` and 304s while a note is written every second;
* ``auth``: ``GET /api/incidents/INC-1`` with a read token (gunicorn gthread,
  or with ``--admin-server asgi`` uvicorn workers as ``crashbot serve`` runs);
* ``list``: ``GET /api/incidents?limit=100`` pages (in-process server time and
  over HTTP), with and without filters;
* ``writes``: ``POST /api/incidents`` with a write token (the same server);
* and the RSS of each gunicorn worker after its run.

Run by hand (needs ``wrk``)::

    python benchmarks/reads.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
    python benchmarks/reads.py --workdir /tmp/reads-sqlite          # SQLite

``--code DIR`` serves another checkout's ``src`` and ``plugins`` (the code
before a change, for a side-by-side run); the seeded store is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from status_site import free_port, seed, wait_http

from crashbot_core import Crashbot
from crashbot_core.store import IncidentFilter

PUBLIC = [
    "/",
    "/history",
    "/incidents/5",
    "/feed.atom",
    "/badge.svg",
    "/api/list",
    "/api/v2/summary.json",
    "/api/v2/incidents.json",
]
POST_LUA = """
wrk.method = "POST"
wrk.body = '{"title": "Load test incident", "severity": "SEV3", "public": false, "labels": {"team": "bench"}}'
wrk.headers["Content-Type"] = "application/json"
"""


def ensure_seeded(url: str, incidents: int) -> Crashbot:
    """The store at ``url`` with the history seeded (once) and a private open incident."""
    bot = Crashbot.from_config(None, database_url=url)
    if bot.store.count_incidents(IncidentFilter()) < incidents:
        bot.close()
        t0 = time.perf_counter()
        seed(url, incidents=incidents).close()
        print(f"seeded {incidents} incidents in {time.perf_counter() - t0:.1f}s")
        bot = Crashbot.from_config(None, database_url=url)
    if not bot.list(public=False, open=True, label=("bench", "private")):
        bot.declare("Private trouble", severity="SEV3", public=False, labels={"bench": "private"})
    return bot


def private_incident(bot: Crashbot) -> int:
    return bot.list(public=False, open=True, label=("bench", "private"))[0].id


def count_statements(bot: Crashbot) -> list[int]:
    import sqlalchemy as sa

    seen = [0]

    def on(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT")):
            seen[0] += 1

    sa.event.listen(bot.store.engine, "before_cursor_execute", on)  # type: ignore[attr-defined]
    return seen


def cold(bot: Crashbot) -> None:
    """First render of each public route, and the render after a private internal note."""
    from crashbot_status import create_app

    seen = count_statements(bot)
    note_on = private_incident(bot)
    print(
        "\ncold renders, in-process: a fresh app's first render (best of 3), and the render "
        "right after an internal note on a private incident (median of 5); wall and CPU ms"
    )
    print(
        f"{'route':26} {'first':>8} {'CPU':>7} {'stmts':>6} {'after note':>11} {'CPU':>7} {'stmts':>6}"
    )
    public_id = bot.list(public=True, limit=1, newest_first=False)[0].id
    for path in (p.replace("/5", f"/{public_id}") for p in PUBLIC):
        firsts = []
        for _ in range(3):
            client = create_app(bot, {"CHANGE_TOKEN_TTL": 0}).test_client()
            seen[0] = 0
            t0, c0 = time.perf_counter(), time.process_time()
            assert client.get(path).status_code == 200, path
            firsts.append((time.perf_counter() - t0, time.process_time() - c0))
            first_statements = seen[0]
        afters = []
        for i in range(5):
            bot.update(note_on, message=f"internal note {i}")
            seen[0] = 0
            t0, c0 = time.perf_counter(), time.process_time()
            assert client.get(path).status_code == 200
            afters.append((time.perf_counter() - t0, time.process_time() - c0))
            after_statements = seen[0]
        first = min(firsts)
        after = sorted(afters)[len(afters) // 2]
        print(
            f"{path:26} {first[0] * 1000:8.1f} {first[1] * 1000:7.1f} {first_statements:6d} "
            f"{after[0] * 1000:11.1f} {after[1] * 1000:7.1f} {after_statements:6d}"
        )


def wrk(
    url: str,
    *,
    duration: int,
    connections: int,
    headers: list[str] = (),  # type: ignore[assignment]
    script: Path | None = None,
) -> tuple[float, float, float, int]:
    """wrk's requests/s, p50 and p99 in ms, and non-2xx/3xx responses."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        m = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)\b", out)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, ms("50"), ms("99"), int(bad.group(1)) if bad else 0


@contextmanager
def gunicorn(
    url: str, kind: str, workers: int, code: Path | None, root: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A gunicorn serving the status app: ``asgi`` (uvicorn workers) or ``gthread``."""
    port = free_port()
    env = {**os.environ, "CRASHBOT_DATABASE_URL": url, "CRASHBOT_DISABLED_PLUGINS": ""}
    if code is not None:
        env["PYTHONPATH"] = f"{code / 'src'}:{code / 'plugins'}"
    if kind == "asgi":
        server = ["-k", "uvicorn_worker.UvicornWorker", "crashbot_status.asgi:create_asgi_app()"]
    else:
        server = ["-k", "gthread", "--threads", "4", "crashbot_status:create_app()"]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            *server,
        ],
        cwd=root,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/health", timeout=60)
        yield base, proc
    finally:
        rss = worker_rss(proc.pid)
        proc.terminate()
        proc.wait(30)
        print(f"  worker RSS after the run: {', '.join(f'{r:.0f} MB' for r in rss)}")


def server_cpu(master: int) -> float:
    """CPU seconds (user + system) used so far by the gunicorn master and its workers."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == master or ppid == master:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def measured(master: int, url: str, **kwargs: Any) -> tuple[float, float, float, int, float]:
    """wrk's figures plus the server's CPU milliseconds per request during the run."""
    before = server_cpu(master)
    rps, p50, p99, bad = wrk(url, **kwargs)
    spent = server_cpu(master) - before
    return rps, p50, p99, bad, spent / max(1.0, rps * kwargs["duration"]) * 1000


def worker_rss(master: int) -> list[float]:
    """Resident memory of each child of the gunicorn master, in MB."""
    out = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if re.search(rf"^PPid:\s+{master}$", text, re.M):
            m = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
            if m:
                out.append(int(m.group(1)) / 1024)
    return sorted(out)


@contextmanager
def changing_every_second(bot: Crashbot) -> Iterator[list[int]]:
    """An internal note on the private incident every second, from this process (another replica)."""
    stop = threading.Event()
    done = [0]
    target = private_incident(bot)

    def write() -> None:
        while not stop.wait(1.0):
            bot.update(target, message=f"internal note at {time.time():.0f}")
            done[0] += 1

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        yield done
    finally:
        stop.set()
        thread.join(10)


def warm(base: str, paths: list[str], headers: dict[str, str] | None = None) -> None:
    for _ in range(20):  # reach every worker
        for path in paths:
            request = urllib.request.Request(base + path, headers=headers or {})
            urllib.request.urlopen(request).read()


def asgi_case(bot: Crashbot, url: str, args: argparse.Namespace, root: Path) -> None:
    print(
        f"\nASGI entry: gunicorn -w {args.workers} uvicorn workers, wrk -t2 -c{args.connections} "
        f"-d{args.duration}s, an internal note on a private incident every second"
    )
    with gunicorn(url, "asgi", args.workers, args.code, root) as (base, proc):
        warm(base, ["/", "/api/v2/summary.json"])
        with urllib.request.urlopen(base + "/") as r:
            etag = r.headers["ETag"]
        print(
            f"{'case':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'CPU ms/req':>11}"
        )
        with changing_every_second(bot) as writes:
            for name, path, headers in (
                ("GET /", "/", []),
                ("GET /api/v2/summary.json", "/api/v2/summary.json", []),
                ("GET / If-None-Match (304)", "/", [f"If-None-Match: {etag}"]),
            ):
                wrk(base + path, duration=3, connections=args.connections, headers=headers)
                rps, p50, p99, bad, cpu = measured(
                    proc.pid,
                    base + path,
                    duration=args.duration,
                    connections=args.connections,
                    headers=headers,
                )
                print(f"{name:28} {rps:9.0f} {p50:8.2f} {p99:8.2f} {bad:8d} {cpu:11.3f}")
        print(f"  ({writes[0]} notes written during the runs)")
        fill_caches(bot, base, args.workers)


def fill_caches(bot: Crashbot, base: str, workers: int) -> None:
    """Request every public URL (each incident page, each history page) in every worker."""
    from crashbot_status.site import HISTORY_PAGE_SIZE
    from crashbot_status.views import static_paths

    ids = [i.id for i in bot.list(public=True)]
    pages = -(-len(ids) // HISTORY_PAGE_SIZE)
    paths = static_paths(ids, pages)
    t0 = time.perf_counter()
    for _ in range(2 * workers):  # connections land on workers at random
        for path in paths:
            urllib.request.urlopen(base + path).read()
    print(
        f"  filled the render caches: {len(paths)} public URLs x {2 * workers} "
        f"in {time.perf_counter() - t0:.0f}s"
    )


def auth_case(bot: Crashbot, url: str, args: argparse.Namespace, root: Path) -> None:
    secret, _ = bot.create_token(f"bench-read-{os.getpid()}-{time.time_ns()}", "read")
    print(
        f"\nauthenticated read: gunicorn -w {args.workers} {_admin_server(args)}, "
        f"wrk -t2 -c{args.auth_connections} -d{args.duration}s"
    )
    with gunicorn(url, args.admin_server, args.workers, args.code, root) as (base, proc):
        header = f"Authorization: Bearer {secret}"
        warm(base, ["/api/incidents/INC-1"], {"Authorization": f"Bearer {secret}"})
        for name, path in (
            ("GET /api/incidents/INC-1", "/api/incidents/INC-1"),
            ("GET /api/incidents?limit=100", "/api/incidents?limit=100"),
        ):
            if "?" in path and args.code is not None:
                continue  # the list is new: the old code has no such route
            wrk(base + path, duration=3, connections=args.auth_connections, headers=[header])
            rps, p50, p99, bad, cpu = measured(
                proc.pid,
                base + path,
                duration=args.duration,
                connections=args.auth_connections,
                headers=[header],
            )
            print(
                f"{name:32} {rps:8.0f} req/s  p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
                f"non-2xx {bad}  server CPU {cpu:.2f} ms/req"
            )


def list_case(bot: Crashbot) -> None:
    """Server time of admin list pages, in-process (no sockets)."""
    from crashbot_status import create_app

    secret, _ = bot.create_token(f"bench-list-{os.getpid()}-{time.time_ns()}", "read")
    client = create_app(bot).test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    seen = count_statements(bot)
    print("\nadmin list, in-process server time (median of 20 pages, walking the cursor)")
    for query in (
        "limit=100",
        "limit=100&status=resolved&severity=SEV2",
        "limit=100&public=false",
        "limit=100&since=365d&label=bench=private",
    ):
        times = []
        cpu = []
        cursor = None
        for _ in range(20):
            q = query + (f"&cursor={cursor}" if cursor else "")
            seen[0] = 0
            t0, c0 = time.perf_counter(), time.process_time()
            resp = client.get(f"/api/incidents?{q}", headers=headers)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            assert resp.status_code == 200, resp.get_json()
            cursor = resp.get_json()["next_cursor"]
            statements = seen[0]
        count = len(resp.get_json()["incidents"])
        print(
            f"  ?{query:44} {statistics.median(times) * 1000:6.2f} ms "
            f"(CPU {statistics.median(cpu) * 1000:5.2f} ms) "
            f"({count} on the last page, {statements} statements)"
        )


def writes_case(bot: Crashbot, url: str, args: argparse.Namespace, root: Path) -> None:
    secret, _ = bot.create_token(f"bench-write-{os.getpid()}-{time.time_ns()}", "write")
    script = root / "post.lua"
    script.write_text(POST_LUA)
    print(
        f"\nwrites: POST /api/incidents, gunicorn -w {args.workers} {_admin_server(args)}, "
        f"wrk -t2 -c{args.connections} -d{args.duration}s"
    )
    with gunicorn(url, args.admin_server, args.workers, args.code, root) as (base, proc):
        header = f"Authorization: Bearer {secret}"
        before = bot.store.count_incidents(IncidentFilter())
        rps, p50, p99, bad, cpu = measured(
            proc.pid,
            base + "/api/incidents",
            duration=args.duration,
            connections=args.connections,
            headers=[header],
            script=script,
        )
        made = bot.store.count_incidents(IncidentFilter()) - before
        print(
            f"POST /api/incidents             {rps:8.0f} req/s  p50 {p50:.1f} ms  "
            f"p99 {p99:.1f} ms  non-2xx {bad}  server CPU {cpu:.2f} ms/req  "
            f"({made} incidents stored)"
        )


def _admin_server(args: argparse.Namespace) -> str:
    if args.admin_server == "asgi":
        return "uvicorn workers (the ASGI entry of crashbot serve)"
    return "gthread x 4"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", help="default: SQLite in --workdir")
    ap.add_argument("--workdir", type=Path, help="where the SQLite store and scripts live")
    ap.add_argument("--incidents", type=int, default=2000)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--auth-connections", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--admin-server",
        choices=("gthread", "asgi"),
        default="gthread",
        help="what serves the auth and writes cases: gunicorn gthread, or uvicorn workers "
        "running the ASGI entry as crashbot serve does",
    )
    ap.add_argument("--code", type=Path, help="serve this checkout's src/ and plugins/ instead")
    ap.add_argument(
        "--cases",
        default="cold,asgi,auth,list,writes",
        help="comma-separated: cold, asgi, auth, list, writes (writes last: it adds incidents)",
    )
    args = ap.parse_args()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="crashbot-reads-"))
    root.mkdir(parents=True, exist_ok=True)
    url = args.database_url or f"sqlite:///{root / 'crashbot.db'}"
    bot = ensure_seeded(url, args.incidents)
    cases = args.cases.split(",")
    print(
        json.dumps(
            {
                "database": url.split(":")[0],
                "incidents": bot.store.count_incidents(IncidentFilter()),
                "cpus": os.cpu_count(),
                "load": os.getloadavg(),
                "code": str(Path(sys.modules["crashbot_core"].__file__ or "").parent.parent),
                "served": str(args.code or "the same"),
            }
        )
    )
    if "cold" in cases:
        cold(bot)
    if "list" in cases:
        list_case(bot)
    if "asgi" in cases:
        asgi_case(bot, url, args, root)
    if "auth" in cases:
        auth_case(bot, url, args, root)
    if "writes" in cases:
        writes_case(bot, url, args, root)
    print(f"\nload average after the runs: {os.getloadavg()}")
    bot.close()


if __name__ == "__main__":
    main()
