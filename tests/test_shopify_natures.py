"""Goods or services on Shopify: `LineItem.requiresShipping`, asked for in the order query,
and `requires_shipping` of REST bodies (webhooks, older payloads) carried into the same node.
(A line that needs no shipping → service, one that does → goods: the connector contract.)"""

from __future__ import annotations

import copy
import json
from typing import Any

from bridge.invoicing.build import operation_nature
from bridge.model import LineKind, Nature
from connectors.shopify.mapping import map_order
from connectors.shopify.queries import ORDER_QUERY
from connectors.shopify.rest import rest_order_to_node
from connectors.shopify.sandbox_orders import Item, Shipping, build_order
from tests.support import paths

WEBHOOK = paths.FIXTURES / "shopify" / "04_webhook_order_with_discount_tax_receipts.json"


def _webhook_body() -> dict[str, Any]:
    return json.loads(WEBHOOK.read_text(encoding="utf-8"))


def _natures(node: dict[str, Any]) -> list[Nature]:
    order = map_order(node, shop="s")
    return [line.nature for line in order.lines if line.kind is LineKind.product]


def test_the_order_query_asks_each_line_whether_it_requires_shipping() -> None:
    lines = ORDER_QUERY.split("lineItems(", 1)[1].split("shippingLines", 1)[0]
    assert "requiresShipping" in lines.split()


def test_a_rest_line_that_requires_shipping_is_goods() -> None:
    assert _natures(rest_order_to_node(_webhook_body())) == [Nature.goods]


def test_a_rest_line_that_requires_no_shipping_is_a_service() -> None:
    body = copy.deepcopy(_webhook_body())
    body["line_items"][0]["requires_shipping"] = False
    assert _natures(rest_order_to_node(body)) == [Nature.services]


def test_a_line_without_the_field_is_goods_as_before() -> None:
    node = build_order(71, "#71", [Item("Atelier", "45.00", requires_shipping=False)])
    for edge in node["lineItems"]["edges"]:
        del edge["node"]["requiresShipping"]
    assert _natures(node) == [Nature.goods]


def test_the_shipping_line_of_a_service_order_does_not_make_it_goods() -> None:
    node = build_order(
        72,
        "#72",
        [Item("Atelier", "45.00", requires_shipping=False)],
        shipping=Shipping("Kit", "5"),
    )
    assert operation_nature(map_order(node, shop="s")) == "services"
