"""Postmortem exporter: a Confluence Cloud page in storage format, created or updated."""

from crashbot_confluence.exporter import (
    ConfluenceExporter,
    ConfluenceSettings,
    render_storage,
)

__all__ = ["ConfluenceExporter", "ConfluenceSettings", "render_storage"]
