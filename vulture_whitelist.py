"""Names vulture cannot see used: read by templates, called by a framework, or public API.

`tox -e lint` runs vulture (settings in pyproject.toml's [tool.vulture]) and
fails on dead code. Decorated entry points (hooks, routes, click commands,
listeners) are skipped by decorator there; this file lists the rest, each
with where its use is. Add a line only with such a reason: anything else
vulture reports is to be deleted.
"""

# ruff: noqa
# mypy: ignore-errors

_ = object()

# -- read by Jinja2 templates ----------------------------------------------------------------
# postmortem.md.j2, postmortem.xhtml.j2, postmortem_issue.md.j2 (crashbot_core.postmortem.Postmortem)
_.impact_label
generated_at
root_cause
what_went_well
what_went_wrong
_.time_to_acknowledge
_.time_to_mitigate
_.time_to_detect
_.duration
_.open_follow_ups
# index.html: the banner and the uptime bars (crashbot_status.public)
_.css
down_minutes

# -- called or set for a framework --------------------------------------------------------------
_.max_content_length  # Flask request body limit (crashbot_alerts.web)
_.is_disconnect  # SQLAlchemy ExceptionContext: drop the pool (crashbot_sqlalchemy.engine)
connection_record  # SQLAlchemy "connect" listener signature
proxy  # SQLAlchemy pool "checkout" listener signature
_.isolation_level  # sqlite3 connection attribute (crashbot_sqlalchemy.engine)
cache_ok  # SQLAlchemy TypeDecorator (crashbot_sqlalchemy.schema)
_.load_dialect_impl
_.process_bind_param
_.process_result_value
frame  # signal handler signature (cli admin worker, status serve)
signum
_.param_hint  # click.BadParameter attribute (crashbot_core.cli.follow_ups)
objtype  # descriptor protocol __get__(obj, objtype) (crashbot_core.service._delegate)
_.collect  # prometheus_client custom collector (crashbot_status.prom)
_.to_python  # werkzeug URL converter (crashbot_status.views.BoundedInt)
_.on_submit  # discord.ui.Modal callbacks (crashbot_discord.bot)
_.from_custom_id  # discord.ui.DynamicItem (crashbot_discord.bot)
_.on_error  # discord.app_commands.CommandTree error handler
_.setup_hook  # discord.Client startup hook
_.on_raw_reaction_add  # discord.Client gateway event (crashbot_discord.bot: react-to-create)
_.BASE  # discord.http.Route.BASE, pointed at a configured API base URL
CONFIG_KWARGS  # uvicorn_worker.UvicornWorker's uvicorn settings (crashbot_status.serving)
_.timeout_graceful_shutdown  # uvicorn Config attribute (crashbot_status.serving.StatusWorker)
handle_cld  # gunicorn Arbiter dispatches SIGCHLD to handle_cld or handle_chld
reloading_app  # uvicorn factory by name: "crashbot_status.serving:reloading_app" (serve --reload)

_.active_maintenances  # Overview properties read by templates/index.html
_.upcoming_maintenances
# crashbot_core.service: _delegate("reads", ...) reaches the part by its attribute name
_.reads

# -- public API for library users, plugin authors and deployments ---------------------------------
_.ingest_alert  # Crashbot.ingest_alert: docs/library.md
_.on_event  # Crashbot.on_event: docs/library.md, docs/plugins.md
_.is_more_severe  # SeverityPolicy helpers: docs/library.md
_.with_levels
_.alert_raw  # SqlStore.alert_raw: the raw body an alert arrived with, for operators
Recorder  # crashbot_core.testing: docs/plugins.md "Testing a plugin"
registered
make_crashbot
postgres_url
create_asgi_app  # gunicorn 'crashbot_status.asgi:create_asgi_app()': docs/deployment.md
maintenance_notice  # crashbot_email.fanout: the maintenance extension point (docs/status-page.md)
component_names  # crashbot_email Notice: read by templates/mail/notice.*.j2
_known  # crashbot_email Notice: attrs validator of `kind`
