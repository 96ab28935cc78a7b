"""Reading what the public site shows from the service, through the public gates only."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from attrs import frozen

from crashbot_core.models import Component, Incident, MaintenanceStatus
from crashbot_core.service import Crashbot
from crashbot_core.severity import SeverityPolicy
from crashbot_core.store import IncidentFilter
from crashbot_status import public
from crashbot_status.public import ComponentView, Overall, PublicIncident, PublicMaintenance

#: Days of past incidents listed on the front page.
PAST_DAYS = 7
#: Incidents per page of ``/history``.
HISTORY_PAGE_SIZE = 25
#: Incidents in the feeds and in Statuspage's ``incidents.json``.
FEED_SIZE = 50
#: Maintenances read for the front page's bars (newest windows first): far
#: more than 90 days hold in practice.
MAINTENANCE_WINDOW = 500
#: Public incidents kept between renders (see :class:`Site`); past it, the memo starts afresh.
MEMO_SIZE = 50_000


@frozen
class Page:
    """Page-level facts: name, URL, last change."""

    id: str
    name: str
    url: str
    updated_at: datetime
    time_zone: str = "Etc/UTC"


@frozen
class Overview:
    """Everything the front page and ``summary.json`` need."""

    page: Page
    now: datetime
    overall: Overall
    components: tuple[ComponentView, ...]
    open: tuple[PublicIncident, ...]
    recent: tuple[PublicIncident, ...]
    #: Maintenances in progress or verifying, then scheduled ones (soonest first).
    maintenances: tuple[PublicMaintenance, ...] = ()

    #: Listed maintenances, newest window first (up to :data:`MAINTENANCE_WINDOW`).
    listed: tuple[PublicMaintenance, ...] = ()

    @property
    def active_maintenances(self) -> tuple[PublicMaintenance, ...]:
        """Maintenances going on now (the "Under maintenance" banner)."""
        return tuple(m for m in self.maintenances if m.is_active)

    @property
    def upcoming_maintenances(self) -> tuple[PublicMaintenance, ...]:
        """Scheduled maintenances, soonest first."""
        return tuple(m for m in self.maintenances if not m.is_active)


def current_first(maintenances: Iterable[PublicMaintenance]) -> list[PublicMaintenance]:
    """The active ones, then the scheduled ones, each soonest first; the rest left out."""
    ordered = sorted(maintenances, key=lambda m: (m.scheduled_for, m.id))
    return [m for m in ordered if m.is_active] + [
        m for m in ordered if m.status is MaintenanceStatus.SCHEDULED
    ]


def _slug(text: str) -> str:
    out = "".join(ch.lower() if ch.isalnum() else "-" for ch in text).strip("-")
    return "-".join(p for p in out.split("-") if p) or "status"


class Site:
    """Public reads over one :class:`Crashbot`. Never returns private data."""

    def __init__(self, crashbot: Crashbot, base_url: Callable[[], str] | None = None) -> None:
        self.crashbot = crashbot
        # Public faces and public incidents with their updates, kept between
        # renders by (id, version): every write to an incident moves its
        # version, so an entry never goes stale, and the render after a
        # change rebuilds only the incidents that changed.
        self._faces: dict[tuple[int, int], Incident] = {}
        self._updated: dict[tuple[int, int], PublicIncident] = {}
        self._encoded: dict[tuple[str, int, int], bytes] = {}
        self._memo_config: object = None
        #: The start of absolute links for what is being rendered now (see
        #: :mod:`crashbot_status.links`); by default the configured public URL.
        self.base_url: Callable[[], str] = base_url or (lambda: crashbot.config.public_url)

    @property
    def policy(self) -> SeverityPolicy:
        """The severity policy."""
        policy: SeverityPolicy = self.crashbot.policy
        return policy

    def now(self) -> datetime:
        """The service's clock."""
        return self.crashbot.now()

    def _list(self, **criteria: object) -> list[Incident]:
        found = self.crashbot.list_public_fields(
            IncidentFilter(public=True, counts=True, **criteria)  # type: ignore[arg-type]
        )
        # The store filter is the first gate; this is the second, so a store
        # bug can never leak a private incident.
        return [self._face(i) for i in found if public.is_public(i)]

    def _face(self, incident: Incident) -> Incident:
        config = self.crashbot.config
        if config is not self._memo_config or len(self._faces) > MEMO_SIZE:
            # Faces and encodings depend on the config ([alerts], severities,
            # base URL): a new one starts afresh.
            self._faces, self._updated, self._encoded = {}, {}, {}
            self._memo_config = config
        key = (incident.id, incident.version)
        face = self._faces.get(key)
        if face is None:
            face = public.public_face(incident, config.alerts)
            self._faces[key] = face
        return face

    def encoded(self, kind: str, p: PublicIncident, encode: Callable[[], bytes]) -> bytes:
        """``encode()``, kept by (``kind``, id, version): one incident's share of a big body.

        ``/api/list`` carries every public incident; after a change, only the
        incidents that changed are encoded again.
        """
        key = (kind, p.incident.id, p.incident.version)
        if len(self._encoded) > MEMO_SIZE:
            self._encoded = {}
        found = self._encoded.get(key)
        if found is None:
            found = encode()
            if p.incident is self._faces.get(key[1:]):  # the memoised face: a known version
                self._encoded[key] = found
        return found

    def with_updates(self, incidents: Sequence[Incident]) -> list[PublicIncident]:
        """Attach each incident's public updates (newest first); give it public faces only."""
        known = self._updated
        missing = [
            i.id for i in incidents if (i.id, i.version) not in known and public.is_public(i)
        ]
        # One query for all of them (BulkReads): a render costs the same number
        # of statements for ten incidents as for ten thousand.
        timelines = self.crashbot.timelines(missing, public_only=True) if missing else {}
        out = []
        for inc in incidents:
            key = (inc.id, inc.version)
            found = known.get(key)
            if found is None or (found.incident is not inc and found.incident != inc):
                found = PublicIncident(inc, public.public_updates(inc, timelines.get(inc.id, ())))
                if inc.id in timelines:
                    known[key] = found
            out.append(found)
        return out

    def maintenances(
        self, *statuses: MaintenanceStatus, limit: int | None = FEED_SIZE
    ) -> list[PublicMaintenance]:
        """Listed maintenances (never cancelled ones), newest window first, through the gate."""
        wanted = statuses or public.LISTED_MAINTENANCE
        found = self.crashbot.list_maintenances(statuses=wanted, limit=limit)
        return [public.public_maintenance(m) for m in found if m.status in wanted]

    def maintenance(self, maintenance_id: int) -> PublicMaintenance | None:
        """One maintenance (cancelled ones too) for its own page; None when there is none."""
        if not self.crashbot.maintenances.available:
            return None
        found = self.crashbot.maintenances.store.get_maintenance(maintenance_id)
        return None if found is None else public.public_maintenance(found)

    def current_maintenances(self) -> list[PublicMaintenance]:
        """Active ones, then scheduled ones soonest first (the front page, ``summary.json``)."""
        return current_first(
            self.maintenances(
                MaintenanceStatus.IN_PROGRESS,
                MaintenanceStatus.VERIFYING,
                MaintenanceStatus.SCHEDULED,
                limit=None,
            )
        )

    def page(
        self,
        incidents: Sequence[Incident | PublicIncident] = (),
        maintenances: Sequence[PublicMaintenance] = (),
    ) -> Page:
        """Page facts; ``updated_at`` is the latest public change among ``incidents``.

        With their public updates attached, an incident counts from its newest
        update; without, from its declaration or resolution. With no incident,
        the start of today (UTC), when the uptime bars last moved.
        """
        general = self.crashbot.config.general
        stamps = [
            i.updated_at if isinstance(i, PublicIncident) else public.public_stamp(i)
            for i in incidents
        ] + [m.updated_at for m in maintenances]
        if stamps:
            updated = max(stamps)
        else:
            n = self.now().astimezone(UTC)
            updated = n.replace(hour=0, minute=0, second=0, microsecond=0)
        return Page(
            id=_slug(general.name),
            name=general.name,
            url=self.base_url(),
            updated_at=updated,
        )

    def components(
        self, incidents: Sequence[Incident], maintenances: Sequence[PublicMaintenance] = ()
    ) -> list[Component]:
        """Declared components plus any a public incident or listed maintenance names."""
        return public.all_components(self.crashbot.components(), incidents, maintenances)

    def overview(self, *, past_days: int = PAST_DAYS) -> Overview:
        """Front page data: open incidents, the last ``past_days`` days, 90-day uptime."""
        now = self.now()
        window = now - timedelta(days=public.UPTIME_DAYS + 1)
        open_ = self._list(open=True, newest_first=True)
        history = self._list(since=window, newest_first=True)
        # An incident that started before the window but is still open (or
        # resolved inside it) still colours the bars.
        seen = {i.id for i in history}
        older = [
            i for i in self._list(until=window, open=False, active_since=window) if i.id not in seen
        ]
        all_recent = history + [i for i in open_ if i.id not in seen] + older
        # One read: the newest windows first, so every scheduled and running
        # one is among them, and the ones that colour the bars.
        listed = self.maintenances(limit=MAINTENANCE_WINDOW)
        planned = [m for m in listed if (m.completed_at or m.scheduled_until) >= window]
        comps = self.components(all_recent, planned)
        views = public.component_views(comps, all_recent, now=now, maintenances=planned)
        current = current_first(listed)
        cutoff = (now.astimezone(UTC) - timedelta(days=past_days - 1)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        past = [i for i in history if not i.is_open and i.started_at >= cutoff]
        shown = self.with_updates(open_ + past)
        ids = {p.id for p in shown}
        return Overview(
            page=self.page([*shown, *(i for i in all_recent if i.id not in ids)], current),
            now=now,
            overall=public.overall_status(open_, self.policy, current),
            components=tuple(views),
            open=tuple(shown[: len(open_)]),
            recent=tuple(shown[len(open_) :]),
            maintenances=tuple(current),
            listed=tuple(listed),
        )

    def open_incidents(self) -> list[Incident]:
        """Open public incidents, newest first."""
        return self._list(open=True, newest_first=True)

    def incident(self, incident_id: int) -> PublicIncident | None:
        """One public incident with its updates; None when missing or private."""
        inc = self.crashbot.store.get_incident(incident_id)
        if inc is None or not public.is_public(inc):
            return None
        return self.with_updates([self._face(inc)])[0]

    def history(self, page: int, *, size: int = HISTORY_PAGE_SIZE) -> tuple[list[Incident], int]:
        """One page (1-based) of public incidents, newest first, and the number of pages."""
        total = self.crashbot.store.count_incidents(IncidentFilter(public=True, counts=True))
        pages = max(1, -(-total // size))
        items = self._list(limit=size, offset=(page - 1) * size, newest_first=True)
        return items, pages

    def latest(self, limit: int = FEED_SIZE) -> list[PublicIncident]:
        """The newest public incidents with updates (feeds, ``incidents.json``)."""
        return self.with_updates(self._list(limit=limit, newest_first=True))

    def everything(self) -> tuple[list[PublicIncident], list[PublicIncident]]:
        """All public incidents with updates: (open, closed), newest first (``/api/list``)."""
        every = self.with_updates(self._list(newest_first=True))
        return [p for p in every if p.incident.is_open], [
            p for p in every if not p.incident.is_open
        ]

    def all_ids(self) -> list[int]:
        """Ids of every public incident (for the static export)."""
        return [i.id for i in self._list(newest_first=True)]
