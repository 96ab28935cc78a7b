"""What a postmortem exporter implements, and the tools it renders with.

An exporter (a plugin offered through ``crashbot_postmortem_exporters``)
implements :class:`~crashbot_core.hookspecs.PostmortemExporter`'s ``export``,
and may implement :class:`RichExporter` (publish with an
:class:`ExportContext`) and :class:`TextExporter` (hand back its text). It
renders with Jinja2 (:func:`template_environment`, :func:`render`): a team
overrides a template by dropping a file of the same name into ``[postmortem]
templates`` (or the exporter's own ``templates`` setting). A failed
publication raises :class:`ExportError`.

Every name here is importable from :mod:`crashbot_core.postmortem` too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import jinja2
from attrs import frozen

from crashbot_core.cost import format_money
from crashbot_core.durations import format_duration
from crashbot_core.errors import CrashbotError
from crashbot_core.models import Actor
from crashbot_core.postmortem_assembly import Postmortem

if TYPE_CHECKING:
    from crashbot_core.service import Crashbot

__all__ = [
    "ExportContext",
    "ExportError",
    "ExporterNotConfigured",
    "RichExporter",
    "TextExporter",
    "md_block",
    "md_inline",
    "md_url",
    "render",
    "template_environment",
    "utc",
]


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class ExportError(CrashbotError):
    """Publishing a postmortem failed (remote API refused or unreachable, file not writable).

    Nothing in the store changes when an export fails, so it can simply be run
    again. ``retryable`` says whether waiting helps (rate limit, 5xx, network).
    """

    code = "export_failed"
    http_status = 502

    def __init__(
        self, message: str, *, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class ExporterNotConfigured(ExportError):
    """The exporter was asked to publish but its settings are missing."""

    code = "exporter_not_configured"
    http_status = 409


# ---------------------------------------------------------------------------
# Exporters
# ---------------------------------------------------------------------------


@frozen
class ExportContext:
    """What a rich exporter gets beside the postmortem: the service, who asked, options."""

    crashbot: Crashbot
    actor: Actor
    #: ``--out FILE``: where a file exporter writes instead of its configured folder.
    out: Path | None = None

    def section(self, name: str) -> Any:
        """A plugin's settings (``config.section``)."""
        return self.crashbot.config.section(name)

    def template_dirs(self, own: str = "") -> list[Path]:
        """Template override folders: the exporter's own setting first, then ``[postmortem] templates``."""
        dirs = [own] if own else []
        shared = self.section("postmortem")
        if shared is not None and shared.templates:
            dirs.append(shared.templates)
        base = self.crashbot.config.path.parent if self.crashbot.config.path else Path.cwd()
        return [base / d for d in dirs]


@runtime_checkable
class RichExporter(Protocol):
    """An exporter with the richer entry point :func:`export_postmortem` prefers.

    It still implements :class:`~crashbot_core.hookspecs.PostmortemExporter`'s
    ``export`` for callers that only have the three records.
    """

    name: str

    def export_postmortem(self, postmortem: Postmortem, context: ExportContext) -> str:
        """Publish and return where it lives (URL or file path). May save refs via the service."""
        ...


@runtime_checkable
class TextExporter(Protocol):
    """An exporter that can also hand back its document as text, without publishing it.

    ``crashbot postmortem ID`` (no ``--to``) prints the Markdown exporter's text.
    """

    name: str

    def render_text(self, postmortem: Postmortem, context: ExportContext) -> str:
        """The document this exporter would publish (pure: nothing written or recorded)."""
        ...


# ---------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------


def utc(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    """A datetime in UTC for documents (``2026-03-02 09:00 UTC``); ``—`` for None."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime(fmt)


# Characters that start Markdown syntax inline; ASCII punctuation may always be backslash-escaped.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&])")


# At the start of a line these would open a list, or turn into a thematic break.
_MD_LINE_START = re.compile(r"^(?:([-+=])|(\d{1,9})([.)]))")


def md_inline(value: object) -> str:
    """Escape text for inline Markdown: user text can't inject links, HTML, emphasis or lists.

    Whitespace (newlines included) collapses to single spaces, so the result is
    safe in a table cell, a list item or a heading.
    """
    text = " ".join(str(value if value is not None else "").split())
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_LINE_START.sub(
        lambda m: f"\\{m.group(1)}" if m.group(1) else f"{m.group(2)}\\{m.group(3)}", text
    )


def md_block(value: object) -> str:
    """Escape multi-line text for Markdown paragraphs (line breaks kept as paragraphs)."""
    paragraphs = re.split(r"\n\s*\n", str(value if value is not None else "").strip())
    return "\n\n".join(md_inline(p) for p in paragraphs if p.strip())


def md_url(value: object) -> str:
    """A URL as a Markdown autolink ``<…>``; characters that would end it are percent-encoded."""
    text = str(value or "")
    for ch, enc in (("<", "%3C"), (">", "%3E"), (" ", "%20"), ("\n", ""), ("\r", "")):
        text = text.replace(ch, enc)
    return f"<{text}>"


def template_environment(
    package: str,
    *,
    override_dirs: Sequence[str | Path] = (),
    autoescape: bool = False,
    filters: Mapping[str, Callable[..., Any]] | None = None,
    finalize: Callable[[Any], Any] | None = None,
) -> jinja2.Environment:
    """A Jinja2 environment: a team's folders first, then the plugin's ``templates/``.

    Filters available to every template: ``utc``, ``duration``, ``md`` (inline
    Markdown escape), ``md_block``, ``md_url`` (autolink), ``money`` (``amount |
    money(currency)``).

    :param package: the plugin package holding a ``templates`` folder.
    :param autoescape: True for XML/HTML output (Confluence storage format).
    :param finalize: applied to every ``{{ value }}`` before escaping (e.g. strip control characters).
    """
    loaders: list[jinja2.BaseLoader] = [
        jinja2.FileSystemLoader([str(d) for d in override_dirs if Path(d).is_dir()]),
        jinja2.PackageLoader(package, "templates"),
    ]
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=finalize,
    )
    env.filters.update(
        {
            "utc": utc,
            "duration": format_duration,
            "md": md_inline,
            "md_block": md_block,
            "md_url": md_url,
            "money": format_money,
        }
    )
    env.filters.update(filters or {})
    return env


def render(env: jinja2.Environment, name: str, **context: Any) -> str:
    """Render template ``name``; a broken (team) template becomes a clear :class:`ExportError`."""
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename or exc.name or name
        raise ExportError(f"template {where}, line {exc.lineno}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise ExportError(f"template {name}: {exc}") from None
