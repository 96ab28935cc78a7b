"""Raw INTERACTION_CREATE payloads, shaped as Discord documents them, and a harness
that feeds them through discord.py's own parsing (``ConnectionState.parse_interaction_create``)
into the bot's command tree, views and modals, with no gateway.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from fake_discord import APP_ID, GUILD_ID, INCIDENTS_CHANNEL, TIMESTAMP, FakeDiscord, user

from crashbot_discord.bot import CrashbotDiscord

ALICE_ID = "200000000000000001"
BOB_ID = "200000000000000002"
ALICE = user(ALICE_ID, "Alice")
BOB = user(BOB_ID, "Bob")
CHANNEL = {
    "id": INCIDENTS_CHANNEL,
    "type": 0,
    "guild_id": GUILD_ID,
    "name": "incidents",
    "position": 0,
    "permission_overwrites": [],
    "nsfw": False,
    "parent_id": None,
}
COMMAND_ID = "1500000000000000001"

_ids = itertools.count(1600000000000000001)


def member(u: dict[str, Any]) -> dict[str, Any]:
    """A guild member object wrapping a user."""
    return {
        "user": u,
        "roles": [],
        "joined_at": TIMESTAMP,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "nick": None,
        "avatar": None,
        "permissions": "2248473465835073",
    }


def base(kind: int, data: dict[str, Any], by: dict[str, Any] = ALICE) -> dict[str, Any]:
    """The envelope every guild interaction shares."""
    return {
        "id": str(next(_ids)),
        "application_id": APP_ID,
        "type": kind,
        "token": f"interaction-token-{next(_ids)}",
        "version": 1,
        "guild_id": GUILD_ID,
        "channel_id": INCIDENTS_CHANNEL,
        "channel": CHANNEL,
        "member": member(by),
        "app_permissions": "2248473465835073",
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": 10485760,
        "authorizing_integration_owners": {"0": GUILD_ID},
        "context": 0,
        "data": data,
    }


def _option(name: str, value: Any, focused: bool = False) -> dict[str, Any]:
    if isinstance(value, bool):
        kind = 5
    elif isinstance(value, dict):  # a user: {"user": {...}}
        kind, value = 6, value["id"]
    else:
        kind = 3
    option: dict[str, Any] = {"type": kind, "name": name, "value": value}
    if focused:
        option["focused"] = True
    return option


def command(
    sub: str, by: dict[str, Any] = ALICE, focused: str | None = None, **options: Any
) -> dict[str, Any]:
    """``/incident SUB option:value …`` (type 2), or its autocomplete (type 4) when ``focused``."""
    users = {v["id"]: v for v in options.values() if isinstance(v, dict)}
    data: dict[str, Any] = {
        "id": COMMAND_ID,
        "name": "incident",
        "type": 1,
        "guild_id": GUILD_ID,
        "options": [
            {
                "type": 1,
                "name": sub,
                "options": [_option(k, v, focused=(k == focused)) for k, v in options.items()],
            }
        ],
    }
    if users:
        data["resolved"] = {
            "users": users,
            "members": {
                uid: {k: v for k, v in member(u).items() if k != "user"} for uid, u in users.items()
            },
        }
    return base(4 if focused else 2, data, by)


def button(custom_id: str, message: dict[str, Any], by: dict[str, Any] = ALICE) -> dict[str, Any]:
    """A button click (type 3) on ``message``."""
    payload = base(3, {"custom_id": custom_id, "component_type": 2}, by)
    payload["message"] = message
    return payload


def modal_submit(
    modal: dict[str, Any], values: dict[str, str], by: dict[str, Any] = ALICE
) -> dict[str, Any]:
    """The submission (type 5) of a modal we were sent (``modal`` is the callback's ``data``).

    Discord echoes the modal's layout with each text input's ``value``.
    """

    def fill(component: dict[str, Any]) -> dict[str, Any]:
        if component["type"] == 4:
            return {
                "type": 4,
                "custom_id": component["custom_id"],
                "value": values.get(component["custom_id"], ""),
            }
        if component["type"] == 1:
            return {"type": 1, "components": [fill(c) for c in component["components"]]}
        if component["type"] == 18:  # label wrapping one input
            return {"type": 18, "component": fill(component["component"])}
        raise AssertionError(f"unexpected component {component}")

    data = {"custom_id": modal["custom_id"], "components": [fill(c) for c in modal["components"]]}
    return base(5, data, by)


class Harness:
    """A logged-in client (against the fake API) and a loop to feed it interactions on."""

    def __init__(self, client: CrashbotDiscord, api: FakeDiscord) -> None:
        self.client = client
        self.api = api
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(client.login("test-token"))

    def feed(self, payload: dict[str, Any]) -> None:
        """Hand the payload to discord.py as the gateway would, and wait until it is handled."""
        self.gateway("INTERACTION_CREATE", payload)

    def gateway(self, event: str, payload: dict[str, Any]) -> None:
        """Hand a gateway dispatch (``MESSAGE_REACTION_ADD`` …) to discord.py; wait for its handlers."""
        self.loop.run_until_complete(self._feed(event, payload))

    async def _feed(self, event: str, payload: dict[str, Any]) -> None:
        self.client._connection.parsers[event](payload)
        me = asyncio.current_task()
        for _ in range(20):
            # A sent modal keeps a timeout task waiting for its submission: not ours to wait for.
            pending = [
                t
                for t in asyncio.all_tasks()
                if t is not me and not t.done() and "timeout_task" not in repr(t.get_coro())
            ]
            if not pending:
                return
            await asyncio.wait(pending, timeout=0.5)
        raise AssertionError(f"interaction handling did not finish: {pending}")

    def close(self) -> None:
        """Log out and close the loop."""
        self.loop.run_until_complete(self._close())
        self.loop.close()

    async def _close(self) -> None:
        await self.client.close()
        # Modals never submitted still wait for their timeout: cancel them.
        me = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
