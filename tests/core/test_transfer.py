"""``crashbot import csv`` and ``crashbot export jsonl``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner, Result
from support import ALICE, T0

from crashbot_core import Crashbot
from crashbot_core.cli import build_cli
from crashbot_core.models import Alert, AlertStatus, Impact, Status
from crashbot_core.store import IncidentFilter

SHEET = """\
ID,Title,Severity,Status,Started_At,Resolved_At,Components,Description,Public,RCA_URL
7,Checkout down,P0,,2025-11-03T10:00:00Z,2025-11-03T11:30:00Z,api=major_outage;web,Card payments failed,yes,https://wiki.example/rca/7
,Slow search,,identified,2025-12-01,,,,,
"""


def _crashbot(url: str, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(
        build_cli(), list(args), env={"CRASHBOT_DATABASE_URL": url}, input=stdin
    )


def test_a_spreadsheet_imports_once_whatever_the_number_of_runs(
    bot: Crashbot, database_url: str, tmp_path: Path
) -> None:
    sheet = tmp_path / "history.csv"
    sheet.write_text(SHEET, encoding="utf-8")

    first = _crashbot(database_url, "import", "csv", str(sheet))
    second = _crashbot(database_url, "import", "csv", str(sheet))

    assert first.exit_code == 0, first.output
    assert "imported 2 new incidents, updated 0, 0 unchanged" in first.output
    assert "imported 0 new incidents, updated 0, 2 unchanged" in second.output
    checkout, search = bot.store.list_incidents(IncidentFilter(newest_first=False))
    assert (checkout.title, checkout.severity, checkout.status) == (
        "Checkout down",
        "SEV1",
        Status.RESOLVED,
    )
    assert checkout.components == {"api": Impact.MAJOR_OUTAGE, "web": Impact.MAJOR_OUTAGE}
    assert checkout.public and checkout.rca_url == "https://wiki.example/rca/7"
    assert checkout.description == "Card payments failed"
    assert checkout.resolved_at is not None
    assert checkout.resolved_at - checkout.started_at == timedelta(hours=1, minutes=30)
    assert [e.kind.value for e in bot.timeline(checkout.id)] == ["declared", "resolved"]
    assert (search.severity, search.status, search.public) == ("SEV4", Status.IDENTIFIED, False)
    assert search.started_at.isoformat() == "2025-12-01T00:00:00+00:00"


def test_a_bad_row_imports_nothing_and_names_its_line(
    bot: Crashbot, database_url: str, tmp_path: Path
) -> None:
    sheet = tmp_path / "history.csv"
    sheet.write_text(
        "title,started_at,status\nFine,2025-01-01,\nBroken,2025-01-02,exploded\n",
        encoding="utf-8",
    )

    result = _crashbot(database_url, "import", "csv", str(sheet))

    assert result.exit_code == 1
    assert "line 3: status 'exploded' is not one of" in result.output
    assert bot.store.count_incidents(IncidentFilter()) == 0


def test_unknown_columns_are_refused(database_url: str) -> None:
    result = _crashbot(
        database_url, "import", "csv", "-", stdin="title,started_at,sevrity\nA,2025-01-01,SEV1\n"
    )

    assert result.exit_code == 1
    assert "unknown CSV column(s) sevrity" in result.output


def test_export_jsonl_writes_everything_one_typed_object_a_line(
    bot: Crashbot, database_url: str, tmp_path: Path
) -> None:
    incident = bot.declare("Private thing", actor=ALICE, public=False, components=["api"])
    bot.update(incident.id, message="internal note", public=False, actor=ALICE)
    bot.add_follow_up(incident.id, "Write a runbook", actor=ALICE)
    bot.store.record_alert(
        Alert("generic", "fp", AlertStatus.FIRING, "disk full", incident_id=None),
        None,
        T0,
    )
    alert = bot.store.record_alert(
        Alert("generic", "fp2", AlertStatus.FIRING, "cpu hot"), b"{}", T0
    )
    bot.store.link_alerts({incident.id: [alert.id]})  # type: ignore[attr-defined]
    bot.create_token("grafana", "write")

    result = _crashbot(database_url, "export", "jsonl", "--out", str(tmp_path / "all.jsonl"))

    assert result.exit_code == 0, result.output
    lines = (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    by_type: dict[str, list[dict[str, object]]] = {}
    for r in records:
        by_type.setdefault(str(r["type"]), []).append(r)
    assert set(by_type) == {"incident", "event", "follow_up", "alert", "token"}
    assert by_type["incident"][0]["title"] == "Private thing"
    assert by_type["incident"][0]["public"] is False
    assert "internal note" in json.dumps(by_type["event"])
    assert by_type["follow_up"][0]["title"] == "Write a runbook"
    assert [a["title"] for a in by_type["alert"]] == ["cpu hot"]
    assert by_type["token"][0]["name"] == "grafana"
    assert "token_hash" not in by_type["token"][0]
    assert "hash" not in lines[-1]
