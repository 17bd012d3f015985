"""Webhook body digest: a replayed body is a duplicate, whatever its delivery id or topic.

- webhook_events: `body_sha256`, the sha256 of the body as stored (UTF-8), unique per shop.
  The delivery id and the topic header are not covered by the platform's signature, so a
  captured body re-sent under a new delivery id (or another topic) must create no new work;
  bridge/store/platform.py (record_webhooks) skips a body already stored for the shop.
- Backfill: databases from before this revision may already hold replayed duplicates. Only
  the first row (lowest id) of each (shop, digest) gets its digest; the later duplicates
  keep NULL, which never collides in a unique index (PostgreSQL and SQLite alike), so the
  upgrade cannot fail on real data and no stored event is deleted.
- SQLite: adding a nullable column and an index is plain ALTER TABLE / CREATE INDEX, no
  table rebuild (a rebuild would drop triggers).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Rows read and updated per round trip: bounded memory on a large inbox.
_BATCH = 500

_events = sa.table(
    "webhook_events",
    sa.column("id", sa.Integer),
    sa.column("shop", sa.String),
    sa.column("body", sa.Text),
    sa.column("body_sha256", sa.String),
)


def _digest(body: str) -> str:
    # Same formula as bridge/store/platform.py: the body as stored, encoded as UTF-8.
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _backfill(conn: sa.Connection) -> None:
    """Give each (shop, body) its digest on its first row only, in id order."""
    seen: set[tuple[str, str]] = set()
    last_id = 0
    update = (
        sa.update(_events)
        .where(_events.c.id == sa.bindparam("row_id"))
        .values(body_sha256=sa.bindparam("digest"))
    )
    while True:
        rows = conn.execute(
            sa.select(_events.c.id, _events.c.shop, _events.c.body)
            .where(_events.c.id > last_id)
            .order_by(_events.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        firsts = []
        for row_id, shop, body in rows:
            digest = _digest(body)
            if (shop, digest) not in seen:  # a later replay stays NULL
                seen.add((shop, digest))
                firsts.append({"row_id": row_id, "digest": digest})
        if firsts:
            conn.execute(update, firsts)
        last_id = rows[-1][0]


def upgrade() -> None:
    op.add_column("webhook_events", sa.Column("body_sha256", sa.String(64)))
    _backfill(op.get_bind())
    op.create_index(
        "uq_webhook_events_shop_body_sha256",
        "webhook_events",
        ["shop", "body_sha256"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_webhook_events_shop_body_sha256", table_name="webhook_events")
    # webhook_events has no triggers: the SQLite copy-and-move loses nothing.
    with op.batch_alter_table("webhook_events") as batch:
        batch.drop_column("body_sha256")
