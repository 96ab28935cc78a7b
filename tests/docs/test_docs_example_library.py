"""The library guide's example runs as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "embed_library.py"


def test_library_example_prints_each_event_of_the_incident(database_url: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), database_url],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "CRASHBOT_DISABLED_PLUGINS": "slack,discord"},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # The public message carries the move to monitoring: one update, not two.
    assert lines == [
        "INC-1 declared by Alice",
        "INC-1 role_assigned by Alice",
        "INC-1 acknowledged by Alice",
        "INC-1 update_posted by Alice",
        "INC-1 resolved by Alice",
        "incidents: 1",
    ]
