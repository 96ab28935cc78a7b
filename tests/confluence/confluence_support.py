"""Shared by the Confluence tests."""

from __future__ import annotations

#: Namespaces of Confluence's storage format, to parse a page body as XML.
NAMESPACES = {
    "ac": "http://atlassian.com/content",
    "ri": "http://atlassian.com/resource/identifier",
}
