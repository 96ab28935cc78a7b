"""Status site under load: gunicorn (multi-process) vs nginx serving the static export.

Seeds 20 components and 2,000 past incidents into a fresh SQLite store, runs
``gunicorn 'crashbot_status:create_app()'`` and nginx (serving
``crashbot status export``'s files) on loopback, and loads each with ``wrk``:

* ``/`` (rendered page, from the in-process render cache),
* ``/api/v2/summary.json``,
* ``/`` revalidated with ``If-None-Match`` (the 304 path).

Prints req/s and p99 per case and the ratio to nginx. Run by hand::

    python benchmarks/status_site.py [--duration 10] [--connections 64] [--workers N]
        [--server wsgi|asgi|serve|serve+nginx]

``--server serve`` measures ``crashbot serve --workers N`` itself;
``serve+nginx`` puts docs/deployment.md's nginx ``proxy_cache`` configuration
(as written there) in front of it, and compares that with nginx serving the
static export as docs/status-page.md configures it (the same security headers).
With ``--bare-static`` the static side sends no headers of its own.

Needs ``wrk`` and ``nginx`` (``apt-get install -y wrk nginx``).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crashbot_core import Component, Crashbot, FixedClock, Impact
from crashbot_core.plugins import get_plugin_manager

DEPLOYMENT_DOC = Path(__file__).resolve().parents[1] / "docs" / "deployment.md"

#: Both nginx instances get the http-level settings of Debian's /etc/nginx/nginx.conf
#: (sendfile, tcp_nopush, mime types), which includes conf.d/crashbot.conf: the
#: documented blocks then decide the rest.
CACHE_CONF = """
worker_processes {workers};
pid {root}/cache-nginx.pid;
error_log {root}/cache-nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  include /etc/nginx/mime.types;
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path {root}/tmp;
  proxy_temp_path {root}/tmp;
  fastcgi_temp_path {root}/tmp;
  uwsgi_temp_path {root}/tmp;
  scgi_temp_path {root}/tmp;
{block}
}}
"""


def documented_cache_block(*, listen: int, upstream: int, cache: Path) -> str:
    """docs/deployment.md's nginx proxy_cache block, pointed at this run's ports and cache."""
    blocks = re.findall(r"```nginx\n(.*?)```", DEPLOYMENT_DOC.read_text(), re.S)
    (block,) = [b for b in blocks if b.startswith("# /etc/nginx/conf.d/crashbot.conf")]
    return (
        block.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream};")
        .replace("listen 80;", f"listen 127.0.0.1:{listen};")
        .replace("/var/cache/nginx/crashbot", str(cache))
    )


NGINX_CONF = """
worker_processes {workers};
pid {root}/nginx.pid;
error_log {root}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  include /etc/nginx/mime.types;
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path {root}/tmp;
  proxy_temp_path {root}/tmp;
  fastcgi_temp_path {root}/tmp;
  uwsgi_temp_path {root}/tmp;
  scgi_temp_path {root}/tmp;
  server {{
    listen 127.0.0.1:{port};
    root {site};
{block}
  }}
}}
"""


STATUS_PAGE_DOC = DEPLOYMENT_DOC.with_name("status-page.md")


def documented_static_block(*, bare: bool = False) -> str:
    """docs/status-page.md's nginx block for the static export; ``bare``: without its headers."""
    blocks = re.findall(r"```nginx\n(.*?)```", STATUS_PAGE_DOC.read_text(), re.S)
    (block,) = [b for b in blocks if b.startswith("# the static export")]
    if bare:
        block = "\n".join(line for line in block.splitlines() if not line.startswith("add_header"))
    return block


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(url: str, *, components: int = 20, incidents: int = 2000) -> Crashbot:
    """A store with ``components`` components in 4 groups and ``incidents`` resolved incidents."""
    pm = get_plugin_manager(entry_points=True, disabled=())
    end = datetime.now(UTC)
    clock = FixedClock(end - timedelta(days=730))
    bot = Crashbot.from_config(None, pm=pm, database_url=url, clock=clock)
    # No notifier plugins while seeding: a bare plugin manager sharing the store.
    quiet = Crashbot(
        bot.config, bot.store, get_plugin_manager(entry_points=False, disabled=()), clock=clock
    )
    keys = [f"c{i:02d}" for i in range(components)]
    for i, key in enumerate(keys):
        bot.store.upsert_component(Component(key, f"Component {i}", f"Group {i % 4}", "", i))
    rng = random.Random(1)
    step = timedelta(days=729) / incidents
    for n in range(incidents):
        clock.set(end - timedelta(days=730) + step * n)
        sev = rng.choice(["SEV1", "SEV2", "SEV3", "SEV4"])
        comps = {k: rng.choice(list(Impact)[:3]) for k in rng.sample(keys, rng.randint(1, 3))}
        inc = quiet.declare(
            f"Incident {n}", severity=sev, public=rng.random() < 0.8, components=comps
        )
        clock.advance(minutes=rng.randint(10, 300))
        quiet.resolve(inc.id, message="Resolved.")
    clock.set(end)
    quiet.declare(
        "Ongoing trouble", severity="SEV2", public=True, components={keys[0]: Impact.PARTIAL_OUTAGE}
    )
    return bot


def wait_http(url: str, timeout: float = 30) -> None:
    """Wait until ``url`` answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def etag_of(url: str) -> str:
    """The ETag header of a GET."""
    with urllib.request.urlopen(url) as r:
        return str(r.headers["ETag"])


def tree_cpu(roots: list[int]) -> float:
    """CPU seconds (user + system) of the processes ``roots`` and all their descendants."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, list(roots)
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo += [child for child, parent in parents.items() if parent == pid]
    return total


def wrk(
    url: str,
    *,
    duration: int,
    connections: int,
    threads: int,
    header: str | None = None,
    servers: list[int] | None = None,
) -> tuple[float, float, float, float]:
    """Run wrk; returns (requests/s, p99 in ms, server CPU and wrk's CPU per request in us).

    The CPU figures are what to compare on a busy machine: they hardly move
    with the load, while requests per second do.
    """
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if header:
        cmd += ["-H", header]
    before, mine = tree_cpu(servers or []), os.times()
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    after, done = tree_cpu(servers or []), os.times()
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    wrk_cpu = done.children_user + done.children_system - mine.children_user - mine.children_system
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert m, out
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        print(f"  warning: {non2xx.group(1)} non-2xx/3xx responses for {url}", file=sys.stderr)
    per = 1e6 / max(requests, 1)
    return rps, p99, (after - before) * per, wrk_cpu * per


def cpu_per_request(url: str, n: int = 5000) -> list[tuple[str, float]]:
    """In-process CPU microseconds per request (WSGI call, no sockets): robust on a busy machine."""
    from crashbot_core import Crashbot as Service
    from crashbot_status import create_app

    bot = Service.from_config(None, database_url=url)
    app = create_app(bot)
    client = app.test_client()
    etag = client.get("/").headers["ETag"]
    out = []
    for name, path, headers in (
        ("GET / (cached)", "/", {}),
        ("GET /api/v2/summary.json (cached)", "/api/v2/summary.json", {}),
        ("GET / If-None-Match (304)", "/", {"If-None-Match": etag}),
    ):
        client.get(path, headers=headers)
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "x",
            "SERVER_PORT": "80",
            "wsgi.url_scheme": "http",
            "wsgi.input": None,
            **({"HTTP_IF_NONE_MATCH": etag} if headers else {}),
        }

        def start_response(
            status: str, hdrs: list[tuple[str, str]], exc_info: object = None
        ) -> None:
            return None

        t0 = time.process_time()
        for _ in range(n):
            b"".join(app.wsgi_app(dict(environ), start_response))
        out.append((name, (time.process_time() - t0) / n * 1e6))
    bot.close()
    return out


def main() -> None:
    """Seed, export, serve with gunicorn and nginx, load both with wrk, print a table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument(
        "--workers", type=int, default=2 * (os.cpu_count() or 1), help="gunicorn processes"
    )
    ap.add_argument("--gthreads", type=int, default=4, help="threads per gunicorn worker")
    ap.add_argument(
        "--server",
        choices=("wsgi", "asgi", "serve", "serve+nginx"),
        default="wsgi",
        help="wsgi: gunicorn gthread workers and crashbot_status:create_app(); "
        "asgi: gunicorn uvicorn workers and crashbot_status.asgi:create_asgi_app(); "
        "serve: crashbot serve --workers N; "
        "serve+nginx: docs/deployment.md's nginx proxy_cache in front of crashbot serve",
    )
    ap.add_argument(
        "--no-access-log",
        action="store_true",
        help="crashbot serve without its access log (on by default, as in production)",
    )
    ap.add_argument(
        "--bare-static",
        action="store_true",
        help="serve the static export without docs/status-page.md's security headers",
    )
    ap.add_argument(
        "--nginx-workers",
        default="auto",
        help="nginx worker_processes (default auto: one per CPU, nginx's advice)",
    )
    ap.add_argument("--incidents", type=int, default=2000)
    ap.add_argument(
        "--workdir", type=Path, help="keep the seeded store and export here; reused when present"
    )
    args = ap.parse_args()
    for tool in ("wrk", "nginx", "gunicorn"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"{tool} is missing (apt-get install -y wrk nginx)")

    root = args.workdir or Path(tempfile.mkdtemp(prefix="crashbot-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    # nginx started as root runs its workers as nobody: they must read the export.
    root.chmod(0o755)
    (root / "tmp").mkdir(exist_ok=True)
    url = f"sqlite:///{root / 'crashbot.db'}"
    if not (root / "site" / "index.html").exists():
        t0 = time.perf_counter()
        bot = seed(url, incidents=args.incidents)
        print(
            f"seeded 20 components, {args.incidents} incidents in {time.perf_counter() - t0:.1f}s"
        )

        from crashbot_status import create_app
        from crashbot_status.export import export_site

        t0 = time.perf_counter()
        files = export_site(create_app(bot, {"CHANGE_TOKEN_TTL": 0}), root / "site")
        print(f"exported {len(files)} files in {time.perf_counter() - t0:.1f}s")
        bot.close()

    env = {**os.environ, "CRASHBOT_DATABASE_URL": url, "CRASHBOT_DISABLED_PLUGINS": ""}
    gport, nport = free_port(), free_port()
    if args.server == "asgi":
        server = ["-k", "uvicorn_worker.UvicornWorker", "crashbot_status.asgi:create_asgi_app()"]
        described = f"{args.workers} gunicorn uvicorn workers (ASGI)"
    else:
        server = ["-k", "gthread", "--threads", str(args.gthreads), "crashbot_status:create_app()"]
        described = f"{args.workers} gunicorn gthread workers x {args.gthreads} threads"
    cport = free_port()
    front: subprocess.Popen[bytes] | None = None
    if args.server.startswith("serve"):
        logs = ["--no-access-log"] if args.no_access_log else []
        command = [sys.executable, "-c", "from crashbot_core.cli import main; main()"]
        command += ["serve", "--port", str(gport), "--workers", str(args.workers), *logs]
        public = f"http://127.0.0.1:{cport if args.server == 'serve+nginx' else gport}"
        gunicorn = subprocess.Popen(
            command,
            cwd=root,
            env={**env, "CRASHBOT_PUBLIC_URL": public},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        described = f"crashbot serve --workers {args.workers}" + (
            " --no-access-log" if args.no_access_log else ""
        )
        if args.server == "serve+nginx":
            (root / "cache").mkdir(exist_ok=True)
            block = documented_cache_block(listen=cport, upstream=gport, cache=root / "cache")
            (root / "cache-nginx.conf").write_text(
                CACHE_CONF.format(workers=args.nginx_workers, root=root, block=block)
            )
            front = subprocess.Popen(
                ["nginx", "-c", str(root / "cache-nginx.conf"), "-g", "daemon off;"]
            )
            described = f"nginx proxy_cache (docs/deployment.md) in front of {described}"
    else:
        gunicorn = subprocess.Popen(
            [
                "gunicorn",
                "-w",
                str(args.workers),
                "-b",
                f"127.0.0.1:{gport}",
                "--log-level",
                "warning",
                *server,
            ],
            cwd=root,
            env=env,
        )
    (root / "nginx.conf").write_text(
        NGINX_CONF.format(
            workers=args.nginx_workers,
            root=root,
            port=nport,
            site=root / "site",
            block=documented_static_block(bare=args.bare_static),
        )
    )
    nginx = subprocess.Popen(["nginx", "-c", str(root / "nginx.conf"), "-g", "daemon off;"])
    try:
        g, n = f"http://127.0.0.1:{gport}", f"http://127.0.0.1:{nport}"
        wait_http(g + "/health")
        if front is not None:
            g = f"http://127.0.0.1:{cport}"
            wait_http(g + "/health")
        wait_http(n + "/")
        for base in (g, n):  # warm the render caches and the page cache
            for path in ("/", "/api/v2/summary.json"):
                urllib.request.urlopen(base + path).read()
        common = {
            "duration": args.duration,
            "connections": args.connections,
            "threads": args.threads,
        }
        cases = [
            ("GET /", "/", None),
            ("GET /api/v2/summary.json", "/api/v2/summary.json", None),
            ("GET / If-None-Match (304)", "/", "etag"),
        ]
        served = [gunicorn.pid] + ([front.pid] if front is not None else [])
        rows = []
        for name, path, cond in cases:
            results = []
            for base, pids in ((g, served), (n, [nginx.pid])):
                header = f"If-None-Match: {etag_of(base + path)}" if cond else None
                # Warm every process's render cache first: steady state is what we measure.
                wrk(base + path, header=header, **{**common, "duration": 5})
                results.append(wrk(base + path, header=header, servers=pids, **common))
            rows.append((name, *results))
        static = "bare" if args.bare_static else "docs/status-page.md's headers"
        print(
            f"\n{described} vs nginx serving the static export ({static}; worker_processes "
            f"{args.nginx_workers}); wrk -t{args.threads} -c{args.connections} "
            f"-d{args.duration}s on loopback, {os.cpu_count()} CPUs\n"
        )
        print(
            f"{'case':28} {'server req/s':>12} {'p99 ms':>7} {'nginx req/s':>12} {'p99 ms':>7} "
            f"{'ratio':>6}   CPU us/req: server+wrk vs nginx+wrk, ratio"
        )
        for name, (grps, gp99, gcpu, gwrk), (nrps, np99, ncpu, nwrk) in rows:
            print(
                f"{name:28} {grps:12.0f} {gp99:7.2f} {nrps:12.0f} {np99:7.2f} {grps / nrps:6.2f}"
                f"   {gcpu:5.1f}+{gwrk:4.1f} vs {ncpu:5.1f}+{nwrk:4.1f}, "
                f"{(ncpu + nwrk) / (gcpu + gwrk):4.2f}"
            )
        print(f"\nload average after the run: {os.getloadavg()}")
        print("in-process CPU per request (WSGI call, no sockets or HTTP parsing):")
        for name, us in cpu_per_request(url):
            print(f"  {name:36} {us:8.1f} us  (= {1e6 / us:8.0f} req/s per core)")
    finally:
        gunicorn.terminate()
        nginx.terminate()
        if front is not None:
            front.terminate()
            front.wait(10)
        gunicorn.wait(40)
        nginx.wait(10)
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
