"""The Markdown exporter: render a :class:`~crashbot_core.postmortem.Postmortem`, write a file."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import attrs
from attrs import define

from crashbot_core.config import load_config
from crashbot_core.models import Event, FollowUp, Incident
from crashbot_core.postmortem import (
    ExportContext,
    ExportError,
    Postmortem,
    assemble,
    render,
    template_environment,
)
from crashbot_core.severity import DEFAULT_POLICY

#: The built-in template; a file of this name in a templates folder replaces it.
TEMPLATE = "postmortem.md.j2"


@define
class MarkdownSettings:
    """``[markdown]``: where postmortem files go."""

    #: Folder for postmortem files, relative to crashbot.toml's folder (or the working directory).
    output_dir: str = "postmortems"
    #: File name; ``{ref}``, ``{id}``, ``{slug}`` and ``{date}`` (resolve or start date) are filled in.
    filename: str = "{ref}.md"
    #: Folder with this exporter's own templates (overrides ``[postmortem] templates``).
    templates: str = ""
    #: Public URL of the output folder (a docs site, a repository's blob URL): exports become
    #: ``base_url + filename`` and can be linked as the incident's RCA. Empty: a local path.
    base_url: str = ""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "incident"


def file_name(settings: MarkdownSettings, postmortem: Postmortem) -> str:
    """The file name for a postmortem, from the ``filename`` pattern."""
    inc = postmortem.incident
    day = (inc.resolved_at or inc.started_at).date().isoformat()
    name = settings.filename.format(ref=inc.ref, id=inc.id, slug=_slug(inc.title), date=day)
    if not name or "/" in name or "\\" in name or name in {".", ".."}:
        raise ExportError(
            f"[markdown] filename {settings.filename!r} gives a bad file name {name!r}"
        )
    return name


def render_markdown(postmortem: Postmortem, template_dirs: Sequence[str | Path] = ()) -> str:
    """The postmortem as GitHub-flavoured Markdown (pure: no file written)."""
    env = template_environment("crashbot_markdown", override_dirs=template_dirs)
    return render(env, TEMPLATE, pm=postmortem, incident=postmortem.incident)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a reader never sees half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None


@attrs.define
class MarkdownExporter:
    """Writes ``<output_dir>/<ref>.md``; re-export overwrites the same file."""

    name: str = "markdown"

    def render_text(self, postmortem: Postmortem, context: ExportContext) -> str:
        """The Markdown document, with the configured templates (nothing written)."""
        settings = context.section("markdown") or MarkdownSettings()
        return render_markdown(postmortem, context.template_dirs(settings.templates))

    def export_postmortem(self, postmortem: Postmortem, context: ExportContext) -> str:
        """Render and write the file; returns its URL (with ``base_url``) or its path."""
        settings = context.section("markdown") or MarkdownSettings()
        text = self.render_text(postmortem, context)
        config = context.crashbot.config
        base = config.path.parent if config.path else Path.cwd()
        if context.out is not None:
            write_atomically(context.out, text)
            return str(context.out)
        name = file_name(settings, postmortem)
        path = base / settings.output_dir / name
        write_atomically(path, text)
        if settings.base_url:
            return settings.base_url.rstrip("/") + "/" + name
        return str(path)

    def export(
        self, incident: Incident, timeline: Sequence[Event], follow_ups: Sequence[FollowUp]
    ) -> str:
        """The plain protocol: settings from the environment and defaults, default severity policy."""
        settings = load_config(data={}, sections={"markdown": MarkdownSettings}).section("markdown")
        pm = assemble(
            incident,
            timeline,
            follow_ups,
            policy=DEFAULT_POLICY,
            now=incident.last_update_at or incident.declared_at,
        )
        path = Path(settings.output_dir) / file_name(settings, pm)
        write_atomically(
            path, render_markdown(pm, [settings.templates] if settings.templates else [])
        )
        return str(path)
