"""What issuing needs from outside Quittance, looked up before the number is taken.

An intra-EU exemption rests on the buyer's VAT number as VIES confirms it; a foreign-currency
invoice states its VAT in euros at the ECB rate of the tax point. Both are read here, by the
`issue` step, outside the numbering transaction, and handed to the pure `build_invoice` as
`IssueFacts`. A source that cannot answer is transient (`OutsideFactUnavailable`: the job
retries with backoff) and never replaced by a guess; past the source's own patience
(`max_wait`) the `issue` step quarantines the order with the reason instead.
"""

from __future__ import annotations

from bridge.ecb import order_eur_rate
from bridge.failures import OutsideFactUnavailable
from bridge.invoicing.build import IssueFacts
from bridge.model import Order
from bridge.services import Services
from bridge.vies import buyer_vat_check

# OutsideFactUnavailable lives in bridge.failures (the sources raise it without importing
# this module back); the `issue` step reads it here, beside what raises it.
__all__ = ["OutsideFactUnavailable", "gather_issue_facts"]


def gather_issue_facts(svc: Services, order: Order) -> IssueFacts:
    """The outside facts `order` needs (none for a plain French sale in euros)."""
    return IssueFacts(vat_check=buyer_vat_check(svc, order), eur_rate=order_eur_rate(svc, order))
