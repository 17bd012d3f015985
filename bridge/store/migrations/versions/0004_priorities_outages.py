"""Job priorities and open outages.

- jobs: `priority` (0 first): what hands a document over (email, attach) runs before what
  opens new work, and bulk intake (backfill, import) after live intake, so one customer's
  email does not wait behind a backlog of issues (bridge/store/jobs.py: PRIORITIES).
- outages: one row per cause of failure that has lasted longer than `[alerts] after_minutes`
  or has killed jobs: the owner is alerted once when it opens, again when it clears
  (bridge/outages.py).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("priority", sa.Integer, nullable=False, server_default="2"))
    # Jobs queued before the upgrade take their kind's place (bridge/store/jobs.py).
    op.execute("UPDATE jobs SET priority = 0 WHERE kind IN ('email', 'attach')")
    op.execute("UPDATE jobs SET priority = 1 WHERE kind = 'render'")
    op.create_index("ix_jobs_state_priority_run_at", "jobs", ["state", "priority", "run_at"])
    # /metrics and the outage check count jobs by kind and state on every scrape and minute.
    op.create_index("ix_jobs_kind_state", "jobs", ["kind", "state"])
    # The outage check asks every minute when a worker last moved a job (a stalled queue).
    op.create_index("ix_jobs_updated_at", "jobs", ["updated_at"])
    op.create_table(
        "outages",
        sa.Column("cause", sa.String(300), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("alerted_at", TS),
        sa.Column("affected", sa.Integer, nullable=False),
        sa.Column("told_dead", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sample", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("cause", name="pk_outages"),
    )


def downgrade() -> None:
    op.drop_table("outages")
    op.drop_index("ix_jobs_kind_state", table_name="jobs")
    op.drop_index("ix_jobs_updated_at", table_name="jobs")
    op.drop_index("ix_jobs_state_priority_run_at", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("priority")
