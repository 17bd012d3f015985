"""Legal mentions that depend on the seller's regime and the buyer (French law).

One function per mention family; each returns the sentences to print, already in the
document's language. `legal_mentions` concatenates them in print order.
"""

from __future__ import annotations

from bridge.invoicing.snapshot import BuyerSnapshot, SellerSnapshot, VatRegime


def vat_regime_mentions(seller: SellerSnapshot, locale: str) -> list[str]:
    if seller.vat_regime is VatRegime.franchise:
        return ["TVA non applicable, art. 293 B du CGI"]
    if seller.vat_regime is VatRegime.debits:
        return ["Option pour le paiement de la taxe d'après les débits"]
    return []


def b2b_payment_terms_mentions(buyer: BuyerSnapshot, locale: str) -> list[str]:
    """Mandatory between professionals (art. L441-9 du Code de commerce)."""
    if not buyer.is_business:
        return []
    if locale == "fr":
        return [
            "Pénalités de retard : trois fois le taux d'intérêt légal",
            "Indemnité forfaitaire pour frais de recouvrement : 40 €",
            "Pas d'escompte pour paiement anticipé",
        ]
    return [
        "Late payment penalties: three times the French legal interest rate",
        "Fixed compensation for recovery costs: 40 €",
        "No discount for early payment",
    ]


def legal_mentions(seller: SellerSnapshot, buyer: BuyerSnapshot, locale: str) -> list[str]:
    return [*vat_regime_mentions(seller, locale), *b2b_payment_terms_mentions(buyer, locale)]
