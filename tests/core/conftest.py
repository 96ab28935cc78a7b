"""Fixtures for the core's tests (the shared ones are in tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from crashbot_core import FixedClock
from crashbot_core.testing import make_crashbot


@pytest.fixture
def two_bots(database_url: str, clock: FixedClock) -> Any:
    """Two services on one database, as two replicas or processes would be."""
    a = make_crashbot(database_url=database_url, clock=clock)
    b = make_crashbot(database_url=database_url, clock=clock)
    try:
        yield a, b
    finally:
        a.close()
        b.close()
