"""Read pytest's JUnit report after CI's run and fail on what a green run could hide.

Exits 1 when a test failed, when no PostgreSQL test ran, or when a test was
skipped for want of PostgreSQL, a browser or nginx (CI provides them). Prints the
totals as its last line: ``pytest: N passed, N failed, N skipped``.

Usage: ``python3 .ci/check_junit.py REPORT.xml``
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

#: Words in a skip reason that mean "a service CI provides was missing".
NEEDED = ("postgres", "chromium", "browser", "playwright", "nginx")


def _name(case: ET.Element) -> str:
    return f"{case.get('classname')}::{case.get('name')}"


def _skip_reason(case: ET.Element) -> str:
    skipped = case.find("skipped")
    if skipped is None:
        return ""
    return f"{skipped.get('message') or ''} {skipped.text or ''}".strip()


def check(path: str) -> int:
    """Print the problems and totals; return the exit status."""
    cases = list(ET.parse(path).getroot().iter("testcase"))
    failed = [c for c in cases if c.find("failure") is not None or c.find("error") is not None]
    skipped = [c for c in cases if c.find("skipped") is not None]
    passed = len(cases) - len(failed) - len(skipped)
    postgres_ran = [
        c for c in cases if "postgres" in (c.get("name") or "").lower() and c not in skipped
    ]
    problems = []
    if not postgres_ran:
        problems.append("no PostgreSQL test ran (expected test ids with [postgresql])")
    for c in skipped:
        reason = _skip_reason(c)
        if any(word in reason.lower() for word in NEEDED):
            problems.append(f"skipped although CI provides its service: {_name(c)}: {reason}")
    for line in problems:
        print(f".ci/run: {line}", file=sys.stderr)
    print(f"PostgreSQL tests run: {len(postgres_ran)}")
    print(f"pytest: {passed} passed, {len(failed)} failed, {len(skipped)} skipped")
    return 1 if problems or failed else 0


if __name__ == "__main__":
    sys.exit(check(sys.argv[1]))
