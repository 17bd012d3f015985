"""`[[shops]]` tables pointing at a running sandbox of each platform."""

from __future__ import annotations

from typing import Any

from connectors.shopify import sandbox as shopify_sandbox
from connectors.shopify.sandbox import ShopifySandbox
from connectors.woocommerce.sandbox import WooSandbox

PREVIOUS_SHOPIFY_SECRET = "the-old-secret"


def woo_shop(name: str, sandbox: WooSandbox, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "platform": "woocommerce",
        "url": sandbox.url,
        "consumer_key": sandbox.consumer_key,
        "consumer_secret": sandbox.consumer_secret,
        "webhook_secret": sandbox.webhook_secret,
        "timeout_seconds": 5,
        **extra,
    }


def shopify_shop(name: str, sandbox: ShopifySandbox, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "platform": "shopify",
        "domain": sandbox.domain,
        "access_token": sandbox.token,
        "client_secret": shopify_sandbox.SECRET,
        "previous_client_secret": PREVIOUS_SHOPIFY_SECRET,
        "api_base_url": sandbox.base_url,
        "timeout_seconds": 5,
        **extra,
    }
