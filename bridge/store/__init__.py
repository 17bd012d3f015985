"""Storage: SQLAlchemy Core tables, Alembic migrations, numbering, job queue, event log.

Every SQL statement of Quittance lives in this package; import `Store` and the records.
"""

from bridge.store.errors import InvoiceImmutableError, StoreError
from bridge.store.invoices import FollowUp, chain_hash, chain_problems
from bridge.store.records import (
    GENESIS_HASH,
    JOB_STATES,
    ORDER_STATUSES,
    EventRecord,
    InvoiceRecord,
    IssueResult,
    JobRecord,
    OrderRecord,
    PollStateRecord,
    WebhookIn,
    WebhookRecord,
)
from bridge.store.store import Store

__all__ = [
    "GENESIS_HASH",
    "JOB_STATES",
    "ORDER_STATUSES",
    "EventRecord",
    "FollowUp",
    "InvoiceImmutableError",
    "InvoiceRecord",
    "IssueResult",
    "JobRecord",
    "OrderRecord",
    "PollStateRecord",
    "Store",
    "StoreError",
    "WebhookIn",
    "WebhookRecord",
    "chain_hash",
    "chain_problems",
]
