"""One small harness per platform: what the connector contract suite needs to drive it.

A harness knows its platform's sandbox and `[[shops]]` table, how to make an order paid or
not at a given modification time, how the platform signs a delivery (through the sandbox's
own, independent, signing code), how the owner refunds on the shop, and where an attach-back
shows on the shop. The suite itself (`test_connector_contract.py`) never names a platform.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import pytest

from connectors.base import Connector
from connectors.registry import connector_for, platform
from connectors.sandbox_server import SandboxServer
from connectors.shopify import connector as shopify_connector
from connectors.shopify.sandbox import ShopifySandbox
from connectors.shopify.sandbox_orders import Item as ShopifyItem
from connectors.shopify.sandbox_orders import Shipping, build_order
from connectors.woocommerce import connector as woo_connector
from connectors.woocommerce.sandbox import WooSandbox
from connectors.woocommerce.sandbox_orders import Item as WooItem
from connectors.woocommerce.sandbox_orders import make_order, make_product
from tests.support.bridges import SHOP, WOO_HOOK_SECRET, WOO_KEY, WOO_SECRET, Bridge
from tests.support.bridges import shopify_bridge as _shopify_bridge
from tests.support.bridges import woo_bridge as _woo_bridge
from tests.support.shops import shopify_shop, woo_shop

Delivery = tuple[dict[str, str], bytes]  # headers, body
CUSTOMER = {
    "first_name": "Camille", "last_name": "Roux", "address_1": "3 rue Mercière",
    "postcode": "69002", "city": "Lyon", "country": "FR", "email": "camille.roux@example.fr",
}  # fmt: skip


class Harness(Protocol):
    platform: str
    bad_credentials: dict[str, str]  # [[shops]] keys the shop refuses
    no_ping: str  # why the platform sends no ping ("" when it does)

    def sandbox(self) -> SandboxServer: ...

    def wait_into(self, connector: Connector, sleep: Callable[[float], None]) -> None:
        """Make the connector's quick retries call `sleep` instead of sleeping."""
        ...

    def shop(self, sandbox: Any, **overrides: Any) -> dict[str, Any]: ...

    def add_order(
        self,
        sandbox: Any,
        number: int,
        *,
        paid: bool,
        modified: datetime,
        country: str = "FR",
        service: bool = False,
        properties: Mapping[str, str] | None = None,
        shipped: bool = False,
    ) -> str:
        """A new order on the shop, last modified at `modified`, billed to `country` (written
        as the shop owner's data has it: "India" is possible); returns its order id. Its one
        line (2 × 12,50) is a service when `service` (as the platform tells: a virtual
        product, a line that needs no shipping), and carries `properties` as the shop shows
        them on a line (WooCommerce item meta, Shopify line item properties). `shipped` adds
        a taxed shipping line."""
        ...

    def refund(
        self,
        sandbox: Any,
        order_id: str,
        *,
        lines: Sequence[tuple[int, int]] = (),
        shipping: bool | Decimal = False,
        amount: Decimal | None = None,
        reason: str = "",
        notify: bool = False,
    ) -> str:
        """The owner refunds on the shop, as its admin does (never through our connector):
        `lines` = (index of the order's line, quantity), `shipping` True = all of it, `amount`
        = given back on top, incl. VAT. Returns the platform's refund id."""
        ...

    def set_country(self, sandbox: Any, order_id: str, country: str) -> None:
        """The owner corrects the order's billing country on the shop."""
        ...

    def pay(self, sandbox: Any, order_id: str) -> None: ...

    def delivery(self, sandbox: Any, order_id: str, **signing: Any) -> Delivery:
        """The platform's paid-order webhook for `order_id`, signed as the platform signs."""
        ...

    def other_topic(self, sandbox: Any, order_id: str) -> Delivery: ...

    def signed(self, sandbox: Any, body: bytes) -> Delivery: ...

    def unsigned(self, delivery: Delivery) -> Delivery: ...

    def ping(self, sandbox: Any) -> Delivery: ...

    def attachments(self, sandbox: Any, order_id: str) -> int:
        """How many times an invoice of ours shows on the order (notes, metafields)."""
        ...

    def webhooks(self, sandbox: Any) -> int:
        """How many webhook subscriptions the shop holds."""
        ...

    def bridge(self, tmp_path: Path) -> AbstractContextManager[Bridge]: ...

    def deliver(self, bridge: Bridge, order_id: str, duplicate: int) -> list[int]: ...

    def break_mapping(
        self, monkeypatch: pytest.MonkeyPatch, order_id: str, error: type[Exception]
    ) -> None:
        """The platform's order mapping raises `error` (a bug of ours meeting a shape it never
        met) for `order_id`, and maps every other order as before."""
        ...

    def garble(self, sandbox: Any, order_id: str) -> dict[str, Any]:
        """Leave garbage in the order as a broken plugin or app would: a field of the wrong
        shape that the platform's paid rule reads before any mapping. Returns what the field
        held, for `ungarble`."""
        ...

    def ungarble(self, sandbox: Any, order_id: str, kept: dict[str, Any]) -> None:
        """The owner repairs the order on the shop (the field as it was, the order touched)."""
        ...

    def fail_order_reads(self, sandbox: Any) -> None:
        """From now on the shop answers 503 to the requests that read one order in detail
        while polling (not to the listing); the order must have a refund (WooCommerce reads
        an order's details only for its refunds)."""
        ...


def _raising_for(
    real: Callable[..., Any], order_id: str, error: type[Exception], id_of: Callable[[Any], str]
) -> Callable[..., Any]:
    def mapping(raw: Any, *args: Any, **kwargs: Any) -> Any:
        if id_of(raw) == order_id:
            raise error("a shape the mapping never met")
        return real(raw, *args, **kwargs)

    return mapping


def build_connector(
    harness: Harness, sandbox: Any, *, slept: list[float] | None = None, **overrides: Any
) -> Connector:
    """The connector the service would build for this shop (through the registry), waiting
    into `slept` instead of sleeping."""
    settings = platform(harness.platform).settings.model_validate(
        harness.shop(sandbox, **overrides)
    )
    connector = connector_for(settings)
    harness.wait_into(connector, (slept if slept is not None else []).append)
    return connector


@dataclass
class WooHarness:
    platform: str = "woocommerce"
    bad_credentials = {"consumer_secret": "cs_wrong"}  # noqa: RUF012 - read only
    no_ping: str = ""

    def sandbox(self) -> WooSandbox:
        return WooSandbox(
            consumer_key=WOO_KEY,
            consumer_secret=WOO_SECRET,
            webhook_secret=WOO_HOOK_SECRET,
            seed=False,
        )

    def wait_into(self, connector: Connector, sleep: Callable[[float], None]) -> None:
        connector.client.sleep = sleep  # type: ignore[attr-defined]

    def shop(self, sandbox: WooSandbox, **overrides: Any) -> dict[str, Any]:
        return woo_shop(SHOP, sandbox, **overrides)

    def add_order(
        self,
        sandbox: WooSandbox,
        number: int,
        *,
        paid: bool,
        modified: datetime,
        country: str = "FR",
        service: bool = False,
        properties: Mapping[str, str] | None = None,
        shipped: bool = False,
    ) -> str:
        status = "processing" if paid else "on-hold"
        item = WooItem("Thé vert", "12.50", 2, meta=dict(properties or {}))
        if service:  # a virtual product in the shop's catalogue
            item = WooItem("Atelier dégustation", "45.00", 1, product_id=70_000 + number,
                           meta=dict(properties or {}))  # fmt: skip
            sandbox.add_product(make_product(item.product_id, item.name, virtual=True))
        raw = make_order(
            number, items=[item], created=modified,
            paid_at=modified if paid else None, status=status, paid=paid,
            payment_method="bacs" if not paid else "stripe",
            billing={**CUSTOMER, "country": country},
            shipping=("Colissimo", "4.90", 1) if shipped else None,
        )  # fmt: skip
        return str(sandbox.add_order(raw, notify=False))

    def refund(
        self,
        sandbox: WooSandbox,
        order_id: str,
        *,
        lines: Sequence[tuple[int, int]] = (),
        shipping: bool | Decimal = False,
        amount: Decimal | None = None,
        reason: str = "",
        notify: bool = False,
    ) -> str:
        return str(sandbox.add_refund(
            int(order_id), lines=lines, shipping=shipping, amount=amount, reason=reason,
            notify=notify,
        ))  # fmt: skip

    def set_country(self, sandbox: WooSandbox, order_id: str, country: str) -> None:
        for part in ("billing", "shipping"):  # the sandbox ships to the billing address
            sandbox.orders[int(order_id)][part]["country"] = country
        sandbox.touch(int(order_id), notify=False)

    def pay(self, sandbox: WooSandbox, order_id: str) -> None:
        sandbox.set_status(int(order_id), "processing", paid=True)

    def delivery(self, sandbox: WooSandbox, order_id: str, **signing: Any) -> Delivery:
        return sandbox.webhook_request(int(order_id), **signing)

    def other_topic(self, sandbox: WooSandbox, order_id: str) -> Delivery:
        body = json.dumps({"id": 12, "name": "Thé vert"}).encode()
        return sandbox.webhook_request(int(order_id), "product.updated", body=body)

    def signed(self, sandbox: WooSandbox, body: bytes) -> Delivery:
        return sandbox.webhook_request(0, body=body)

    def unsigned(self, delivery: Delivery) -> Delivery:
        headers, body = delivery
        return {k: v for k, v in headers.items() if k != "X-WC-Webhook-Signature"}, body

    def ping(self, sandbox: WooSandbox) -> Delivery:
        return {"Content-Type": "application/x-www-form-urlencoded"}, b"webhook_id=42"

    def attachments(self, sandbox: WooSandbox, order_id: str) -> int:
        return len(sandbox.our_notes(int(order_id)))

    def webhooks(self, sandbox: WooSandbox) -> int:
        return len(sandbox.webhooks)

    def bridge(self, tmp_path: Path) -> AbstractContextManager[Bridge]:
        return _woo_bridge(tmp_path, seed=False)

    def deliver(self, bridge: Bridge, order_id: str, duplicate: int) -> list[int]:
        results = bridge.wc.deliver_webhook(bridge.webhook_url, int(order_id), duplicate=duplicate)
        return [r.status for r in results]

    def break_mapping(
        self, monkeypatch: pytest.MonkeyPatch, order_id: str, error: type[Exception]
    ) -> None:
        module = woo_connector
        raising = _raising_for(module.map_order, order_id, error, lambda raw: str(raw.get("id")))
        monkeypatch.setattr(module, "map_order", raising)

    def garble(self, sandbox: WooSandbox, order_id: str) -> dict[str, Any]:
        # `refunds` a number: its summary is read to tell whether the order changed
        order = sandbox.orders[int(order_id)]
        kept = {"refunds": order.get("refunds", [])}
        order["refunds"] = 7
        return kept

    def ungarble(self, sandbox: WooSandbox, order_id: str, kept: dict[str, Any]) -> None:
        sandbox.orders[int(order_id)].update(kept)
        sandbox.touch(int(order_id), notify=False)

    def fail_order_reads(self, sandbox: WooSandbox) -> None:
        sandbox.fail_next(1000, 503, path="/refunds")


@dataclass
class ShopifyHarness:
    platform: str = "shopify"
    bad_credentials = {"access_token": "shpat_wrong"}  # noqa: RUF012 - read only
    no_ping: str = (
        "Shopify sends no ping: a new subscription starts with real events, and its admin's "
        "test notification is an ordinary signed event"
    )

    def sandbox(self) -> ShopifySandbox:
        return ShopifySandbox(seed=False)

    def wait_into(self, connector: Connector, sleep: Callable[[float], None]) -> None:
        connector._sleep = sleep  # type: ignore[attr-defined]  # its client is built lazily

    def shop(self, sandbox: ShopifySandbox, **overrides: Any) -> dict[str, Any]:
        return shopify_shop(SHOP, sandbox, **overrides)

    def add_order(
        self,
        sandbox: ShopifySandbox,
        number: int,
        *,
        paid: bool,
        modified: datetime,
        country: str = "FR",
        service: bool = False,
        properties: Mapping[str, str] | None = None,
        shipped: bool = False,
    ) -> str:
        item = ShopifyItem("Thé vert", "12.50", 2, properties=dict(properties or {}))
        if service:  # nothing to ship: LineItem.requiresShipping is false
            item = ShopifyItem("Atelier dégustation", "45.00", 1, requires_shipping=False,
                               properties=dict(properties or {}))  # fmt: skip
        node = build_order(
            number, f"#{number}", [item], paid=paid, created_at=modified,
            shipping=Shipping("Colissimo", "4.90") if shipped else None,
        )  # fmt: skip
        for part in ("billingAddress", "shippingAddress"):
            node[part]["countryCodeV2"] = country
        node["updatedAt"] = modified.strftime("%Y-%m-%dT%H:%M:%SZ")
        return sandbox.add_order(node)

    def refund(
        self,
        sandbox: ShopifySandbox,
        order_id: str,
        *,
        lines: Sequence[tuple[int, int]] = (),
        shipping: bool | Decimal = False,
        amount: Decimal | None = None,
        reason: str = "",
        notify: bool = False,
    ) -> str:
        # The Shopify sandbox's `add_refund` (refunds/create, GraphQL Order.refunds).
        return str(sandbox.add_refund(  # type: ignore[attr-defined]
            order_id, lines=lines, shipping=shipping, amount=amount, reason=reason,
            notify=notify,
        ))  # fmt: skip

    def set_country(self, sandbox: ShopifySandbox, order_id: str, country: str) -> None:
        for part in ("billingAddress", "shippingAddress"):  # shipped to the billing address
            sandbox.orders[order_id][part]["countryCodeV2"] = country
        sandbox.touch(order_id)

    def pay(self, sandbox: ShopifySandbox, order_id: str) -> None:
        sandbox.mark_paid(order_id)

    def delivery(self, sandbox: ShopifySandbox, order_id: str, **signing: Any) -> Delivery:
        return sandbox.webhook_request(order_id, **signing)

    def other_topic(self, sandbox: ShopifySandbox, order_id: str) -> Delivery:
        body = json.dumps({"id": 12, "title": "Thé vert"}).encode()
        return sandbox.webhook_request(order_id, topic="products/update", body=body)

    def signed(self, sandbox: ShopifySandbox, body: bytes) -> Delivery:
        return sandbox.webhook_request(0, body=body)

    def unsigned(self, delivery: Delivery) -> Delivery:
        headers, body = delivery
        return {k: v for k, v in headers.items() if k != "X-Shopify-Hmac-Sha256"}, body

    def ping(self, sandbox: ShopifySandbox) -> Delivery:
        raise NotImplementedError(self.no_ping)

    def attachments(self, sandbox: ShopifySandbox, order_id: str) -> int:
        return sandbox.invoice_number_writes.get(order_id, 0)

    def webhooks(self, sandbox: ShopifySandbox) -> int:
        return len(sandbox.subscriptions)

    def bridge(self, tmp_path: Path) -> AbstractContextManager[Bridge]:
        return _shopify_bridge(tmp_path, seed=False)

    def deliver(self, bridge: Bridge, order_id: str, duplicate: int) -> list[int]:
        return bridge.shopify.deliver_webhook(bridge.webhook_url, order_id, duplicate=duplicate)

    def break_mapping(
        self, monkeypatch: pytest.MonkeyPatch, order_id: str, error: type[Exception]
    ) -> None:
        module = shopify_connector
        raising = _raising_for(
            module.map_order, order_id, error, lambda node: str(node.get("legacyResourceId"))
        )
        monkeypatch.setattr(module, "map_order", raising)

    def garble(self, sandbox: ShopifySandbox, order_id: str) -> dict[str, Any]:
        # a null among `transactions`: the paid rule looks for a successful payment in them
        order = sandbox.orders[order_id]
        kept = {"transactions": order.get("transactions", [])}
        order["transactions"] = [None, *kept["transactions"]]
        return kept

    def ungarble(self, sandbox: ShopifySandbox, order_id: str, kept: dict[str, Any]) -> None:
        sandbox.orders[order_id].update(kept)
        sandbox.touch(order_id)

    def fail_order_reads(self, sandbox: ShopifySandbox) -> None:
        handle = sandbox.handle

        def failing(path: str, headers: dict[str, str], raw: bytes) -> Any:
            query = str(json.loads(raw or b"{}").get("query") or "")
            if re.search(r"\bquery\s+Quittance(Order|Refund)\b", query):
                return 503, {"errors": "Service Unavailable"}, {}
            return handle(path, headers, raw)

        sandbox.handle = failing  # type: ignore[method-assign]


HARNESSES: dict[str, Harness] = {"woocommerce": WooHarness(), "shopify": ShopifyHarness()}


def lowercase(headers: dict[str, str]) -> dict[str, str]:
    """As the web layer hands headers to a connector (Starlette lower-cases them)."""
    return {k.lower(): v for k, v in headers.items()}
