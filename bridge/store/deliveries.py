"""The delivery log: each hand-over of a document (email, attach…) as a row, kept beside
the job that makes it and moved with it in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, RowMapping

from bridge.store._sql import insert_for
from bridge.store.records import DeliveryRecord
from bridge.store.schema import deliveries, invoices

DELIVERY_STATUSES = ("pending", "sent", "retrying", "failed", "skipped")


@dataclass(frozen=True, slots=True)
class DeliveryIn:
    """Where a channel job stands, to record with its move (see `JobQueue`)."""

    channel: str
    target: str
    status: str
    external_id: str = ""
    detail: str = ""


def record(
    conn: Connection, *, job_id: int, invoice_id: int, attempts: int, entry: DeliveryIn,
    now: datetime,
) -> None:  # fmt: skip
    """Insert or move the job's delivery row."""
    if entry.status not in DELIVERY_STATUSES:
        raise ValueError(f"unknown delivery status {entry.status!r}")
    values = {
        "channel": entry.channel,
        "target": entry.target[:300],
        "status": entry.status,
        "attempts": attempts,
        "external_id": entry.external_id[:300],
        "detail": entry.detail,
        "updated_at": now,
    }
    stmt = insert_for(conn, deliveries).values(
        job_id=job_id, invoice_id=invoice_id, created_at=now, **values
    )
    stmt = stmt.on_conflict_do_update(index_elements=[deliveries.c.job_id], set_=values)
    conn.execute(stmt)


def for_invoices(conn: Connection, invoice_ids: list[int]) -> list[DeliveryRecord]:
    rows = conn.execute(
        select(deliveries)
        .where(deliveries.c.invoice_id.in_(invoice_ids))
        .order_by(deliveries.c.invoice_id, deliveries.c.id)
    ).mappings()
    return [_record(row) for row in rows]


def for_order(conn: Connection, shop: str | None, order_id: str) -> list[DeliveryRecord]:
    ids = select(invoices.c.id).where(invoices.c.order_id == order_id)
    if shop is not None:
        ids = ids.where(invoices.c.shop == shop)
    return for_invoices(conn, list(conn.execute(ids).scalars()))


def recent(conn: Connection, limit: int, channel: str | None = None) -> list[DeliveryRecord]:
    query = select(deliveries).order_by(deliveries.c.id.desc()).limit(limit)
    if channel is not None:
        query = query.where(deliveries.c.channel == channel)
    return [_record(row) for row in conn.execute(query).mappings()]


def counts_since(conn: Connection, since: datetime) -> dict[tuple[str, str], dict[str, int]]:
    """{(shop, channel): {status: rows}} of the deliveries moved since `since`."""
    rows = conn.execute(
        select(invoices.c.shop, deliveries.c.channel, deliveries.c.status, func.count())
        .join(invoices, invoices.c.id == deliveries.c.invoice_id)
        .where(deliveries.c.updated_at >= since)
        .group_by(invoices.c.shop, deliveries.c.channel, deliveries.c.status)
    )
    out: dict[tuple[str, str], dict[str, int]] = {}
    for shop, channel, status, count in rows:
        out.setdefault((shop, channel), {})[status] = int(count)
    return out


def _record(row: RowMapping) -> DeliveryRecord:
    return DeliveryRecord(
        id=row["id"],
        invoice_id=row["invoice_id"],
        job_id=row["job_id"],
        channel=row["channel"],
        target=row["target"],
        status=row["status"],
        attempts=row["attempts"],
        external_id=row["external_id"],
        detail=row["detail"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
