"""Postmortem exporter: a GitHub-flavoured Markdown file per incident.

Also owns the shared ``[postmortem]`` settings and the automatic export on
resolve, because this plugin needs nothing beyond crashbot itself and so is
always installed.
"""

from crashbot_markdown.exporter import MarkdownExporter, MarkdownSettings, render_markdown

__all__ = ["MarkdownExporter", "MarkdownSettings", "render_markdown"]
