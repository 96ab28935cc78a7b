"""Claims the manual makes about the running product, checked against it.

A page that says "every route" or "33 demo incidents" is only right while a
test says so: these run the documented commands, or walk the app, and compare.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from crashbot_core.plugins import get_plugin_manager
from crashbot_core.testing import make_crashbot
from crashbot_status import create_app

DOCS = Path(__file__).resolve().parents[2] / "docs"

#: Every plugin that adds routes, configured, so its routes exist.
PLUGIN_ENV = {
    "SLACK_BOT_TOKEN": "xoxb-test",
    "SLACK_SIGNING_SECRET": "secret",
    "PAGERDUTY_ROUTING_KEY": "routing",
    "PAGERDUTY_WEBHOOK_SECRET": "secret",
    "OPSGENIE_API_KEY": "key",
    "OPSGENIE_WEBHOOK_SECRET": "secret",
}


def _documented_outside_openapi() -> dict[str, set[str]]:
    text = (DOCS / "http-api.md").read_text(encoding="utf-8")
    table = text.split("### Routes outside the OpenAPI document", 1)[1].split("\n\n", 2)[1]
    routes: dict[str, set[str]] = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        for route in re.findall(r"`([^`]+)`", cells[0]):
            routes[route] = {m.strip() for m in cells[1].split(",")}
    return routes


def _openapi_routes(app) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    doc = app.test_client().get("/api/openapi.json").get_json()
    return {
        re.sub(r"\{(\w+)\}", r"<\1>", path): {m.upper() for m in ops if m != "parameters"}
        for path, ops in doc["paths"].items()
    }


def test_every_route_of_the_app_is_in_the_openapi_document_or_the_http_api_page(
    tmp_path: Path,
) -> None:
    bot = make_crashbot(tmp_path, env=PLUGIN_ENV)
    app = create_app(bot)
    in_openapi = _openapi_routes(app)
    elsewhere = _documented_outside_openapi()
    missing = []
    for rule in app.url_map.iter_rules():
        # Flask's converters (<int:page>) are written without their type in the docs' OpenAPI.
        route = re.sub(r"<int:(\w+)>", r"<\1>", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if method in in_openapi.get(route, set()):
                continue
            if method in elsewhere.get(rule.rule, set()) or method in elsewhere.get(route, set()):
                continue
            missing.append(f"{method} {rule.rule}")
    assert missing == [], "routes the docs do not list: " + ", ".join(missing)
    # And nothing listed is gone from the app.
    served = {re.sub(r"<int:(\w+)>", r"<\1>", r.rule) for r in app.url_map.iter_rules()}
    served |= {r.rule for r in app.url_map.iter_rules()}
    assert set(elsewhere) <= served, set(elsewhere) - served


def test_the_quickstart_demo_counts_are_what_demo_seeding_prints(tmp_path: Path) -> None:
    from crashbot_status.demo import seed

    text = (DOCS / "quickstart.md").read_text(encoding="utf-8")
    claimed = re.search(r"^seeded \d+ components and \d+ demo incidents$", text, re.M)
    assert claimed is not None
    bot = make_crashbot(tmp_path)
    assert seed(bot) == claimed.group(0)
    counted = re.match(r"seeded (\d+) components and (\d+) demo incidents", claimed.group(0))
    assert counted is not None
    assert len(bot.components()) == int(counted.group(1))
    assert len(bot.list()) == int(counted.group(2))


@pytest.mark.parametrize("path", ["/api/list", "/api/v2/incidents.json"])
def test_the_demo_serves_the_incidents_the_quickstart_promises(tmp_path: Path, path: str) -> None:
    from crashbot_status.demo import seed

    bot = make_crashbot(tmp_path)
    seed(bot)
    body = create_app(bot, {"CHANGE_TOKEN_TTL": 0}).test_client().get(path)
    assert body.status_code == 200
    assert json.loads(body.data)  # the demo is not an empty page


def test_the_cli_reference_lists_every_command() -> None:
    from crashbot_core.cli import build_cli

    cli = build_cli(get_plugin_manager(disabled=()))
    reference = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    runner = CliRunner()

    def walk(group, prefix: str) -> list[str]:  # type: ignore[no-untyped-def]
        names = []
        for name, command in group.commands.items():
            full = f"{prefix} {name}".strip()
            names.append(full)
            if hasattr(command, "commands"):
                names += walk(command, full)
        return names

    missing = [n for n in walk(cli, "crashbot") if f"`{n}" not in reference]
    assert missing == []
    assert runner.invoke(cli, ["--help"]).exit_code == 0


def test_static_export_nginx_example_sends_the_live_sites_security_headers() -> None:
    """The static export's nginx example adds exactly the headers crashbot serve sends."""
    from crashbot_status.app import SECURITY_HEADERS

    text = (DOCS / "status-page.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```nginx\n(.*?)```", text, re.S)
    (block,) = [b for b in blocks if b.startswith("# the static export")]
    added = dict(re.findall(r'^add_header (\S+) "?(.*?)"? always;$', block, re.M))
    assert added == dict(SECURITY_HEADERS)
