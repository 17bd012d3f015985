"""Platform-facing state: the webhook inbox and per-shop polling (cursor + lease)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.engine import Connection, RowMapping

from bridge.store._sql import dump_json, insert_for, load_json
from bridge.store.records import PollStateRecord, WebhookRecord
from bridge.store.schema import poll_state, webhook_events


def record_webhook(
    conn: Connection,
    *,
    shop: str,
    platform: str,
    event_key: str,
    topic: str,
    order_ref: str,
    headers: Mapping[str, str],
    body: str,
    body_digest: str,
    now: datetime,
) -> int | None:
    """The new event's id, or None for a duplicate: this (shop, event_key) was already
    received, or this body was (a replay: the delivery id and topic are not signed, so a
    captured body re-sent under new ones must create no new work).

    No conflict target: DO NOTHING covers both unique keys, and only then. A concurrent
    writer inserting the same body waits for ours to commit and then does nothing (the
    unique index is the guard, not a prior read), and a body seen earlier in the same
    transaction conflicts with its own uncommitted row. `body_digest`: `body_sha256(body)`,
    which the caller already computed to order its batch."""
    stmt = (
        insert_for(conn, webhook_events)
        .values(
            shop=shop,
            platform=platform,
            event_key=event_key,
            topic=topic,
            order_ref=order_ref,
            headers=dump_json(dict(headers)),
            body=body,
            body_sha256=body_digest,
            received_at=now,
        )
        .on_conflict_do_nothing()
        .returning(webhook_events.c.id)
    )
    event_id = conn.execute(stmt).scalar_one_or_none()
    return None if event_id is None else int(event_id)


def body_sha256(body: str) -> str:
    """The digest a stored body is known by (migration 0005 backfills with the same one)."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def get_webhook(conn: Connection, event_id: int) -> WebhookRecord | None:
    row = conn.execute(select(webhook_events).where(webhook_events.c.id == event_id)).mappings()
    first = row.first()
    return None if first is None else _webhook(first)


def webhook_counts_since(conn: Connection, since: datetime) -> dict[str, int]:
    rows = conn.execute(
        select(webhook_events.c.shop, func.count())
        .where(webhook_events.c.received_at >= since)
        .group_by(webhook_events.c.shop)
    )
    return {shop: int(count) for shop, count in rows}


def _webhook(row: RowMapping) -> WebhookRecord:
    return WebhookRecord(
        id=row["id"],
        shop=row["shop"],
        platform=row["platform"],
        event_key=row["event_key"],
        topic=row["topic"],
        order_ref=row["order_ref"],
        headers=load_json(row["headers"]) or {},
        body=row["body"],
        received_at=row["received_at"],
        body_sha256=row["body_sha256"],
    )


def _ensure_row(conn: Connection, shop: str) -> None:
    conn.execute(
        insert_for(conn, poll_state)
        .values(shop=shop, polls=0)
        .on_conflict_do_nothing(index_elements=[poll_state.c.shop])
    )


@dataclass(frozen=True, slots=True)
class PollClaim:
    """A won claim; `previous_owner` is set when it took over another owner's expired lease
    (a poll that died without finishing), `lapsed_at` when that lease had run out."""

    previous_owner: str | None = None
    lapsed_at: datetime | None = None


def _claimable(owner: str, *, now: datetime, interval: timedelta) -> ColumnElement[bool]:
    """Due AND free, as one WHERE clause: the precheck and the claim read the same rule.

    Due: never polled, the last claim is `interval` old, or the last holder's lease ran out
    without `finish_poll` (it crashed: its poll is redone now, not an interval later).
    Free: no lease, an expired one, or our own."""
    crashed = and_(poll_state.c.lease_owner.is_not(None), poll_state.c.lease_until < now)
    due = or_(
        poll_state.c.last_poll_at.is_(None),
        poll_state.c.last_poll_at <= now - interval,
        crashed,
    )
    free = or_(
        poll_state.c.lease_until.is_(None),
        poll_state.c.lease_until < now,
        poll_state.c.lease_owner == owner,
    )
    return and_(due, free)


def poll_claimable(
    conn: Connection, shop: str, owner: str, *, now: datetime, interval: timedelta
) -> bool:
    """Would `claim_poll` win now? A plain read, so that a tick that has nothing to do (most
    of them: they come every heartbeat) never takes the write lock. Only a hint: the claim
    decides, under the lock."""
    guard = _claimable(owner, now=now, interval=interval)
    row = conn.execute(select(guard).where(poll_state.c.shop == shop)).first()
    return row is None or bool(row[0])  # no row: never polled


def claim_poll(
    conn: Connection,
    shop: str,
    owner: str,
    *,
    now: datetime,
    lease: timedelta,
    interval: timedelta,
) -> PollClaim | None:
    """Take the shop's polling lease when the poll is due and the lease free (`_claimable`).

    The row is read FOR UPDATE (PostgreSQL; SQLite's single writer needs nothing) so that the
    holder it replaces is the one really replaced, then updated under the same guard: two
    processes racing for it cannot both win. The claim time is `last_poll_at`: the interval
    runs from claim to claim, whoever makes them.
    """
    _ensure_row(conn, shop)
    guard = _claimable(owner, now=now, interval=interval)
    row = (
        conn.execute(
            select(poll_state.c.lease_owner, poll_state.c.lease_until)
            .where(poll_state.c.shop == shop, guard)
            .with_for_update()
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    result = conn.execute(
        update(poll_state)
        .where(poll_state.c.shop == shop, guard)
        .values(lease_owner=owner, lease_until=now + lease, last_poll_at=now)
    )
    if result.rowcount != 1:
        return None
    previous = row["lease_owner"]
    if previous is None or previous == owner:
        return PollClaim()
    return PollClaim(previous_owner=previous, lapsed_at=row["lease_until"])


def renew_poll(conn: Connection, shop: str, owner: str, *, now: datetime, lease: timedelta) -> bool:
    """Extend the lease `owner` holds; False once another owner took it over (or the poll
    was finished). A lease that ran out but that nobody took is still ours to renew: no one
    else can have polled meanwhile without changing the owner."""
    result = conn.execute(
        update(poll_state)
        .where(poll_state.c.shop == shop, poll_state.c.lease_owner == owner)
        .values(lease_until=now + lease)
    )
    return result.rowcount == 1


def finish_poll(
    conn: Connection, shop: str, owner: str, *, now: datetime, error: str | None
) -> None:
    values: dict[str, Any] = {
        "lease_owner": None,
        "lease_until": None,
        "last_error": error,
        "polls": poll_state.c.polls + 1,
    }
    if error is None:
        values["last_success_at"] = now
    conn.execute(
        update(poll_state)
        .where(poll_state.c.shop == shop, poll_state.c.lease_owner == owner)
        .values(**values)
    )


def advance_cursor(conn: Connection, shop: str, cursor: datetime) -> None:
    """Move the cursor forward only: a late page never rewinds it."""
    _ensure_row(conn, shop)
    conn.execute(
        update(poll_state)
        .where(poll_state.c.shop == shop)
        .where(or_(poll_state.c.cursor.is_(None), poll_state.c.cursor < cursor))
        .values(cursor=cursor)
    )


def get_poll_state(conn: Connection, shop: str) -> PollStateRecord | None:
    row = conn.execute(select(poll_state).where(poll_state.c.shop == shop)).mappings().first()
    if row is None:
        return None
    return PollStateRecord(
        shop=row["shop"],
        cursor=row["cursor"],
        last_poll_at=row["last_poll_at"],
        last_success_at=row["last_success_at"],
        last_error=row["last_error"],
        polls=row["polls"],
    )
