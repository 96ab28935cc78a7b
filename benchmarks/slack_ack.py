"""Slash-command ack latency: signed ``/incident declare`` in, HTTP 200 out.

Runs the real stack — werkzeug's threaded server (or gunicorn with
``--workers``), Flask, bolt, the service on SQLite — against a local fake
Slack Web API that takes ``--slack-latency`` (50 ms) per call, and fires
REQUESTS signed slash commands from CONCURRENCY client threads at once.
Each request declares an incident, committed before the ack (the ack
carries the reply); channel creation and digest posts follow from the
outbox. ``--delivery worker`` (the default) is how ``crashbot serve`` and
``crashbot slack run`` run: the commit writes the pending deliveries and a
worker delivers them, so no ack waits on Slack. ``--delivery inline`` delivers
in the request thread after the commit, as a library caller does by default.
``--warmup`` requests go first, off the clock, so every worker process has
made its first queries.

    python benchmarks/slack_ack.py [--workers 2] [--requests 500] [--concurrency 50]

Prints p50/p95/p99/max of the time from sending the request to reading the
200. Slack's limit is 3 s; our target is p99 < 100 ms at 50 concurrent.
The client and the fake Slack run in processes of their own and do as
little as they can (requests are signed before the clock starts; the fake
is a bare asyncio server), since they share the machine with the server.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from slack_sdk.signature import SignatureVerifier
from werkzeug.serving import make_server

from crashbot_core.clock import SystemClock
from crashbot_core.testing import make_crashbot
from crashbot_slack.web import create_app

SECRET = "benchmark-signing-secret"
TEXT = "declare Benchmark incident {i} sev3"


def fake_slack_answer(method: str, form: dict[str, str], n: int) -> dict[str, object]:
    """What Slack's Web API answers ``method`` with (every call succeeds)."""
    body: dict[str, object] = {"ok": True}
    if method == "conversations.create":
        body["channel"] = {"id": f"C{n:08d}", "name": form.get("name", "x")}
    elif method == "conversations.list":
        body["channels"] = [{"id": "CDIGEST01", "name": "incidents"}]
    elif method in {"chat.postMessage", "chat.update"}:
        body["ts"] = f"{1772442000 + n}.000100"
    elif method == "users.info":
        uid = form.get("user", "U1")
        body["user"] = {"id": uid, "name": uid.lower(), "profile": {"display_name": uid.lower()}}
    elif method == "auth.test":
        body.update(user_id="UBOT", team_id="T1", bot_id="B1")
    return body


def serve_fake_slack(port_queue: Any, latency: float = 0.0) -> None:
    """A minimal Slack Web API, run in a process of its own as Slack is not in
    ours; sends its port back.

    It is a bare asyncio HTTP/1.1 server rather than werkzeug: Slack's servers
    are not on this machine, so the fake's own CPU should be as small as it
    can be (werkzeug spent about 4 ms per declare answering its five calls,
    as much as the background work under test).
    """
    import asyncio

    ids = itertools.count(1)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                raw = await reader.readexactly(int(headers.get("content-length", "0")))
                if headers.get("content-type", "").startswith("application/json"):
                    form = {k: str(v) for k, v in json.loads(raw or b"{}").items()}
                else:
                    form = dict(urllib.parse.parse_qsl(raw.decode()))
                if latency:
                    await asyncio.sleep(latency)  # Slack's own answer time
                method = path.split("?")[0].rsplit("/", 1)[-1]
                payload = json.dumps(fake_slack_answer(method, form, next(ids))).encode()
                close = headers.get("connection", "").lower() == "close"
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
                    b"Content-Length: %d\r\n%s\r\n%s"
                    % (len(payload), b"Connection: close\r\n" if close else b"", payload)
                )
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client hung up between requests
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port_queue.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def defer_delivery(service: Any) -> None:
    """Commits write their pending deliveries; the worker delivers them, not the request.

    What ``crashbot serve`` and ``crashbot slack run`` do (#15 item 2).
    """
    service.defer_deliveries()


def make_wsgi() -> Any:
    """WSGI app for ``--workers`` (gunicorn): the service from the environment."""
    from crashbot_core.service import Crashbot

    service = Crashbot.from_config()
    if os.environ.get("BENCH_DELIVERY") == "worker":
        defer_delivery(service)
    return create_app(service)


_target: tuple[int, str, str] = (0, "", "")


def _init(port: int, slack_url: str, text: str) -> None:
    global _target
    _target = (port, slack_url, text)


def clients(
    requests: int, concurrency: int, first: int = 0
) -> tuple[list[tuple[float, float]], float]:
    """Requests ``first`` … ``first + requests - 1`` sent from ``concurrency`` threads.

    Every request is built and signed before the clock starts: that is
    Slack's work, and would otherwise take CPU from the server under test.

    :returns: (seconds from the first send to this send, latency) per request,
        and the wall time.
    """
    prepared = [signed(i) for i in range(first, first + requests)]
    started = time.perf_counter()

    def timed(request: tuple[int, str, dict[str, str]]) -> tuple[float, float]:
        sent = time.perf_counter() - started
        return sent, send(*request)

    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(timed, prepared))
    return results, time.perf_counter() - started


def signed(i: int) -> tuple[int, str, dict[str, str]]:
    """Slash command number ``i`` as Slack sends it: form body and signature headers."""
    _, slack_url, text = _target
    body = urllib.parse.urlencode(
        {
            "command": "/incident",
            "text": text.format(i=i),
            "user_id": f"U{i % 20:04d}",
            "user_name": f"user{i % 20}",
            "channel_id": "CGENERAL1",
            "channel_name": "general",
            "team_id": "T1",
            "response_url": slack_url + "response",
            "trigger_id": "t",
        }
    )
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body),
    }
    return i, body, headers


def send(i: int, body: str, headers: dict[str, str]) -> float:
    """Send one prepared request on a new connection; seconds until the 200 was read."""
    conn = http.client.HTTPConnection("127.0.0.1", _target[0], timeout=30)
    start = time.perf_counter()
    conn.request("POST", "/slack/events", body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - start
    conn.close()
    if response.status != 200:
        raise SystemExit(f"request {i}: HTTP {response.status}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--warmup",
        type=int,
        default=20,
        help="requests sent (10 at a time) and finished before the measured ones",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="[slack] listener_threads (default: the setting's)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="serve with gunicorn and this many worker processes (default: one werkzeug process)",
    )
    parser.add_argument(
        "--slack-latency",
        type=float,
        default=50.0,
        metavar="MS",
        help="how long the fake Slack takes per Web API call (default 50; 0: all CPU)",
    )
    parser.add_argument(
        "--delivery",
        choices=("worker", "inline"),
        default="worker",
        help="who delivers to Slack after the commit: a worker thread, as `crashbot serve` "
        "runs (default), or the request thread before the ack",
    )
    parser.add_argument(
        "--text", default=TEXT, help="command text; {i} is the request number (try 'help')"
    )
    args = parser.parse_args()

    ctx = multiprocessing.get_context("spawn")
    port_queue = ctx.Queue()
    slack_process = ctx.Process(
        target=serve_fake_slack, args=(port_queue, args.slack_latency / 1000), daemon=True
    )
    slack_process.start()
    slack_url = f"http://127.0.0.1:{port_queue.get(timeout=60)}/api/"
    tmp = Path(tempfile.mkdtemp(prefix="crashbot-bench-"))
    env = {
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack_url,
        "INCIDENTS_DIGEST_CHANNEL": "incidents",
    }
    bot = make_crashbot(
        tmp,
        clock=SystemClock(),
        env=env,
        config={"slack": {"listener_threads": args.threads}} if args.threads else None,
    )
    gunicorn = None
    if args.workers:
        # Each worker process has its own interpreter lock; SQLite is shared.
        port = _free_port()
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--chdir", str(Path(__file__).parent),
             "-w", str(args.workers), "-k", "gthread", "--threads", str(args.concurrency),
             "-b", f"127.0.0.1:{port}", "--log-level", "warning", "slack_ack:make_wsgi()"],
            env={**os.environ, **env, "CRASHBOT_DATABASE_URL": f"sqlite:///{tmp / 'crashbot.db'}",
                 "PYTHONPATH": os.pathsep.join(sys.path), "BENCH_DELIVERY": args.delivery},
        )  # fmt: skip
        _wait_for(port)
    else:
        if args.delivery == "worker":
            defer_delivery(bot)
        server = make_server("127.0.0.1", 0, create_app(bot), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_port
    stop = threading.Event()
    if args.delivery == "worker":
        # One worker for every server process (they share the database), as
        # `crashbot serve` runs one per process and `crashbot worker` runs apart.
        from crashbot_core.worker import Worker

        worker = Worker(bot, interval=0.2)
        threading.Thread(target=worker.run, args=(stop,), daemon=True).start()
    target = (port, slack_url, args.text)

    _init(*target)
    declaring = args.text.startswith("declare")

    def with_channel() -> int:
        return sum(1 for i in bot.list(limit=100_000) if "slack.channel" in i.refs)

    def wait_for_incidents(count: int) -> None:
        """Until ``count`` incidents have their channel (the outbox's work is done)."""
        deadline = time.time() + 300
        while declaring and with_channel() < count and time.time() < deadline:
            time.sleep(0.2)

    # The clients run in a process of their own, as Slack's servers are not in
    # ours: client threads here would compete with the server for the GIL.
    with ProcessPoolExecutor(1, mp_context=ctx, initializer=_init, initargs=target) as pool:
        # Warm every worker (auth.test, users.info, the digest channel lookup,
        # first queries) and let its background work finish before the clock.
        pool.submit(clients, args.warmup, min(10, args.warmup)).result()
        wait_for_incidents(args.warmup)
        time.sleep(1)  # the digest is posted after the channel is made
        stored_before = len(bot.list(limit=100_000))
        cpu_before = time.process_time()
        results, wall = pool.submit(clients, args.requests, args.concurrency, args.warmup).result()
        # Read as the last 200 arrived: every acked declare must be stored by now.
        stored_at_ack = len(bot.list(limit=100_000)) - stored_before
        latencies = sorted(latency for _, latency in results)
        # CPU this (server) process used meanwhile, background work included: a
        # figure that depends less on what else the machine is doing.
        cpu_ms = (time.process_time() - cpu_before) * 1000 / args.requests  # werkzeug mode only

    # Let the background work finish, so the figures below include it.
    expected = args.warmup + args.requests if declaring else 0
    wait_for_incidents(expected)
    declared = with_channel()
    stop.set()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    threads = args.threads or bot.config.section("slack").listener_threads
    print(
        f"slash-command ack latency, {args.requests} signed requests, {args.concurrency} concurrent, "
        f"SQLite, text {args.text!r}, {threads} listener threads, fake Slack {args.slack_latency:g} ms/call, "
        f"delivery: {args.delivery}"
    )
    print(
        f"  p50 {pct(50):.1f} ms  p95 {pct(95):.1f} ms  p99 {pct(99):.1f} ms  max {latencies[-1] * 1000:.1f} ms"
    )
    print(
        f"  mean {statistics.mean(latencies) * 1000:.1f} ms  throughput {args.requests / wall:.0f} req/s"
    )
    windows: dict[int, list[float]] = {}
    for sent, latency in results:
        windows.setdefault(int(sent * 10), []).append(latency * 1000)
    print(
        "  slowest answer per 100 ms of sending: "
        + " ".join(f"{max(v):.0f}" for _, v in sorted(windows.items()))
        + " ms"
    )
    if not args.workers:
        print(f"  server CPU per request while answering: {cpu_ms:.2f} ms")
    else:
        print(f"  served by gunicorn, {args.workers} worker processes (gthread)")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"  machine: {os.cpu_count()} CPUs, load average {load} (1/5/15 min, this run included)")
    if expected:
        print(
            f"  incidents stored when the last ack arrived: {stored_at_ack}/{args.requests}; "
            f"with their channel after the outbox's work: {declared - args.warmup}/{args.requests}"
        )
    if gunicorn is not None:
        gunicorn.terminate()
        gunicorn.wait(30)
    else:
        server.shutdown()
    slack_process.terminate()
    bot.close()


if __name__ == "__main__":
    main()
