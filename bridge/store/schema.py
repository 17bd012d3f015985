"""SQLAlchemy Core tables: the shape the queries are written against.

The DDL that really creates them lives in the Alembic migrations (frozen history); a test
compares the migrated database with this metadata so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names: migrations (and SQLite batch mode) need to refer to them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes in, timezone-aware UTC datetimes out, on both dialects.

    SQLite has no timezone type: SQLAlchemy stores naive ISO strings there, so we normalise
    to UTC before writing (string comparison then equals time comparison, which the job
    queue relies on) and re-attach UTC when reading.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"expected a timezone-aware datetime, got {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("shop", String(200), nullable=False),
    Column("order_id", String(200), nullable=False),
    Column("platform", String(50), nullable=False),
    Column("status", String(20), nullable=False),
    Column("reason", Text),
    Column("payload", Text),  # Order as JSON; NULL only for unparseable quarantined orders
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("shop", "order_id"),
    CheckConstraint("status IN ('received', 'issued', 'quarantined')", name="status"),
)
Index("ix_orders_status", orders.c.status)

invoices = Table(
    "invoices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("shop", String(200), nullable=False),
    Column("order_id", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("series", String(35), nullable=False),
    Column("period", String(20), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("number", String(35), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("snapshot", Text, nullable=False),  # canonical JSON, exactly what was hashed
    Column("pdf_sha256", String(64)),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # What asked for the document: "" for the sale's invoice, "refund:<platform id>" or
    # "manual:<n>" for a credit note, "reissue:<n>" for an invoice issued again.
    Column("source", String(200), nullable=False, server_default=""),
    Column("credited_invoice_id", Integer),  # a credit note: the invoice it corrects
    # The id of the chain key whose HMAC `hash` is (bridge/chain_key.py); "" for the plain
    # SHA-256 links of documents issued before keyed links existed.
    Column("link_key", String(16), nullable=False, server_default=""),
    # Invariant 1: one document per order, kind and source, whatever races (one invoice per
    # paid order, one credit note per refund).
    UniqueConstraint("shop", "order_id", "kind", "source"),
    # Invariant 2: the database itself refuses a duplicate number.
    UniqueConstraint("series", "number"),
    UniqueConstraint("series", "period", "sequence"),
    CheckConstraint("sequence >= 1", name="sequence_positive"),
)

Index("ix_invoices_credited_invoice_id", invoices.c.credited_invoice_id)
# Newest first, and today's: the dashboard's documents list and counts, the export's period.
Index("ix_invoices_issued_at_id", invoices.c.issued_at, invoices.c.id)
# A document by its number alone, an order's documents whatever the shop (the dashboard).
Index("ix_invoices_number", invoices.c.number)
Index("ix_invoices_order_id", invoices.c.order_id)

# One row per series: locking it serialises numbering AND gives the chain head, so the next
# number and prev_hash always come from the same, latest committed invoice.
series_counters = Table(
    "series_counters",
    metadata,
    Column("series", String(35), primary_key=True),
    Column("period", String(20), nullable=False),
    Column("last_sequence", Integer, nullable=False),
    Column("last_hash", String(64), nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(50), nullable=False),
    Column("dedupe_key", String(300), nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("run_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(200)),
    Column("lease_until", UTCDateTime),
    Column("last_error", Text),
    Column("result", Text),
    Column("shop", String(200)),
    Column("order_id", String(200)),
    Column("invoice_id", Integer),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("first_attempt_at", UTCDateTime),
    # 0 runs first (bridge/store/jobs.py: PRIORITIES): deliveries before new work.
    Column("priority", Integer, nullable=False, server_default="2"),
    UniqueConstraint("dedupe_key"),
    CheckConstraint(
        "state IN ('pending', 'running', 'retry', 'done', 'dead', 'skipped')", name="state"
    ),
)
# The claim query scans by state then time (run_at for waiting jobs, lease_until for leases).
Index("ix_jobs_state_run_at", jobs.c.state, jobs.c.run_at)
Index("ix_jobs_state_lease_until", jobs.c.state, jobs.c.lease_until)
Index("ix_jobs_state_priority_run_at", jobs.c.state, jobs.c.priority, jobs.c.run_at)
Index("ix_jobs_kind_state", jobs.c.kind, jobs.c.state)  # /metrics, the outage check
Index("ix_jobs_updated_at", jobs.c.updated_at)  # the outage check: a stalled queue

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(100), nullable=False),
    Column("shop", String(200)),
    Column("order_id", String(200)),
    Column("invoice_number", String(35)),
    Column("detail", Text, nullable=False),
)
Index("ix_events_kind", events.c.kind)

alerts = Table(
    "alerts",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("first_at", UTCDateTime, nullable=False),  # start of the current window
    Column("last_at", UTCDateTime, nullable=False),
    Column("count", Integer, nullable=False),  # occurrences in the current window
)

# A cause of failure the owner was (or is about to be) told of: one row while it lasts, so
# the alert goes once when it opens and once when it clears (bridge/outages.py).
outages = Table(
    "outages",
    metadata,
    Column("cause", String(300), primary_key=True),
    Column("title", Text, nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("alerted_at", UTCDateTime),
    Column("affected", Integer, nullable=False),  # documents or jobs it holds up, last seen
    # documents failed for good the owner was told of (more later: told again)
    Column("told_dead", Integer, nullable=False, server_default="0"),
    Column("sample", Text, nullable=False),  # JSON list: the first ones, for the alert
)

# Raw platform events as received (the inbox): kept verbatim so a bad payload is never lost
# and can be replayed; the unique key makes duplicate deliveries a no-op.
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("shop", String(200), nullable=False),
    Column("platform", String(50), nullable=False),
    Column("event_key", String(300), nullable=False),
    Column("topic", String(100), nullable=False),
    Column("order_ref", String(300), nullable=False),
    Column("headers", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    # sha256 of `body` (UTF-8): the signed part of a delivery. NULL only on a replayed copy
    # kept from before migration 0005 (the first copy holds the digest).
    Column("body_sha256", String(64)),
    UniqueConstraint("shop", "event_key"),
)
Index("ix_webhook_events_received_at", webhook_events.c.received_at)
# A body already stored for the shop is a replay, whatever its (unsigned) delivery id and
# topic: one event, one ingest job. A unique index, not a constraint: SQLite adds it without
# rebuilding the table.
Index(
    "uq_webhook_events_shop_body_sha256",
    webhook_events.c.shop,
    webhook_events.c.body_sha256,
    unique=True,
)

# Per shop: the polling cursor (advanced only with the page it covers, in one transaction)
# and the polling lease that makes one process poll a shop per interval, whatever the count
# of `quittance run` processes.
poll_state = Table(
    "poll_state",
    metadata,
    Column("shop", String(200), primary_key=True),
    Column("cursor", UTCDateTime),
    Column("last_poll_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_error", Text),
    Column("lease_owner", String(200)),
    Column("lease_until", UTCDateTime),
    Column("polls", Integer, nullable=False),
)

# The delivery log: one row per job that hands a document over (email, attach, later SMS and
# helpdesk), updated as the job moves; a resend is a new job, hence a new row.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("invoice_id", Integer, nullable=False),
    Column("job_id", Integer, nullable=False),
    Column("channel", String(30), nullable=False),
    Column("target", String(300), nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("external_id", String(300), nullable=False),
    Column("detail", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("job_id"),
    CheckConstraint(
        "status IN ('pending', 'sent', 'retrying', 'failed', 'skipped')", name="status"
    ),
)
Index("ix_deliveries_invoice_id", deliveries.c.invoice_id)

# When Quittance first ran for a shop: an order paid well before it is not Quittance's to
# invoice (nor to credit) unless `quittance backfill` brings it.
shop_starts = Table(
    "shop_starts",
    metadata,
    Column("shop", String(200), primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
)

# The customer's side (bridge/portal): a customer is an email address within a shop. Their
# `generation` is in every link they hold: revoking them bumps it, and every older link stops.
customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("shop", String(200), nullable=False),
    Column("email", String(320), nullable=False),  # lower-cased, as compared
    Column("generation", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    UniqueConstraint("shop", "email"),
)

# Whose each document is, written in the transaction that issues it (the snapshot's buyer).
customer_documents = Table(
    "customer_documents",
    metadata,
    Column("invoice_id", Integer, primary_key=True),
    Column("customer_id", Integer, nullable=False),
)
Index("ix_customer_documents_customer_id", customer_documents.c.customer_id)

# Fixed-window counters of the public pages: in the database so that every replica counts
# the same requests.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("window_start", UTCDateTime, nullable=False),
    Column("count", Integer, nullable=False),
)
Index("ix_rate_limits_window_start", rate_limits.c.window_start)

# A short code standing for a signed customer link (a text message has no room for one),
# kept as long as the link it stands for works (bridge/portal/short_links.py).
short_links = Table(
    "short_links",
    metadata,
    Column("code", String(20), primary_key=True),
    Column("target", Text, nullable=False),
    Column("invoice_id", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)
Index("ix_short_links_expires_at", short_links.c.expires_at)

# Every PDF handed out by a customer link ("portal" page or direct "link").
downloads = Table(
    "downloads",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("invoice_id", Integer, nullable=False),
    Column("via", String(20), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)
Index("ix_downloads_invoice_id", downloads.c.invoice_id)

# One row per invoice whose email asked "did everything go well?"; the answer fills it in.
surveys = Table(
    "surveys",
    metadata,
    Column("invoice_id", Integer, primary_key=True),
    Column("shop", String(200), nullable=False),
    Column("scale", Integer, nullable=False),
    Column("invited_at", UTCDateTime, nullable=False),
    Column("score", Integer),
    Column("comment", Text),
    Column("first_answered_at", UTCDateTime),
    Column("answered_at", UTCDateTime),
    Column("comment_until", UTCDateTime),  # erased then ([[surveys]] comment_days)
    CheckConstraint("scale IN (3, 5)", name="scale"),
    CheckConstraint("score IS NULL OR (score >= 1 AND score <= scale)", name="score"),
)
Index("ix_surveys_shop_invited_at", surveys.c.shop, surveys.c.invited_at)

# The owner's dashboard (bridge/dashboard): accounts, their sessions (the cookie carries the
# signed id), and the cookie-signing key every replica shares.
dashboard_users = Table(
    "dashboard_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("locale", String(5), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("password_changed_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime),
    UniqueConstraint("username"),
    CheckConstraint("role IN ('owner', 'accountant')", name="role"),
)

dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 of the session's secret, never it
    Column("user_id", Integer, nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)
Index("ix_dashboard_sessions_user_id", dashboard_sessions.c.user_id)
Index("ix_dashboard_sessions_expires_at", dashboard_sessions.c.expires_at)

dashboard_keys = Table(
    "dashboard_keys",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
