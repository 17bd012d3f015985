"""The `[[shops]]` keys of a Shopify shop (`platform = "shopify"`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from bridge.settings_types import Secret, blank_to_none
from connectors.shop_settings import ShopSettings


class ShopifyShop(ShopSettings):
    platform: Literal["shopify"]
    domain: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*(:\d+)?$",
        description="the shop's myshopify domain, e.g. la-theiere.myshopify.com",
    )
    access_token: Secret = Field(description="Admin API access token (shpat_…)")
    client_secret: Secret = Field(description="the app's client secret (webhook HMAC)")
    previous_client_secret: Annotated[Secret | None, BeforeValidator(blank_to_none)] = Field(
        default=None, description="the former secret while rotating"
    )
    api_version: str = Field(
        default="2025-10", pattern=r"^(\d{4}-\d{2}|unstable)$", description="Admin API version"
    )
    order_note: bool = Field(
        default=False, description="also append a line to the order note (replaces the note!)"
    )
    api_base_url: str = Field(
        default="", description="tests/sandbox only: e.g. http://127.0.0.1:8899 instead of https"
    )
