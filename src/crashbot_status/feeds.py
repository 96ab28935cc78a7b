"""Atom and RSS feeds and the shields-style badge, as pure functions returning text.

All user text goes through :func:`xml.sax.saxutils.escape` (XML) — titles,
bodies and URLs alike — and entry content is escaped HTML, as feed readers
expect.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape as html_escape
from xml.sax.saxutils import escape, quoteattr

from attrs import frozen

from crashbot_status.public import Overall, PublicIncident, PublicMaintenance, label
from crashbot_status.site import Page


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry_html(p: PublicIncident | PublicMaintenance) -> str:
    """An incident's or maintenance's updates as a small HTML fragment (escaped once more
    by the feed)."""
    parts = []
    if isinstance(p, PublicMaintenance):
        parts.append(
            f"<p><strong>Scheduled maintenance</strong> from {_human(p.scheduled_for)} "
            f"to {_human(p.scheduled_until)}</p>"
        )
    for u in p.updates:
        when = u.at.astimezone(UTC).strftime("%b %d, %H:%M UTC")
        parts.append(
            f"<p><small>{html_escape(when)}</small><br>"
            f"<strong>{html_escape(label(u.status))}</strong> - {html_escape(u.body)}</p>"
        )
    return "".join(parts) or "<p>No public updates yet.</p>"


def _human(value: datetime) -> str:
    return html_escape(value.astimezone(UTC).strftime("%b %d, %H:%M UTC"))


@frozen
class _Entry:
    tag: str
    title: str
    url: str
    published: datetime
    updated: datetime
    html: str


def _entries(
    page: Page,
    incidents: Sequence[PublicIncident],
    maintenances: Sequence[PublicMaintenance],
) -> list[_Entry]:
    """Incidents and maintenances in one list, most recently changed first."""
    out = [
        _Entry(
            f"Incident/{p.id}",
            p.incident.title,
            f"{page.url}/incidents/{p.id}",
            p.incident.declared_at,
            p.updated_at,
            entry_html(p),
        )
        for p in incidents
    ]
    out += [
        _Entry(
            f"Maintenance/{m.id}",
            f"[Maintenance] {m.title}",
            f"{page.url}/maintenance/{m.id}",
            m.created_at,
            m.updated_at,
            entry_html(m),
        )
        for m in maintenances
    ]
    if maintenances:
        out.sort(key=lambda e: e.updated, reverse=True)
    return out


def atom(
    page: Page,
    incidents: Sequence[PublicIncident],
    maintenances: Sequence[PublicMaintenance] = (),
) -> str:
    """An Atom 1.0 feed: one entry per incident and maintenance, newest first."""
    entries = _entries(page, incidents, maintenances)
    updated = max((e.updated for e in entries), default=page.updated_at)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<feed xml:lang="en-US" xmlns="http://www.w3.org/2005/Atom">',
        f"  <id>tag:{escape(page.id)},2026:/history</id>",
        f'  <link rel="alternate" type="text/html" href={quoteattr(page.url + "/")}/>',
        f'  <link rel="self" type="application/atom+xml" href={quoteattr(page.url + "/feed.atom")}/>',
        f"  <title>{escape(page.name)} Status - Incident History</title>",
        f"  <updated>{_iso(updated)}</updated>",
        f"  <author><name>{escape(page.name)}</name></author>",
    ]
    for e in entries:
        lines += [
            "  <entry>",
            f"    <id>tag:{escape(page.id)},2026:{e.tag}</id>",
            f"    <published>{_iso(e.published)}</published>",
            f"    <updated>{_iso(e.updated)}</updated>",
            f'    <link rel="alternate" type="text/html" href={quoteattr(e.url)}/>',
            f"    <title>{escape(e.title)}</title>",
            f'    <content type="html">{escape(e.html)}</content>',
            "  </entry>",
        ]
    lines.append("</feed>")
    return "\n".join(lines) + "\n"


def rss(
    page: Page,
    incidents: Sequence[PublicIncident],
    maintenances: Sequence[PublicMaintenance] = (),
) -> str:
    """An RSS 2.0 feed: one item per incident and maintenance, newest first."""
    entries = _entries(page, incidents, maintenances)
    updated = max((e.updated for e in entries), default=page.updated_at)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">',
        "  <channel>",
        f"    <title>{escape(page.name)} Status - Incident History</title>",
        f"    <link>{escape(page.url + '/')}</link>",
        f"    <description>Statuspage for {escape(page.name)} - incident history</description>",
        f"    <lastBuildDate>{format_datetime(updated.astimezone(UTC), usegmt=True)}</lastBuildDate>",
        f'    <atom:link href={quoteattr(page.url + "/feed.rss")} rel="self" type="application/rss+xml"/>',
    ]
    for e in entries:
        lines += [
            "    <item>",
            f"      <title>{escape(e.title)}</title>",
            f"      <description>{escape(e.html)}</description>",
            f"      <pubDate>{format_datetime(e.published.astimezone(UTC), usegmt=True)}</pubDate>",
            f"      <link>{escape(e.url)}</link>",
            f'      <guid isPermaLink="true">{escape(e.url)}</guid>',
            "    </item>",
        ]
    lines += ["  </channel>", "</rss>"]
    return "\n".join(lines) + "\n"


BADGE_COLORS = {
    Overall.OPERATIONAL: "#2da44e",
    Overall.MAINTENANCE: "#0969da",
    Overall.DEGRADED: "#bf8700",
    Overall.PARTIAL_OUTAGE: "#e8590c",
    Overall.MAJOR_OUTAGE: "#cf222e",
}


def _text_width(text: str) -> int:
    # Verdana 11px averages ~6.5px a character; shields uses measured widths,
    # an estimate is enough for a label this short.
    return int(len(text) * 6.5) + 10


def badge(overall: Overall, label_text: str = "status") -> str:
    """A shields.io-style flat badge: ``status | operational``."""
    value = overall.value
    lw, vw = _text_width(label_text), _text_width(value)
    width = lw + vw
    color = BADGE_COLORS[overall]
    lt, vt = escape(label_text), escape(value)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        f'aria-label="{lt}: {vt}">'
        f"<title>{lt}: {vt}</title>"
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        '<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{width}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/>'
        f'<rect x="{lw}" width="{vw}" height="20" fill="{color}"/>'
        f'<rect width="{width}" height="20" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
        'font-size="11">'
        f'<text x="{lw / 2:.1f}" y="15" fill="#010101" fill-opacity=".3">{lt}</text>'
        f'<text x="{lw / 2:.1f}" y="14">{lt}</text>'
        f'<text x="{lw + vw / 2:.1f}" y="15" fill="#010101" fill-opacity=".3">{vt}</text>'
        f'<text x="{lw + vw / 2:.1f}" y="14">{vt}</text></g></svg>'
    )
