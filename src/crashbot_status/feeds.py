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

from crashbot_status.public import Overall, PublicIncident, label
from crashbot_status.site import Page


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry_html(p: PublicIncident) -> str:
    """An incident's updates as a small HTML fragment (escaped once more by the feed)."""
    parts = []
    for u in p.updates:
        when = u.at.astimezone(UTC).strftime("%b %d, %H:%M UTC")
        parts.append(
            f"<p><small>{html_escape(when)}</small><br>"
            f"<strong>{html_escape(label(u.status))}</strong> - {html_escape(u.body)}</p>"
        )
    return "".join(parts) or "<p>No public updates yet.</p>"


def _updated(p: PublicIncident) -> datetime:
    return p.updated_at


def atom(page: Page, incidents: Sequence[PublicIncident]) -> str:
    """An Atom 1.0 feed: one entry per incident, newest first."""
    updated = max((_updated(p) for p in incidents), default=page.updated_at)
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
    for p in incidents:
        inc = p.incident
        url = f"{page.url}/incidents/{inc.id}"
        lines += [
            "  <entry>",
            f"    <id>tag:{escape(page.id)},2026:Incident/{inc.id}</id>",
            f"    <published>{_iso(inc.declared_at)}</published>",
            f"    <updated>{_iso(_updated(p))}</updated>",
            f'    <link rel="alternate" type="text/html" href={quoteattr(url)}/>',
            f"    <title>{escape(inc.title)}</title>",
            f'    <content type="html">{escape(entry_html(p))}</content>',
            "  </entry>",
        ]
    lines.append("</feed>")
    return "\n".join(lines) + "\n"


def rss(page: Page, incidents: Sequence[PublicIncident]) -> str:
    """An RSS 2.0 feed: one item per incident, newest first."""
    updated = max((_updated(p) for p in incidents), default=page.updated_at)
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
    for p in incidents:
        inc = p.incident
        url = f"{page.url}/incidents/{inc.id}"
        lines += [
            "    <item>",
            f"      <title>{escape(inc.title)}</title>",
            f"      <description>{escape(entry_html(p))}</description>",
            f"      <pubDate>{format_datetime(inc.declared_at.astimezone(UTC), usegmt=True)}</pubDate>",
            f"      <link>{escape(url)}</link>",
            f'      <guid isPermaLink="true">{escape(url)}</guid>',
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
