"""``crashbot status export DIR``: the whole public site as static files.

Each page is fetched from the app itself (same code path, same privacy
gates) and written where a static server finds it: ``/incidents/7`` becomes
``incidents/7/index.html``, ``/api/v2/summary.json`` stays
``api/v2/summary.json``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from flask import Flask

from crashbot_core.errors import CrashbotError
from crashbot_status import views
from crashbot_status.insights import insights_public

HERE = Path(__file__).parent


def target(root: Path, path: str) -> Path:
    """Where a URL path is written under ``root``."""
    rel = path.strip("/")
    if not rel:
        return root / "index.html"
    last = rel.rsplit("/", 1)[-1]
    if "." in last or rel == "api/list":
        return root / rel
    return root / rel / "index.html"


def export_site(app: Flask, out: Path) -> list[Path]:
    """Write every public page, feed, badge and JSON document under ``out``; returns the files."""
    out.mkdir(parents=True, exist_ok=True)
    state = app.extensions["crashbot_status"]
    site = state.site
    with app.app_context():
        _, pages = site.history(1)
        planned = [m.id for m in site.crashbot.list_maintenances()]
        paths = views.static_paths(site.all_ids(), pages, planned)
        if insights_public(app):
            paths.append("/insights")
    written: list[Path] = []
    client = app.test_client()
    for path in paths:
        resp = client.get(path, headers={"Accept": "text/html,*/*"})
        if resp.status_code != 200:
            raise CrashbotError(f"export: {path} answered {resp.status_code}")
        dest = target(out, path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(resp.get_data())
        written.append(dest)
    static_out = out / "static"
    static_out.mkdir(exist_ok=True)
    for f in (HERE / "static").iterdir():
        if f.is_file():
            shutil.copyfile(f, static_out / f.name)
            written.append(static_out / f.name)
    return written
