"""The customer's side: customers and their documents, rate limits, downloads, surveys.

- customers: an email address within a shop, with the `generation` every link of theirs
  carries (revoking them bumps it).
- customer_documents: whose each document is; filled here from the snapshots already issued
  (their buyer's email), then by the issuing transaction.
- rate_limits: fixed-window counters of the public pages, shared by every replica.
- downloads: each PDF handed out through a customer link.
- surveys: one row per invoice whose email asked for an opinion, with the answer.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("shop", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.UniqueConstraint("shop", "email", name="uq_customers_shop_email"),
    )
    op.create_table(
        "customer_documents",
        sa.Column("invoice_id", sa.Integer, nullable=False),
        sa.Column("customer_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("invoice_id", name="pk_customer_documents"),
    )
    op.create_index("ix_customer_documents_customer_id", "customer_documents", ["customer_id"])
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_rate_limits"),
    )
    op.create_index("ix_rate_limits_window_start", "rate_limits", ["window_start"])
    op.create_table(
        "downloads",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("invoice_id", sa.Integer, nullable=False),
        sa.Column("via", sa.String(20), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_downloads"),
    )
    op.create_index("ix_downloads_invoice_id", "downloads", ["invoice_id"])
    op.create_table(
        "surveys",
        sa.Column("invoice_id", sa.Integer, nullable=False),
        sa.Column("shop", sa.String(200), nullable=False),
        sa.Column("scale", sa.Integer, nullable=False),
        sa.Column("invited_at", TS, nullable=False),
        sa.Column("score", sa.Integer),
        sa.Column("comment", sa.Text),
        sa.Column("first_answered_at", TS),
        sa.Column("answered_at", TS),
        sa.Column("comment_until", TS),
        sa.PrimaryKeyConstraint("invoice_id", name="pk_surveys"),
        sa.CheckConstraint("scale IN (3, 5)", name="ck_surveys_scale"),
        sa.CheckConstraint(
            "score IS NULL OR (score >= 1 AND score <= scale)", name="ck_surveys_score"
        ),
    )
    op.create_index("ix_surveys_shop_invited_at", "surveys", ["shop", "invited_at"])
    _owners_of_issued_documents()


def _owners_of_issued_documents() -> None:
    """Each issued document's buyer becomes a customer, so the portal lists old documents."""
    conn = op.get_bind()
    now = datetime.now(UTC)
    if conn.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # as UTCDateTime stores it there
    known: dict[tuple[str, str], int] = {}
    last = 0
    while True:  # a page at a time: ten years of snapshots need not fit in memory
        rows = conn.execute(
            sa.text(
                "SELECT id, shop, snapshot FROM invoices WHERE id > :last ORDER BY id LIMIT 500"
            ),
            {"last": last},
        ).all()
        if not rows:
            return
        for invoice_id, shop, snapshot in rows:
            _attach(conn, known, invoice_id, shop, json.loads(snapshot), now)
        last = rows[-1][0]


def _attach(
    conn: sa.Connection, known: dict[tuple[str, str], int], invoice_id: int, shop: str,
    snapshot: dict[str, object], now: datetime,
) -> None:  # fmt: skip
    buyer = snapshot.get("buyer")
    email = str((buyer or {}).get("email") or "").strip().lower() if isinstance(buyer, dict) else ""
    if not email:
        return
    if (shop, email) not in known:
        known[(shop, email)] = conn.execute(
            sa.text(
                "INSERT INTO customers (shop, email, generation, created_at) "
                "VALUES (:shop, :email, 0, :now) RETURNING id"
            ),
            {"shop": shop, "email": email, "now": now},
        ).scalar_one()
    conn.execute(
        sa.text("INSERT INTO customer_documents (invoice_id, customer_id) VALUES (:i, :c)"),
        {"i": invoice_id, "c": known[(shop, email)]},
    )


def downgrade() -> None:
    op.drop_table("surveys")
    op.drop_table("downloads")
    op.drop_table("rate_limits")
    op.drop_table("customer_documents")
    op.drop_table("customers")
