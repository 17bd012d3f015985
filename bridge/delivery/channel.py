"""What every customer channel is given and gives back: one document to hand over
(`Handover`), and what became of it (`Sent`, or `NothingToDo` when the channel has nowhere to
put it: no open ticket, no such contact).

Channels (SMS gateways, Zendesk, Intercom) are I/O at the edge: they take a `Handover`, talk
their service's API, and raise the failure vocabulary's delivery errors
(`bridge.delivery.errors`, via `bridge.delivery.http_answers`). The steps that call them are
declared in `bridge.steps`.

A write that may have reached the service before we learnt the answer (a timeout, a crash
between the service's 200 and our commit, a dead job the owner retried) is never repeated
blindly: every run first looks for what an earlier run of the same job may have left — the
note mentioning the document, the text sent to that number — written at or after `since`
(the job's creation, less a margin for the service's clock) and not among `known` (the ids
the document's other deliveries on this channel recorded), and reports it as `Sent` with
`already=True` instead of writing it again. So `quittance resend` hands a document over once
more (the original's id is known), while a retry still finds its own earlier send (it never
got to record its id), whatever the service's clock says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

# How far a service's clock may be behind ours: an earlier run's hand-over is looked for from
# this much before the job was created.
CLOCK_MARGIN = timedelta(minutes=10)


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
    # Look for an earlier run's hand-over written at or after this time (UTC: the job's
    # creation less CLOCK_MARGIN) before writing; None: nothing to look for (outside a job).
    since: datetime | None = None
    # The ids (as `Sent.external_id` gives them) the document's other deliveries on this
    # channel recorded: found again, they are those, not this job's.
    known: frozenset[str] = frozenset()

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
