"""When Quittance first ran for each shop: orders paid well before are not its own."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from bridge.store._sql import insert_for
from bridge.store.schema import shop_starts


def started_at(conn: Connection, shop: str, now: datetime) -> datetime:
    """The shop's recorded start, recording `now` the first time (a racer's wins)."""
    conn.execute(
        insert_for(conn, shop_starts)
        .values(shop=shop, started_at=now)
        .on_conflict_do_nothing(index_elements=[shop_starts.c.shop])
    )
    return conn.execute(
        select(shop_starts.c.started_at).where(shop_starts.c.shop == shop)
    ).scalar_one()
