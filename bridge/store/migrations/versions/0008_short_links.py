"""Short links: a text message has room for ~35 characters of link, a signed portal link
takes ~130. `short_links` maps a random code to the signed link it stands for, kept at least
as long as that link works.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "short_links",
        sa.Column("code", sa.String(20), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("invoice_id", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_short_links"),
    )
    op.create_index("ix_short_links_expires_at", "short_links", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_short_links_expires_at", table_name="short_links")
    op.drop_table("short_links")
