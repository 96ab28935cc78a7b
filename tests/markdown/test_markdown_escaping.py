"""Property: any user text, escaped with the ``md`` filter, renders as exactly that text."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from crashbot_core.postmortem import md_block, md_inline

MD = MarkdownIt("commonmark").enable("table")

user_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\ufffd"),
    max_size=60,
) | st.lists(
    st.sampled_from(
        [
            "*",
            "_",
            "`",
            "[",
            "]",
            "(",
            ")",
            "<",
            ">",
            "&",
            "#",
            "|",
            "-",
            "+",
            "1.",
            "2)",
            "!",
            "\\",
            "~",
            "=",
            "http://x.example",
            "&amp;",
            " ",
            "\n",
            "<b>",
            "    ",
        ]
    ),
    max_size=12,
).map("".join)


def inline_text(tokens: list[Token]) -> list[str]:
    """Each inline run's text, failing if it holds anything but plain text."""
    out = []
    for t in tokens:
        if t.type == "inline":
            kinds = {c.type for c in t.children or []}
            assert kinds <= {"text"}, kinds
            out.append("".join(c.content for c in t.children or []))
    return out


def expected(text: str) -> str:
    return " ".join(text.split())


@settings(max_examples=300, deadline=None)
@given(user_text)
@example("- item")
@example("1. first")
@example("[a](http://evil.example) <script>x</script> *b* `c` # d | e")
def test_md_renders_as_plain_text_in_a_paragraph_a_list_item_and_a_table_cell(text: str) -> None:
    want = expected(text)
    escaped = md_inline(text)
    assert "\n" not in escaped
    paragraph = MD.parse(escaped + "\n")
    assert inline_text(paragraph) == ([want] if want else [])
    assert [t.type for t in paragraph if t.level == 0][:1] == (["paragraph_open"] if want else [])
    item = MD.parse("- " + escaped + "\n")
    assert [t.type for t in item][:2] == ["bullet_list_open", "list_item_open"]
    assert inline_text(item) == ([want] if want else [])
    table = MD.parse("| a | b |\n| --- | --- |\n| " + escaped + " | z |\n")
    cells = inline_text(table)
    assert cells == ["a", "b", want, "z"]


@settings(max_examples=200, deadline=None)
@given(st.lists(user_text, min_size=1, max_size=4))
def test_md_block_keeps_paragraphs_as_plain_text(paragraphs: list[str]) -> None:
    text = "\n\n".join(paragraphs)
    tokens = MD.parse(md_block(text) + "\n")
    want = [expected(p) for p in text.split("\n\n") if p.strip()]
    got = inline_text(tokens)
    assert " ".join(got) == " ".join(w for w in want if w)
    assert all(t.type in {"paragraph_open", "paragraph_close", "inline"} for t in tokens)
