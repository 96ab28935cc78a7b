"""Hook implementations of the confluence plugin (entry point ``confluence``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crashbot_confluence.exporter import ConfluenceExporter, ConfluenceSettings
from crashbot_core.hookspecs import PostmortemExporter, hookimpl


@hookimpl
def crashbot_config_sections() -> dict[str, type[Any]]:
    """``[confluence]``; secrets come from ``CONFLUENCE_URL``, ``CONFLUENCE_USER``, ``CONFLUENCE_API_TOKEN``."""
    return {"confluence": ConfluenceSettings}


@hookimpl
def crashbot_postmortem_exporters() -> Sequence[PostmortemExporter]:
    """The ``confluence`` exporter (it says what to set when asked to export unconfigured)."""
    return [ConfluenceExporter()]
