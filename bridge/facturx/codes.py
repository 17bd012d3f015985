"""Code lists the CII XML uses, as data (UNTDID 1001, 4451, 4461, 5189, UN/ECE rec. 20, and
the French BT-23 "cadre de facturation" list of BR-FR-08)."""

from __future__ import annotations

from bridge.invoicing import mentions as m
from bridge.invoicing.snapshot import DocumentKind

# EN 16931 profile of Factur-X (BT-24).
GUIDELINE_EN16931 = "urn:cen.eu:en16931:2017"

# BT-3, UNTDID 1001: commercial invoice, credit note.
DOCUMENT_TYPE = {DocumentKind.invoice: "380", DocumentKind.credit_note: "381"}

# BT-23, the French "cadre de facturation" (BR-FR-08), by nature: goods (B), services (S) or
# both (M), and whether the document is already paid (2: BR-FR-CO-09 then wants the paid amount
# = the total, nothing due) or not (1: the plain frame). An invoice is always paid (a receipted
# invoice of a paid order); so is a credit note that refunds it, its payment being the refund.
# A credit note that pays nothing back (`--no-refund`, a reissue's cancellation) credits the
# customer instead: nothing of it is paid, so it is in the plain frame.
PAID_PROCESS = {"goods": "B2", "services": "S2", "both": "M2"}
UNPAID_PROCESS = {"goods": "B1", "services": "S1", "both": "M1"}


def business_process(nature: str, *, paid: bool = True) -> str:
    """BT-23 for a snapshot's nature, of a document already paid or not. Any other nature is
    a bug upstream, not a "both": a wrong frame would misstate what was sold, so it stops the
    render instead."""
    frames = PAID_PROCESS if paid else UNPAID_PROCESS
    try:
        return frames[nature]
    except KeyError:
        raise ValueError(
            f"unknown nature of operation {nature!r}: one of {', '.join(frames)}"
        ) from None


# BT-21, UNTDID 4451: the L441-9 payment terms the French rule BR-FR-05 looks for, by the
# rule name under which `InvoiceSnapshot.legal` keeps their text. Other mentions are plain
# notes (no subject code): BR-FR-06 lets each of these codes appear once only.
NOTE_SUBJECT = {
    m.RECOVERY_INDEMNITY: "PMT",  # indemnité forfaitaire pour frais de recouvrement (40 €)
    m.LATE_PENALTIES: "PMD",  # pénalités de retard
    m.EARLY_PAYMENT: "AAB",  # escompte pour paiement anticipé, or its absence
}

# BT-81, UNTDID 4461, by platform payment code (lower-cased, as payment_labels.py keys them).
# A bank transfer is 42 ("payment to bank account"), not 30 / 58 (credit transfer, SEPA
# credit transfer): those are payment *instructions* and EN 16931 then wants the account to
# pay into (BT-84, CII-SR-470), which the snapshot does not hold and an invoice already paid
# has no use for; 42 says the money went to the seller's account. PayPal and its kin are 68
# ("online payment service").
PAYMENT_MEANS: dict[str, str] = {
    "card": "48",
    "stripe": "48",
    "stripe_cc": "48",
    "woocommerce_payments": "48",
    "shopify_payments": "48",
    "payplug": "48",
    "mollie_wc_gateway_creditcard": "48",
    "paypal": "68",
    "ppcp-gateway": "68",
    "ppec_paypal": "68",
    "bacs": "42",
    "bank_transfer": "42",
    "bank_deposit": "42",
    "cheque": "20",
    "cod": "10",
    "cash_on_delivery": "10",
}
# Anything else (a gift card, a manual payment, a refund "by the original means"): "mutually
# defined", with the printed label as BT-82 so the words say what the code cannot.
OTHER_PAYMENT_MEANS = "ZZZ"

# UN/ECE rec. 20 "one" (C62): web-shop quantities are units, shipping and fees one each.
UNIT_CODE = "C62"

# UNTDID 5189 "Discount": the share of a coupon or a price reduction on a line.
DISCOUNT_REASON_CODE = "95"
