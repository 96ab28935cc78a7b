"""Alert storm: N Alertmanager alerts over F fingerprints in G groups, posted by concurrent clients.

Starts a real HTTP server on loopback (werkzeug threaded, or gunicorn with
threads) serving ``POST /api/alerts/alertmanager`` against a fresh database,
fires the storm, then checks the database:

* alerts accepted per second and request latency (p50, p99),
* incidents declared (must equal the number of Alertmanager groups: each
  notification carries one group's ``groupKey``, and a group is one incident),
* alerts lost (sent minus stored; must be 0) and alerts left unattached.

With ``--slack`` (the default) the Slack plugin is configured against a fake
Slack Web API in this process that answers every call after ``--slack-latency``
(50 ms), the server defers deliveries as ``crashbot serve`` does and an outbox
worker process (``crashbot worker``) delivers them; after the storm the benchmark waits for the
coalesced alert posts (``[alerts] chat_interval``) and reports the Slack calls:
chat posts per incident must stay within 1 + the storm's length in intervals + 1.

Usage::

    python benchmarks/alert_storm.py                                  # SQLite, werkzeug
    python benchmarks/alert_storm.py --server gunicorn --workers 4
    python benchmarks/alert_storm.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python benchmarks/alert_storm.py --no-slack                       # intake only

Run by hand; it is not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

TOKEN = "cbt_alert-storm-benchmark"
HERE = Path(__file__).resolve().parent


def make_app() -> Any:
    """The server side: a bare Flask app with the alerts plugin's route (gunicorn/werkzeug entry)."""
    import flask

    from crashbot_core import Crashbot

    bot = Crashbot.from_config()
    if os.environ.get("ALERT_STORM_DEFER"):
        # As `crashbot serve` does: requests only commit; the worker delivers.
        bot.defer_deliveries()
    if os.environ.get("ALERT_STORM_SERIALISE_SQLITE"):
        # Experiment: one in-process lock around every transaction instead of
        # SQLite's busy-timeout polling (see docs/performance.md).
        bot.store._lock = threading.RLock()  # type: ignore[attr-defined]
    app = flask.Flask("alert-storm")
    bot.pm.hook.crashbot_web(app=app, crashbot=bot)
    return app


def run_worker() -> None:
    """Entry of the outbox worker subprocess (`crashbot worker`, polling every 0.5 s)."""
    import signal

    from crashbot_core import Crashbot
    from crashbot_core.worker import Worker

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    Worker(Crashbot.from_config(), interval=0.5).run(stop)


def serve_werkzeug(port: int) -> None:
    """Entry of the werkzeug server subprocess."""
    import logging

    from werkzeug.serving import run_simple

    # No access log: one line per request would measure the terminal, not crashbot.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    run_simple("127.0.0.1", port, make_app(), threaded=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server did not listen on {port} within {timeout}s")


def storm_bodies(alerts: int, fingerprints: int, groups: int, batch: int, seed: int) -> list[bytes]:
    """Alertmanager v4 bodies, one group per notification as Alertmanager sends them.

    Fingerprint ``fp`` belongs to group ``fp % groups``; every fingerprint
    fires alerts/fingerprints times; each body carries up to ``batch`` alerts
    of one group; bodies are shuffled.
    """
    rng = random.Random(seed)
    order = [i % fingerprints for i in range(alerts)]
    rng.shuffle(order)
    per_group: dict[int, list[int]] = {}
    for fp in order:
        per_group.setdefault(fp % groups, []).append(fp)
    bodies = []
    for group, fps in per_group.items():
        for start in range(0, len(fps), batch):
            items = [
                {
                    "status": "firing",
                    "labels": {
                        "alertname": f"StormAlert{group}",
                        "instance": f"host-{fp}:9100",
                        "severity": "warning",
                    },
                    "annotations": {"summary": f"Storm alert {fp}", "description": "benchmark"},
                    "startsAt": "2026-03-02T08:55:00.000Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus.example.org:9090/graph",
                    "fingerprint": f"storm{fp:011d}",
                }
                for fp in fps[start : start + batch]
            ]
            bodies.append(
                json.dumps(
                    {
                        "version": "4",
                        "groupKey": f'{{}}:{{alertname="StormAlert{group}"}}',
                        "truncatedAlerts": 0,
                        "status": "firing",
                        "receiver": "crashbot",
                        "groupLabels": {"alertname": f"StormAlert{group}"},
                        "commonLabels": {},
                        "commonAnnotations": {},
                        "externalURL": "http://alertmanager.example.org:9093",
                        "alerts": items,
                    }
                ).encode()
            )
    rng.shuffle(bodies)
    return bodies


class FakeSlack:
    """A Slack Web API on loopback that answers every call after ``latency`` seconds."""

    def __init__(self, latency: float) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs

        fake = self
        self.lock = threading.Lock()
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.ts = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    params = {k: str(v) for k, v in json.loads(raw or "{}").items()}
                else:
                    params = {k: v[0] for k, v in parse_qs(raw).items()}
                method = self.path.rsplit("/", 1)[-1]
                time.sleep(latency)
                body = json.dumps({"ok": True, **fake.answer(method, params)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                """Quiet: a line per request would cost the benchmark's CPU."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def answer(self, method: str, p: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            self.calls.append((method, p))
            self.ts += 1
            ts = f"1772442000.{self.ts:06d}"
        if method == "conversations.create":
            return {"channel": {"id": f"C{self.ts:08d}", "name": p.get("name", "")}}
        if method == "conversations.list":
            return {
                "channels": [{"id": "CDIGEST01", "name": "incidents"}],
                "response_metadata": {"next_cursor": ""},
            }
        if method == "auth.test":
            return {"user_id": "UBOT", "team_id": "T1", "bot_id": "B1"}
        if method == "chat.postMessage":
            return {"channel": p.get("channel"), "ts": ts}
        return {"channel": {"id": p.get("channel", "")}, "ts": p.get("ts", ts)}

    def report(self) -> dict[str, Any]:
        """Calls per method, and alert posts per incident channel."""
        with self.lock:
            calls = list(self.calls)
        methods: dict[str, int] = {}
        alert_posts: dict[str, int] = {}
        for method, p in calls:
            methods[method] = methods.get(method, 0) + 1
            if method == "chat.postMessage" and p.get("text", "").startswith(":bell:"):
                alert_posts[p["channel"]] = alert_posts.get(p["channel"], 0) + 1
        return {"total": len(calls), "methods": methods, "alert_posts": alert_posts}


def pending_deliveries(database_url: str) -> int:
    """Deliveries not delivered yet (pending, failed or deferred)."""
    import sqlalchemy as sa

    from crashbot_sqlalchemy import schema
    from crashbot_sqlalchemy.engine import create_engine

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(schema.deliveries)
                    .where(schema.deliveries.c.state.in_(["pending", "failed"]))
                ).scalar_one()
            )
    finally:
        engine.dispose()


class Client:
    """One keep-alive HTTP connection per thread, retrying like Alertmanager on 5xx."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.local = threading.local()

    def post(self, body: bytes) -> tuple[float, int, int]:
        """Returns (latency of the accepted attempt, status, retries)."""
        retries = 0
        while True:
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = HTTPConnection("127.0.0.1", self.port, timeout=60)
            started = time.perf_counter()
            try:
                conn.request(
                    "POST",
                    "/api/alerts/alertmanager",
                    body=body,
                    headers={
                        "Authorization": f"Bearer {TOKEN}",
                        "Content-Type": "application/json",
                    },
                )
                response = conn.getresponse()
                response.read()
            except (OSError, ConnectionError):
                self.local.conn = None
                retries += 1
                if retries > 5:
                    return time.perf_counter() - started, 0, retries
                continue
            elapsed = time.perf_counter() - started
            if response.status >= 500 and retries < 5:
                retries += 1
                time.sleep(0.05 * retries)
                continue
            return elapsed, response.status, retries


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (Linux /proc), 0 elsewhere."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        proc_pid, ppid = int(stat.parent.name), int(fields[1])
        if proc_pid == pid or ppid == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def count_results(database_url: str) -> dict[str, int]:
    import sqlalchemy as sa

    from crashbot_sqlalchemy import schema
    from crashbot_sqlalchemy.engine import create_engine

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            alerts = conn.execute(
                sa.select(sa.func.count()).select_from(schema.alerts)
            ).scalar_one()
            unattached = conn.execute(
                sa.select(sa.func.count())
                .select_from(schema.alerts)
                .where(schema.alerts.c.incident_id.is_(None))
            ).scalar_one()
            incidents = conn.execute(
                sa.select(sa.func.count()).select_from(schema.incidents)
            ).scalar_one()
            events = conn.execute(
                sa.select(sa.func.count()).select_from(schema.events)
            ).scalar_one()
    finally:
        engine.dispose()
    return {"alerts": alerts, "unattached": unattached, "incidents": incidents, "events": events}


def postgres_schema(url: str) -> tuple[str, str]:
    """A fresh schema on the PostgreSQL server: (url using it, schema name)."""
    import sqlalchemy as sa

    name = f"alert_storm_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    admin.dispose()
    scoped = sa.make_url(url).update_query_dict({"options": f"-csearch_path={name}"})
    return scoped.render_as_string(hide_password=False), name


def drop_schema(url: str, name: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
    admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="", help="default: a new SQLite file")
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--fingerprints", type=int, default=500)
    parser.add_argument("--groups", type=int, default=50, help="Alertmanager groups (incidents)")
    parser.add_argument(
        "--slack",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Slack plugin against a fake Slack, deliveries by a worker thread",
    )
    parser.add_argument("--slack-latency", type=float, default=0.05, help="seconds per call")
    parser.add_argument("--chat-interval", type=int, default=30, help="[alerts] chat_interval, s")
    parser.add_argument("--batch", type=int, default=10, help="alerts per request")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--server", choices=["werkzeug", "gunicorn"], default="werkzeug")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="alert-storm-"))
    schema_name = ""
    if args.database_url.startswith("postgres"):
        database_url, schema_name = postgres_schema(args.database_url)
        label = "PostgreSQL"
    else:
        database_url = args.database_url or f"sqlite:///{workdir / 'storm.db'}"
        label = "SQLite"
    # Create the schema once, before several workers race to migrate it.
    from crashbot_sqlalchemy.plugin import upgrade

    upgrade(database_url)

    env = {
        **os.environ,
        "CRASHBOT_DATABASE_URL": database_url,
        "CRASHBOT_API_TOKEN": TOKEN,
        "CRASHBOT_CONFIG": str(workdir / "crashbot.toml"),
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    # Declared alerts get a channel (SEV2 of the default policy opens one).
    (workdir / "crashbot.toml").write_text(
        f'[alerts]\naction = "declare"\nchat_interval = "{args.chat_interval}s"\n'
        '[[alerts.rules]]\nname = "storm"\nseverity = "SEV2"\n'
    )
    slack: FakeSlack | None = None
    if args.slack:
        slack = FakeSlack(args.slack_latency)
        env.update(
            SLACK_BOT_TOKEN="xoxb-benchmark",
            SLACK_SIGNING_SECRET="benchmark",
            SLACK_API_URL=slack.url,
            INCIDENTS_DIGEST_CHANNEL="#incidents",
            ALERT_STORM_DEFER="1",
        )
    port = free_port()
    if args.server == "werkzeug":
        command = [sys.executable, "-c", f"import alert_storm; alert_storm.serve_werkzeug({port})"]
        server_label = "werkzeug threaded"
    else:
        command = [
            sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
            "--workers", str(args.workers), "--threads", str(args.threads),
            "--worker-class", "gthread", "--log-level", "warning",
            "alert_storm:make_app()",
        ]  # fmt: skip
        server_label = f"gunicorn {args.workers} workers x {args.threads} threads"
    # The server's log goes to a file: a pipe nobody reads fills up and blocks
    # every request thread on the logging lock.
    log_path = workdir / "server.log"
    log_file = open(log_path, "w")  # noqa: SIM115 (closed after the server exits)
    server = subprocess.Popen(command, env=env, cwd=HERE, stderr=log_file, stdout=log_file)
    worker = None
    if slack is not None:
        worker = subprocess.Popen(
            [sys.executable, "-c", "import alert_storm; alert_storm.run_worker()"],
            env=env,
            cwd=HERE,
            stderr=log_file,
            stdout=log_file,
        )
    try:
        wait_for(port)
        bodies = storm_bodies(args.alerts, args.fingerprints, args.groups, args.batch, args.seed)
        client = Client(port)
        cpu_before = tree_cpu_seconds(server.pid)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            results = list(pool.map(client.post, bodies))
        elapsed = time.perf_counter() - started
        server_cpu = tree_cpu_seconds(server.pid) - cpu_before
        drained = 0.0
        if slack is not None:
            # The worker goes on: the declarations, then the coalesced alert
            # posts once each incident's chat_interval has passed.
            wait_started = time.perf_counter()
            deadline = wait_started + args.chat_interval + 60
            while time.perf_counter() < deadline and pending_deliveries(database_url):
                time.sleep(0.5)
            drained = time.perf_counter() - wait_started
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log_file.close()
    stderr = log_path.read_text(errors="replace")
    counts = count_results(database_url)
    statuses: dict[int, int] = {}
    for _, status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    latencies = [lat for lat, status, _ in results if status == 202]
    accepted = sum(
        len(json.loads(b)["alerts"])
        for b, (_, s, _) in zip(bodies, results, strict=True)
        if s == 202
    )
    lost = args.alerts - counts["alerts"]
    retries = sum(r for _, _, r in results)
    print(
        f"alert storm on {label} ({server_label}), {args.clients} clients, {args.batch} alerts/request"
    )
    print(f"  alerts sent          {args.alerts} over {args.fingerprints} fingerprints")
    print(f"  requests             {len(bodies)} -> {statuses} ({retries} retries)")
    print(f"  elapsed              {elapsed:.2f} s")
    print(
        f"  accepted             {accepted / elapsed:,.0f} alerts/s ({len(latencies) / elapsed:,.0f} requests/s)"
    )
    if latencies:
        print(
            f"  latency p50 / p99    {percentile(latencies, 50) * 1000:.1f} ms / {percentile(latencies, 99) * 1000:.1f} ms"
        )
    if server_cpu > 0:
        print(
            f"  server CPU           {server_cpu:.1f} s = {accepted / server_cpu:,.0f} alerts per"
            f" CPU-second (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
        )
    print(f"  incidents declared   {counts['incidents']} (Alertmanager groups: {args.groups})")
    print(
        f"  alerts stored        {counts['alerts']}; lost {lost}; unattached {counts['unattached']}"
    )
    print(f"  timeline events      {counts['events']}")
    chat_ok = True
    if slack is not None:
        calls = slack.report()
        posts = calls["alert_posts"]
        # One post when the first alert joins, then at most one per interval
        # over the storm and the wait, plus the one the interval's end flushes.
        bound = 2 + int((elapsed + drained) // args.chat_interval)
        worst = max(posts.values(), default=0)
        chat_ok = worst <= bound and pending_deliveries(database_url) == 0
        print(
            f"  fake Slack           {calls['total']} calls at {args.slack_latency * 1000:.0f} ms"
            f" ({', '.join(f'{k} {v}' for k, v in sorted(calls['methods'].items()))})"
        )
        print(
            f"  alert posts          {sum(posts.values())} in {len(posts)} incident channels;"
            f" at most {worst} per incident (bound {bound}); outbox drained in {drained:.1f} s"
        )
    if stderr.strip() and statuses.get(202, 0) != len(bodies):
        print("server stderr (tail):\n" + "\n".join(stderr.strip().splitlines()[-20:]))
    if schema_name:
        drop_schema(args.database_url, schema_name)
    shutil.rmtree(workdir, ignore_errors=True)
    ok = lost == 0 and counts["incidents"] == args.groups and counts["unattached"] == 0 and chat_ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    raise SystemExit(main())
