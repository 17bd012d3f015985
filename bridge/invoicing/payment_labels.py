"""Platform payment method codes → the clear label a customer and an accountant understand."""

from __future__ import annotations

from decimal import Decimal

# Keys are lower-cased platform codes (WooCommerce `payment_method`, Shopify gateway names).
_LABELS: dict[str, tuple[str, str]] = {
    "card": ("carte bancaire", "credit card"),
    "stripe": ("carte bancaire", "credit card"),
    "stripe_cc": ("carte bancaire", "credit card"),
    "woocommerce_payments": ("carte bancaire", "credit card"),
    "shopify_payments": ("carte bancaire", "credit card"),
    "payplug": ("carte bancaire", "credit card"),
    "mollie_wc_gateway_creditcard": ("carte bancaire", "credit card"),
    "paypal": ("PayPal", "PayPal"),
    "ppcp-gateway": ("PayPal", "PayPal"),
    "ppec_paypal": ("PayPal", "PayPal"),
    "bacs": ("virement bancaire", "bank transfer"),
    "bank_transfer": ("virement bancaire", "bank transfer"),
    "bank_deposit": ("virement bancaire", "bank transfer"),
    "cheque": ("chèque", "cheque"),
    "cod": ("paiement à la livraison", "cash on delivery"),
    "cash_on_delivery": ("paiement à la livraison", "cash on delivery"),
    "gift_card": ("carte cadeau", "gift card"),
    "manual": ("paiement manuel", "manual payment"),
}

# A free order is receipted (nothing is left to pay) but nothing was paid, so no payment method
# was used: the label says so instead of naming one. The receipt sentence must not read "payée
# par …" with it (see `is_free_order_label`).
FREE_ORDER_LABELS: tuple[str, str] = (
    "commande gratuite, aucun paiement",
    "free order, nothing to pay",
)
# Codes that name no real means of payment on a 0 € order: WooCommerce leaves `payment_method`
# empty when the cart needed no payment; Shopify reports no gateway, or "manual" for an order
# the merchant marked as paid (on a 0 € order no money changed hands).
_NO_METHOD_CODES = frozenset({"", "manual", "free"})
# Titles platforms and plugins give such orders, lower-cased.
_FREE_ORDER_TITLES = frozenset({"free order", "free", "commande gratuite", "gratuit", "gratuite"})


def is_free_order(method: str, platform_title: str, total: Decimal | None = None) -> bool:
    """Nothing to pay and no means of payment: a 0 € order, or a free-order title without a
    real method when the total is not known. A 0 € order that still names a real method
    (a gift card, say) keeps that method."""
    if method.strip().lower() not in _NO_METHOD_CODES:
        return False
    if total is not None:
        return total == 0
    return platform_title.strip().lower() in _FREE_ORDER_TITLES


def is_free_order_label(label: str) -> bool:
    """The label `payment_label` gives a free order (what the receipt sentence tests)."""
    return label in FREE_ORDER_LABELS


def payment_label(
    method: str, platform_title: str, locale: str, *, total: Decimal | None = None
) -> str:
    """The label printed after "payée par": ours for known codes, else the platform's title;
    for a free order (`is_free_order`, `total` = what the customer paid) the words saying no
    payment was made."""
    if is_free_order(method, platform_title, total):
        return FREE_ORDER_LABELS[0] if locale == "fr" else FREE_ORDER_LABELS[1]
    known = _LABELS.get(method.strip().lower())
    if known:
        return known[0] if locale == "fr" else known[1]
    if platform_title.strip():
        return platform_title.strip()
    return "moyen de paiement non précisé" if locale == "fr" else "unspecified payment method"
