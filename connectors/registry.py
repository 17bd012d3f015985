"""The platforms Quittance speaks: each one's `[[shops]]` schema, and its connector, imported
only when a shop needs it (loading the configuration never loads a platform's library).

A new platform is one package (connector, client, mapping, settings, sandbox) and one entry
here; it is done when it passes the connector contract suite (`tests/contract/`)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from connectors.base import Connector
from connectors.shop_settings import ShopSettings
from connectors.shopify.settings import ShopifyShop
from connectors.woocommerce.settings import WooCommerceShop


@dataclass(frozen=True)
class Platform:
    name: str  # the `platform` key of `[[shops]]`, and the webhook path /webhooks/<name>/<shop>
    settings: type[ShopSettings]
    connector: str  # "module:Class", built with the shop's settings


PLATFORMS = (
    Platform(
        "woocommerce", WooCommerceShop, "connectors.woocommerce.connector:WooCommerceConnector"
    ),
    Platform("shopify", ShopifyShop, "connectors.shopify.connector:ShopifyConnector"),
)


def platform(name: str) -> Platform:
    found = next((p for p in PLATFORMS if p.name == name), None)
    if found is None:
        known = ", ".join(p.name for p in PLATFORMS)
        raise ValueError(f"no platform {name!r} (known: {known})")
    return found


def connector_for(shop: ShopSettings) -> Connector:
    module, _, cls = platform(shop.platform).connector.partition(":")  # type: ignore[attr-defined]
    return getattr(importlib.import_module(module), cls)(shop)
