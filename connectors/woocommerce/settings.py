"""The `[[shops]]` keys of a WooCommerce shop (`platform = "woocommerce"`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bridge.settings_types import Secret
from connectors.shop_settings import ShopSettings


class WooCommerceShop(ShopSettings):
    platform: Literal["woocommerce"]
    url: str = Field(pattern=r"^https?://", description="the store URL, e.g. https://shop.fr")
    consumer_key: Secret = Field(description="REST API key (ck_…)")
    consumer_secret: Secret = Field(description="REST API secret (cs_…)")
    webhook_secret: Secret = Field(description="the secret set on the shop's webhooks")
    paid_statuses: list[str] = Field(
        default_factory=lambda: ["processing", "completed"],
        description="statuses that mean paid (with date_paid_gmt set)",
    )
    customer_note: bool = Field(default=False, description="order note visible to the customer")
    vat_meta_keys: list[str] = Field(
        default_factory=lambda: [
            "_billing_vat_number", "_vat_number", "vat_number", "_billing_eu_vat_number",
        ],
        description="order meta keys an EU VAT plugin stores the buyer's VAT number in",
    )  # fmt: skip
    siren_meta_keys: list[str] = Field(
        default_factory=lambda: ["_billing_siren", "billing_siren", "siren"],
        description="order meta keys holding the buyer's SIREN",
    )
    locale_meta_keys: list[str] = Field(
        default_factory=lambda: ["wpml_language", "_locale", "locale", "pll_language"],
        description="order meta keys holding the customer's language",
    )
