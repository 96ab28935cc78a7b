"""The service facade: one object to build, one method per command.

:class:`Crashbot` is what adapters, plugins and library users hold. It
bootstraps the parts (configuration, plugins, the store and its checked
capabilities) and composes the modules that do the work, each named for its
job and none of them importing this one:

* :mod:`crashbot_core.commands`: lifecycle commands and their commit;
* :mod:`crashbot_core.intake`: alert ingestion, routing and grouping;
* :mod:`crashbot_core.outbox`: deliveries, retries and reminders;
* :mod:`crashbot_core.tokens`: API tokens.

Reads (incidents, timelines, components, metrics) are answered here from the
store.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

import attrs
import pluggy

from crashbot_core import escalation, postmortem, schedule
from crashbot_core.clock import Clock, SystemClock
from crashbot_core.commands import Commands
from crashbot_core.commit import CommitPath
from crashbot_core.config import Config, load_config
from crashbot_core.corrections import Corrections
from crashbot_core.delivery import RetryPolicy
from crashbot_core.errors import ConfigError, CrashbotError
from crashbot_core.figures import Figures
from crashbot_core.hookspecs import AlertSource, PostmortemExporter, hookimpl
from crashbot_core.intake import AlertIntake, IngestResult
from crashbot_core.maintenance import Maintenances
from crashbot_core.models import (
    Actor,
    Alert,
    Component,
    Event,
    FollowUp,
    Incident,
    Reminder,
    ReminderKind,
)
from crashbot_core.outbox import Outbox
from crashbot_core.plugins import collect_sections, get_plugin_manager
from crashbot_core.reads import Reads
from crashbot_core.store import FollowUpFilter, IncidentFilter, Store, StoreCapabilities
from crashbot_core.tokens import Tokens
from crashbot_core.transfer import Transfer

_P = ParamSpec("_P")
_R = TypeVar("_R")


class _delegate(Generic[_P, _R]):
    """A facade method that is one part's method: same signature, same docstring.

    ``declare = _delegate("commands", Commands.declare)`` makes
    ``crashbot.declare(...)`` call ``crashbot.commands.declare(...)``, typed
    as that method is.
    """

    def __init__(self, part: str, method: Callable[Concatenate[Any, _P], _R]) -> None:
        self.part = part
        self.method = method

    @overload
    def __get__(self, obj: None, objtype: type[Any]) -> Callable[Concatenate[Any, _P], _R]: ...

    @overload
    def __get__(self, obj: object, objtype: type[Any] | None = None) -> Callable[_P, _R]: ...

    def __get__(
        self, obj: object | None, objtype: type[Any] | None = None
    ) -> Callable[Concatenate[Any, _P], _R] | Callable[_P, _R]:
        if obj is None:  # on the class: the part's function, for help() and inspect
            return self.method
        bound: Callable[_P, _R] = getattr(getattr(obj, self.part), self.method.__name__)
        return bound


class Crashbot:
    """The incident service. Build it with :meth:`from_config` (or directly in tests).

    :param config: loaded configuration.
    :param store: the store (normally from the ``crashbot_open_store`` hook).
    :param pm: the plugin manager whose hooks receive events.
    :param clock: source of time; inject a :class:`~crashbot_core.clock.FixedClock` in tests.
    :raises ConfigError: the store lacks a capability a configured feature needs.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        pm: pluggy.PluginManager,
        clock: Clock | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.store = store
        self.pm = pm
        self.clock: Clock = clock or SystemClock()
        #: What the store offers beyond :class:`~crashbot_core.store.Store`, checked once.
        self.capabilities = StoreCapabilities.of(store)
        if any(True for _ in self._alert_source_groups()):
            self.capabilities.require(
                "alert_group_commit",
                needed_by="alert intake (an alert source plugin is installed)",
                remedy="disable the alert sources with CRASHBOT_DISABLED_PLUGINS=alerts",
            )
        self.outbox = Outbox(
            store,
            pm,
            self.clock,
            retry_policy or RetryPolicy(horizon=config.delivery_retry_horizon),
            host=self,
        )
        self.commit = CommitPath(config, store, self.capabilities, self.clock, self.outbox)
        self.commands = Commands(config, self.commit)
        self.corrections = Corrections(config, self.commit)
        self.intake = AlertIntake(config, store, self.capabilities, self.clock, self.commit)
        self.tokens = Tokens(store, self.clock, env_token=config.general.api_token)
        self.maintenances = Maintenances(
            config, self.capabilities, self.clock, listeners=self._maintenance_listeners
        )
        self.transfer = Transfer(config, store, self.clock)
        self.reads = Reads(store, self.capabilities, self.commit)
        self.figures = Figures(store, self.capabilities, self.commit, self.clock, config)
        self._config = config

    # ------------------------------------------------------------------ building

    @classmethod
    def from_config(
        cls,
        config: Config | str | None = None,
        *,
        pm: pluggy.PluginManager | None = None,
        clock: Clock | None = None,
        database_url: str | None = None,
    ) -> Crashbot:
        """Build the service: plugins from the entry-point group, config, store.

        :param config: a loaded :class:`Config`, a path to ``crashbot.toml``, or
            None for ``$CRASHBOT_CONFIG`` / ``./crashbot.toml`` / defaults.
        :param database_url: overrides the configured database.
        """
        pm = pm or get_plugin_manager()
        if not isinstance(config, Config):
            config = load_config(config, sections=collect_sections(pm))
        if database_url:
            config = attrs.evolve(
                config, general=attrs.evolve(config.general, database_url=database_url)
            )
        try:
            store = pm.hook.crashbot_open_store(config=config)
        except CrashbotError:
            raise
        except Exception as exc:
            # An unreachable server or unwritable file is a deployment setting
            # to fix, not a crash: one line naming the database (no password).
            where = re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", config.database_url)
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"cannot open database {where!r}: {reason}") from exc
        if store is None:
            raise ConfigError(
                f"no installed plugin can open database {config.database_url!r} "
                "(expected sqlite:///FILE or postgresql+psycopg://…)"
            )
        try:
            return cls(config, store, pm, clock=clock)
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        """Release the store."""
        self.store.close()

    # ------------------------------------------------------------------ settings

    @property
    def config(self) -> Config:
        """The loaded configuration."""
        return self._config

    @config.setter
    def config(self, config: Config) -> None:
        # Every part reads the policy on each command, so a new configuration
        # applies to the next command everywhere at once.
        self._config = config
        self.commit.config = config
        self.commands.config = config
        self.corrections.config = config
        self.figures.config = config
        self.intake.config = config
        self.maintenances.config = config
        self.tokens.env_token = config.general.api_token

    @property
    def policy(self) -> Any:
        """The severity policy (:class:`~crashbot_core.severity.SeverityPolicy`)."""
        return self.config.severity_policy

    @property
    def roles(self) -> Any:
        """The role policy (:class:`~crashbot_core.roles.RolePolicy`)."""
        return self.config.roles

    @property
    def retry_policy(self) -> RetryPolicy:
        """When failed deliveries are tried again."""
        return self.outbox.retry_policy

    @retry_policy.setter
    def retry_policy(self, policy: RetryPolicy) -> None:
        self.outbox.retry_policy = policy

    @property
    def lease(self) -> timedelta:
        """Lease on claimed deliveries and reminders (:data:`crashbot_core.outbox.DEFAULT_LEASE`)."""
        return self.outbox.lease

    @lease.setter
    def lease(self, lease: timedelta) -> None:
        self.outbox.lease = lease

    @property
    def instance_id(self) -> str:
        """Who this service is when it claims outbox rows and reminders."""
        return self.outbox.instance_id

    @property
    def conflicts(self) -> int:
        """Version conflicts met (each one re-ran a command on fresh state)."""
        return self.commit.conflicts

    def now(self) -> datetime:
        """The service clock's current time."""
        return self.clock.now()

    # ------------------------------------------------------------------ reads

    parse_id = _delegate("commit", CommitPath.parse_id)
    get = _delegate("commit", CommitPath.get)

    def list(self, flt: IncidentFilter | None = None, **criteria: Any) -> builtins.list[Incident]:
        """Incidents matching a filter (or :class:`IncidentFilter` keyword arguments)."""
        return self.store.list_incidents(flt or IncidentFilter(**criteria))

    def timeline(
        self, incident_id: int | str, *, public_only: bool = False
    ) -> builtins.list[Event]:
        """The incident's events, oldest first; ``public_only`` for the status page."""
        incident = self.get(incident_id)
        if public_only and not incident.public:
            return []
        return self.store.events(incident.id, public_only=public_only)

    list_public_fields = _delegate("reads", Reads.list_public_fields)
    timelines = _delegate("reads", Reads.timelines)
    incident_record = _delegate("reads", Reads.incident_record)

    def follow_ups(self, incident_id: int | str) -> builtins.list[FollowUp]:
        """The incident's follow-ups."""
        return self.store.follow_ups(self.get(incident_id).id)

    def list_follow_ups(
        self, flt: FollowUpFilter | None = None, **criteria: Any
    ) -> builtins.list[tuple[FollowUp, Incident]]:
        """Follow-ups across incidents, each with its incident (:class:`FollowUpFilter` criteria)."""
        return self.store.list_follow_ups(flt or FollowUpFilter(**criteria))

    def today(self) -> date:
        """Today in the team's time zone (``[crashbot] time_zone``): what "overdue" counts from."""
        return self.now().astimezone(self.config.zone).date()

    def components(self) -> builtins.list[Component]:
        """Components for the status page: the configured ones, then any stored ones."""
        configured = {c.key: c for c in self.config.components}
        stored = [c for c in self.store.components() if c.key not in configured]
        offset = len(configured)
        return list(configured.values()) + [
            attrs.evolve(c, position=c.position + offset) for c in stored
        ]

    cost = _delegate("figures", Figures.cost)
    metrics = _delegate("figures", Figures.metrics)

    # ------------------------------------------------------------------ commands
    #
    # Each is the part's own method: one signature and docstring to keep.

    declare = _delegate("commands", Commands.declare)
    declare_saved = _delegate("commands", Commands.declare_saved)
    acknowledge = _delegate("commands", Commands.acknowledge)
    update = _delegate("commands", Commands.update)
    publish = _delegate("commands", Commands.publish)
    unpublish = _delegate("commands", Commands.unpublish)
    assign_role = _delegate("commands", Commands.assign_role)
    unassign_role = _delegate("commands", Commands.unassign_role)
    set_components = _delegate("commands", Commands.set_components)
    resolve = _delegate("commands", Commands.resolve)
    reopen = _delegate("commands", Commands.reopen)
    link_rca = _delegate("commands", Commands.link_rca)
    add_follow_up = _delegate("commands", Commands.add_follow_up)
    complete_follow_up = _delegate("commands", Commands.complete_follow_up)
    update_follow_up = _delegate("commands", Commands.update_follow_up)
    set_refs = _delegate("commands", Commands.set_refs)
    record = _delegate("commands", Commands.record)
    close_incident = _delegate("corrections", Corrections.close_incident)
    edit = _delegate("corrections", Corrections.edit)
    declare_retrospective = _delegate("corrections", Corrections.declare_retrospective)

    # ------------------------------------------------------------------ maintenance

    schedule_maintenance = _delegate("maintenances", Maintenances.schedule_maintenance)
    update_maintenance = _delegate("maintenances", Maintenances.update_maintenance)
    start_maintenance = _delegate("maintenances", Maintenances.start_maintenance)
    complete_maintenance = _delegate("maintenances", Maintenances.complete_maintenance)
    cancel_maintenance = _delegate("maintenances", Maintenances.cancel_maintenance)
    get_maintenance = _delegate("maintenances", Maintenances.get_maintenance)
    list_maintenances = _delegate("maintenances", Maintenances.list_maintenances)
    run_due_maintenances = _delegate("maintenances", Maintenances.run_due)

    def _maintenance_listeners(self) -> builtins.list[Callable[[Any, Any], None]]:
        def tell(maintenance: Any, update: Any) -> None:
            self.pm.hook.crashbot_maintenance_event(
                crashbot=self, maintenance=maintenance, update=update
            )

        return [tell]

    # ------------------------------------------------------------------ API tokens

    create_token = _delegate("tokens", Tokens.create)
    authenticate = _delegate("tokens", Tokens.authenticate)
    check_scope = _delegate("tokens", Tokens.check_scope)
    list_tokens = _delegate("tokens", Tokens.all)
    revoke_token = _delegate("tokens", Tokens.revoke)

    # ------------------------------------------------------------------ import and export

    import_incidents = _delegate("transfer", Transfer.import_incidents)
    export_records = _delegate("transfer", Transfer.export_records)

    # ------------------------------------------------------------------ alerts

    def _alert_source_groups(self) -> Iterable[AlertSource]:
        for group in self.pm.hook.crashbot_alert_sources():
            yield from group or ()

    def alert_sources(self) -> dict[str, AlertSource]:
        """Alert sources offered by plugins, by name."""
        return {source.name: source for source in self._alert_source_groups()}

    def ingest_alert(self, alert: Alert, *, raw: bytes | None = None) -> IngestResult:
        """Store an alert, then route it (see :meth:`ingest_alerts`)."""
        return self.intake.ingest_alerts([alert], raws=[raw])[0]

    ingest_alerts = _delegate("intake", AlertIntake.ingest_alerts)
    alert_summary = _delegate("intake", AlertIntake.alert_summary)

    # ------------------------------------------------------------------ postmortems

    def postmortem_exporters(self) -> dict[str, PostmortemExporter]:
        """Postmortem exporters offered by plugins, by name."""
        exporters: dict[str, PostmortemExporter] = {}
        for group in self.pm.hook.crashbot_postmortem_exporters():
            for exporter in group or ():
                exporters[exporter.name] = exporter
        return exporters

    def export_postmortem(
        self,
        incident_id: int | str,
        to: str,
        *,
        actor: Actor | None = None,
        out: str | None = None,
    ) -> str:
        """Publish the incident's postmortem with exporter ``to``; returns where it lives.

        Records a ``postmortem_exported`` event and links the published URL as
        the RCA of a resolved incident that has none yet. See
        :func:`crashbot_core.postmortem.export_postmortem`.

        :raises crashbot_core.postmortem.ExportError: the exporter failed; nothing was recorded.
        """
        return postmortem.export_postmortem(self, incident_id, to, actor=actor, out=out)

    # ------------------------------------------------------------------ reminders

    def due_reminders(self) -> builtins.list[tuple[Incident, Reminder]]:
        """Reminders due now: escalation steps, open incidents, recently resolved ones,
        overdue follow-ups."""
        now = self.now()
        recent = now - self.config.rca_due_after - timedelta(days=30)
        candidates = self.store.list_incidents(IncidentFilter(open=True, newest_first=False))
        candidates += [
            i
            for i in self.store.list_incidents(
                IncidentFilter(open=False, since=recent, newest_first=False)
            )
            if i.rca_url is None
        ]
        by_id = {i.id: i for i in candidates}
        due = schedule.due_reminders(
            candidates,
            now,
            self.policy,
            stale_after=self.config.stale_after,
            rca_due_after=self.config.rca_due_after,
        )
        # Escalation steps first: paging someone is what must not wait. A level
        # with steps escalates by them instead of the single "unacknowledged" ping.
        policy = self.config.escalation
        steps = escalation.due_steps(candidates, now, policy)
        due = [
            r
            for r in due
            if r.kind is not ReminderKind.UNACKNOWLEDGED
            or not policy.steps_for(by_id[r.incident_id].severity)
        ]
        found = [(by_id[r.incident_id], r) for r in steps + due]
        if self.config.general.follow_up_reminders:
            late = self.store.list_follow_ups(FollowUpFilter(done=False, due_before=self.today()))
            overdue = schedule.overdue_follow_ups(late, now, self.config.zone)
            incidents = {i.id: i for _, i in late}
            found += [(incidents[r.incident_id], r) for r in overdue]
        return found

    def send_reminder(self, incident: Incident, reminder: Reminder) -> bool:
        """Deliver a reminder exactly once across workers; record it on the timeline.

        See :meth:`crashbot_core.outbox.Outbox.send_reminder`.

        :returns: False when another worker holds or already sent it.
        """
        return self.outbox.send_reminder(incident, reminder, record=self.commands.send_reminder)

    # ------------------------------------------------------------------ delivery

    def defer_deliveries(self) -> None:
        """Leave every delivery to the worker: a command only commits (servers and bots).

        Each commit still writes its delivery rows in its transaction, and
        wakes a worker of this process at once; ``crashbot serve``,
        ``crashbot slack run`` and ``crashbot discord run`` call this, so no
        request waits on a chat, mail or paging API. Without a worker in the
        process, run ``crashbot worker``.
        """
        self.outbox.deferred = True

    deliveries = _delegate("outbox", Outbox.deliveries)
    deferring_deliveries = _delegate("outbox", Outbox.deferring)
    retry_deliveries = _delegate("outbox", Outbox.retry_deliveries)

    def on_event(self, callback: Callable[[Incident, Event], None], name: str | None = None) -> str:
        """Register a callable that receives every event after commit (library use).

        :returns: the plugin name it was registered under (to unregister).
        """

        class _Listener:
            @hookimpl
            def crashbot_incident_event(self, incident: Incident, event: Event) -> None:
                callback(incident, event)

        plugin_name = name or f"listener-{id(callback):x}"
        self.pm.register(_Listener(), name=plugin_name)
        return plugin_name
