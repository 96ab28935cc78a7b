"""Property: whatever users type, the storage-format page is well-formed XML holding their text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

from confluence_support import NAMESPACES
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support import ALICE, T0

from crashbot_confluence import render_storage
from crashbot_core.models import Event, EventKind, FollowUp, Incident, Status
from crashbot_core.postmortem import assemble
from crashbot_core.severity import DEFAULT_POLICY

text = st.text(max_size=80) | st.sampled_from(
    ["]]>", "<![CDATA[x]]>", "&nbsp;", "&amp;", "\"'<>&", "<ac:macro/>", "\x00\x1f\ufffe"]
)


def parse(value: str) -> ET.Element:
    decl = " ".join(f'xmlns:{p}="{uri}"' for p, uri in NAMESPACES.items())
    return ET.fromstring(f"<root {decl}>{value}</root>")


def strip_invalid(value: str) -> str:
    """What XML can carry: control characters (but tab and line ends) and U+FFFE/FFFF dropped."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(c for c in value if c in "\t\n" or (ord(c) >= 0x20 and c not in "\ufffe\uffff"))


@settings(max_examples=100, deadline=None)
@given(title=text, message=text, follow_up=text)
@example(title="a\r\nb", message="c\rd\r\n", follow_up="\x0bx\ufffe")
def test_storage_format_parses_as_xml_and_keeps_user_text(
    title: str, message: str, follow_up: str
) -> None:
    incident = Incident(
        id=1,
        ref="INC-1",
        title=title,
        description=message,
        severity="SEV1",
        status=Status.RESOLVED,
        declared_at=T0,
        started_at=T0,
        resolved_at=T0 + timedelta(minutes=5),
    )
    events = [
        Event(kind=EventKind.DECLARED, at=T0, actor=ALICE, data={"title": title}, id=1),
        Event(kind=EventKind.UPDATE_POSTED, at=T0, actor=ALICE, data={"message": message}, id=2),
    ]
    fus = [FollowUp(incident_id=1, title=follow_up, created_at=T0, id=1)]
    pm = assemble(incident, events, fus, policy=DEFAULT_POLICY, now=T0)
    root = parse(render_storage(pm))
    cells = ["".join(td.itertext()) for td in root.iter("td")]
    assert f"Internal update: {strip_invalid(message)}" in cells
    assert strip_invalid(follow_up) in cells
    assert not [e for e in root.iter() if e.tag not in ALLOWED]


ALLOWED = {
    "root",
    "p",
    "br",
    "strong",
    "em",
    "table",
    "tbody",
    "tr",
    "th",
    "td",
    "h2",
    "ul",
    "li",
    "a",
    "time",
    "{http://atlassian.com/content}structured-macro",
    "{http://atlassian.com/content}parameter",
    "{http://atlassian.com/content}rich-text-body",
}
