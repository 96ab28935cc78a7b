"""Bot mode: ``/incident`` application commands, digest buttons and modals (discord.py).

Every listener is thin: parse the interaction → one :class:`Crashbot` call →
an ephemeral reply. The service call runs in a worker thread (database I/O),
so the gateway's event loop never blocks, and Discord is answered only once
it has returned: the change is committed before Discord shows the command
as done, so a bot killed the moment after loses nothing it confirmed. What
the commit sets off in chat (the incident thread, the digest) is delivered
by the outbox, not by the listener.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import date
from typing import Any, ClassVar, Self

import discord
from discord import app_commands

from crashbot_core.errors import CrashbotError, InvalidInput
from crashbot_core.models import Actor, Incident, Status
from crashbot_core.service import Crashbot
from crashbot_core.store import IncidentFilter
from crashbot_discord import reactions, render
from crashbot_discord.notify import THREAD_REF
from crashbot_discord.settings import DEFAULT_API_URL, DiscordSettings

log = logging.getLogger("crashbot.discord")

#: Discord shows at most 25 autocomplete choices, names ≤ 100 characters.
MAX_CHOICES = 25
#: Modals not submitted within this many seconds are forgotten.
MODAL_TIMEOUT = 900.0


def actor_of(user: discord.abc.User) -> Actor:
    """The crashbot actor for a Discord user."""
    return Actor(platform="discord", id=str(user.id), name=user.display_name)


def crashbot_of(interaction: discord.Interaction[Any]) -> Crashbot:
    """The service the receiving client serves."""
    client = interaction.client
    assert isinstance(client, CrashbotDiscord)
    return client.crashbot


def parse_bool(text: str, what: str) -> bool | None:
    """``yes``/``no`` (and friends) from a modal's text box; empty is None."""
    value = text.strip().lower()
    if not value:
        return None
    if value in {"yes", "y", "true", "public", "1"}:
        return True
    if value in {"no", "n", "false", "private", "internal", "0"}:
        return False
    raise InvalidInput(f"{what}: expected yes or no, found {text!r}")


def incident_line(crashbot: Crashbot, incident: Incident) -> str:
    """``**INC-3** Checkout down — investigating, SEV2 · <#thread>`` for replies."""
    line = f"**{incident.ref}** {incident.title} — {incident.status.value}, {incident.severity}"
    thread = crashbot.get(incident.id).refs.get(THREAD_REF)
    if thread:
        line += f" · <#{thread}>"
    return line


#: How long a command may run before Discord is asked to wait; it allows 3 s
#: for the first answer. A commit takes milliseconds: this is for a store or
#: an inline delivery having a bad moment.
DEFER_AFTER = 2.0


def _outcome(interaction_id: int, command: Callable[[], str]) -> str:
    try:
        return command()
    except CrashbotError as exc:
        return f"⚠️ {exc.message}"
    except Exception:
        log.exception("Discord interaction %s failed", interaction_id)
        return "⚠️ Something went wrong on our side; the error was logged."


async def run_command(interaction: discord.Interaction[Any], command: Callable[[], str]) -> None:
    """Run ``command`` (one service call, committed when it returns) off the loop, then answer.

    The ephemeral answer is the interaction's response, sent after the
    commit. Should the call outlast :data:`DEFER_AFTER`, the interaction is
    deferred first ("thinking…", which claims nothing) so that its token stays
    valid, and the answer then replaces it. A domain error (unknown incident,
    illegal transition, bad value) is shown to the user as the reason;
    anything else is logged and shown as a short apology, never a traceback.
    """
    quiet = discord.AllowedMentions.none()
    work = asyncio.ensure_future(asyncio.to_thread(_outcome, interaction.id, command))
    try:
        text = await asyncio.wait_for(asyncio.shield(work), DEFER_AFTER)
    except TimeoutError:
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await work
        await interaction.edit_original_response(
            content=render.cut(text, 2000), allowed_mentions=quiet
        )
        return
    await interaction.response.send_message(
        render.cut(text, 2000), ephemeral=True, allowed_mentions=quiet
    )


async def reply_error(interaction: discord.Interaction[Any], message: str) -> None:
    """An immediate ephemeral explanation (when no service call is needed to know it)."""
    await interaction.response.send_message(
        f"⚠️ {message}", ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
    )


# ---------------------------------------------------------------------------
# Autocompletion
# ---------------------------------------------------------------------------


def _matches(current: str, *names: str) -> bool:
    needle = current.strip().lower()
    return not needle or any(needle in n.lower() for n in names)


async def complete_incident(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Open incidents, newest first, matching what was typed (ref, number or title)."""
    crashbot = crashbot_of(interaction)
    incidents = await asyncio.to_thread(crashbot.list, IncidentFilter(open=True))
    return [
        app_commands.Choice(name=render.cut(f"{i.ref} · {i.title}", 100), value=str(i.id))
        for i in incidents
        if _matches(current, i.ref, str(i.id), i.title)
    ][:MAX_CHOICES]


async def complete_severity(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """The policy's severity levels."""
    policy = crashbot_of(interaction).policy
    return [
        app_commands.Choice(name=f"{lv.key} · {lv.priority} · {lv.label}", value=lv.key)
        for lv in policy.levels
        if _matches(current, *lv.names)
    ][:MAX_CHOICES]


async def complete_status(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Every status (``resolved`` resolves the incident)."""
    return [
        app_commands.Choice(name=s.value, value=s.value) for s in Status if _matches(current, s)
    ]


async def complete_role(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """The configured roles."""
    roles = crashbot_of(interaction).roles
    return [
        app_commands.Choice(name=r.name, value=r.key)
        for r in roles
        if _matches(current, r.key, r.name, *r.aliases)
    ][:MAX_CHOICES]


# ---------------------------------------------------------------------------
# Modals
# ---------------------------------------------------------------------------


class DeclareModal(discord.ui.Modal, title="Declare an incident"):
    """Asked for by ``/incident declare`` without a title."""

    what: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="What is broken?", custom_id="title", max_length=200
    )
    severity: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Severity", custom_id="severity", required=False, placeholder="SEV1…SEV4, P0…P3"
    )
    description: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Description",
        custom_id="description",
        style=discord.TextStyle.paragraph,
        required=False,
        max_length=4000,
    )
    public: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Public on the status page? (yes/no)",
        custom_id="public",
        required=False,
        max_length=10,
        placeholder="empty: the severity's default",
    )

    def __init__(self, custom_id: str) -> None:
        super().__init__(custom_id=custom_id, timeout=MODAL_TIMEOUT)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        """Declare the incident from the form."""
        crashbot = crashbot_of(interaction)
        actor = actor_of(interaction.user)
        title, severity = self.what.value, self.severity.value.strip() or None
        description, public_text = self.description.value, self.public.value

        def command() -> str:
            inc = crashbot.declare(
                title,
                actor=actor,
                severity=severity,
                description=description,
                public=parse_bool(public_text, "public"),
                source="discord",
            )
            return "Declared " + incident_line(crashbot, inc)

        await run_command(interaction, command)


class UpdateModal(discord.ui.Modal, title="Post an update"):
    """Asked for by ``/incident update INCIDENT`` alone and by the digest's Post update button."""

    message: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Update", custom_id="message", style=discord.TextStyle.paragraph, max_length=4000
    )
    status: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="New status (optional)",
        custom_id="status",
        required=False,
        placeholder="investigating, identified, monitoring, resolved",
    )
    public: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Public on the status page? (yes/no)",
        custom_id="public",
        required=False,
        max_length=10,
        placeholder="empty: internal",
    )

    def __init__(self, incident_id: int, custom_id: str) -> None:
        super().__init__(custom_id=custom_id, timeout=MODAL_TIMEOUT)
        self.incident_id = incident_id

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        """Post the update (and status change) from the form."""
        crashbot = crashbot_of(interaction)
        actor = actor_of(interaction.user)
        message, status, public_text = (
            self.message.value,
            self.status.value.strip(),
            self.public.value,
        )
        incident_id = self.incident_id

        def command() -> str:
            inc = crashbot.update(
                incident_id,
                actor=actor,
                message=message,
                status=status or None,
                public=bool(parse_bool(public_text, "public")),
            )
            return "Updated " + incident_line(crashbot, inc)

        await run_command(interaction, command)


# ---------------------------------------------------------------------------
# Digest buttons (persistent across restarts: matched by custom_id pattern)
# ---------------------------------------------------------------------------


class IncidentButton:
    """What every digest button shares; mixed in before ``discord.ui.DynamicItem``.

    A subclass names its ``label`` and custom_id ``prefix`` and passes
    ``template=button_template(prefix)``: the custom_id is the prefix and the
    incident id, so a button pressed after a restart is rebuilt from it.
    """

    label: ClassVar[str]
    prefix: ClassVar[str]

    def __init__(self, incident_id: int) -> None:
        super().__init__(  # type: ignore[call-arg]  # DynamicItem, next in the MRO
            discord.ui.Button(label=self.label, custom_id=f"{self.prefix}{incident_id}")
        )
        self.incident_id = incident_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any
    ) -> Self:
        """Rebuild the button from its custom_id."""
        return cls(int(match["id"]))


def button_template(prefix: str) -> str:
    """The custom_id pattern of a digest button: ``prefix`` and the incident id."""
    return re.escape(prefix) + r"(?P<id>[0-9]{1,18})"


class AckButton(
    IncidentButton,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=button_template(render.ACK_PREFIX),
):
    """The digest's Acknowledge button."""

    label = "Acknowledge"
    prefix = render.ACK_PREFIX

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Acknowledge the incident."""
        crashbot = crashbot_of(interaction)
        actor = actor_of(interaction.user)

        def command() -> str:
            return "Acknowledged " + incident_line(
                crashbot, crashbot.acknowledge(self.incident_id, actor=actor)
            )

        await run_command(interaction, command)


class UpdateButton(
    IncidentButton,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=button_template(render.UPDATE_PREFIX),
):
    """The digest's Post update button: opens the update modal."""

    label = "Post update"
    prefix = render.UPDATE_PREFIX

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Open the update form."""
        await interaction.response.send_modal(
            UpdateModal(self.incident_id, f"crashbot:update-modal:{interaction.id}")
        )


class PublishModal(discord.ui.Modal, title="Publish on the status page"):
    """Asked for by the digest's Publish button: the first public update, ready to edit.

    The form is also the confirmation a button cannot ask for: publishing
    shows the incident to everyone.
    """

    message: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="First public update", custom_id="message", style=discord.TextStyle.paragraph
    )

    def __init__(self, incident_id: int, custom_id: str, default: str) -> None:
        super().__init__(custom_id=custom_id, timeout=MODAL_TIMEOUT)
        self.incident_id = incident_id
        self.message.default = default[:4000]

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        """Publish the incident with the message from the form."""
        crashbot = crashbot_of(interaction)
        actor = actor_of(interaction.user)
        message, incident_id = self.message.value, self.incident_id

        def command() -> str:
            inc = crashbot.publish(incident_id, actor=actor, message=message)
            return "On the status page: " + incident_line(crashbot, inc)

        await run_command(interaction, command)


class PublishButton(
    IncidentButton,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=button_template(render.PUBLISH_PREFIX),
):
    """The digest's Publish button (private incidents): opens :class:`PublishModal`."""

    label = "Publish"
    prefix = render.PUBLISH_PREFIX

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Open the publish form, filled with the configured first update."""
        default = crashbot_of(interaction).config.general.publish_message
        await interaction.response.send_modal(
            PublishModal(self.incident_id, f"crashbot:publish-modal:{interaction.id}", default)
        )


class UnpublishButton(
    IncidentButton,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=button_template(render.UNPUBLISH_PREFIX),
):
    """The digest's Unpublish button (public incidents)."""

    label = "Unpublish"
    prefix = render.UNPUBLISH_PREFIX

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Take the incident off the status page."""
        crashbot = crashbot_of(interaction)
        actor = actor_of(interaction.user)

        def command() -> str:
            inc = crashbot.unpublish(self.incident_id, actor=actor)
            return "Off the status page: " + incident_line(crashbot, inc)

        await run_command(interaction, command)


class JoinButton(
    IncidentButton,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=button_template(render.JOIN_PREFIX),
):
    """The digest's Join button: adds the clicker to the incident thread.

    Joining changes nothing stored, so Discord is answered first (a deferred
    "thinking…" reply) and the thread is joined after; the reply then says
    how it went.
    """

    label = "Join"
    prefix = render.JOIN_PREFIX

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Add the user to the incident's thread."""
        crashbot = crashbot_of(interaction)
        try:
            inc = await asyncio.to_thread(crashbot.get, self.incident_id)
        except CrashbotError as exc:
            await reply_error(interaction, exc.message)
            return
        thread = inc.refs.get(THREAD_REF)
        if not thread:
            await reply_error(interaction, f"{inc.ref} has no thread")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            await interaction.client.http.add_user_to_thread(thread, interaction.user.id)
            text = f"You are in <#{thread}>."
        except discord.HTTPException as exc:
            log.warning("could not add %s to thread %s: %s", interaction.user.id, thread, exc)
            text = f"⚠️ Discord would not add you to <#{thread}> ({exc.status}); ask a moderator."
        await interaction.edit_original_response(
            content=text, allowed_mentions=discord.AllowedMentions.none()
        )


# ---------------------------------------------------------------------------
# /incident
# ---------------------------------------------------------------------------

INCIDENT = "Incident (number or ref, e.g. INC-42)"


def build_incident_group() -> app_commands.Group:
    """The ``/incident`` command group with every subcommand."""
    group = app_commands.Group(name="incident", description="Declare and run incidents")

    @group.command(name="declare", description="Declare an incident (a form opens without a title)")
    @app_commands.describe(
        title="What is broken, in a few words",
        severity="SEV1…SEV4 (default: the policy's default)",
        description="More detail",
        public="Show it on the status page (default: the severity's setting)",
        components="Affected components, comma-separated (e.g. api,checkout)",
    )
    @app_commands.autocomplete(severity=complete_severity)
    async def declare(
        interaction: discord.Interaction[Any],
        title: str | None = None,
        severity: str | None = None,
        description: str | None = None,
        public: bool | None = None,
        components: str | None = None,
    ) -> None:
        if title is None:
            await interaction.response.send_modal(
                DeclareModal(f"crashbot:declare-modal:{interaction.id}")
            )
            return
        crashbot = crashbot_of(interaction)
        actor = actor_of(interaction.user)
        comps = [c.strip() for c in (components or "").split(",") if c.strip()]

        def command() -> str:
            inc = crashbot.declare(
                title,
                actor=actor,
                severity=severity,
                description=description or "",
                public=public,
                components=comps,
                source="discord",
            )
            return "Declared " + incident_line(crashbot, inc)

        await run_command(interaction, command)

    @group.command(
        name="update", description="Post an update (a form opens with only the incident)"
    )
    @app_commands.describe(
        incident=INCIDENT,
        message="What changed",
        status="New status",
        severity="New severity",
        public="Show the message on the status page (default: internal)",
    )
    @app_commands.autocomplete(
        incident=complete_incident, status=complete_status, severity=complete_severity
    )
    async def update(
        interaction: discord.Interaction[Any],
        incident: str,
        message: str | None = None,
        status: str | None = None,
        severity: str | None = None,
        public: bool = False,
    ) -> None:
        crashbot = crashbot_of(interaction)
        if message is None and status is None and severity is None:
            try:
                iid = crashbot.parse_id(incident)
            except CrashbotError as exc:
                await reply_error(interaction, exc.message)
                return
            await interaction.response.send_modal(
                UpdateModal(iid, f"crashbot:update-modal:{interaction.id}")
            )
            return
        actor = actor_of(interaction.user)

        def command() -> str:
            inc = crashbot.update(
                incident,
                actor=actor,
                message=message,
                status=status,
                severity=severity,
                public=public,
            )
            return "Updated " + incident_line(crashbot, inc)

        await run_command(interaction, command)

    @group.command(name="ack", description="Acknowledge an incident: you are on it")
    @app_commands.describe(incident=INCIDENT)
    @app_commands.autocomplete(incident=complete_incident)
    async def ack(interaction: discord.Interaction[Any], incident: str) -> None:
        crashbot = crashbot_of(interaction)
        actor = actor_of(interaction.user)
        await run_command(
            interaction,
            lambda: (
                "Acknowledged "
                + incident_line(crashbot, crashbot.acknowledge(incident, actor=actor))
            ),
        )

    @group.command(name="severity", description="Change an incident's severity")
    @app_commands.describe(incident=INCIDENT, severity="New severity")
    @app_commands.autocomplete(incident=complete_incident, severity=complete_severity)
    async def severity(interaction: discord.Interaction[Any], incident: str, severity: str) -> None:
        crashbot = crashbot_of(interaction)
        actor = actor_of(interaction.user)
        await run_command(
            interaction,
            lambda: (
                "Severity set: "
                + incident_line(crashbot, crashbot.update(incident, actor=actor, severity=severity))
            ),
        )

    @group.command(name="status", description="Change an incident's status")
    @app_commands.describe(incident=INCIDENT, status="New status")
    @app_commands.autocomplete(incident=complete_incident, status=complete_status)
    async def status(interaction: discord.Interaction[Any], incident: str, status: str) -> None:
        crashbot = crashbot_of(interaction)
        actor = actor_of(interaction.user)
        await run_command(
            interaction,
            lambda: (
                "Status set: "
                + incident_line(crashbot, crashbot.update(incident, actor=actor, status=status))
            ),
        )

    @group.command(name="role", description="Give someone a role (default: yourself)")
    @app_commands.describe(incident=INCIDENT, role="The role", user="Who takes it (default: you)")
    @app_commands.autocomplete(incident=complete_incident, role=complete_role)
    async def role(
        interaction: discord.Interaction[Any],
        incident: str,
        role: str,
        user: discord.User | None = None,
    ) -> None:
        crashbot = crashbot_of(interaction)
        actor = actor_of(interaction.user)
        assignee = actor_of(user) if user is not None else actor

        def command() -> str:
            inc = crashbot.assign_role(incident, role, assignee, actor=actor)
            the_role = crashbot.roles.parse(role)
            return f"{render.mention(assignee)} is {the_role.name}: " + incident_line(crashbot, inc)

        await run_command(interaction, command)

    @group.command(name="resolve", description="Resolve an incident")
    @app_commands.describe(incident=INCIDENT, message="Closing note (public on public incidents)")
    @app_commands.autocomplete(incident=complete_incident)
    async def resolve(
        interaction: discord.Interaction[Any], incident: str, message: str | None = None
    ) -> None:
        crashbot = crashbot_of(interaction)
        actor = actor_of(interaction.user)
        await run_command(
            interaction,
            lambda: (
                "Resolved "
                + incident_line(crashbot, crashbot.resolve(incident, actor=actor, message=message))
            ),
        )

    @group.command(name="publish", description="Show an incident on the public status page")
    @app_commands.describe(
        incident=INCIDENT,
        message="Its first public update (default: the configured publish message)",
    )
    @app_commands.autocomplete(incident=complete_incident)
    async def publish(
        interaction: discord.Interaction[Any], incident: str, message: str | None = None
    ) -> None:
        crashbot = crashbot_of(interaction)
        actor = actor_of(interaction.user)
        await run_command(
            interaction,
            lambda: (
                "On the status page: "
                + incident_line(crashbot, crashbot.publish(incident, actor=actor, message=message))
            ),
        )

    @group.command(name="unpublish", description="Take an incident off the public status page")
    @app_commands.describe(incident=INCIDENT)
    @app_commands.autocomplete(incident=complete_incident)
    async def unpublish(interaction: discord.Interaction[Any], incident: str) -> None:
        crashbot = crashbot_of(interaction)
        actor = actor_of(interaction.user)
        await run_command(
            interaction,
            lambda: (
                "Off the status page: "
                + incident_line(crashbot, crashbot.unpublish(incident, actor=actor))
            ),
        )

    @group.command(name="rca", description="Link the RCA / postmortem of a resolved incident")
    @app_commands.describe(incident="Incident (number or ref)", url="Where the RCA lives")
    async def rca(interaction: discord.Interaction[Any], incident: str, url: str) -> None:
        crashbot = crashbot_of(interaction)
        actor = actor_of(interaction.user)
        await run_command(
            interaction,
            lambda: (
                "RCA linked: "
                + incident_line(crashbot, crashbot.link_rca(incident, url, actor=actor))
            ),
        )

    @group.command(name="follow-up", description="Add a follow-up action item")
    @app_commands.describe(
        incident="Incident (number or ref)",
        title="What needs doing",
        owner="Who owns it",
        due="Due date, YYYY-MM-DD",
    )
    async def follow_up(
        interaction: discord.Interaction[Any],
        incident: str,
        title: str,
        owner: discord.User | None = None,
        due: str | None = None,
    ) -> None:
        crashbot = crashbot_of(interaction)
        actor = actor_of(interaction.user)
        owner_actor = actor_of(owner) if owner is not None else None

        def command() -> str:
            due_date = _parse_date(due) if due else None
            fu = crashbot.add_follow_up(
                incident, title, actor=actor, owner=owner_actor, due=due_date
            )
            return f"Follow-up #{fu.id} added to {crashbot.get(fu.incident_id).ref}: {fu.title}"

        await run_command(interaction, command)

    # close and edit live in their own module, which builds on this one's helpers.
    from crashbot_discord import record

    record.add_commands(group)
    return group


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"due date {text!r}: expected YYYY-MM-DD") from None


# ---------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------


class CrashbotDiscord(discord.Client):
    """A discord.py client serving ``/incident`` for one :class:`Crashbot`.

    :param sync_commands: register the commands with Discord on start
        (in ``guild_id`` when set: instant; else globally).
    """

    def __init__(
        self, crashbot: Crashbot, settings: DiscordSettings, *, sync_commands: bool = True
    ) -> None:
        # Application commands need no privileged intents; guilds keeps discord.py's cache sane.
        # No message the client sends pings anyone unless it says so itself:
        # titles and error texts quote user input ("@everyone", "<@&role>").
        # guild_reactions (not privileged) brings MESSAGE_REACTION_ADD for react-to-create.
        super().__init__(
            intents=discord.Intents(guilds=True, guild_reactions=True),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.crashbot = crashbot
        self.settings = settings
        self.sync_commands = sync_commands
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(build_incident_group())
        self.tree.on_error = self._on_tree_error  # type: ignore[method-assign]
        #: One lock per reacted message: two reactions at once declare once.
        self._declaring: dict[str, asyncio.Lock] = {}

    async def setup_hook(self) -> None:
        """Route digest buttons to their handlers; register the commands with Discord."""
        # record imports this module, so its buttons are fetched here rather than at the top.
        from crashbot_discord import record

        self.add_dynamic_items(
            AckButton,
            UpdateButton,
            JoinButton,
            PublishButton,
            UnpublishButton,
            record.EditButton,
            record.CloseButton,
        )
        if not self.sync_commands:
            return
        if self.settings.guild_id:
            guild = discord.Object(id=self.settings.guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        else:
            await self.tree.sync()

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """React-to-create: the configured emoji on a guild message declares an incident from it.

        The message is read over REST, then the declare is committed; the
        reply under the message and the thread come from the outbox.
        """
        emoji = self.settings.react_emoji.strip().strip(":")
        if not emoji or payload.guild_id is None or payload.emoji.name != emoji:
            return
        if self.user is not None and payload.user_id == self.user.id:
            return  # the bot's own reaction
        if payload.member is not None and payload.member.bot:
            return
        key = reactions.message_key(payload.channel_id, payload.message_id)
        lock = self._declaring.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                await self._declare_from_reaction(payload, key)
        except CrashbotError as exc:
            log.warning("reaction on message %s declared nothing: %s", key, exc.message)
        except Exception:
            # Gateway events are not delivered again: the log is all there is.
            log.exception("could not declare from a reaction on message %s", key)
        finally:
            if not lock.locked():
                self._declaring.pop(key, None)

    async def _declare_from_reaction(
        self, payload: discord.RawReactionActionEvent, key: str
    ) -> None:
        crashbot = self.crashbot
        if await asyncio.to_thread(reactions.already_declared, crashbot, key):
            return
        try:
            message = await self.http.get_message(payload.channel_id, payload.message_id)
        except (discord.NotFound, discord.Forbidden) as exc:
            # Deleted since, or in a channel the bot may not read: nothing to declare from.
            log.warning("cannot read message %s to declare from it: %s", key, exc)
            return
        if payload.member is not None:
            actor = actor_of(payload.member)
        else:
            try:
                actor = actor_of(await self.fetch_user(payload.user_id))
            except discord.HTTPException:
                uid = str(payload.user_id)
                actor = Actor(platform="discord", id=uid, name=uid)
        guild_id = payload.guild_id or 0
        await asyncio.to_thread(
            reactions.declare_from_message, crashbot, dict(message), guild_id, actor
        )

    async def _on_tree_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        # Argument conversion failures and the like: tell the user, never a traceback.
        log.warning("Discord command failed: %s", error, exc_info=error)
        message = "⚠️ That command could not be run: " + render.cut(str(error), 300)
        quiet = discord.AllowedMentions.none()
        if interaction.response.is_done():
            await interaction.followup.send(message, ephemeral=True, allowed_mentions=quiet)
        else:
            await interaction.response.send_message(message, ephemeral=True, allowed_mentions=quiet)

    def run_bot(self) -> None:
        """Connect to the gateway and serve until interrupted."""
        if self.settings.api_base_url.rstrip("/") != DEFAULT_API_URL:
            discord.http.Route.BASE = self.settings.api_base_url.rstrip("/")
        assert self.settings.bot_token
        self.run(self.settings.bot_token, log_handler=None)
