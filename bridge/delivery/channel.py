"""What every customer channel is given and gives back: one document to hand over
(`Handover`), and what became of it (`Sent`, or `NothingToDo` when the channel has nowhere to
put it: no open ticket, no such contact).

Channels (SMS gateways, Zendesk, Intercom) are I/O at the edge: they take a `Handover`, talk
their service's API, and raise the failure vocabulary's delivery errors
(`bridge.delivery.errors`, via `bridge.delivery.http_answers`). The steps that call them are
declared in `bridge.steps`.

A write that may have reached the service before we learnt the answer (a timeout, a crash
between the service's 200 and our commit) is never repeated blindly: a run whose job had an
earlier attempt (`earlier_attempt`) first looks for what that attempt may have left (the
note mentioning the document, the text sent to that number) and reports it as `Sent` with
`already=True` instead of writing it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Handover:
    """One document, as every channel hands it over."""

    shop: str
    number: str  # FA-2026-000042
    kind: str  # "invoice" | "credit_note"
    locale: str  # "fr" | "en"
    amount: Decimal  # paid for an invoice, given back for a credit note; positive
    currency: str  # ISO 4217
    order_reference: str  # the order number the customer knows (#1042)
    customer_name: str
    customer_email: str
    customer_phone: str  # as the shop gave it ("" when none)
    link: str  # where the customer reads it: their portal, else the PDF ("" when neither)
    pdf: bytes
    filename: str  # FA-2026-000042.pdf
    earlier_attempt: bool = False  # an earlier run may have handed it over: look first

    @property
    def is_credit_note(self) -> bool:
        return self.kind == "credit_note"


@dataclass(frozen=True, slots=True)
class Sent:
    """Handed over: `external_id` is the service's own id of what was written (the SMS's
    message id, the ticket comment's audit id…) and `target` where exactly it went."""

    external_id: str
    target: str = ""
    detail: str = ""
    already: bool = False  # found from an earlier attempt, not written again


@dataclass(frozen=True, slots=True)
class NothingToDo:
    """The channel had nowhere to put the document (no open ticket, no such contact): the
    job is recorded `skipped` with this reason, for the owner to read."""

    reason: str


Outcome = Sent | NothingToDo
