"""``crashbot subscribers list | export | import FILE | add URL | remove ADDRESS``.

Status-page subscribers as a table or CSV; ``add`` registers a webhook
subscriber (e-mail subscribers confirm themselves through the form, or are
imported with their consent time), ``remove`` unsubscribes anyone.

The CSV has a header row: ``id,kind,address,components,consent_at,confirmed_at,
unsubscribed_at,secret``; components are space-separated keys, times ISO 8601.
``import`` checks every row before it writes any: addresses are validated and a
consent time is required. A row whose address exists updates it.
"""

from __future__ import annotations

import csv
import secrets
import sys
from datetime import UTC, datetime
from typing import IO

import attrs
import click

from crashbot_core.cli.common import CliState, echo_json, json_option, pass_state, table
from crashbot_core.errors import InvalidInput
from crashbot_core.models import Subscriber, SubscriberKind
from crashbot_email.addresses import normalise_address, webhook_url
from crashbot_email.fanout import subscription_store

#: Columns of ``export`` and ``import``.
COLUMNS = (
    "id",
    "kind",
    "address",
    "components",
    "consent_at",
    "confirmed_at",
    "unsubscribed_at",
    "secret",
)


def _state(s: Subscriber) -> str:
    if s.unsubscribed_at is not None:
        return "unsubscribed"
    return "active" if s.confirmed_at is not None else "unconfirmed"


def _ts(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


@click.group("subscribers")
def subscribers() -> None:
    """Status-page subscribers (e-mail and webhook)."""


@subscribers.command("list")
@json_option
@pass_state
def list_(state: CliState, as_json: bool) -> None:
    """List subscribers, oldest first, with their state and component filter."""
    found = subscription_store(state.crashbot()).subscribers()
    if as_json:
        echo_json([{**_row(s), "state": _state(s)} for s in found])
        return
    rows = [
        (s.kind.value, s.address, _state(s), " ".join(s.components) or "all", _ts(s.consent_at))
        for s in found
    ]
    click.echo(table(rows, ["kind", "address", "state", "components", "consent"]))


def _row(s: Subscriber) -> dict[str, str]:
    return {
        "id": s.id,
        "kind": s.kind.value,
        "address": s.address,
        "components": " ".join(s.components),
        "consent_at": _ts(s.consent_at),
        "confirmed_at": _ts(s.confirmed_at),
        "unsubscribed_at": _ts(s.unsubscribed_at),
        "secret": s.secret,
    }


@subscribers.command("export")
@click.option(
    "--out", type=click.File("w", encoding="utf-8"), default="-", help="File (default: stdout)."
)
@pass_state
def export(state: CliState, out: IO[str]) -> None:
    """Write every subscriber as CSV (with consent times and webhook secrets: keep it private)."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for s in subscription_store(state.crashbot()).subscribers():
        writer.writerow(_row(s))


@subscribers.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@pass_state
def import_(state: CliState, file: IO[str]) -> None:
    """Add or update subscribers from a CSV file (``-`` for stdin); all rows or none."""
    bot = state.crashbot()
    store = subscription_store(bot)
    known = {c.key for c in bot.components()}
    reader = csv.DictReader(file)
    if reader.fieldnames is None or not {"address", "consent_at"} <= set(reader.fieldnames):
        raise InvalidInput("the CSV needs a header row with at least address and consent_at")
    parsed: list[Subscriber] = []
    for line, row in enumerate(reader, start=2):
        try:
            parsed.append(_parse(row, known))
        except (InvalidInput, ValueError) as exc:
            reason = exc.message if isinstance(exc, InvalidInput) else str(exc)
            raise InvalidInput(f"line {line}: {reason}") from None
    added = updated = 0
    for sub in parsed:
        existing = store.find_subscriber(sub.address)
        if existing is not None:
            sub = attrs.evolve(sub, id=existing.id, secret=sub.secret or existing.secret)
            updated += 1
        else:
            added += 1
        store.save_subscriber(sub)
    click.echo(f"imported {added} new and {updated} existing subscribers", file=sys.stdout)


@subscribers.command("add")
@click.argument("url")
@click.option(
    "--component",
    "components",
    multiple=True,
    metavar="KEY",
    help="Only news about this component (repeatable; default: every component).",
)
@click.option("--secret", help="HMAC key for X-Crashbot-Signature (default: a random one).")
@pass_state
def add(state: CliState, url: str, components: tuple[str, ...], secret: str | None) -> None:
    """Add a webhook subscriber (or change the components of one) and print its signing secret."""
    if "@" in url and "://" not in url:
        raise InvalidInput(
            "e-mail subscribers confirm their own address (double opt-in): point them at "
            "the subscribe form, or import them with their consent time (subscribers import)"
        )
    bot = state.crashbot()
    store = subscription_store(bot)
    address = webhook_url(url)
    known = {c.key for c in bot.components()}
    unknown = sorted(set(components) - known)
    if unknown:
        raise InvalidInput(f"unknown components: {', '.join(unknown)}")
    if secret is not None and len(secret.strip()) < 16:
        raise InvalidInput("--secret must be at least 16 characters (it signs every payload)")
    now = bot.now()
    existing = store.find_subscriber(address)
    if existing is not None and existing.kind is not SubscriberKind.WEBHOOK:
        raise InvalidInput(f"{address} is already an e-mail subscriber")
    sub = Subscriber(
        id=existing.id if existing else secrets.token_urlsafe(12),
        kind=SubscriberKind.WEBHOOK,
        address=address,
        components=tuple(sorted(set(components))),
        # Re-adding a removed webhook subscribes it again, as of now.
        consent_at=existing.consent_at if existing and existing.active else now,
        confirmed_at=existing.confirmed_at if existing and existing.active else now,
        secret=(secret or "").strip()
        or (existing.secret if existing else "")
        or secrets.token_urlsafe(24),
    )
    store.save_subscriber(sub)
    verb = "updated" if existing is not None and existing.active else "added"
    scope = " ".join(sub.components) or "every component"
    click.echo(f"{verb} webhook subscriber {address} ({scope})")
    click.echo(f"signing secret: {sub.secret}")


@subscribers.command("remove")
@click.argument("address")
@pass_state
def remove(state: CliState, address: str) -> None:
    """Unsubscribe an e-mail address or webhook URL (its record and consent time are kept)."""
    bot = state.crashbot()
    store = subscription_store(bot)
    text = address.strip()
    key = webhook_url(text) if "://" in text else normalise_address(text)
    existing = store.find_subscriber(key)
    if existing is None:
        raise InvalidInput(f"no subscriber {key!r}")
    if existing.unsubscribed_at is not None:
        click.echo(f"{key} was already unsubscribed")
        return
    store.save_subscriber(attrs.evolve(existing, unsubscribed_at=bot.now()))
    click.echo(f"unsubscribed {key}")


def _time(value: str | None, name: str, *, required: bool = False) -> datetime | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise InvalidInput(f"{name} is required (when the person consented)")
        return None
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        raise InvalidInput(f"{name} {value!r} has no time zone; add Z or +00:00")
    return at.astimezone(UTC)


def _parse(row: dict[str, str | None], known: set[str]) -> Subscriber:
    kind = SubscriberKind((row.get("kind") or "email").strip() or "email")
    raw = row.get("address") or ""
    address = normalise_address(raw) if kind is SubscriberKind.EMAIL else webhook_url(raw)
    comps = tuple(sorted(set((row.get("components") or "").split())))
    unknown = sorted(set(comps) - known)
    if unknown:
        raise InvalidInput(f"unknown components: {', '.join(unknown)}")
    consent = _time(row.get("consent_at"), "consent_at", required=True)
    assert consent is not None
    secret = (row.get("secret") or "").strip()
    if kind is SubscriberKind.WEBHOOK and not secret:
        secret = secrets.token_urlsafe(24)
    return Subscriber(
        id=(row.get("id") or "").strip() or secrets.token_urlsafe(12),
        kind=kind,
        address=address,
        components=comps,
        consent_at=consent,
        confirmed_at=_time(row.get("confirmed_at"), "confirmed_at"),
        unsubscribed_at=_time(row.get("unsubscribed_at"), "unsubscribed_at"),
        secret=secret,
    )
