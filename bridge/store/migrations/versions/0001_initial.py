"""Initial schema: orders, invoices (+ immutability triggers), counters, jobs, events, alerts.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)

# Every invoice column except pdf_sha256: the ones an UPDATE must leave untouched.
_FROZEN_INVOICE_COLUMNS = (
    "id", "shop", "order_id", "kind", "series", "period", "sequence", "number",
    "issued_at", "snapshot", "prev_hash", "hash",
)  # fmt: skip

_PG_TRIGGERS = [
    """
    CREATE FUNCTION quittance_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'quittance-immutable: % on % refused', TG_OP, TG_TABLE_NAME;
        RETURN NULL;
    END $$
    """,
    # Whole-row comparison minus pdf_sha256, so a column added later is protected too.
    """
    CREATE FUNCTION quittance_invoices_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE'
           AND OLD.pdf_sha256 IS NULL AND NEW.pdf_sha256 IS NOT NULL
           AND (to_jsonb(NEW) - 'pdf_sha256') = (to_jsonb(OLD) - 'pdf_sha256') THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'quittance-immutable: % of invoice % refused', TG_OP, OLD.number;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER invoices_immutable BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION quittance_invoices_guard()
    """,
    """
    CREATE TRIGGER invoices_no_truncate BEFORE TRUNCATE ON invoices
    FOR EACH STATEMENT EXECUTE FUNCTION quittance_refuse_change()
    """,
    """
    CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION quittance_refuse_change()
    """,
    """
    CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION quittance_refuse_change()
    """,
]

_unchanged = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _FROZEN_INVOICE_COLUMNS)
_SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER invoices_no_delete BEFORE DELETE ON invoices
    BEGIN SELECT RAISE(ABORT, 'quittance-immutable: DELETE of invoice refused'); END
    """,
    f"""
    CREATE TRIGGER invoices_no_update BEFORE UPDATE ON invoices
    WHEN NOT (OLD.pdf_sha256 IS NULL AND NEW.pdf_sha256 IS NOT NULL AND {_unchanged})
    BEGIN SELECT RAISE(ABORT, 'quittance-immutable: UPDATE of invoice refused'); END
    """,
    """
    CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'quittance-immutable: DELETE on events refused'); END
    """,
    """
    CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'quittance-immutable: UPDATE on events refused'); END
    """,
]


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("shop", sa.String(200), nullable=False),
        sa.Column("order_id", sa.String(200), nullable=False),
        sa.Column("platform", sa.String(50), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("payload", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("shop", "order_id", name=op.f("uq_orders_shop_order_id")),
        sa.CheckConstraint(
            "status IN ('received', 'issued', 'quarantined')", name=op.f("ck_orders_status")
        ),
    )
    op.create_index(op.f("ix_orders_status"), "orders", ["status"])

    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("shop", sa.String(200), nullable=False),
        sa.Column("order_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("series", sa.String(35), nullable=False),
        sa.Column("period", sa.String(20), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("number", sa.String(35), nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("snapshot", sa.Text, nullable=False),
        sa.Column("pdf_sha256", sa.String(64)),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint(
            "shop", "order_id", "kind", name=op.f("uq_invoices_shop_order_id_kind")
        ),
        sa.UniqueConstraint("series", "number", name=op.f("uq_invoices_series_number")),
        sa.UniqueConstraint(
            "series", "period", "sequence", name=op.f("uq_invoices_series_period_sequence")
        ),
        sa.CheckConstraint("sequence >= 1", name=op.f("ck_invoices_sequence_positive")),
    )

    op.create_table(
        "series_counters",
        sa.Column("series", sa.String(35), nullable=False),
        sa.Column("period", sa.String(20), nullable=False),
        sa.Column("last_sequence", sa.Integer, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("series", name=op.f("pk_series_counters")),
    )

    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("dedupe_key", sa.String(300), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("run_at", TS, nullable=False),
        sa.Column("lease_owner", sa.String(200)),
        sa.Column("lease_until", TS),
        sa.Column("last_error", sa.Text),
        sa.Column("result", sa.Text),
        sa.Column("shop", sa.String(200)),
        sa.Column("order_id", sa.String(200)),
        sa.Column("invoice_id", sa.Integer),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("first_attempt_at", TS),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_jobs_dedupe_key")),
        sa.CheckConstraint(
            "state IN ('pending', 'running', 'retry', 'done', 'dead', 'skipped')",
            name=op.f("ck_jobs_state"),
        ),
    )
    op.create_index(op.f("ix_jobs_state_run_at"), "jobs", ["state", "run_at"])
    op.create_index(op.f("ix_jobs_state_lease_until"), "jobs", ["state", "lease_until"])

    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("shop", sa.String(200)),
        sa.Column("order_id", sa.String(200)),
        sa.Column("invoice_number", sa.String(35)),
        sa.Column("detail", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_kind"), "events", ["kind"])

    op.create_table(
        "alerts",
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("first_at", TS, nullable=False),
        sa.Column("last_at", TS, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_alerts")),
    )

    dialect = op.get_bind().dialect.name
    for ddl in _PG_TRIGGERS if dialect == "postgresql" else _SQLITE_TRIGGERS:
        op.execute(ddl)


def downgrade() -> None:
    # Dropping the tables drops their triggers; the PG functions go explicitly.
    for table in ("alerts", "events", "jobs", "series_counters", "invoices", "orders"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS quittance_invoices_guard()")
        op.execute("DROP FUNCTION IF EXISTS quittance_refuse_change()")
