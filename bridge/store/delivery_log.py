"""The delivery log as the dashboard pages through it: each hand-over with its document's
number and shop, filtered by channel, status and shop, newest first, a page at a time."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.engine import Connection, RowMapping

from bridge.store.schema import deliveries, invoices


@dataclass(frozen=True, slots=True)
class DeliveryLine:
    id: int
    shop: str
    number: str  # the document handed over
    channel: str
    target: str
    status: str
    attempts: int
    external_id: str
    detail: str
    created_at: datetime
    updated_at: datetime  # its last move: sent, failed, skipped…


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    """None: any."""

    channel: str | None = None
    status: str | None = None
    shop: str | None = None


def page(
    conn: Connection, limit: int, before_id: int | None = None,
    only: DeliveryFilter | None = None,
) -> list[DeliveryLine]:  # fmt: skip
    """Up to `limit` lines by id, newest first; `before_id` pages further back (an id, not an
    offset: rows added meanwhile do not shift the pages)."""
    query = (
        _filtered(_lines(), only or DeliveryFilter()).order_by(deliveries.c.id.desc()).limit(limit)
    )
    if before_id is not None:
        query = query.where(deliveries.c.id < before_id)
    return [_line(row) for row in conn.execute(query).mappings()]


def _lines() -> Select[tuple[object, ...]]:
    return select(
        deliveries, invoices.c.shop, invoices.c.number
    ).join(invoices, invoices.c.id == deliveries.c.invoice_id)  # fmt: skip


def _filtered(
    query: Select[tuple[object, ...]], only: DeliveryFilter
) -> Select[tuple[object, ...]]:
    if only.channel is not None:
        query = query.where(deliveries.c.channel == only.channel)
    if only.status is not None:
        query = query.where(deliveries.c.status == only.status)
    if only.shop is not None:
        query = query.where(invoices.c.shop == only.shop)
    return query


def _line(row: RowMapping) -> DeliveryLine:
    return DeliveryLine(
        id=row["id"], shop=row["shop"], number=row["number"], channel=row["channel"],
        target=row["target"], status=row["status"], attempts=row["attempts"],
        external_id=row["external_id"], detail=row["detail"], created_at=row["created_at"],
        updated_at=row["updated_at"],
    )  # fmt: skip


class DeliveryLog:
    """Mixed into `Store`, which provides the transactions."""

    def _read(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def delivery_log(
        self, limit: int = 100, before_id: int | None = None,
        only: DeliveryFilter | None = None,
    ) -> list[DeliveryLine]:  # fmt: skip
        """Newest first, `limit` at most, older than `before_id` when given."""
        with self._read() as conn:
            return page(conn, limit, before_id, only)
