"""The postmortem model, export_postmortem, automatic export on resolve and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import ALICE, BOB, T0

from crashbot_core import Crashbot, FixedClock
from crashbot_core.cli import build_cli
from crashbot_core.errors import InvalidInput
from crashbot_core.hookspecs import hookimpl
from crashbot_core.models import Actor, Alert, AlertStatus, Event, EventKind, FollowUp, Incident
from crashbot_core.plugins import get_plugin_manager
from crashbot_core.postmortem import (
    ExportContext,
    ExportError,
    Postmortem,
    build_postmortem,
    describe_event,
    export_postmortem,
)
from crashbot_core.testing import make_crashbot, registered
from crashbot_markdown.plugin import crashbot_incident_event


def story(bot: Crashbot, clock: FixedClock, *, severity: str = "SEV1") -> Incident:
    """A SEV1 with roles, components, internal and public updates, an alert and follow-ups."""
    result = bot.ingest_alert(
        Alert(
            source="generic",
            fingerprint="db-cpu",
            status=AlertStatus.FIRING,
            title="DB CPU high",
            started_at=T0 - timedelta(minutes=2),
            url="https://grafana.example/d/1",
        )
    )
    inc = result.incident
    assert inc is not None
    bot.update(inc.id, severity=severity, actor=ALICE)
    bot.set_components(inc.id, {"checkout": "major"}, actor=ALICE)
    clock.advance(minutes=4)
    bot.assign_role(inc.id, "ic", ALICE)
    bot.assign_role(inc.id, "tl", BOB, actor=ALICE)
    clock.advance(minutes=10)
    bot.update(
        inc.id, status="identified", message="Root cause: a migration locked orders", actor=BOB
    )
    bot.update(inc.id, message="Went well: the alert fired within a minute", actor=ALICE)
    bot.update(inc.id, message="Went wrong: rollback took 20 minutes", actor=ALICE)
    bot.update(inc.id, message="Impact: 12% of checkouts failed", actor=ALICE)
    bot.update(inc.id, status="monitoring", actor=ALICE)
    clock.advance(minutes=20)
    bot.resolve(inc.id, actor=ALICE, message="Rolled back the migration")
    bot.add_follow_up(inc.id, "Lock-free migrations", owner=BOB, due=date(2026, 3, 20), actor=ALICE)
    fu = bot.add_follow_up(inc.id, "Alert on lock waits", actor=ALICE)
    bot.complete_follow_up(fu.id, actor=BOB)
    return bot.get(inc.id)


class FakeExporter:
    """A rich exporter that answers an URL and remembers what it was given."""

    name = "fake"

    def __init__(self, location: str = "https://wiki.example/pm/1") -> None:
        self.location = location
        self.calls: list[tuple[Postmortem, ExportContext]] = []
        self.fail: ExportError | None = None

    def export_postmortem(self, postmortem: Postmortem, context: ExportContext) -> str:
        if self.fail is not None:
            raise self.fail
        self.calls.append((postmortem, context))
        return self.location

    def export(
        self, incident: Incident, timeline: Sequence[Event], follow_ups: Sequence[FollowUp]
    ) -> str:
        raise AssertionError("the rich entry point is preferred")


class PlainExporter:
    """Only the hookspec protocol's ``export``."""

    name = "plain"

    def __init__(self) -> None:
        self.got: tuple[Incident, Sequence[Event], Sequence[FollowUp]] | None = None

    def export(
        self, incident: Incident, timeline: Sequence[Event], follow_ups: Sequence[FollowUp]
    ) -> str:
        self.got = (incident, timeline, follow_ups)
        return "/tmp/plain.txt"


class Offer:
    def __init__(self, *exporters: object) -> None:
        self.exporters = exporters

    @hookimpl
    def crashbot_postmortem_exporters(self) -> Sequence[object]:
        return self.exporters


# ---------------------------------------------------------------- the model


def test_postmortem_gathers_full_timeline_roles_components_alerts_and_follow_ups(
    bot: Crashbot, clock: FixedClock
) -> None:
    inc = story(bot, clock)
    pm = build_postmortem(bot, inc.ref)
    assert pm.title == f"Postmortem: {inc.ref} DB CPU high"
    assert [e.id for e in pm.events] == [e.id for e in bot.timeline(inc.id)]
    assert any(not e.public for e in pm.timeline) and pm.timeline[0].kind is EventKind.DECLARED
    assert {r.key: r.actor for r in pm.roles} == {"commander": ALICE, "technical-lead": BOB}
    assert [r.name for r in pm.roles] == ["Incident commander", "Technical lead"]
    assert [(c.component.key, c.impact_label) for c in pm.components] == [
        ("checkout", "major outage")
    ]
    assert [a.fingerprint for a in pm.alerts] == ["db-cpu"]
    assert [(f.title, f.done) for f in pm.follow_ups] == [
        ("Lock-free migrations", False),
        ("Alert on lock waits", True),
    ]
    assert [f.title for f in pm.open_follow_ups] == ["Lock-free migrations"]
    # started two minutes before the alert arrived; resolved 34 minutes after declaring
    assert pm.duration == timedelta(minutes=36)
    assert pm.time_to_acknowledge == timedelta(minutes=6)
    assert pm.time_to_mitigate == timedelta(minutes=16)
    assert pm.required and pm.due_at == inc.resolved_at + timedelta(hours=48)
    assert pm.responders == (ALICE, BOB)


def test_update_markers_fill_root_cause_impact_and_lessons(
    bot: Crashbot, clock: FixedClock
) -> None:
    pm = build_postmortem(bot, story(bot, clock).id)
    assert pm.root_cause == "a migration locked orders"
    assert pm.impact == "12% of checkouts failed"
    assert pm.what_went_well == ("the alert fired within a minute",)
    assert pm.what_went_wrong == ("rollback took 20 minutes",)
    assert "Rolled back the migration" in pm.summary


def test_optional_level_is_not_required_and_has_no_due_date(
    bot: Crashbot, clock: FixedClock
) -> None:
    pm = build_postmortem(bot, story(bot, clock, severity="SEV3").id)
    assert not pm.required and pm.due_at is None


def test_describe_event_says_what_happened_in_words(bot: Crashbot, clock: FixedClock) -> None:
    inc = story(bot, clock)
    texts = [describe_event(e, {"commander": "Incident commander"}) for e in bot.timeline(inc.id)]
    assert "Alice took the Incident commander role" in texts
    assert "Bob was given the technical-lead role" in texts
    assert "Status investigating → identified" in texts
    assert "Severity SEV4 → SEV1" in texts
    assert "Resolved: Rolled back the migration" in texts
    assert "Follow-up done: Alert on lock waits" in texts


# ---------------------------------------------------------------- export_postmortem


def test_export_records_event_and_links_rca_of_resolved_incident(
    bot: Crashbot, clock: FixedClock
) -> None:
    inc = story(bot, clock)
    fake = FakeExporter()
    with registered(bot.pm, Offer(fake)):
        url = bot.export_postmortem(inc.id, "fake", actor=ALICE)
    assert url == "https://wiki.example/pm/1"
    after = bot.get(inc.id)
    assert after.rca_url == url
    kinds = [e.kind for e in bot.timeline(inc.id)][-2:]
    assert kinds == [EventKind.POSTMORTEM_EXPORTED, EventKind.RCA_LINKED]
    exported = bot.timeline(inc.id)[-2]
    assert exported.data == {"exporter": "fake", "location": url}
    assert exported.actor == ALICE and not exported.public
    assert fake.calls[0][1].actor == ALICE


def test_export_keeps_an_existing_rca_link(bot: Crashbot, clock: FixedClock) -> None:
    inc = story(bot, clock)
    bot.link_rca(inc.id, "https://docs.example/rca")
    with registered(bot.pm, Offer(FakeExporter())):
        export_postmortem(bot, inc.id, "fake", actor=ALICE)
    assert bot.get(inc.id).rca_url == "https://docs.example/rca"


def test_export_of_open_incident_or_local_file_links_nothing(
    bot: Crashbot, clock: FixedClock
) -> None:
    open_inc = bot.declare("Still burning", severity="SEV2", actor=ALICE)
    resolved = story(bot, clock)
    with registered(bot.pm, Offer(FakeExporter(), PlainExporter())):
        export_postmortem(bot, open_inc.id, "fake", actor=ALICE)
        assert export_postmortem(bot, resolved.id, "plain", actor=ALICE) == "/tmp/plain.txt"
    assert bot.get(open_inc.id).rca_url is None
    assert bot.get(resolved.id).rca_url is None
    assert bot.timeline(open_inc.id)[-1].kind is EventKind.POSTMORTEM_EXPORTED


def test_plain_protocol_exporter_gets_incident_whole_timeline_and_follow_ups(
    bot: Crashbot, clock: FixedClock
) -> None:
    inc = story(bot, clock)
    plain = PlainExporter()
    with registered(bot.pm, Offer(plain)):
        export_postmortem(bot, inc.id, "plain")
        with pytest.raises(InvalidInput, match="--out does not apply"):
            export_postmortem(bot, inc.id, "plain", out="x.md")
    assert plain.got is not None
    incident, timeline, follow_ups = plain.got
    assert incident.id == inc.id
    assert len(timeline) == len(bot.timeline(inc.id)) - 1  # minus the export event itself
    assert len(follow_ups) == 2


def test_unknown_exporter_is_invalid_input_listing_the_installed_ones(
    bot: Crashbot, clock: FixedClock
) -> None:
    inc = story(bot, clock)
    with pytest.raises(InvalidInput, match=r"unknown postmortem exporter 'wiki'.*markdown"):
        bot.export_postmortem(inc.id, "wiki")


def test_failed_export_records_nothing(bot: Crashbot, clock: FixedClock) -> None:
    inc = story(bot, clock)
    fake = FakeExporter()
    fake.fail = ExportError("wiki down", retryable=True)
    before = bot.timeline(inc.id)
    with registered(bot.pm, Offer(fake)), pytest.raises(ExportError, match="wiki down"):
        bot.export_postmortem(inc.id, "fake")
    assert bot.timeline(inc.id) == before
    assert bot.get(inc.id) == inc


# ---------------------------------------------------------------- automatic export on resolve


def _auto_bot(
    database_url: str, clock: FixedClock, fake: FakeExporter, **pm_cfg: object
) -> Crashbot:
    return make_crashbot(
        database_url=database_url,
        clock=clock,
        config={"postmortem": {"export_on_resolve": ["fake"], **pm_cfg}},
        plugins={"fake-exporter": Offer(fake)},
    )


def test_resolving_a_sev1_exports_once_with_the_configured_exporter(
    database_url: str, clock: FixedClock
) -> None:
    fake = FakeExporter()
    bot = _auto_bot(database_url, clock, fake)
    try:
        inc = bot.declare("Checkout down", severity="SEV1", actor=ALICE)
        bot.resolve(inc.id, actor=ALICE)
        assert len(fake.calls) == 1
        after = bot.get(inc.id)
        assert after.rca_url == fake.location
        exported = [e for e in bot.timeline(inc.id) if e.kind is EventKind.POSTMORTEM_EXPORTED]
        resolved = next(e for e in bot.timeline(inc.id) if e.kind is EventKind.RESOLVED)
        assert exported[0].data["trigger_event"] == resolved.id
        assert exported[0].actor == Actor.system()
        # a retried delivery of the same resolve event does not export again
        crashbot_incident_event(bot, after, resolved)
        assert len(fake.calls) == 1
    finally:
        bot.close()


def test_levels_without_required_postmortem_are_not_exported(
    database_url: str, clock: FixedClock
) -> None:
    fake = FakeExporter()
    bot = _auto_bot(database_url, clock, fake)
    try:
        inc = bot.declare("Typo on pricing page", severity="SEV3", actor=ALICE)
        bot.resolve(inc.id, actor=ALICE)
        assert fake.calls == []
    finally:
        bot.close()


def test_configured_levels_replace_the_required_rule(database_url: str, clock: FixedClock) -> None:
    fake = FakeExporter()
    bot = _auto_bot(database_url, clock, fake, levels=["SEV3"])
    try:
        for sev in ("SEV1", "SEV3"):
            bot.resolve(bot.declare(f"{sev} thing", severity=sev).id)
        assert [c[0].incident.severity for c in fake.calls] == ["SEV3"]
    finally:
        bot.close()


def test_no_automatic_export_when_none_configured(bot: Crashbot) -> None:
    fake = FakeExporter()
    with registered(bot.pm, Offer(fake)):
        bot.resolve(bot.declare("Checkout down", severity="SEV1").id)
    assert fake.calls == []


def test_failed_automatic_export_is_retried_by_the_worker_and_resolve_stands(
    database_url: str, clock: FixedClock
) -> None:
    fake = FakeExporter()
    fake.fail = ExportError("wiki down (503)", retryable=True, retry_after=30)
    bot = _auto_bot(database_url, clock, fake)
    try:
        inc = bot.declare("Checkout down", severity="SEV1")
        bot.resolve(inc.id)
        assert bot.get(inc.id).status.value == "resolved"
        failed = [d for d in bot.deliveries(failed_only=True) if d.plugin == "markdown"]
        assert len(failed) == 1 and "wiki down" in (failed[0].last_error or "")
        assert failed[0].next_attempt_at == clock.now() + timedelta(seconds=30)
        fake.fail = None
        clock.advance(minutes=1)
        bot.retry_deliveries()
        assert len(fake.calls) == 1
        assert bot.get(inc.id).rca_url == fake.location
    finally:
        bot.close()


# ---------------------------------------------------------------- CLI


def _cli(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, toml: str = ""
) -> Path:
    monkeypatch.setenv("CRASHBOT_DATABASE_URL", database_url)
    monkeypatch.setenv("CRASHBOT_USER", "alice")
    cfg = tmp_path / "crashbot.toml"
    cfg.write_text(toml)
    return cfg


def test_cli_postmortem_to_markdown_writes_out_file(
    tmp_path: Path,
    bot: Crashbot,
    clock: FixedClock,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inc = story(bot, clock)
    cfg = _cli(tmp_path, database_url, monkeypatch)
    out = tmp_path / "pm.md"
    result = CliRunner().invoke(
        build_cli(bot.pm),
        ["--config", str(cfg), "postmortem", inc.ref, "--to", "markdown", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{inc.ref} postmortem exported to markdown: {out}"
    assert out.read_text().startswith(f"# Postmortem: {inc.ref} DB CPU high")
    exported = bot.timeline(inc.id)[-1]
    assert exported.kind is EventKind.POSTMORTEM_EXPORTED and exported.actor.id == "alice"


def test_cli_postmortem_json_output(
    tmp_path: Path,
    bot: Crashbot,
    clock: FixedClock,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    inc = story(bot, clock)
    cfg = _cli(
        tmp_path,
        database_url,
        monkeypatch,
        '[markdown]\noutput_dir = "pms"\nbase_url = "https://docs.example/pm"\n',
    )
    result = CliRunner().invoke(
        build_cli(bot.pm),
        ["--config", str(cfg), "postmortem", str(inc.id), "--to", "markdown", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data == {
        "incident": inc.ref,
        "exporter": "markdown",
        "location": f"https://docs.example/pm/{inc.ref}.md",
        "rca_url": f"https://docs.example/pm/{inc.ref}.md",
    }
    assert (tmp_path / "pms" / f"{inc.ref}.md").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "wiki"], "error: unknown postmortem exporter 'wiki'"),
        (
            ["--to", "confluence"],
            "error: the confluence exporter is not configured: set CONFLUENCE_URL",
        ),
        (["--to", "github"], "error: the github exporter is not configured: set GITHUB_TOKEN"),
    ],
)
def test_cli_postmortem_errors_are_one_line_exit_1(
    tmp_path: Path,
    bot: Crashbot,
    clock: FixedClock,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    inc = story(bot, clock)
    cfg = _cli(tmp_path, database_url, monkeypatch)
    result = CliRunner().invoke(
        build_cli(bot.pm), ["--config", str(cfg), "postmortem", str(inc.id), *args]
    )
    assert result.exit_code == 1
    assert result.output.startswith(message) and result.output.count("\n") == 1
    assert bot.timeline(inc.id)[-1].kind is not EventKind.POSTMORTEM_EXPORTED


def test_cli_postmortem_without_to_needs_the_markdown_exporter(
    tmp_path: Path, bot: Crashbot, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without --to the Markdown document is printed; with the markdown plugin
    # disabled there is nothing to print it with, and the error says what to do.
    cfg = _cli(tmp_path, database_url, monkeypatch)
    bot.declare("Checkout down")
    monkeypatch.setenv("CRASHBOT_DISABLED_PLUGINS", "markdown")
    result = CliRunner().invoke(
        build_cli(get_plugin_manager()), ["--config", str(cfg), "postmortem", "1"]
    )
    assert result.exit_code == 1
    assert "name an exporter with --to" in result.output


@pytest.mark.parametrize("to", ["confluence", "github"])
def test_out_is_refused_by_remote_exporters(bot: Crashbot, clock: FixedClock, to: str) -> None:
    inc = story(bot, clock)
    with pytest.raises(
        InvalidInput, match=f"--out applies to file exporters such as markdown, not {to}"
    ):
        bot.export_postmortem(inc.id, to, out="x.md")
