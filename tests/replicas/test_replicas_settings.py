"""Settings and commands for running workers: the retry horizon, ``crashbot worker``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import T0

from crashbot_core import FixedClock
from crashbot_core.cli import build_cli
from crashbot_core.errors import ConfigError
from crashbot_core.hookspecs import hookimpl
from crashbot_core.models import DeliveryState, Event, Incident
from crashbot_core.plugins import get_plugin_manager
from crashbot_core.testing import make_crashbot, registered


class Down:
    """A notifier whose chat API is down."""

    @hookimpl
    def crashbot_incident_event(self, incident: Incident, event: Event) -> None:
        raise RuntimeError("503 from chat")


def test_the_retry_horizon_comes_from_the_config(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    bot = make_crashbot(
        tmp_path, clock=clock, config={"crashbot": {"delivery_retry_horizon": "1h"}}
    )
    try:
        assert bot.retry_policy.horizon == timedelta(hours=1)
        with registered(bot.pm, Down(), "chat"):
            bot.declare("Checkout down")
            clock.advance(minutes=61)
            assert bot.retry_deliveries() == 0
        [dead] = bot.deliveries(failed_only=True)
        assert (dead.plugin, dead.state, dead.attempts) == ("chat", DeliveryState.DEAD, 2)
    finally:
        bot.close()


def test_a_bad_retry_horizon_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\$\.crashbot\.delivery_retry_horizon: found 'soon'"):
        make_crashbot(tmp_path, config={"crashbot": {"delivery_retry_horizon": "soon"}})


def test_worker_once_and_deliveries_show_a_failing_plugin(tmp_path: Path) -> None:
    pm = get_plugin_manager(disabled=())
    pm.register(Down(), name="chat")
    group = build_cli(pm)
    env = {"CRASHBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "CRASHBOT_CONFIG": ""}

    def run(*args: str) -> str:
        result = CliRunner().invoke(group, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    run("declare", "Checkout down")
    # The retry is not due yet (5 s backoff): the worker makes no delivery.
    assert run("worker", "--once", "--lease", "30") == "reminders sent: 0, deliveries made: 0\n"
    failed = run("deliveries", "--failed")
    assert "chat" in failed and "failed" in failed and "RuntimeError: 503 from chat" in failed
