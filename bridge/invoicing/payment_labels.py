"""Platform payment method codes → the clear label a customer and an accountant understand."""

from __future__ import annotations

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


def payment_label(method: str, platform_title: str, locale: str) -> str:
    """The label printed after "payée par": ours for known codes, else the platform's title."""
    known = _LABELS.get(method.strip().lower())
    if known:
        return known[0] if locale == "fr" else known[1]
    if platform_title.strip():
        return platform_title.strip()
    return "moyen de paiement non précisé" if locale == "fr" else "unspecified payment method"
