"""``crashbot serve`` refuses a busy port with one line, not a traceback."""

from __future__ import annotations

import socket

from click.testing import CliRunner

from crashbot_core.cli import build_cli
from crashbot_core.plugins import get_plugin_manager


def test_serve_on_a_busy_port_says_so_in_one_line(database_url: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            build_cli(get_plugin_manager()),
            ["serve", "--port", str(port), "--no-worker"],
            env={"CRASHBOT_DATABASE_URL": database_url},
        )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_serve_refuses_a_thread_pool_of_zero_before_starting(database_url: str) -> None:
    result = CliRunner().invoke(
        build_cli(get_plugin_manager()),
        ["serve", "--port", "0", "--threads", "0", "--no-worker"],
        env={"CRASHBOT_DATABASE_URL": database_url},
    )
    assert result.exit_code == 2
    assert "Invalid value for '--threads': 0 is not in the range 1<=x<=256." in result.output
