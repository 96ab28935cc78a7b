"""Acks before follow-up work: Slack's 3-second deadline outranks channel creation.

Every listener answers Slack in the request thread and queues the rest (the
service call, channel creation, posts) for a thread pool. Both share the
process's interpreter lock, so in a burst of commands the queued work would
take CPU from the acks still waiting to be sent, and even handing each piece
of work to a pool thread as it arrives costs the acks a thread switch.

:class:`AckFirst` counts the Slack requests being answered.
:class:`AckFirstExecutor` holds queued work in a list (appending wakes no
thread) and one dispatcher thread hands it to the pool once requests have
paused for ``quiet`` seconds, or once a piece of work has waited
``max_delay`` seconds: delayed in a burst, never starved by one.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

#: The longest follow-up work waits for acks in progress: long enough to
#: answer a burst first, short enough that a channel still appears at once.
MAX_DELAY = 1.0
#: How long requests must have paused before follow-up work starts early.
QUIET = 0.05
#: How often a waiting dispatcher checks whether the interpreter is exiting.
IDLE_CHECK = 0.5


class AckFirst:
    """How many Slack requests are being answered right now, and when the last one ended."""

    def __init__(self, max_delay: float = MAX_DELAY, quiet: float = QUIET) -> None:
        self.max_delay = max_delay
        self.quiet = quiet
        self._answering = 0
        self._last_answer = -float("inf")
        self._lock = threading.Lock()

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Wrap the handling of one Slack request (up to its response)."""
        with self._lock:
            self._answering += 1
        try:
            yield
        finally:
            with self._lock:
                self._answering -= 1
                self._last_answer = time.monotonic()

    def lull(self, now: float) -> float | None:
        """Seconds left until requests will have paused for ``quiet``; None when they have."""
        with self._lock:
            if self._answering:
                return self.quiet
            left = self.quiet - (now - self._last_answer)
        return None if left <= 0 else left


class _Work:
    __slots__ = ("args", "fn", "future", "kwargs", "queued")

    def __init__(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> None:
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.future: Future[Any] = Future()
        self.queued = time.monotonic()

    def run(self) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            result = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:
            self.future.set_exception(exc)
        else:
            self.future.set_result(result)


class AckFirstExecutor(Executor):
    """A thread pool whose work waits its turn behind the acks (see :class:`AckFirst`)."""

    def __init__(self, gate: AckFirst, max_workers: int, thread_name_prefix: str = "") -> None:
        self.gate = gate
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix=thread_name_prefix)
        self._pending: deque[_Work] = deque()
        self._wake = threading.Event()  # set on submit: work to look at
        self._stop = threading.Event()  # set on shutdown: stop waiting at once
        self._closed = False
        self._dispatcher: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._name = f"{thread_name_prefix or 'ackfirst'}-dispatch"

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Queue ``fn(*args, **kwargs)``, to start once the acks in progress are sent."""
        if self._closed:
            raise RuntimeError("cannot schedule new work after shutdown")
        work = _Work(fn, args, kwargs)
        self._pending.append(work)
        if self._dispatcher is None:
            with self._start_lock:
                if self._dispatcher is None:
                    # Not a daemon: at exit it runs the work still queued.
                    self._dispatcher = threading.Thread(
                        target=self._dispatch, name=self._name, daemon=False
                    )
                    self._dispatcher.start()
        self._wake.set()
        return work.future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work; queued work still runs unless ``cancel_futures``."""
        self._closed = True
        self._stop.set()
        self._wake.set()
        if self._dispatcher is not None:
            self._dispatcher.join()
        while self._pending:
            work = self._pending.popleft()
            if cancel_futures:
                work.future.cancel()
            else:
                self._pool.submit(work.run)
        self._pool.shutdown(wait, cancel_futures=cancel_futures)

    def _dispatch(self) -> None:
        while not self._closed:
            if not threading.main_thread().is_alive():
                # The interpreter is exiting (a worker stopping): the pool
                # takes no more work, so run what is queued here. Every
                # command acked must still be carried out.
                while self._pending:
                    self._pending.popleft().run()
                return
            if not self._pending:
                self._wake.wait(IDLE_CHECK)
                self._wake.clear()
                continue
            now = time.monotonic()
            wait = self.gate.lull(now)
            if wait is None:
                self._release(len(self._pending))
                continue
            # Work that has waited max_delay goes now, burst or not. Only
            # the head is looked at: requests append while this runs (a deque
            # must not be iterated then), and the oldest work is at the head.
            oldest = self._pending[0].queued
            if now - oldest >= self.gate.max_delay:
                self._release(1)
                continue
            # Not woken by submit: a wake-up per request is what we avoid.
            self._stop.wait(min(wait, oldest + self.gate.max_delay - now, IDLE_CHECK))

    def _release(self, count: int) -> None:
        for _ in range(count):
            self._pool.submit(self._pending.popleft().run)
