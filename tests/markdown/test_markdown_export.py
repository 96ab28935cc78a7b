"""The Markdown exporter: output parsed back with markdown-it-py and checked section by section."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token
from support import ALICE, BOB

from crashbot_core import Crashbot, DeliveryState, FixedClock
from crashbot_core.models import EventKind, Incident
from crashbot_core.postmortem import ExportError, build_postmortem
from crashbot_core.serialize import parse_iso
from crashbot_core.testing import make_crashbot
from crashbot_markdown import MarkdownExporter, render_markdown

SECTIONS = [
    "Summary",
    "Impact",
    "Timeline",
    "Root cause",
    "What went well",
    "What went wrong",
    "Action items",
    "Responders",
    "Alerts",
]


def story(bot: Crashbot, clock: FixedClock, title: str = "Checkout down") -> Incident:
    inc = bot.declare(
        title,
        severity="SEV1",
        actor=ALICE,
        description="Card payments fail",
        components={"checkout": "major"},
    )
    clock.advance(minutes=3)
    bot.assign_role(inc.id, "ic", ALICE)
    clock.advance(minutes=7)
    bot.update(inc.id, message="Root cause: expired TLS certificate", actor=BOB)
    bot.update(inc.id, message="We are rolling out a fix", public=True, actor=ALICE)
    bot.update(inc.id, message="Went well: fast paging", actor=ALICE)
    bot.update(inc.id, message="Went wrong: no expiry alert", actor=ALICE)
    clock.advance(minutes=20)
    bot.resolve(inc.id, actor=ALICE, message="Certificate renewed")
    bot.add_follow_up(inc.id, "Alert 14 days before expiry", owner=BOB, due=date(2026, 3, 16))
    return bot.get(inc.id)


def parse(text: str) -> list[Token]:
    return MarkdownIt("commonmark").enable("table").parse(text)


def by_section(tokens: list[Token]) -> dict[str, list[Token]]:
    """h2 title → the tokens under it."""
    out: dict[str, list[Token]] = {}
    current: list[Token] | None = None
    in_heading = False
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.tag == "h2":
            current = out.setdefault(tokens[i + 1].content, [])
            in_heading = True
        elif tok.type == "heading_close":
            in_heading = False
        elif current is not None and not in_heading:
            current.append(tok)
    return out


def table_rows(tokens: list[Token]) -> list[list[str]]:
    """Cell texts of the first table, header row first (inline content, escapes resolved)."""
    rows: list[list[str]] = []
    row: list[str] | None = None
    in_table = False
    for tok in tokens:
        if tok.type == "table_open":
            in_table = True
        elif tok.type == "table_close":
            break
        elif in_table and tok.type == "tr_open":
            row = []
        elif in_table and tok.type == "tr_close" and row is not None:
            rows.append(row)
        elif in_table and tok.type == "inline" and row is not None:
            row.append("".join(c.content for c in tok.children or [] if c.type == "text"))
    return rows


def texts(tokens: list[Token]) -> list[str]:
    """Rendered text of each inline run (emphasis markers and escapes resolved)."""
    return [
        "".join(c.content for c in t.children or [] if c.type in {"text", "code_inline"})
        for t in tokens
        if t.type == "inline"
    ]


@pytest.fixture
def rendered(bot: Crashbot, clock: FixedClock) -> tuple[Incident, str]:
    inc = story(bot, clock)
    return inc, render_markdown(build_postmortem(bot, inc.id))


def test_document_has_a_title_and_every_section_in_order(rendered: tuple[Incident, Any]) -> None:
    inc, text = rendered
    tokens = parse(text)
    h1 = [
        tokens[i + 1].content
        for i, t in enumerate(tokens)
        if t.type == "heading_open" and t.tag == "h1"
    ]
    assert h1 == [f"Postmortem: {inc.ref} Checkout down"]
    assert list(by_section(tokens)) == SECTIONS


def test_header_table_gives_severity_times_duration_and_roles(
    rendered: tuple[Incident, str],
) -> None:
    _, text = rendered
    rows = dict(table_rows(parse(text))[1:])
    assert rows["Severity"] == "SEV1 (Critical)"
    assert rows["Started"] == "2026-03-02 09:00 UTC"
    assert rows["Acknowledged"] == "2026-03-02 09:03 UTC (after 3m)"
    assert rows["Resolved"] == "2026-03-02 09:30 UTC"
    assert rows["Duration"] == "30m"
    assert rows["Incident commander"] == "Alice"
    assert rows["Postmortem due"] == "2026-03-04 09:30 UTC"


def test_timeline_table_lists_every_event_with_utc_times(
    bot: Crashbot, rendered: tuple[Incident, str]
) -> None:
    inc, text = rendered
    rows = table_rows(by_section(parse(text))["Timeline"])
    assert rows[0] == ["Time (UTC)", "Who", "Event", "Visibility"]
    events = bot.timeline(inc.id)
    assert len(rows) - 1 == len(events)
    for row, event in zip(rows[1:], events, strict=True):
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[0])
        assert parse_iso(row[0].replace(" ", "T")) == event.at
        assert row[1] == event.actor.display
        assert row[3] == ("public" if event.public else "internal")
    assert [
        "2026-03-02 09:10:00",
        "Alice",
        "Public update: We are rolling out a fix",
        "public",
    ] in rows
    assert any(r[2] == "Internal update: Root cause: expired TLS certificate" for r in rows)


def test_narrative_sections_come_from_marked_updates(rendered: tuple[Incident, str]) -> None:
    _, text = rendered
    s = by_section(parse(text))
    assert texts(s["Summary"]) == ["Card payments fail", "Certificate renewed"]
    assert texts(s["Root cause"]) == ["expired TLS certificate"]
    assert texts(s["What went well"]) == ["fast paging"]
    assert texts(s["What went wrong"]) == ["no expiry alert"]
    assert "checkout: major outage" in texts(s["Impact"])


def test_action_items_table_has_owner_due_date_and_status(rendered: tuple[Incident, str]) -> None:
    _, text = rendered
    rows = table_rows(by_section(parse(text))["Action items"])
    assert rows[0] == ["#", "Action", "Owner", "Due", "Status", "Tracked in"]
    assert rows[1][1:5] == ["Alert 14 days before expiry", "Bob", "2026-03-16", "open"]


def test_missing_sections_are_prompts_not_blank(bot: Crashbot) -> None:
    inc = bot.declare("Quiet one", severity="SEV2")
    s = by_section(parse(render_markdown(build_postmortem(bot, inc.id))))
    assert all(s[name] for name in SECTIONS)
    assert texts(s["Root cause"])[0].startswith("Not written yet")
    assert texts(s["Action items"])[0].startswith("No action items yet")


def test_user_text_cannot_inject_markdown_html_or_break_tables(
    bot: Crashbot, clock: FixedClock
) -> None:
    title = "Pay | <script>alert(1)</script> [click](http://evil.example) *x*"
    inc = story(bot, clock, title=title)
    bot.update(inc.id, message="# heading?\n\n| a | b |", actor=ALICE)
    tokens = parse(render_markdown(build_postmortem(bot, inc.id)))
    hostile = [
        t
        for t in tokens
        if t.type == "inline" and ("evil" in t.content or "# heading" in t.content)
    ]
    assert len(hostile) >= 3  # the title, the declared event, the update
    kinds = {c.type for t in hostile for c in t.children or []}
    assert kinds == {"text"}
    assert not any(t.type == "html_block" for t in tokens)
    h1 = next(tokens[i + 1] for i, t in enumerate(tokens) if t.tag == "h1")
    assert "".join(c.content for c in h1.children or []) == f"Postmortem: {inc.ref} {title}"
    rows = table_rows(by_section(tokens)["Timeline"])
    assert all(len(r) == 4 for r in rows)
    assert rows[-1][2] == "Internal update: # heading? | a | b |"


# ---------------------------------------------------------------- writing files


def _bot(database_url: str, clock: FixedClock, tmp_path: Path, **config: Any) -> Crashbot:
    config.setdefault("markdown", {})
    config["markdown"].setdefault("output_dir", str(tmp_path / "pms"))
    return make_crashbot(database_url=database_url, clock=clock, config=config)


def test_export_writes_ref_named_file_and_re_export_overwrites_it(
    database_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    bot = _bot(database_url, clock, tmp_path)
    try:
        inc = story(bot, clock)
        path = Path(bot.export_postmortem(inc.id, "markdown", actor=ALICE))
        assert path == tmp_path / "pms" / f"{inc.ref}.md"
        first = path.read_text()
        bot.add_follow_up(inc.id, "Second action", owner=ALICE)
        assert Path(bot.export_postmortem(inc.id, "markdown")) == path
        assert "Second action" in path.read_text() and first != path.read_text()
        assert list(path.parent.iterdir()) == [path]  # no temp files left behind
        # a local file is not a link others can open: no RCA link
        assert bot.get(inc.id).rca_url is None
    finally:
        bot.close()


def test_base_url_makes_the_export_a_link_set_as_rca(
    database_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    bot = _bot(
        database_url,
        clock,
        tmp_path,
        markdown={
            "base_url": "https://github.com/acme/pm/blob/main/",
            "filename": "{date}-{slug}.md",
        },
    )
    try:
        inc = story(bot, clock)
        url = bot.export_postmortem(inc.id, "markdown")
        assert url == "https://github.com/acme/pm/blob/main/2026-03-02-checkout-down.md"
        assert bot.get(inc.id).rca_url == url
        assert (tmp_path / "pms" / "2026-03-02-checkout-down.md").is_file()
    finally:
        bot.close()


def test_out_overrides_the_output_folder(bot: Crashbot, clock: FixedClock, tmp_path: Path) -> None:
    inc = story(bot, clock)
    out = tmp_path / "deep" / "x.md"
    assert bot.export_postmortem(inc.id, "markdown", out=str(out)) == str(out)
    assert out.read_text().startswith("# Postmortem")


def test_unwritable_target_is_an_export_error_and_records_nothing(
    bot: Crashbot, clock: FixedClock, tmp_path: Path
) -> None:
    inc = story(bot, clock)
    blocker = tmp_path / "file"
    blocker.write_text("")
    before = bot.timeline(inc.id)
    with pytest.raises(ExportError, match="cannot write"):
        bot.export_postmortem(inc.id, "markdown", out=str(blocker / "x.md"))
    assert bot.timeline(inc.id) == before


def test_team_template_in_postmortem_folder_replaces_the_built_in(
    database_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "postmortem.md.j2").write_text("# {{ pm.ref }} by ACME\n\n{{ pm.root_cause | md }}\n")
    bot = _bot(database_url, clock, tmp_path, postmortem={"templates": str(shared)})
    try:
        inc = story(bot, clock)
        text = Path(bot.export_postmortem(inc.id, "markdown")).read_text()
        assert text == f"# {inc.ref} by ACME\n\nexpired TLS certificate\n"
    finally:
        bot.close()


def test_markdown_templates_setting_wins_over_the_shared_folder(
    database_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    for name in ("shared", "own"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "postmortem.md.j2").write_text(f"{name}\n")
    bot = _bot(
        database_url,
        clock,
        tmp_path,
        postmortem={"templates": str(tmp_path / "shared")},
        markdown={"templates": str(tmp_path / "own")},
    )
    try:
        inc = story(bot, clock)
        assert Path(bot.export_postmortem(inc.id, "markdown")).read_text() == "own\n"
    finally:
        bot.close()


def test_broken_team_template_says_which_file_and_line(
    database_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "postmortem.md.j2").write_text("ok\n{% if %}\n")
    bot = _bot(database_url, clock, tmp_path, postmortem={"templates": str(tmp_path / "t")})
    try:
        inc = story(bot, clock)
        with pytest.raises(ExportError, match=r"template .*postmortem\.md\.j2, line 2"):
            bot.export_postmortem(inc.id, "markdown")
        with pytest.raises(
            ExportError, match=r"template postmortem\.md\.j2: .* has no attribute 'nope'"
        ):
            (tmp_path / "t" / "postmortem.md.j2").write_text("{{ pm.nope }}\n")
            bot.export_postmortem(inc.id, "markdown")
    finally:
        bot.close()


def test_plain_protocol_export_writes_to_the_default_folder(
    bot: Crashbot, clock: FixedClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    inc = story(bot, clock)
    location = MarkdownExporter().export(inc, bot.timeline(inc.id), bot.follow_ups(inc.id))
    assert Path(location) == Path("postmortems") / f"{inc.ref}.md"
    tokens = parse((tmp_path / location).read_text())
    assert list(by_section(tokens)) == SECTIONS


def test_resolving_a_sev1_exports_markdown_automatically_once(
    database_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    bot = _bot(
        database_url,
        clock,
        tmp_path,
        postmortem={"export_on_resolve": ["markdown"]},
        markdown={"base_url": "https://docs.example/pm"},
    )
    try:
        inc = story(bot, clock)
        assert (tmp_path / "pms" / f"{inc.ref}.md").is_file()
        assert bot.get(inc.id).rca_url == f"https://docs.example/pm/{inc.ref}.md"
        exported = [e for e in bot.timeline(inc.id) if e.kind is EventKind.POSTMORTEM_EXPORTED]
        assert len(exported) == 1
        # a SEV4 resolve does not export
        low = bot.declare("Minor", severity="SEV4")
        bot.resolve(low.id)
        assert not (tmp_path / "pms" / f"{bot.get(low.id).ref}.md").exists()
        # reopen and resolve again: a new resolve, a fresh export; the RCA link stays
        clock.advance(timedelta(hours=1))
        bot.reopen(inc.id)
        bot.resolve(inc.id)
        # The export commits events while the resolve is being delivered; they
        # go out in-line right after it, without waiting for the worker.
        assert {d.state for d in bot.deliveries(limit=1000)} == {DeliveryState.DELIVERED}
        exported = [e for e in bot.timeline(inc.id) if e.kind is EventKind.POSTMORTEM_EXPORTED]
        assert len(exported) == 2
    finally:
        bot.close()
