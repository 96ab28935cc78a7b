"""The document's patterns and the core's checks agree: what the document allows, the core accepts.

The admin API refuses whatever ``/api/openapi.json`` forbids before the core
sees it; these properties hold the other half, so a schema-valid request
never meets a 422 from deeper down.
"""

from __future__ import annotations

import re
from datetime import UTC

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crashbot_core import inputs
from crashbot_core.durations import parse_since
from crashbot_core.errors import InvalidInput
from crashbot_core.inputs import INSTANT_PATTERN, parse_instant
from crashbot_core.severity import DEFAULT_POLICY
from crashbot_status.openapi import RequestRules, document, id_param, severity_schema

DOC = document()
SEVERITY = severity_schema(DEFAULT_POLICY)["pattern"]


def no_surrogates(text: str) -> bool:
    return not re.search(r"[\ud800-\udfff]", text)


@settings(max_examples=300)
@given(st.from_regex(SEVERITY).filter(lambda s: len(s) <= 64))
def test_every_severity_the_document_allows_is_one_the_policy_parses(text: str) -> None:
    DEFAULT_POLICY.parse(text)


@settings(max_examples=300)
@given(st.from_regex(inputs.VISIBLE_PATTERN).filter(no_surrogates))
def test_every_title_the_document_allows_is_one_the_core_accepts(text: str) -> None:
    if len(text) <= inputs.MAX_TITLE:
        assert inputs.clean_title(text)


@settings(max_examples=300)
@given(st.from_regex(inputs.URL_PATTERN).filter(lambda s: len(s) <= inputs.MAX_URL))
def test_every_url_the_document_allows_is_one_the_core_accepts(text: str) -> None:
    assert inputs.clean_url(text) == text.strip()


@settings(max_examples=300)
@given(st.from_regex(INSTANT_PATTERN))
def test_an_instant_matching_the_pattern_parses_or_is_an_impossible_date(text: str) -> None:
    # The format checker (parse_instant) decides; nothing else may escape, and what it
    # returns stays inside what datetime arithmetic (windows, offsets) can hold.
    try:
        value = parse_instant(text)
    except InvalidInput:
        return
    assert value.tzinfo is UTC and 1899 <= value.year <= 3000


@settings(max_examples=200)
@given(st.from_regex(id_param("INC")["schema"]["pattern"]))
def test_every_id_the_document_allows_parses_to_a_number(text: str) -> None:
    assert re.search(r"[0-9]+$", text.rstrip("\n"))


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("Check\x00out  down", "Checkout down"),
        ("a\tb\nc", "a b c"),
        ("\x1b[1mbold", "[1mbold"),
        ("zero\u200bwidth", "zero\u200bwidth"),
    ],
)
def test_titles_lose_control_characters_and_extra_space(text: str, clean: str) -> None:
    assert inputs.clean_title(text) == clean


def test_text_keeps_newlines_and_tabs_but_no_other_control_characters() -> None:
    assert inputs.clean_text("a\x00b\n\tc\x7f", "message") == "ab\n\tc"


@pytest.mark.parametrize("text", ["bad \ud800", "\udfff"])
def test_lone_surrogates_are_refused_on_every_surface(text: str) -> None:
    with pytest.raises(InvalidInput, match="surrogate"):
        inputs.clean_title(text)
    with pytest.raises(InvalidInput, match="surrogate"):
        inputs.clean_text(text, "message")
    with pytest.raises(InvalidInput, match="surrogate"):
        inputs.clean_labels({text: "v"})


@pytest.mark.parametrize(
    "url", ["http://[::1", "http://[::1]/", "ftp://x", "https://", "https://a b/", "//x"]
)
def test_urls_outside_the_pattern_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="not an http"):
        inputs.clean_url(url)


def test_look_back_windows_stop_at_ten_thousand_weeks() -> None:
    assert parse_since("9999w").days == 9999 * 7
    with pytest.raises(InvalidInput, match="too long"):
        parse_since("3000000d")


def test_request_rules_cover_every_admin_write() -> None:
    rules = RequestRules(DOC)
    for path, method in [
        ("/api/incidents", "POST"),
        ("/api/incidents/{incident_id}", "PATCH"),
        ("/api/incidents/{incident_id}/updates", "POST"),
        ("/api/incidents/{incident_id}/resolve", "POST"),
        ("/api/incidents/{incident_id}/rca", "POST"),
    ]:
        with pytest.raises(InvalidInput, match="unexpected"):
            rules.check_body(
                path, method, {"title": "x", "message": "m", "url": "https://x", "zz": 1}
            )
