"""Platform-facing state: the webhook inbox and per-shop polling (cursor + lease)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
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
    now: datetime,
) -> int | None:
    """The new event's id, or None when this (shop, event_key) was already received."""
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
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=[webhook_events.c.shop, webhook_events.c.event_key])
        .returning(webhook_events.c.id)
    )
    event_id = conn.execute(stmt).scalar_one_or_none()
    return None if event_id is None else int(event_id)


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
    )


def _ensure_row(conn: Connection, shop: str) -> None:
    conn.execute(
        insert_for(conn, poll_state)
        .values(shop=shop, polls=0)
        .on_conflict_do_nothing(index_elements=[poll_state.c.shop])
    )


def claim_poll(
    conn: Connection,
    shop: str,
    owner: str,
    *,
    now: datetime,
    lease: timedelta,
    interval: timedelta,
) -> bool:
    """Take the shop's polling lease when it is free and the last poll is `interval` old.

    One UPDATE guarded by its WHERE: two processes racing for it cannot both win (the row
    lock on PostgreSQL, the single writer on SQLite).
    """
    _ensure_row(conn, shop)
    due = or_(poll_state.c.last_poll_at.is_(None), poll_state.c.last_poll_at <= now - interval)
    free = or_(
        poll_state.c.lease_until.is_(None),
        poll_state.c.lease_until < now,
        poll_state.c.lease_owner == owner,
    )
    result = conn.execute(
        update(poll_state)
        .where(poll_state.c.shop == shop, due, free)
        .values(lease_owner=owner, lease_until=now + lease, last_poll_at=now)
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
