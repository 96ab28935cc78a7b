"""The /incident text parser: subcommands, refs, mentions, links, and garbage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crashbot_core.errors import InvalidInput
from crashbot_core.severity import DEFAULT_POLICY
from crashbot_slack.command_text import SUBCOMMANDS, CommandError, ParsedCommand, help_text, parse


def is_severity(token: str) -> bool:
    try:
        DEFAULT_POLICY.parse(token)
    except InvalidInput:
        return False
    return True


def p(text: str, **kw: object) -> ParsedCommand:
    return parse(text, is_severity=is_severity, **kw)  # type: ignore[arg-type]


def test_no_text_opens_the_declare_form() -> None:
    assert p("") == ParsedCommand(action="modal", form="declare")
    assert p("   ") == ParsedCommand(action="modal", form="declare")


def test_declare_takes_a_trailing_severity_off_the_title() -> None:
    assert p("declare Checkout API returns 500s SEV1") == ParsedCommand(
        action="declare", title="Checkout API returns 500s", severity="SEV1"
    )
    assert p("declare DB down p1").severity == "p1"
    assert p("declare DB down").severity is None


def test_declare_strips_quotes_around_the_title() -> None:
    assert p('declare "Login broken" high').title == "Login broken"


def test_declare_with_only_a_severity_opens_the_form_preset() -> None:
    assert p("declare sev2") == ParsedCommand(action="modal", form="declare", severity="sev2")


def test_record_opens_the_past_incident_form_with_what_the_text_gives() -> None:
    assert p("record") == ParsedCommand(action="modal", form="record")
    assert p("record Checkout down overnight sev1") == ParsedCommand(
        action="modal", form="record", title="Checkout down overnight", severity="sev1"
    )
    assert p("retro sev2") == ParsedCommand(action="modal", form="record", severity="sev2")
    # Inside an incident channel it is still a new incident: a number is title text.
    assert p("record 5 pods lost", implied=True).title == "5 pods lost"


def test_synonyms_and_case_are_accepted() -> None:
    assert p("CREATE db down").action == "declare"
    assert p("close all good").action == "resolve"
    assert p("Acknowledge").action == "ack"
    assert p("followup write runbook").action == "follow-up"


def test_update_message_and_visibility_flag() -> None:
    assert p("update rolled back the deploy", implied=True) == ParsedCommand(
        action="update", message="rolled back the deploy"
    )
    assert p("update --public we are on it", implied=True).public is True
    assert p("update", implied=True) == ParsedCommand(action="modal", form="update")


def test_a_bare_number_is_text_inside_an_incident_channel_and_an_id_outside() -> None:
    assert p("update 5 pods restarted", implied=True).ref is None
    assert p("update 5 pods restarted", implied=True).message == "5 pods restarted"
    assert p("update 5 pods restarted").ref == "5"
    assert p("update INC-5 pods restarted", implied=True).ref == "INC-5"
    assert p("update #5 pods restarted", implied=True).ref == "#5"


def test_fixed_argument_commands_take_an_optional_leading_incident() -> None:
    assert p("severity SEV1") == ParsedCommand(action="severity", severity="SEV1")
    assert p("severity 4 SEV1") == ParsedCommand(action="severity", ref="4", severity="SEV1")
    assert p("severity sev-2") == ParsedCommand(action="severity", severity="sev-2")
    assert p("status INC-3 Monitoring") == ParsedCommand(
        action="status", ref="INC-3", status="monitoring"
    )
    assert p("ack INC-9") == ParsedCommand(action="ack", ref="INC-9")


def test_role_reads_an_escaped_user_mention() -> None:
    assert p("role ic <@U024BE7LH|bob>") == ParsedCommand(
        action="role", role="ic", user_id="U024BE7LH", user_name="bob"
    )
    assert p("role INC-2 tl <@W123ABC>") == ParsedCommand(
        action="role", ref="INC-2", role="tl", user_id="W123ABC"
    )


def test_role_without_a_mention_says_how() -> None:
    with pytest.raises(CommandError, match="mention them"):
        p("role ic bob")


def test_rca_unwraps_slack_links() -> None:
    assert p("rca <https://docs.example.com/rca/1|RCA>").url == "https://docs.example.com/rca/1"
    assert p("rca https://x.example/a").url == "https://x.example/a"
    with pytest.raises(CommandError, match="not an http"):
        p("rca ftp://nope")


def test_alias_commands_run_their_subcommand() -> None:
    assert p("DB down sev1", alias="declare") == ParsedCommand(
        action="declare", title="DB down", severity="sev1"
    )
    assert p("", alias="declare") == ParsedCommand(action="modal", form="declare")
    assert p("all good", alias="resolve") == ParsedCommand(action="resolve", message="all good")


def test_unknown_subcommand_lists_what_exists() -> None:
    with pytest.raises(CommandError) as info:
        p("explode now")
    assert "`explode`" in str(info.value)
    for sub in SUBCOMMANDS:
        assert sub in str(info.value)


def test_usage_errors_name_the_usage() -> None:
    with pytest.raises(CommandError, match="severity SEV"):
        p("severity")
    with pytest.raises(CommandError, match="takes no text"):
        p("ack now please")
    with pytest.raises(CommandError, match="follow-up TITLE"):
        p("follow-up")


def test_help_mentions_every_subcommand() -> None:
    text = help_text("/incident")
    for sub in SUBCOMMANDS:
        assert f"`{sub}" in text


@given(st.text(max_size=300), st.booleans())
def test_any_text_parses_or_gives_a_readable_error(text: str, implied: bool) -> None:
    try:
        cmd = p(text, implied=implied)
    except CommandError as exc:
        assert str(exc).strip()
        assert "Traceback" not in str(exc)
    else:
        assert cmd.action in {*SUBCOMMANDS, "modal"}


@given(
    st.sampled_from(sorted(SUBCOMMANDS)),
    st.lists(st.text(min_size=1, max_size=20).filter(lambda s: s.strip()), max_size=5),
)
def test_known_subcommands_with_random_arguments_never_crash(sub: str, args: list[str]) -> None:
    try:
        cmd = p(" ".join([sub, *args]))
    except CommandError as exc:
        assert str(exc).strip()
    else:
        assert cmd.action in {sub, "modal"}


def test_publish_takes_an_optional_message_and_unpublish_takes_nothing() -> None:
    assert p("publish", implied=True) == ParsedCommand(action="publish")
    assert p("publish Checkout is slow for some customers", implied=True) == ParsedCommand(
        action="publish", message="Checkout is slow for some customers"
    )
    assert p("publish INC-4 We are on it") == ParsedCommand(
        action="publish", ref="INC-4", message="We are on it"
    )
    # Inside the incident channel a leading number is part of the message.
    assert p("publish 5 regions affected", implied=True).message == "5 regions affected"
    assert p("unpublish", implied=True) == ParsedCommand(action="unpublish")
    assert p("unpublish INC-4") == ParsedCommand(action="unpublish", ref="INC-4")
    assert p("unpublish 4") == ParsedCommand(action="unpublish", ref="4")
    with pytest.raises(CommandError, match="`unpublish` takes no text"):
        p("unpublish INC-4 now please")


def test_close_invalid_or_duplicate_and_close_with_a_message_resolves() -> None:
    assert p("close invalid test page", implied=True) == ParsedCommand(
        action="close", resolution="invalid", message="test page"
    )
    assert p("close INC-2 duplicate of #1 same outage") == ParsedCommand(
        action="close",
        ref="INC-2",
        resolution="duplicate",
        duplicate_of="#1",
        message="same outage",
    )
    assert p("close 2 duplicate 1").duplicate_of == "1"
    assert p("close all good", implied=True).action == "resolve"
    assert p("resolve invalid config", implied=True).action == "resolve"
    with pytest.raises(CommandError, match="which incident it duplicates"):
        p("close duplicate soon", implied=True)


def test_edit_opens_the_edit_form_and_takes_no_text() -> None:
    assert p("edit", implied=True) == ParsedCommand(action="modal", form="edit")
    assert p("edit INC-4") == ParsedCommand(action="modal", form="edit", ref="INC-4")
    with pytest.raises(CommandError, match="opens a form"):
        p("edit the title", implied=True)
