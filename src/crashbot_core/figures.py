"""Figures about incidents: metrics over many, and the estimated cost of one.

The metrics come from the store when it offers :class:`~crashbot_core.store.StoreMetrics`
(SQL over covering indexes), else from the pure reference :func:`crashbot_core.metrics.compute`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from crashbot_core import cost, metrics
from crashbot_core.clock import Clock
from crashbot_core.commit import CommitPath
from crashbot_core.config import Config
from crashbot_core.store import IncidentFilter, Store, StoreCapabilities


class Figures:
    """Metrics and cost; ``config`` is replaced when the service's configuration is."""

    def __init__(
        self,
        store: Store,
        capabilities: StoreCapabilities,
        commit: CommitPath,
        clock: Clock,
        config: Config,
    ) -> None:
        self.store = store
        self.capabilities = capabilities
        self.commit = commit
        self.clock = clock
        self.config = config

    def cost(self, incident_id: int | str) -> cost.IncidentCost | None:
        """Each engaged person's time, rate and cost; None when ``[cost]`` sets no rate."""
        rates = self.config.cost
        if rates is None:
            return None
        incident = self.commit.get(incident_id)
        people = cost.engagements(self.store.events(incident.id))
        return cost.IncidentCost(
            rates.currency, cost.breakdown(incident, people, rates, self.clock.now())
        )

    def metrics(
        self,
        /,
        *,
        since: datetime | timedelta | None = None,
        until: datetime | None = None,
        by: str | None = None,
        **criteria: Any,
    ) -> Any:
        """Incident metrics (:class:`crashbot_core.metrics.MetricsReport`).

        :param since: start of the window (an instant, or a look-back like ``timedelta(days=90)``).
        :param by: ``severity``, ``month`` or ``component`` to add per-group figures.
        """
        now = self.clock.now()
        start = now - since if isinstance(since, timedelta) else since
        rates = self.config.cost
        in_store = self.capabilities.metrics
        if in_store is not None:
            return in_store.metrics(
                self.config.severity_policy,
                now=now,
                since=start,
                until=until,
                by=by,
                rates=rates,
                **criteria,
            )
        incidents = self.store.list_incidents(
            IncidentFilter(since=start, until=until, newest_first=False, **criteria)
        )
        # A store without SQL metrics is a small one: read each timeline.
        people = (
            {i.id: cost.engagements(self.store.events(i.id)) for i in incidents if i.counts}
            if rates is not None
            else None
        )
        return metrics.compute(
            incidents,
            self.config.severity_policy,
            now=now,
            since=start,
            until=until,
            by=by,
            rates=rates,
            engagements=people,
        )
