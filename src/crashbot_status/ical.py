"""``/maintenance.ics``: upcoming maintenance windows as an iCalendar feed (RFC 5545).

Written by hand, as a pure function: the format is small, and its rules are
the ones calendar clients are strict about: CRLF line ends, lines folded at
75 octets (never inside a UTF-8 sequence), ``\\``, ``;``, ``,`` and newlines
escaped in text, times in UTC (``Z``), a stable ``UID`` per maintenance and
a ``SEQUENCE`` that grows with each change so clients replace what they had.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from crashbot_core.models import MaintenanceStatus
from crashbot_status.public import PublicMaintenance
from crashbot_status.site import Page

#: ``PRODID`` of the calendar.
PRODID = "-//crashbot//Scheduled maintenance//EN"
#: Octets per line before folding (RFC 5545 §3.1), without the CRLF.
LINE_OCTETS = 75


def escape_text(value: str) -> str:
    """A TEXT value (RFC 5545 §3.3.11): backslash, semicolon, comma and newlines escaped."""
    out = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    out = out.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    # Other control characters are not allowed in a content line.
    return "".join(ch for ch in out if ch == "\t" or (ord(ch) >= 0x20 and ord(ch) != 0x7F))


def fold(line: str) -> str:
    """One content line folded at 75 octets: CRLF and a space before each continuation."""
    data = line.encode()
    if len(data) <= LINE_OCTETS:
        return line + "\r\n"
    parts: list[str] = []
    current = b""
    limit = LINE_OCTETS
    for ch in line:
        encoded = ch.encode()
        if len(current) + len(encoded) > limit:
            parts.append(current.decode())
            current = b""
            limit = LINE_OCTETS - 1  # the leading space counts
        current += encoded
    parts.append(current.decode())
    return "\r\n ".join(parts) + "\r\n"


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _host(page: Page) -> str:
    url = page.url.split("://", 1)[-1].split("/", 1)[0]
    return url or page.id


def _event(m: PublicMaintenance, page: Page, names: dict[str, str]) -> Iterable[str]:
    comps = ", ".join(names.get(k, k) for k in m.components)
    description = [f"Scheduled maintenance: {m.title}."]
    if comps:
        description.append(f"Affected: {comps}.")
    if m.updates:
        description.append(m.updates[0].body)
    url = f"{page.url}/maintenance/{m.id}"
    description.append(url)
    yield "BEGIN:VEVENT"
    yield f"UID:maintenance-{m.id}@{_host(page)}"
    yield f"DTSTAMP:{_utc(m.updated_at)}"
    yield f"CREATED:{_utc(m.created_at)}"
    yield f"LAST-MODIFIED:{_utc(m.updated_at)}"
    yield f"SEQUENCE:{len(m.updates)}"
    yield f"DTSTART:{_utc(m.scheduled_for)}"
    yield f"DTEND:{_utc(m.scheduled_until)}"
    yield f"SUMMARY:{escape_text(f'[Maintenance] {m.title}')}"
    yield f"DESCRIPTION:{escape_text(chr(10).join(description))}"
    if url.startswith(("http://", "https://")):
        yield f"URL:{url}"
    yield "STATUS:CANCELLED" if m.status is MaintenanceStatus.CANCELLED else "STATUS:CONFIRMED"
    yield "TRANSP:TRANSPARENT"
    yield "END:VEVENT"


def calendar(
    page: Page, maintenances: Sequence[PublicMaintenance], names: dict[str, str] | None = None
) -> str:
    """The ``VCALENDAR`` text with one ``VEVENT`` per maintenance, in the order given."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(f'{page.name} maintenance')}",
    ]
    for m in maintenances:
        lines.extend(_event(m, page, names or {}))
    lines.append("END:VCALENDAR")
    return "".join(fold(line) for line in lines)
