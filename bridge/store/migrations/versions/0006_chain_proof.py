"""A chain that proves: keyed links and guards that plain SQL cannot go around.

- invoices.link_key: the id of the chain key whose HMAC a link is (bridge/chain_key.py); ""
  for the plain SHA-256 links issued before. The first keyed link covers its plain
  predecessor's hash, so the plain history is pinned by the first keyed link after it.
- An insert check ties each new document to its series counter: its prev_hash is the
  counter's head and its sequence the next one (or 1 in a new period). The counter itself
  only moves forward, one document at a time, to a document that exists; it is never
  deleted. A made-up document or a rewound counter is refused by the database itself.
- SQLite: `REPLACE INTO` deletes the conflicting row without firing DELETE triggers unless
  the session set `recursive_triggers` (ours does, a plain `sqlite3` shell does not). BEFORE
  INSERT triggers refuse any insert that collides with an existing invoice, event or counter,
  so REPLACE has nothing to delete. The UPDATE trigger is made again with link_key frozen.
- PostgreSQL: the whole-row guard of 0001 already freezes the new column.
- The event "chain.keyed_from" records each series' head at this upgrade: every plain link
  after it was made without the key (an upgraded install keeps its plain history; a new one
  has none).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_FROZEN_COLUMNS = (
    "id", "shop", "order_id", "kind", "series", "period", "sequence", "number",
    "issued_at", "snapshot", "prev_hash", "hash", "source", "credited_invoice_id",
)  # fmt: skip
_FROZEN_COLUMNS = (*_OLD_FROZEN_COLUMNS, "link_key")

# The counter row a new invoice must follow (same text on both dialects).
_FOLLOWS_COUNTER = """
    SELECT 1 FROM series_counters c
    WHERE c.series = NEW.series AND c.last_hash = NEW.prev_hash
      AND ((c.period = NEW.period AND NEW.sequence = c.last_sequence + 1)
           OR (c.period <> NEW.period AND NEW.sequence = 1))
"""
# The invoice a counter may move to: the one just inserted after its previous head.
_COUNTER_TARGET = """
    SELECT 1 FROM invoices i
    WHERE i.series = NEW.series AND i.period = NEW.period
      AND i.sequence = NEW.last_sequence AND i.hash = NEW.last_hash
      AND i.prev_hash = OLD.last_hash
"""


def _sqlite_update_guard(frozen: Sequence[str]) -> str:
    unchanged = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in frozen)
    return f"""
    CREATE TRIGGER invoices_no_update BEFORE UPDATE ON invoices
    WHEN NOT (OLD.pdf_sha256 IS NULL AND NEW.pdf_sha256 IS NOT NULL AND {unchanged})
    BEGIN SELECT RAISE(ABORT, 'quittance-immutable: UPDATE of invoice refused'); END
    """


_SQLITE_TRIGGERS = [
    _sqlite_update_guard(_FROZEN_COLUMNS),
    """
    CREATE TRIGGER invoices_no_replace BEFORE INSERT ON invoices
    WHEN EXISTS (SELECT 1 FROM invoices o WHERE o.id = NEW.id
                 OR (o.series = NEW.series AND o.number = NEW.number)
                 OR (o.series = NEW.series AND o.period = NEW.period
                     AND o.sequence = NEW.sequence)
                 OR (o.shop = NEW.shop AND o.order_id = NEW.order_id
                     AND o.kind = NEW.kind AND o.source = NEW.source))
    BEGIN SELECT RAISE(ABORT, 'quittance-immutable: INSERT over an existing invoice refused');
    END
    """,
    f"""
    CREATE TRIGGER invoices_follow_counter BEFORE INSERT ON invoices
    WHEN NOT EXISTS ({_FOLLOWS_COUNTER})
    BEGIN SELECT RAISE(ABORT,
        'quittance-immutable: INSERT of an invoice that does not follow its series counter');
    END
    """,
    """
    CREATE TRIGGER events_no_replace BEFORE INSERT ON events
    WHEN EXISTS (SELECT 1 FROM events o WHERE o.id = NEW.id)
    BEGIN SELECT RAISE(ABORT, 'quittance-immutable: INSERT over an existing event refused');
    END
    """,
    """
    CREATE TRIGGER series_counters_no_replace BEFORE INSERT ON series_counters
    WHEN EXISTS (SELECT 1 FROM series_counters o WHERE o.series = NEW.series)
    BEGIN SELECT RAISE(ABORT, 'quittance-immutable: INSERT over a series counter refused');
    END
    """,
    f"""
    CREATE TRIGGER series_counters_forward BEFORE UPDATE ON series_counters
    WHEN NOT (NEW.series = OLD.series AND EXISTS ({_COUNTER_TARGET}))
    BEGIN SELECT RAISE(ABORT, 'quittance-immutable: UPDATE of a series counter refused'); END
    """,
    """
    CREATE TRIGGER series_counters_no_delete BEFORE DELETE ON series_counters
    BEGIN SELECT RAISE(ABORT, 'quittance-immutable: DELETE of a series counter refused'); END
    """,
]
_SQLITE_NEW = (
    "invoices_no_replace", "invoices_follow_counter", "events_no_replace",
    "series_counters_no_replace", "series_counters_forward", "series_counters_no_delete",
)  # fmt: skip

_PG_TRIGGERS = [
    f"""
    CREATE FUNCTION quittance_invoice_follows_counter() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS ({_FOLLOWS_COUNTER}) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'quittance-immutable: invoice % does not follow its series counter',
            NEW.number;
    END $$
    """,
    """
    CREATE TRIGGER invoices_follow_counter BEFORE INSERT ON invoices
    FOR EACH ROW EXECUTE FUNCTION quittance_invoice_follows_counter()
    """,
    f"""
    CREATE FUNCTION quittance_counter_forward() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.series = OLD.series AND EXISTS ({_COUNTER_TARGET}) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'quittance-immutable: % of series counter % refused',
            TG_OP, OLD.series;
    END $$
    """,
    """
    CREATE TRIGGER series_counters_forward BEFORE UPDATE OR DELETE ON series_counters
    FOR EACH ROW EXECUTE FUNCTION quittance_counter_forward()
    """,
    """
    CREATE TRIGGER series_counters_no_truncate BEFORE TRUNCATE ON series_counters
    FOR EACH STATEMENT EXECUTE FUNCTION quittance_refuse_change()
    """,
]


KEYED_FROM_EVENT = "chain.keyed_from"


def _record_plain_heads() -> None:
    """The last plain link of each series, in the append-only log (bridge/audit.py)."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT i.series, i.id, i.number, i.hash FROM invoices i JOIN series_counters c"
            " ON c.series = i.series AND c.period = i.period AND c.last_sequence = i.sequence"
        )
    ).all()
    heads = {series: {"id": id_, "number": number, "hash": hash_}
             for series, id_, number, hash_ in rows}  # fmt: skip
    now = datetime.now(UTC)
    events = sa.table(
        "events", sa.column("at", sa.DateTime(timezone=True)), sa.column("kind", sa.String),
        sa.column("detail", sa.Text),
    )  # fmt: skip
    op.bulk_insert(events, [{
        "at": now.replace(tzinfo=None) if bind.dialect.name == "sqlite" else now,
        "kind": KEYED_FROM_EVENT,
        "detail": json.dumps({"heads": heads}, sort_keys=True),
    }])  # fmt: skip


def upgrade() -> None:
    # A plain ADD COLUMN: no table rebuild, so SQLite keeps the existing triggers.
    op.add_column(
        "invoices", sa.Column("link_key", sa.String(16), nullable=False, server_default="")
    )
    _record_plain_heads()
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER invoices_no_update")
        for ddl in _SQLITE_TRIGGERS:
            op.execute(ddl)
    else:
        for ddl in _PG_TRIGGERS:
            op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("invoices_no_update", *_SQLITE_NEW):
            op.execute(f"DROP TRIGGER {name}")
        op.execute("ALTER TABLE invoices DROP COLUMN link_key")
        op.execute(_sqlite_update_guard(_OLD_FROZEN_COLUMNS))
        return
    op.execute("DROP TRIGGER invoices_follow_counter ON invoices")
    op.execute("DROP TRIGGER series_counters_forward ON series_counters")
    op.execute("DROP TRIGGER series_counters_no_truncate ON series_counters")
    op.execute("DROP FUNCTION quittance_invoice_follows_counter()")
    op.execute("DROP FUNCTION quittance_counter_forward()")
    op.drop_column("invoices", "link_key")
