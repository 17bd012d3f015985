"""Plain, immutable records the store hands out (never live rows or ORM objects)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.model import Order

ORDER_STATUSES = ("received", "issued", "quarantined")
JOB_STATES = ("pending", "running", "retry", "done", "dead", "skipped")

# prev_hash of the first invoice of a series: the chain has to start somewhere fixed.
GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class OrderRecord:
    shop: str
    order_id: str
    platform: str
    status: str  # received | issued | quarantined
    reason: str | None
    # None only for an order quarantined before it could be parsed into an `Order`.
    payload: Order | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class InvoiceRecord:
    id: int
    series: str
    period: str
    sequence: int
    number: str
    shop: str
    order_id: str
    kind: str
    issued_at: datetime
    snapshot: InvoiceSnapshot
    snapshot_json: str  # exactly the canonical JSON that was hashed
    pdf_sha256: str | None
    prev_hash: str
    hash: str
    source: str = ""  # "" the sale's invoice; "refund:<id>", "manual:<n>", "reissue:<n>"
    credited_invoice_id: int | None = None  # a credit note: the invoice it corrects
    link_key: str = ""  # the chain key that signed `hash`; "" a plain SHA-256 link


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: int
    invoice_id: int
    job_id: int
    channel: str  # email | attach (later sms, helpdesk)
    target: str  # the address, the shop order…
    status: str  # pending | sent | retrying | failed | skipped
    attempts: int
    external_id: str  # the SMTP Message-ID, the platform's note id…
    detail: str  # the last error or skip reason
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class IssueResult:
    invoice: InvoiceRecord
    created: bool  # False: the (shop, order_id, kind) already had this invoice


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    at: datetime
    kind: str
    shop: str | None
    order_id: str | None
    invoice_number: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: int
    kind: str
    payload: dict[str, Any]
    state: str  # pending | running | retry | done | dead | skipped
    attempts: int
    run_at: datetime
    lease_owner: str | None
    lease_until: datetime | None
    last_error: str | None
    shop: str | None
    order_id: str | None
    invoice_id: int | None
    created_at: datetime
    updated_at: datetime
    first_attempt_at: datetime | None
    dedupe_key: str
    result: dict[str, Any] | None
    priority: int = 2  # claim order, lowest first (bridge/store/jobs.py: PRIORITIES)


@dataclass(frozen=True, slots=True)
class WebhookRecord:
    id: int
    shop: str
    platform: str
    event_key: str
    topic: str
    order_ref: str  # the platform's handle to re-read the order (id, or GraphQL gid)
    headers: dict[str, str]
    body: str
    received_at: datetime
    # sha256 of `body` as stored; None only on a replayed copy kept from before it existed
    body_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class PollStateRecord:
    shop: str
    cursor: datetime | None  # orders modified at or after this were recorded
    last_poll_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    polls: int


@dataclass(frozen=True, slots=True)
class WebhookIn:
    """A verified event to store (see `Store.record_webhooks`)."""

    shop: str
    platform: str
    event_key: str
    topic: str
    order_ref: str
    headers: dict[str, str]
    body: str


class UnreadableIn(Protocol):
    """A paid order polled from a shop that could not be mapped (see
    `Store.record_polled_page`): its id, why, and the raw payload to keep."""

    @property
    def order_id(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def raw(self) -> Mapping[str, object]: ...


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    id: int
    shop: str
    email: str  # lower-cased
    generation: int  # in every link they hold; bumped by a revocation
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SurveyRecord:
    invoice_id: int
    shop: str
    number: str
    order_id: str
    scale: int
    invited_at: datetime
    score: int | None
    comment: str | None
    first_answered_at: datetime | None
    answered_at: datetime | None
