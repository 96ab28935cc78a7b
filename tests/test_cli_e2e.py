"""The README's command-line session, run as real ``crashbot`` processes.

Each command is its own process in a temporary directory, as a user would
type them; the database comes from ``CRASHBOT_DATABASE_URL`` (PostgreSQL when
``CRASHBOT_TEST_POSTGRES_URL`` is set, else SQLite).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from crashbot_core.testing import make_crashbot

pytestmark = pytest.mark.e2e


def crashbot_script() -> str:
    """The installed console script, from this interpreter's environment."""
    beside = Path(sys.executable).with_name("crashbot")
    found = str(beside) if beside.exists() else shutil.which("crashbot")
    assert found, "the crashbot console script is not installed (pip install -e .)"
    return found


class Session:
    def __init__(self, cwd: Path, database_url: str) -> None:
        self.cwd = cwd
        self.script = crashbot_script()
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CRASHBOT_", "SLACK_", "DISCORD_", "GITHUB_", "CONFLUENCE_"))
        }
        self.env.update(CRASHBOT_DATABASE_URL=database_url, CRASHBOT_USER="alice")

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.script, *args],
            cwd=self.cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *args: str) -> str:
        proc = self.run(*args)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        return proc.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args))


def test_the_readme_session_as_processes(tmp_path: Path, database_url: str) -> None:
    s = Session(tmp_path, database_url)
    s.ok("init")
    assert (tmp_path / "crashbot.toml").is_file()
    assert (
        s.ok(
            "declare",
            "Checkout API returns 500s",
            "--severity",
            "P1",
            "--component",
            "api",
            "--public",
        )
        == "INC-1 declared (SEV2, investigating)\n"
    )
    s.ok("ack", "1")
    s.ok("update", "1", "--status", "identified", "--message", "Bad deploy of v1.2.3", "--public")
    s.ok("assign", "1", "commander", "alice")
    s.ok("update", "1", "--status", "monitoring", "--message", "Rolled back")
    # An RCA link on an open incident is refused, in one line, and changes nothing.
    refused = s.run("rca", "1", "https://wiki.example.com/rca/1")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == (
        "error: cannot link an RCA: the incident is monitoring (resolve it first); "
        "allowed now: resolve, set status investigating/identified/monitoring, update\n"
    )
    s.ok("resolve", "1", "--message", "Error rate back to normal")
    s.ok("rca", "1", "https://wiki.example.com/rca/1")

    listed = s.json("list", "--json")
    assert len(listed) == 1
    item = listed[0]
    assert (item["id"], item["ref"], item["title"]) == (1, "INC-1", "Checkout API returns 500s")
    assert (item["severity"], item["status"], item["public"]) == ("SEV2", "resolved", True)
    assert item["components"] == {"api": "partial_outage"}
    assert item["rca_url"] == "https://wiki.example.com/rca/1"
    assert item["source"] == "cli"
    for key in ("declared_at", "started_at", "acknowledged_at", "mitigated_at", "resolved_at"):
        assert item[key].endswith("Z"), key

    shown = s.json("show", "1", "--json")
    assert shown["roles"] == {"commander": {"platform": "cli", "id": "alice", "name": "alice"}}
    timeline = [(e["kind"], e["public"], e["data"].get("message")) for e in shown["timeline"]]
    assert timeline == [
        ("declared", True, None),
        ("acknowledged", False, None),
        ("update_posted", True, "Bad deploy of v1.2.3"),
        ("role_assigned", False, None),
        ("status_changed", True, None),
        ("update_posted", False, "Rolled back"),
        ("resolved", True, "Error rate back to normal"),
        ("rca_linked", True, None),
    ]
    assert all(e["actor"]["id"] == "alice" for e in shown["timeline"])
    assert shown["follow_ups"] == []

    metrics = s.json("metrics", "--json")
    assert metrics["counts"]["total"] == 1
    for name in ("mtta", "mttm", "mttr"):
        assert metrics["durations"][name]["count"] == 1
        assert metrics["durations"][name]["mean_seconds"] >= 0

    plugins = s.ok("plugins")
    assert any(line.split()[:2] == ["sqlalchemy", "crashbot"] for line in plugins.splitlines())
    assert "crashbot_open_store" in plugins

    # The stored record, read by the library itself.
    bot = make_crashbot(database_url=database_url)
    try:
        inc = bot.get(1)
        assert inc.status.value == "resolved" and inc.version == 7
        assert inc.rca_url == "https://wiki.example.com/rca/1"
        assert inc.commander is not None and inc.commander.id == "alice"
        assert inc.acknowledged_at and inc.mitigated_at and inc.resolved_at
        assert inc.acknowledged_at <= inc.mitigated_at <= inc.resolved_at
    finally:
        bot.close()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["show", "1"], {}, "error: no incident INC-1"),
        (["declare", "x", "--severity", "SEV9"], {}, "error: unknown severity 'SEV9'; expected one of "),
        (["--config", "bad.toml", "list"], {}, "error: bad.toml: expected a string, found int 5 @ $.crashbot.name"),
        (["list"], {"CRASHBOT_DISABLED_PLUGINS": "sqlalchemy"}, "error: no installed plugin can open database"),
    ],
)  # fmt: skip
def test_domain_errors_are_one_line_and_exit_1(
    tmp_path: Path, database_url: str, args: list[str], env: dict[str, str], message: str
) -> None:
    s = Session(tmp_path, database_url)
    (tmp_path / "bad.toml").write_text("[crashbot]\nname = 5\n")
    proc = s.run(*args, env=env)
    assert proc.returncode == 1, proc
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(message), proc.stderr


def test_usage_errors_exit_2(tmp_path: Path, database_url: str) -> None:
    s = Session(tmp_path, database_url)
    for args in (["declare"], ["list", "--limit", "0"]):
        proc = s.run(*args)
        assert proc.returncode == 2, proc
        assert "Usage: crashbot" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_values_exit_2_and_json_errors_are_json(tmp_path: Path, database_url: str) -> None:
    s = Session(tmp_path, database_url)
    s.ok("declare", "DB down")
    for args in (
        ["declare", "x", "--started-at", "yesterday"],
        ["list", "--since", "forever"],
        ["show", "abc"],
        ["update", "1", "--status", "bogus"],
    ):
        proc = s.run(*args)
        assert proc.returncode == 2, proc
        assert proc.stderr.startswith(f"Usage: crashbot {args[0]} "), proc.stderr
        assert proc.stderr.splitlines()[-1].startswith("Error: Invalid value for ")
        assert "Traceback" not in proc.stderr
    missing = s.run("show", "999", "--json")
    assert missing.returncode == 1
    assert json.loads(missing.stdout) == {"error": "not_found", "reason": "no incident INC-999"}
    bad = s.run("show", "abc", "--json")
    assert bad.returncode == 2
    assert json.loads(bad.stdout)["error"] == "usage_error"


def test_unwritable_and_unreachable_databases_are_one_line(tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    db_file = db_dir / "crashbot.db"
    Session(tmp_path, f"sqlite:///{db_file}").ok("declare", "DB down")
    db_file.chmod(0o444)
    db_dir.chmod(0o555)
    # root ignores file modes: then SQLite is also told to open the file read-only.
    url = (
        f"sqlite:///file:{db_file}?mode=ro&uri=true"
        if os.geteuid() == 0
        else f"sqlite:///{db_file}"
    )
    try:
        s = Session(tmp_path, url)
        assert "DB down" in s.ok("list")
        proc = s.run("declare", "Another")
        assert proc.returncode == 1, proc
        assert proc.stdout == ""
        assert proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith("error: database 'sqlite:///"), proc.stderr
    finally:
        db_dir.chmod(0o755)
        db_file.chmod(0o644)

    refused = Session(tmp_path, "postgresql+psycopg://crashbot:secret@127.0.0.1:9/nowhere")
    proc = refused.run("list")
    assert proc.returncode == 1, proc
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(
        "error: cannot open database 'postgresql+psycopg://crashbot:***@127.0.0.1:9/nowhere'"
    )


def test_control_characters_in_titles_do_not_reach_the_terminal(
    tmp_path: Path, database_url: str
) -> None:
    s = Session(tmp_path, database_url)
    s.ok("declare", "\x1b[2J\x1b[31mred\x1b[0m title\x07")
    for out in (s.ok("list"), s.ok("show", "1"), s.ok("list", "--json")):
        assert "\x1b" not in out and "\x07" not in out, repr(out)
        assert "red" in out


def test_a_reader_that_goes_away_gets_no_traceback(tmp_path: Path, database_url: str) -> None:
    s = Session(tmp_path, database_url)
    # More than a pipe buffer (64 KiB), so the writer meets the closed pipe.
    s.ok("declare", "Big", "--description", "x" * 19_000)
    for _ in range(3):
        s.ok("update", "1", "--message", "y" * 19_000)
    proc = subprocess.Popen(
        [s.script, "show", "1"],
        cwd=tmp_path,
        env=s.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(10) == b"INC-1  Big"
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert stderr == ""


def test_the_readme_use_it_block_runs_as_written_in_a_fresh_folder(
    tmp_path: Path, database_url: str
) -> None:
    import re
    import shlex

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Use it", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block
    lines = [ln.split("#", 1)[0].strip() for ln in block.group(1).splitlines()]
    lines = [ln for ln in lines if ln]
    # It says where to run: a folder of its own.
    assert lines[0].startswith("mkdir ") and "cd " in lines[0]
    s = Session(tmp_path, database_url)
    for line in lines[1:]:
        for command in line.split(";"):
            words = shlex.split(command)
            assert words[0] == "crashbot", command
            s.ok(*words[1:])
