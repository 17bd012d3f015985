"""Orders as received: the normalised payload and where they stand (received/issued/...)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, or_, select, update
from sqlalchemy.engine import Connection, RowMapping

from bridge.model import Order
from bridge.store._sql import insert_for
from bridge.store.records import ORDER_STATUSES, OrderRecord
from bridge.store.schema import orders


def record(conn: Connection, order: Order, status: str, now: datetime) -> bool:
    """Upsert the order. Returns True when a quarantined order came back with different
    content (the owner fixed it on the shop): it is released to `received`, and the caller
    replays its jobs in the same transaction.

    An issued order stays issued (a late webhook or poll must not make it look pending); a
    quarantined order seen again unchanged (every poll's overlap window re-lists it) stays
    quarantined with its reason, so `quittance failures` and `retry` still find it.
    """
    if status not in ORDER_STATUSES:
        raise ValueError(f"unknown order status {status!r}; expected one of {ORDER_STATUSES}")
    payload = order.model_dump_json()
    before = (
        conn.execute(
            select(orders.c.status, orders.c.payload).where(
                orders.c.shop == order.shop, orders.c.order_id == order.order_id
            )
        )
        .mappings()
        .first()
    )
    released = bool(
        before is not None and before["status"] == "quarantined" and before["payload"] != payload
    )
    stmt = insert_for(conn, orders).values(
        shop=order.shop,
        order_id=order.order_id,
        platform=order.platform,
        status=status,
        reason=None,
        payload=payload,
        created_at=now,
        updated_at=now,
    )
    kept = orders.c.status == "issued"
    if not released:
        kept = or_(kept, orders.c.status == "quarantined")
    stmt = stmt.on_conflict_do_update(
        index_elements=[orders.c.shop, orders.c.order_id],
        set_={
            "platform": stmt.excluded.platform,
            "payload": stmt.excluded.payload,
            "status": case((kept, orders.c.status), else_=stmt.excluded.status),
            "reason": case((kept, orders.c.reason), else_=stmt.excluded.reason),
            "updated_at": stmt.excluded.updated_at,
        },
    )
    conn.execute(stmt)
    return released


def quarantine(conn: Connection, shop: str, order_id: str, reason: str, now: datetime) -> None:
    stmt = insert_for(conn, orders).values(
        shop=shop,
        order_id=order_id,
        platform="",
        status="quarantined",
        reason=reason,
        payload=None,
        created_at=now,
        updated_at=now,
    )
    # Never quarantine an order whose invoice exists: that document is issued for good.
    stmt = stmt.on_conflict_do_update(
        index_elements=[orders.c.shop, orders.c.order_id],
        set_={"status": "quarantined", "reason": reason, "updated_at": now},
        where=orders.c.status != "issued",
    )
    conn.execute(stmt)


def mark_issued(conn: Connection, shop: str, order_id: str, now: datetime) -> None:
    conn.execute(
        update(orders)
        .where(orders.c.shop == shop, orders.c.order_id == order_id)
        .where(orders.c.status != "issued")
        .values(status="issued", reason=None, updated_at=now)
    )


def release_quarantined(conn: Connection, shop: str, order_id: str, now: datetime) -> bool:
    result = conn.execute(
        update(orders)
        .where(orders.c.shop == shop, orders.c.order_id == order_id)
        .where(orders.c.status == "quarantined")
        .values(status="received", reason=None, updated_at=now)
    )
    return result.rowcount == 1


def get(conn: Connection, shop: str, order_id: str) -> OrderRecord | None:
    row = (
        conn.execute(select(orders).where(orders.c.shop == shop, orders.c.order_id == order_id))
        .mappings()
        .first()
    )
    return None if row is None else _record(row)


def list_by_status(conn: Connection, status: str) -> list[OrderRecord]:
    rows = conn.execute(
        select(orders).where(orders.c.status == status).order_by(orders.c.updated_at, orders.c.id)
    ).mappings()
    return [_record(row) for row in rows]


def _record(row: RowMapping) -> OrderRecord:
    payload = row["payload"]
    return OrderRecord(
        shop=row["shop"],
        order_id=row["order_id"],
        platform=row["platform"],
        status=row["status"],
        reason=row["reason"],
        payload=None if payload is None else Order.model_validate_json(payload),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
