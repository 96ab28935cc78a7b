"""Commands per second from 1, 4 and 8 client processes, on SQLite and PostgreSQL.

Each client process is a full crashbot replica (every installed plugin
loaded, as ``crashbot serve`` has them) and runs, after a common start:

* ``declare``: N new incidents;
* ``update (own)``: N updates to an incident of its own;
* ``update (hot)``: N updates to one incident shared by every client, the
  worst case for optimistic concurrency (everyone clicks at once).

Prints commands per second and the conflict-retry rate (version conflicts met
per command, from ``Crashbot.conflicts``)::

    python benchmarks/commands.py                       # SQLite only
    python benchmarks/commands.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    python benchmarks/commands.py -n 100 --clients 1 4 8

PostgreSQL runs in a fresh schema that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
import uuid
from typing import Any

SCENARIOS = ("declare", "update (own)", "update (hot)")


def _client(url: str, scenario: str, n: int, hot: int, barrier: Any, results: Any) -> None:
    from crashbot_core.clock import SystemClock
    from crashbot_core.testing import make_crashbot

    bot = make_crashbot(database_url=url, clock=SystemClock())
    try:
        target = hot if scenario == "update (hot)" else None
        if scenario == "update (own)":
            target = bot.declare("benchmark: own incident").id
        barrier.wait()
        start = time.perf_counter()
        wall_start = time.time()
        for i in range(n):
            if scenario == "declare":
                bot.declare(f"benchmark incident {i}", severity="SEV3")
            else:
                assert target is not None
                bot.update(target, message=f"update {i}")
        elapsed = time.perf_counter() - start
        results.put((wall_start, wall_start + elapsed, n, bot.conflicts))
    finally:
        bot.close()


def run(url: str, scenario: str, clients: int, n: int) -> tuple[float, float]:
    """Commands per second and conflicts per command for one configuration."""
    from crashbot_core.testing import make_crashbot

    setup = make_crashbot(database_url=url)
    hot = setup.declare("benchmark: hot incident").id
    setup.close()
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(clients)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_client, args=(url, scenario, n, hot, barrier, results))
        for _ in range(clients)
    ]
    for p in procs:
        p.start()
    rows = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    span = max(r[1] for r in rows) - min(r[0] for r in rows)
    commands = sum(r[2] for r in rows)
    conflicts = sum(r[3] for r in rows)
    return commands / span, conflicts / commands


def _postgres_schema(url: str) -> tuple[str, Any]:
    import sqlalchemy as sa

    schema = f"crashbot_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    scoped = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})

    def drop() -> None:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()

    return scoped.render_as_string(hide_password=False), drop


def main() -> None:
    """Run every configuration and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=100, help="commands per client per scenario")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--postgres", default=os.environ.get("CRASHBOT_TEST_POSTGRES_URL"))
    args = parser.parse_args()

    print(f"{os.cpu_count()} CPUs, {args.n} commands per client per scenario")
    print("| backend | clients | scenario | commands/s | conflict retries per command |")
    print("|---|---|---|---|---|")
    backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
    for backend in backends:
        for clients in args.clients:
            for scenario in SCENARIOS:
                with tempfile.TemporaryDirectory() as tmp:
                    if backend == "sqlite":
                        url, drop = f"sqlite:///{tmp}/bench.db", None
                    else:
                        url, drop = _postgres_schema(args.postgres)
                    try:
                        rate, conflicts = run(url, scenario, clients, args.n)
                    finally:
                        if drop is not None:
                            drop()
                print(
                    f"| {backend} | {clients} | {scenario} | {rate:.0f} | {conflicts:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
