"""Append-only event log (the database refuses UPDATE and DELETE) and alert de-duplication."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, insert, literal, select
from sqlalchemy.engine import Connection, RowMapping

from bridge.store._sql import dump_json, insert_for, load_json
from bridge.store.records import EventRecord
from bridge.store.schema import UTCDateTime, alerts, events


def append(
    conn: Connection,
    kind: str,
    *,
    now: datetime,
    shop: str | None = None,
    order_id: str | None = None,
    invoice_number: str | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    result = conn.execute(
        insert(events)
        .values(
            at=now,
            kind=kind,
            shop=shop,
            order_id=order_id,
            invoice_number=invoice_number,
            detail=dump_json(detail or {}),
        )
        .returning(events.c.id)
    )
    return int(result.scalar_one())


def exists(conn: Connection, kind: str, invoice_number: str) -> bool:
    stmt = select(events.c.id).where(
        events.c.kind == kind, events.c.invoice_number == invoice_number
    )
    return conn.execute(stmt.limit(1)).first() is not None


def recent(conn: Connection, limit: int, kind: str | None) -> list[EventRecord]:
    stmt = select(events).order_by(events.c.id.desc()).limit(limit)
    if kind is not None:
        stmt = stmt.where(events.c.kind == kind)
    return [record_of(row) for row in conn.execute(stmt).mappings()]


def of_kind(conn: Connection, kind: str) -> list[EventRecord]:
    """Every event of `kind`, oldest first (`verify` reads the whole log of one kind)."""
    stmt = select(events).where(events.c.kind == kind).order_by(events.c.id)
    return [record_of(row) for row in conn.execute(stmt).mappings()]


KEYED_FROM = "chain.keyed_from"  # written by migration 0006: the plain links' last heads


def plain_link_limits(conn: Connection) -> dict[str, tuple[int, str]]:
    """series → (id, hash) of the last document whose link may be plain (issued before links
    were keyed). Every record must allow it: one inserted behind our back can only narrow
    it, and a malformed one allows no plain link at all."""
    limits: dict[str, tuple[int, str]] | None = None
    for event in of_kind(conn, KEYED_FROM):
        found = _plain_ends(event.detail)
        limits = found if limits is None else {
            series: min(end, found[series]) for series, end in limits.items() if series in found
        }  # fmt: skip
    return limits or {}


def _plain_ends(detail: dict[str, Any]) -> dict[str, tuple[int, str]]:
    try:
        heads = detail["heads"]
        return {str(series): (int(head["id"]), str(head["hash"])) for series, head in heads.items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        return {}


def record_of(row: RowMapping) -> EventRecord:
    return EventRecord(
        id=row["id"],
        at=row["at"],
        kind=row["kind"],
        shop=row["shop"],
        order_id=row["order_id"],
        invoice_number=row["invoice_number"],
        detail=load_json(row["detail"]),
    )


def archived_template_sets(conn: Connection) -> dict[str, str]:
    """PDF SHA-256 → the template set its `invoice.archived` event recorded."""
    rows = conn.execute(select(events.c.detail).where(events.c.kind == "invoice.archived"))
    found: dict[str, str] = {}
    for (detail,) in rows:
        data = load_json(detail) or {}
        if data.get("sha256") and data.get("template_set"):
            found[str(data["sha256"])] = str(data["template_set"])
    return found


def claim_alert(conn: Connection, key: str, window: timedelta, now: datetime) -> bool:
    """One atomic upsert: a new window starts (count 1 -> send) or the alert is counted only.

    Atomic on both dialects (ON CONFLICT takes the row lock on PostgreSQL), so two workers
    hitting the same failure send one alert between them.
    """
    window_open = alerts.c.first_at > now - window
    # Typed explicitly: inside CASE the bind would not pick up the column's UTC handling.
    now_param = literal(now, UTCDateTime())
    stmt = insert_for(conn, alerts).values(key=key, first_at=now, last_at=now, count=1)
    upsert = stmt.on_conflict_do_update(
        index_elements=[alerts.c.key],
        set_={
            "first_at": case((window_open, alerts.c.first_at), else_=now_param),
            "count": case((window_open, alerts.c.count + 1), else_=1),
            "last_at": now,
        },
    ).returning(alerts.c.count)
    return int(conn.execute(upsert).scalar_one()) == 1
