"""The `[[shops]]` keys of a WooCommerce shop (`platform = "woocommerce"`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from bridge.settings_types import Secret
from connectors.shop_settings import ShopSettings

# One entry of a service_* list: blank entries would match nothing and hide a typo.
RuleEntry = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


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
    # Lines sold as services besides virtual products (connectors/woocommerce/natures.py).
    service_skus: list[RuleEntry] = Field(
        default_factory=list,
        description='SKUs sold as services, * matching any characters (e.g. ["FORM-*"])',
    )
    service_categories: list[RuleEntry] = Field(
        default_factory=list, description="product categories (name or slug) sold as services"
    )
    service_tax_classes: list[RuleEntry] = Field(
        default_factory=list,
        description='tax classes (slug, "standard" for the standard one) sold as services',
    )
