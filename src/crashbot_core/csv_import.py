"""Incidents from a spreadsheet (``crashbot import csv FILE``).

One incident per row; the first row names the columns (any order, any case;
unknown columns are refused so a typo does not silently drop data). The
columns are documented in ``docs/import-export.md``:

``title`` and ``started_at`` are required; ``id``, ``severity``, ``status``,
``declared_at``, ``acknowledged_at``, ``mitigated_at``, ``resolved_at``,
``components``, ``description``, ``public`` and ``rca_url`` are optional.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Iterator
from datetime import datetime

from crashbot_core.errors import InvalidInput
from crashbot_core.inputs import clean_components, clean_url, parse_date_or_instant
from crashbot_core.models import Impact, Status
from crashbot_core.transfer import ImportedIncident

#: Every column the importer reads.
COLUMNS = (
    "id",
    "title",
    "severity",
    "status",
    "started_at",
    "declared_at",
    "acknowledged_at",
    "mitigated_at",
    "resolved_at",
    "components",
    "description",
    "public",
    "rca_url",
)
_REQUIRED = ("title", "started_at")
_TRUE = {"true", "yes", "y", "1", "public"}
_FALSE = {"false", "no", "n", "0", "private", ""}


def read_csv(lines: Iterable[str], *, default_severity: str) -> Iterator[ImportedIncident]:
    """Parse the rows of a CSV file into incidents.

    :raises InvalidInput: naming the row and column of the first bad value.
    """
    reader = csv.DictReader(lines)
    header = [h.strip().lower() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise InvalidInput(
            f"unknown CSV column(s) {', '.join(unknown)}; known: {', '.join(COLUMNS)}"
        )
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise InvalidInput(f"the CSV file lacks the column(s) {', '.join(missing)}")
    reader.fieldnames = header
    for row in reader:
        line = reader.line_num
        values = {k: (v or "").strip() for k, v in row.items() if k is not None}
        try:
            yield _incident(values, default_severity)
        except InvalidInput as exc:
            raise InvalidInput(f"line {line}: {exc.message}") from None


def _when(values: dict[str, str], column: str) -> datetime | None:
    text = values.get(column, "")
    if not text:
        return None
    try:
        return parse_date_or_instant(text)
    except InvalidInput as exc:
        raise InvalidInput(f"{column}: {exc.message}") from None


def _incident(values: dict[str, str], default_severity: str) -> ImportedIncident:
    title = values.get("title", "")
    if not title:
        raise InvalidInput("title is empty")
    started = _when(values, "started_at")
    if started is None:
        raise InvalidInput("started_at is empty")
    resolved = _when(values, "resolved_at")
    status_text = values.get("status", "").lower()
    if status_text:
        try:
            status = Status(status_text)
        except ValueError:
            allowed = ", ".join(s.value for s in Status)
            raise InvalidInput(f"status {status_text!r} is not one of {allowed}") from None
    else:
        status = Status.RESOLVED if resolved else Status.INVESTIGATING
    if status is Status.RESOLVED and resolved is None:
        raise InvalidInput("a resolved incident needs resolved_at")
    public_text = values.get("public", "").lower()
    if public_text not in _TRUE | _FALSE:
        raise InvalidInput(f"public {public_text!r} is not true or false")
    components: dict[str, Impact | str] = {}
    for part in values.get("components", "").replace(";", " ").replace(",", " ").split():
        key, _, impact = part.partition("=")
        components[key] = impact or Impact.MAJOR_OUTAGE
    rca = values.get("rca_url", "")
    # A row without an id is known by its title and start, so a re-import finds it.
    ident = (
        values.get("id")
        or hashlib.sha256(f"{title}\n{started.isoformat()}".encode()).hexdigest()[:16]
    )
    return ImportedIncident(
        key=f"csv:{ident}",
        title=title,
        severity=values.get("severity") or default_severity,
        status=status,
        declared_at=_when(values, "declared_at") or started,
        started_at=started,
        acknowledged_at=_when(values, "acknowledged_at"),
        mitigated_at=_when(values, "mitigated_at"),
        resolved_at=resolved if status is Status.RESOLVED else None,
        description=values.get("description", ""),
        components=clean_components(components),
        rca_url=clean_url(rca) if rca else None,
        public=public_text in _TRUE,
    )
