"""Work after the ack waits for the acks in progress, but never longer than max_delay."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fake_slack import FakeSlack
from slack_support import SlackDriver

from crashbot_core import Crashbot
from crashbot_slack.ackfirst import AckFirst, AckFirstExecutor


def wait_until(predicate: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.005)
    return False


@pytest.fixture
def gate() -> AckFirst:
    return AckFirst(max_delay=5.0, quiet=0.05)


def test_work_waits_while_a_request_is_being_answered(gate: AckFirst) -> None:
    executor = AckFirstExecutor(gate, 2)
    ran = threading.Event()
    try:
        with gate.answering():
            future = executor.submit(ran.set)
            time.sleep(0.2)
            assert not ran.is_set()  # the ack has not gone out yet
        started = time.monotonic()
        future.result(timeout=5)
        # ... and it starts once requests have paused for `quiet`.
        assert ran.is_set()
        assert time.monotonic() - started >= 0.04
    finally:
        executor.shutdown()


def test_work_runs_at_once_when_no_request_is_in_flight(gate: AckFirst) -> None:
    executor = AckFirstExecutor(gate, 2)
    try:
        started = time.monotonic()
        assert executor.submit(lambda: 42).result(timeout=5) == 42
        assert time.monotonic() - started < 1.0
    finally:
        executor.shutdown()


def test_an_endless_burst_delays_work_by_at_most_max_delay() -> None:
    gate = AckFirst(max_delay=0.3, quiet=0.05)
    executor = AckFirstExecutor(gate, 2)
    stop = threading.Event()

    def burst() -> None:
        while not stop.is_set():
            with gate.answering():
                time.sleep(0.001)

    requests = [threading.Thread(target=burst) for _ in range(2)]
    for t in requests:
        t.start()
    try:
        time.sleep(0.05)
        queued = time.monotonic()
        ran_at: list[float] = []
        executor.submit(lambda: ran_at.append(time.monotonic())).result(timeout=5)
        waited = ran_at[0] - queued
        assert 0.25 <= waited < 1.5
    finally:
        stop.set()
        for t in requests:
            t.join()
        executor.shutdown()


def test_errors_reach_the_future_and_later_work_still_runs(gate: AckFirst) -> None:
    executor = AckFirstExecutor(gate, 1)
    try:
        failing = executor.submit(lambda: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            failing.result(timeout=5)
        assert executor.submit(lambda: "still here").result(timeout=5) == "still here"
    finally:
        executor.shutdown()


def test_shutdown_runs_queued_work_instead_of_dropping_it() -> None:
    gate = AckFirst(max_delay=60.0, quiet=60.0)
    executor = AckFirstExecutor(gate, 2)
    done: list[int] = []
    with gate.answering():
        futures = [executor.submit(done.append, n) for n in range(5)]
        executor.shutdown(wait=True)
    assert sorted(done) == [0, 1, 2, 3, 4]
    assert all(f.done() for f in futures)
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(done.append, 6)


def test_a_declare_over_http_is_acked_first_then_carried_out(
    slack_bot: Crashbot, fake_slack: FakeSlack
) -> None:
    # The production executor, not the inline one the other Slack tests use.
    from crashbot_slack.web import create_app

    client = SlackDriver(create_app(slack_bot).test_client(), fake_slack)
    response = client.command("declare Checkout is down sev2")
    assert response.status_code == 200
    assert wait_until(lambda: bool(slack_bot.list()) and "slack.channel" in slack_bot.get(1).refs)
    assert "conversations.create" in fake_slack.methods()
    assert wait_until(lambda: any("Declared INC-1" in r["text"] for r in fake_slack.responses))


def test_work_queued_when_the_process_exits_is_still_carried_out(tmp_path: Path) -> None:
    marker = tmp_path / "done"
    script = f"""
from crashbot_slack.ackfirst import AckFirst, AckFirstExecutor
gate = AckFirst(max_delay=60.0, quiet=60.0)
executor = AckFirstExecutor(gate, 2)
with gate.answering():  # a burst in progress: the work is held back
    executor.submit(lambda: open({str(marker)!r}, "w").write("ran"))
# the main thread ends here, as a worker does when told to stop
"""
    done = subprocess.run([sys.executable, "-c", script], timeout=60, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    assert marker.read_text() == "ran"
