"""Shop config → its connector. Platform modules are imported lazily, so `bridge` can ask for a
connector without importing a platform's client library itself."""

from __future__ import annotations

from bridge.config import ShopConfig, ShopifyShop, WooCommerceShop
from connectors.base import Connector


def connector_for(shop: ShopConfig) -> Connector:
    if isinstance(shop, WooCommerceShop):
        from connectors.woocommerce import WooCommerceConnector

        return WooCommerceConnector(shop)
    if isinstance(shop, ShopifyShop):
        from connectors.shopify import ShopifyConnector

        return ShopifyConnector(shop)
    raise ValueError(f"no connector for platform {shop.platform!r}")  # pragma: no cover
