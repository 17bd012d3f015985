"""The `Connector` protocol every platform implements, and the errors connectors raise.

A connector translates and talks HTTP; it never touches the database. The pipeline drives it:

    verify_webhook(headers, body)  → WebhookEvent, or raises WebhookRejected (401/400/…)
    fetch_order(order_ref)         → FetchedOrder: the normalised Order + is it paid (and why not);
                                     the Order carries every refund of it, in detail (lines,
                                     shipping, taxes, method), read without moving money
    iter_paid_pages(since)         → pages of paid orders modified since `since` (polling),
                                     fully refunded ones included: they were paid
    attach_invoice(order_ref, number, url, kind=, replaces=) → idempotent: a retry never adds a
                                     second note; a credit note is attached beside its invoice
    install_webhooks(target_url)   → what was created/updated
    check()                        → doctor lines: "credentials" first, then the platform's own
                                     (scopes, https, one "webhook <topic>" line per topic)

Errors: `TransientConnectorError` (network, 429, 5xx: retry later) and
`PermanentConnectorError` (401/403/404, bad payload: a person must act; the message names the
shop and what to fix). Both belong to the failure vocabulary of `bridge.failures`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from bridge.failures import StepError
from bridge.model import Order


class ConnectorError(StepError):
    """The shop's API failed; the message names the shop and, when a person must act, what to
    fix (`connectors.http` decides transient or permanent from the HTTP answer)."""

    transient = True


class TransientConnectorError(ConnectorError):
    transient = True


class PermanentConnectorError(ConnectorError):
    transient = False


# What stops reading an order without saying anything about the order: the shop's API or the
# network failed, and the whole poll (or fetch) fails and is retried. Anything else raised
# while reading ONE order is about that order (a plugin's garbage, a shape the mapping never
# met): the order is unreadable and quarantined, and polling moves on past it.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (ConnectorError, OSError)


class WebhookRejected(Exception):
    """The request is not a valid event for this shop: answer `status` with `reason`."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class WebhookEvent:
    event_key: str  # unique per shop: duplicates of one delivery share it
    topic: str
    order_ref: str  # what fetch_order takes (a numeric id, a GraphQL gid…)
    ping: bool = False  # a platform's "is this URL alive" request: answer 200, store nothing


@dataclass(frozen=True)
class FetchedOrder:
    """One order read from the shop. The paid rule runs first, on the raw payload: an unpaid
    order is never mapped in full (`order` None, `paid` False). A paid order that cannot be
    mapped has `order` None, `paid` True and the reason naming the field, for quarantine."""

    order: Order | None
    paid: bool
    not_paid_reason: str = ""  # why not paid, or why a paid order could not be read
    raw: Mapping[str, object] = field(default_factory=dict)
    order_id: str = ""  # the platform's id, known even when the mapping failed

    @property
    def unreadable(self) -> bool:
        return self.paid and self.order is None


@dataclass(frozen=True)
class UnreadableOrder:
    """A paid order listed while polling that could not be mapped: it is quarantined."""

    order_id: str
    reason: str
    raw: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderPage:
    orders: list[Order]  # paid ones only, already normalised
    cursor: datetime | None  # the newest modification time covered by this page
    skipped: int = 0  # seen but not paid
    errors: list[str] = field(default_factory=list)  # what could not be listed at all
    unreadable: list[UnreadableOrder] = field(default_factory=list)


@dataclass(frozen=True)
class AttachResult:
    attached: bool  # False = it was already there (idempotent retry)
    detail: str = ""


@dataclass(frozen=True)
class CheckLine:
    name: str
    ok: bool
    detail: str


# (order_id, ids of the refunds the listing shows) → nothing new to read for this order
IsKnown = Callable[[str, frozenset[str]], bool]


@runtime_checkable
class Connector(Protocol):
    platform: str
    shop: str
    page_size: int  # orders per page while polling

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent: ...

    def fetch_order(self, order_ref: str) -> FetchedOrder: ...

    def iter_paid_pages(
        self, since: datetime | None, *, is_known: IsKnown | None = None
    ) -> Iterator[OrderPage]:
        """`is_known(order_id, refund_ids)`: the order is invoiced and its refunds are exactly
        those listed (none new, none deleted): a connector may skip re-reading it."""
        ...

    def attach_invoice(
        self, order_ref: str, number: str, url: str, *, kind: str = "invoice", replaces: str = ""
    ) -> AttachResult:
        """`kind`: "invoice" or "credit_note". `replaces`: for an invoice issued again after
        its predecessor was fully credited (`quittance credit --reissue`), that predecessor's
        number, which the order may show instead of this one."""
        ...

    def install_webhooks(self, target_url: str) -> list[str]: ...

    def check(self) -> list[CheckLine]: ...
