"""Credit notes and the delivery log.

- invoices: `source` (what asked for the document: "" for the sale's invoice, "refund:<id>"
  or "manual:<n>" for a credit note, "reissue:<n>" for an invoice issued again) joins the
  document key, so an order can have one credit note per refund; `credited_invoice_id`
  names the invoice a credit note corrects.
- deliveries: one row per attempt to hand a document over (email, attach…).
- shop_starts: when Quittance first ran for each shop (orders paid before it are not its own).

SQLite cannot drop a constraint in place: the invoices table is rebuilt, and its
immutability triggers (which a rebuild drops) are created again, now guarding the new
columns too.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)

_OLD_FROZEN_COLUMNS = (
    "id", "shop", "order_id", "kind", "series", "period", "sequence", "number",
    "issued_at", "snapshot", "prev_hash", "hash",
)  # fmt: skip
_FROZEN_COLUMNS = (*_OLD_FROZEN_COLUMNS, "source", "credited_invoice_id")


def _sqlite_invoice_triggers(frozen: Sequence[str]) -> list[str]:
    unchanged = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in frozen)
    return [
        """
        CREATE TRIGGER invoices_no_delete BEFORE DELETE ON invoices
        BEGIN SELECT RAISE(ABORT, 'quittance-immutable: DELETE of invoice refused'); END
        """,
        f"""
        CREATE TRIGGER invoices_no_update BEFORE UPDATE ON invoices
        WHEN NOT (OLD.pdf_sha256 IS NULL AND NEW.pdf_sha256 IS NOT NULL AND {unchanged})
        BEGIN SELECT RAISE(ABORT, 'quittance-immutable: UPDATE of invoice refused'); END
        """,
    ]


def _without_sqlite_triggers() -> bool:
    """On SQLite, drop the invoice triggers before a rebuild (it would drop them silently)
    and say so: the caller makes them again after it."""
    if op.get_bind().dialect.name != "sqlite":
        return False
    op.execute("DROP TRIGGER IF EXISTS invoices_no_delete")
    op.execute("DROP TRIGGER IF EXISTS invoices_no_update")
    return True


def upgrade() -> None:
    # On PostgreSQL, DDL fires no row trigger: the whole-row guard covers the new columns as
    # it stands. SQLite's rebuild drops the triggers: they are made again after it.
    sqlite = _without_sqlite_triggers()
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("source", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("credited_invoice_id", sa.Integer))
        batch.drop_constraint("uq_invoices_shop_order_id_kind", type_="unique")
        batch.create_unique_constraint(
            "uq_invoices_shop_order_id_kind_source", ["shop", "order_id", "kind", "source"]
        )
    op.create_index("ix_invoices_credited_invoice_id", "invoices", ["credited_invoice_id"])
    if sqlite:
        for ddl in _sqlite_invoice_triggers(_FROZEN_COLUMNS):
            op.execute(ddl)

    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("invoice_id", sa.Integer, nullable=False),
        sa.Column("job_id", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(30), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("external_id", sa.String(300), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint("job_id", name="uq_deliveries_job_id"),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'retrying', 'failed', 'skipped')",
            name="ck_deliveries_status",
        ),
    )
    op.create_index("ix_deliveries_invoice_id", "deliveries", ["invoice_id"])
    op.create_table(
        "shop_starts",
        sa.Column("shop", sa.String(200), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("shop", name="pk_shop_starts"),
    )
    # A shop Quittance already served started with the first order it recorded.
    op.execute(
        "INSERT INTO shop_starts (shop, started_at) "
        "SELECT shop, MIN(created_at) FROM orders GROUP BY shop"
    )


def downgrade() -> None:
    several = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT shop, order_id FROM invoices GROUP BY shop, order_id, kind "
                "HAVING COUNT(*) > 1"
            )
        )
        .first()
    )
    if several is not None:
        raise RuntimeError(
            f"cannot go back below 0003: order {several[0]}/{several[1]} has several credit "
            "notes or invoices, which the older schema cannot hold"
        )
    op.drop_table("shop_starts")
    op.drop_index("ix_deliveries_invoice_id", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_invoices_credited_invoice_id", table_name="invoices")
    sqlite = _without_sqlite_triggers()
    with op.batch_alter_table("invoices") as batch:
        batch.drop_constraint("uq_invoices_shop_order_id_kind_source", type_="unique")
        batch.create_unique_constraint(
            "uq_invoices_shop_order_id_kind", ["shop", "order_id", "kind"]
        )
        batch.drop_column("credited_invoice_id")
        batch.drop_column("source")
    if sqlite:
        for ddl in _sqlite_invoice_triggers(_OLD_FROZEN_COLUMNS):
            op.execute(ddl)
