"""``crashbot serve``: the status site under gunicorn's process manager, uvicorn in each worker.

The process ``crashbot serve`` starts is gunicorn's arbiter. It forks
``--workers`` HTTP processes, each running the ASGI entry point
(:func:`crashbot_status.asgi.create_asgi_app`: cached answers in uvicorn's
event loop, the rest in Flask on a thread pool), and restarts any that dies.
Beside them it forks one *outbox worker* process (reminders, deliveries and
their retries) and restarts it when it dies, with a back-off if it keeps
dying at once. HTTP processes only commit: each commit writes a byte into a
pipe the outbox worker reads, so it delivers at once instead of at its next
round.

SIGTERM (systemd, Kubernetes, Docker) stops the arbiter gracefully: the
listening socket closes, requests in flight finish (up to
``--graceful-timeout``), the outbox worker finishes the delivery in
progress, and the process exits 0. Ctrl-C (SIGINT) stops at once.

``--reload`` is for development: one uvicorn process with the worker as a
thread, restarted whenever a source file changes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attrs import frozen
from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from uvicorn_worker import UvicornWorker

from crashbot_core import logs
from crashbot_core.service import Crashbot
from crashbot_core.worker import Worker

log = logging.getLogger("crashbot.serve")

#: Seconds the outbox worker gets on shutdown to finish the delivery in progress.
WORKER_STOP_TIMEOUT = 30.0
#: An outbox worker that lived shorter than this before dying is restarted after a back-off.
QUICK_DEATH = 10.0
#: The longest back-off between restarts of an outbox worker that keeps dying.
MAX_RESTART_DELAY = 30.0
#: Environment of a ``--reload`` server process: run the outbox worker as a thread ("1").
RELOAD_WORKER_ENV = "CRASHBOT_SERVE_WORKER"


def default_workers() -> int:
    """One HTTP process per CPU this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@frozen
class ServeOptions:
    """How ``crashbot serve`` runs."""

    #: HTTP worker processes.
    workers: int
    #: Run the outbox worker (reminders, deliveries) as a supervised process.
    outbox_worker: bool = True
    #: One line per request.
    access_log: bool = True
    #: ``text`` or ``json``.
    log_format: str = "text"
    #: Seconds requests in flight get after SIGTERM.
    graceful_timeout: int = 30
    #: Threads per HTTP process for requests answered by the Flask app.
    threads: int = 4


# ---------------------------------------------------------------------------- logs


class CommonLogFormatter(logging.Formatter):
    """uvicorn's access records in the Common Log Format (what log tools parse)."""

    def format(self, record: logging.LogRecord) -> str:
        """``client - - [time] "METHOD path HTTP/v" status -``."""
        fields = _access_fields(record)
        if fields is None:
            return super().format(record)
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
        host = str(fields["client"]).rsplit(":", 1)[0]
        request_line = f"{fields['method']} {fields['path']} HTTP/{fields['http_version']}"
        return f'{host} - - [{stamp}] "{request_line}" {fields["status"]} -'


class JsonFormatter(logs.JsonFormatter):
    """:class:`crashbot_core.logs.JsonFormatter` with ``pid``, and access records as their fields."""

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        """The core's fields, the process id, and a request's fields for access records."""
        super().add_fields(log_data, record, message_dict)
        log_data["pid"] = record.process
        fields = _access_fields(record)
        if fields is not None:
            del log_data["message"]
            log_data.update(fields)


def _access_fields(record: logging.LogRecord) -> dict[str, Any] | None:
    # uvicorn logs each request as ('%s - "%s %s HTTP/%s" %d', client, method,
    # path, version, status) on "uvicorn.access".
    args = record.args
    if record.name != "uvicorn.access" or not isinstance(args, tuple) or len(args) != 5:
        return None
    client, method, path, version, status = args
    return {
        "client": client,
        "method": method,
        "path": path,
        "http_version": version,
        "status": status,
    }


def logger_class(log_format: str) -> type[glogging.Logger]:
    """gunicorn's logger with crashbot's formats; ``crashbot.*`` logs go where gunicorn's do."""

    class Logs(glogging.Logger):  # type: ignore[misc]
        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            json_lines = log_format == "json"
            for handler in self.error_log.handlers:
                stream = getattr(handler, "stream", None)
                handler.setFormatter(
                    JsonFormatter() if json_lines else logs.formatter("text", stream)
                )
                handler.addFilter(logs.ContextFilter())
            for handler in self.access_log.handlers:
                handler.setFormatter(JsonFormatter() if json_lines else CommonLogFormatter())
            app_log = logging.getLogger("crashbot")
            app_log.handlers = list(self.error_log.handlers)
            app_log.setLevel(logging.INFO)
            app_log.propagate = False

    return Logs


# ---------------------------------------------------------------------------- HTTP workers


class StatusWorker(UvicornWorker):  # type: ignore[misc]
    """uvicorn under gunicorn, with proxy headers left to :mod:`crashbot_status.links`.

    uvicorn would rewrite the client address and scheme from ``X-Forwarded-*``
    for its own list of trusted peers; crashbot decides that in one place,
    from ``[status] trusted_proxies``.
    """

    CONFIG_KWARGS = {"loop": "auto", "http": "auto", "proxy_headers": False}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Without an access log, skip building the records at all.
        self.config.access_log = self.cfg.accesslog is not None
        self.config.timeout_graceful_shutdown = int(self.cfg.graceful_timeout)


def _signal_wakes(pending: threading.Event, wake: int) -> None:
    """In an HTTP process: tell the outbox worker (through the pipe) about each commit."""
    while True:
        pending.wait()
        pending.clear()
        try:
            os.write(wake, b"!")
        except BlockingIOError:
            pass  # the pipe is full: a wake-up is pending already
        except OSError:
            return


def _forward_wakes(wake: int, pending: threading.Event) -> None:
    """In the outbox worker: wake the worker loop on each byte from the HTTP processes."""
    while True:
        try:
            if not os.read(wake, 512):
                return
        except OSError:
            return
        pending.set()


# ---------------------------------------------------------------------------- the outbox worker


class OutboxProcess:
    """The outbox worker as a child process of the arbiter: started, restarted, stopped last."""

    def __init__(
        self,
        make_bot: Callable[[], Crashbot],
        wake: int,
        logger: Any,
        listeners: Callable[[], Iterable[Any]],
    ) -> None:
        self.make_bot = make_bot
        self.wake = wake
        self.log = logger
        self.listeners = listeners
        self.pid: int | None = None
        self.stopping = False
        self._started_at = 0.0
        self._delay = 0.0
        self._next_start = 0.0

    def keep_running(self) -> None:
        """Start it when it is not running (and its back-off, if any, is over)."""
        if self.pid is None and not self.stopping and time.monotonic() >= self._next_start:
            self._spawn()

    def _spawn(self) -> None:
        pid = os.fork()
        if pid == 0:
            self._child()
        self.pid = pid
        self._started_at = time.monotonic()
        self.log.info("outbox worker started (pid %s)", pid)

    def reap(self) -> None:
        """Notice that it exited (before gunicorn's ``waitpid(-1)`` takes its status)."""
        if self.pid is None:
            return
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.pid, -1  # already reaped by gunicorn: status unknown
        if pid == 0:
            return
        how = (
            ""
            if status == -1
            else f" (killed by signal {os.WTERMSIG(status)})"
            if os.WIFSIGNALED(status)
            else f" (exit code {os.WEXITSTATUS(status)})"
        )
        self.pid = None
        if self.stopping:
            self.log.info("outbox worker (pid %s) stopped%s", pid, how)
            return
        lived = time.monotonic() - self._started_at
        self._delay = (
            min(MAX_RESTART_DELAY, max(1.0, self._delay * 2)) if lived < QUICK_DEATH else 0.0
        )
        self._next_start = time.monotonic() + self._delay
        self.log.error(
            "outbox worker (pid %s) exited%s; restarting it in %gs", pid, how, self._delay
        )

    def stop(self) -> None:
        """Ask it to stop: the delivery in progress finishes, the rest is handed back."""
        self.stopping = True
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for it to exit, then kill it."""
        deadline = time.monotonic() + timeout
        while self.pid is not None and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.05)
        if self.pid is not None:
            self.log.warning("outbox worker (pid %s) did not stop; killing it", self.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.reap()

    def _child(self) -> None:
        code = 1
        try:
            # The arbiter's handlers only queue signals for the arbiter's loop.
            for sig in (*Arbiter.SIGNALS, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            # Ctrl-C reaches the whole process group; the arbiter decides what stops.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            for listener in self.listeners():
                listener.close()
            bot = self.make_bot()
            threading.Thread(
                target=_forward_wakes, args=(self.wake, bot.outbox.pending), daemon=True
            ).start()
            try:
                Worker(bot).run(stop)
            finally:
                bot.close()
            code = 0
        except BaseException:
            log.exception("outbox worker failed")
        finally:
            os._exit(code)


class StatusArbiter(Arbiter):  # type: ignore[misc]
    """gunicorn's arbiter, also supervising the outbox worker."""

    def __init__(self, app: StatusServer) -> None:
        super().__init__(app)
        self.outbox: OutboxProcess | None = None
        if app.options.outbox_worker:
            self.outbox = OutboxProcess(
                app.make_bot, app.wake_read, self.log, lambda: list(self.LISTENERS)
            )

    def manage_workers(self) -> None:
        """Keep the HTTP workers and the outbox worker running."""
        super().manage_workers()
        if self.outbox is not None:
            self.outbox.keep_running()

    def handle_chld(self) -> None:
        """Reap the outbox worker first: gunicorn's ``waitpid(-1)`` would drop its status."""
        if self.outbox is not None:
            self.outbox.reap()
        super().handle_chld()

    # gunicorn names SIGCHLD "cld" or "chld" (they are one signal on Linux).
    handle_cld = handle_chld

    def stop(self, graceful: bool = True) -> None:
        """Stop the HTTP workers (in-flight requests finish when graceful), then the outbox worker."""
        if self.outbox is not None:
            self.outbox.stop()
        super().stop(graceful)
        if self.outbox is not None:
            self.outbox.wait(WORKER_STOP_TIMEOUT if graceful else 2.0)


# ---------------------------------------------------------------------------- the server


class StatusServer(BaseApplication):  # type: ignore[misc]
    """gunicorn, configured in code (no gunicorn.conf.py, no command line of its own)."""

    def __init__(
        self, options: ServeOptions, bound: socket.socket, make_bot: Callable[[], Crashbot]
    ) -> None:
        self.options = options
        # gunicorn takes the socket over by its descriptor (and closes that one).
        self.listen_fd = bound.detach()
        self.make_bot = make_bot
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_write, False)
        super().__init__()

    def load_config(self) -> None:
        """gunicorn's settings from :class:`ServeOptions`."""
        o = self.options
        settings: dict[str, Any] = {
            "bind": [f"fd://{self.listen_fd}"],
            "workers": o.workers,
            "worker_class": StatusWorker,
            "graceful_timeout": o.graceful_timeout,
            "accesslog": "-" if o.access_log else None,
            "errorlog": "-",
            "loglevel": "info",
            "logger_class": logger_class(o.log_format),
            "proc_name": "crashbot",
            # gunicorn 25+ would open a control socket file in the working directory.
            "control_socket_disable": True,
        }
        for key, value in settings.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Any:
        """In each HTTP process: the ASGI app over a service of its own."""
        from crashbot_status.asgi import create_asgi_app

        bot = self.make_bot()
        # Requests only commit; the outbox worker delivers (woken through the pipe).
        bot.defer_deliveries()
        if self.options.outbox_worker:
            threading.Thread(
                target=_signal_wakes,
                args=(bot.outbox.pending, self.wake_write),
                name="crashbot-wake",
                daemon=True,
            ).start()
        return create_asgi_app(bot, threads=self.options.threads)

    def run(self) -> None:
        """Run the arbiter until it is stopped."""
        StatusArbiter(self).run()


def run(options: ServeOptions, bound: socket.socket, make_bot: Callable[[], Crashbot]) -> None:
    """Serve on ``bound`` until SIGTERM or Ctrl-C (see the module docstring)."""
    StatusServer(options, bound, make_bot).run()


# ---------------------------------------------------------------------------- --reload


def run_reloading(host: str, port: int, options: ServeOptions) -> None:
    """Development: one uvicorn process, restarted when a crashbot source file changes."""
    import uvicorn

    os.environ[RELOAD_WORKER_ENV] = "1" if options.outbox_worker else "0"
    here = Path(__file__).resolve().parent.parent
    dirs = [str(p) for p in here.iterdir() if p.is_dir() and p.name.startswith("crashbot")]
    uvicorn.run(
        "crashbot_status.serving:reloading_app",
        factory=True,
        host=host,
        port=port,
        reload=True,
        reload_dirs=dirs,
        proxy_headers=False,
        access_log=options.access_log,
    )


def reloading_app() -> Any:
    """The ``--reload`` server's app: the ASGI app, and the outbox worker as a thread."""
    from crashbot_status.asgi import create_asgi_app

    bot = Crashbot.from_config()
    bot.defer_deliveries()
    app = create_asgi_app(bot)
    if os.environ.get(RELOAD_WORKER_ENV) != "1":
        return app
    stop = threading.Event()
    thread = threading.Thread(target=Worker(bot).run, args=(stop,), name="crashbot-worker")

    async def with_worker(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                thread.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                stop.set()
                thread.join(WORKER_STOP_TIMEOUT)
                bot.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    return with_worker
