"""Goods or services on WooCommerce: what only this platform has. A variation's own `virtual`
flag, downloadable products, the shop's service_* rules, products the key cannot read, and
reading each product once. (Virtual → service and physical → goods are in the connector
contract, for every platform.)

Every order goes through the real connector against the sandbox shop, whose catalogue answers
`GET products/<id>` and `GET products/<id>/variations/<vid>` as WooCommerce does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from bridge.config import ConfigError, load_settings
from bridge.model import LineKind, Nature
from connectors.base import TransientConnectorError
from connectors.registry import connector_for
from connectors.shopify.sandbox import ShopifySandbox
from connectors.woocommerce.connector import WooCommerceConnector
from connectors.woocommerce.sandbox import WooSandbox
from connectors.woocommerce.sandbox_orders import Item, make_order, make_product, make_variation
from connectors.woocommerce.settings import WooCommerceShop
from tests.support.config import write_config
from tests.support.shops import shopify_shop, woo_shop

SHOP = "wc"
PRODUCT, VARIATION = 500, 501


@pytest.fixture
def wc() -> Iterator[WooSandbox]:
    with WooSandbox(seed=False) as sandbox:
        yield sandbox


def connector(wc: WooSandbox, **keys: Any) -> WooCommerceConnector:
    """The connector the service builds for this shop, with `keys` added to its table."""
    built = connector_for(WooCommerceShop.model_validate(woo_shop(SHOP, wc, **keys)))
    assert isinstance(built, WooCommerceConnector)
    return built


def sell(wc: WooSandbox, order_id: int, item: Item, *, variation: int = 0) -> str:
    """A paid order of one line; `variation`: the line is that variation of its product."""
    raw = make_order(order_id, items=[item])
    raw["line_items"][0]["variation_id"] = variation
    return str(wc.add_order(raw, notify=False))


def natures(built: WooCommerceConnector, order_id: str) -> list[Nature]:
    order = built.fetch_order(order_id).order
    assert order is not None
    return [line.nature for line in order.lines if line.kind is LineKind.product]


def product_reads(wc: WooSandbox) -> list[str]:
    return [path for _, path, _ in wc.requests if "/products/" in path]


# ------------------------------------------------------------------------- the catalogue


def test_a_variation_is_a_service_by_its_own_virtual_flag(wc) -> None:
    wc.add_product(make_product(PRODUCT, "Atelier", variations=[VARIATION]))
    wc.add_variation(PRODUCT, make_variation(VARIATION, PRODUCT, virtual=True))
    order_id = sell(
        wc, 1, Item("Atelier - En ligne", "40.00", product_id=PRODUCT), variation=VARIATION
    )
    assert natures(connector(wc), order_id) == [Nature.services]


def test_a_physical_variation_of_a_virtual_parent_is_goods(wc) -> None:
    wc.add_product(make_product(PRODUCT, "Atelier", virtual=True, variations=[VARIATION]))
    wc.add_variation(PRODUCT, make_variation(VARIATION, PRODUCT, virtual=False))
    order_id = sell(wc, 2, Item("Atelier - Kit", "40.00", product_id=PRODUCT), variation=VARIATION)
    assert natures(connector(wc), order_id) == [Nature.goods]


def test_a_downloadable_product_that_is_shipped_is_goods(wc) -> None:
    wc.add_product(make_product(PRODUCT, "Livre + PDF", downloadable=True, virtual=False))
    order_id = sell(wc, 3, Item("Livre + PDF", "25.00", product_id=PRODUCT))
    assert natures(connector(wc), order_id) == [Nature.goods]


def test_a_virtual_downloadable_product_is_a_service(wc) -> None:
    wc.add_product(make_product(PRODUCT, "Livre numérique", downloadable=True, virtual=True))
    order_id = sell(wc, 4, Item("Livre numérique", "9.00", product_id=PRODUCT))
    assert natures(connector(wc), order_id) == [Nature.services]


# ------------------------------------------------------------------------ the shop's rules


def test_a_sku_rule_makes_a_physical_product_a_service(wc) -> None:
    order_id = sell(wc, 5, Item("Formation", "400.00", sku="FORM-TORR-1J", product_id=PRODUCT))
    assert natures(connector(wc, service_skus=["form-*"]), order_id) == [Nature.services]


def test_a_sku_rule_leaves_other_skus_goods(wc) -> None:
    order_id = sell(wc, 6, Item("Café", "12.00", sku="CAF-1K", product_id=PRODUCT))
    assert natures(connector(wc, service_skus=["FORM-*"]), order_id) == [Nature.goods]


def test_a_category_rule_makes_a_product_of_that_category_a_service(wc) -> None:
    wc.add_product(make_product(PRODUCT, "Formation", categories=["Formations"]))
    order_id = sell(wc, 7, Item("Formation", "400.00", product_id=PRODUCT))
    assert natures(connector(wc, service_categories=["formations"]), order_id) == [Nature.services]


def test_a_category_rule_reads_the_categories_of_a_variation_s_parent(wc) -> None:
    wc.add_product(make_product(PRODUCT, "Stage", categories=["Stages"], variations=[VARIATION]))
    wc.add_variation(PRODUCT, make_variation(VARIATION, PRODUCT))
    order_id = sell(
        wc, 8, Item("Stage - Juillet", "300.00", product_id=PRODUCT), variation=VARIATION
    )
    assert natures(connector(wc, service_categories=["Stages"]), order_id) == [Nature.services]


def test_a_tax_class_rule_names_the_standard_class_standard(wc) -> None:
    order_id = sell(wc, 9, Item("Cours", "30.00", rate_id=1, product_id=PRODUCT))
    wc.orders[9]["line_items"][0]["tax_class"] = ""  # what WooCommerce writes for standard
    assert natures(connector(wc, service_tax_classes=["standard"]), order_id) == [Nature.services]


def test_a_line_the_rules_make_a_service_reads_no_product(wc) -> None:
    order_id = sell(wc, 10, Item("Formation", "400.00", sku="FORM-1", product_id=PRODUCT))
    natures(connector(wc, service_skus=["FORM-*"]), order_id)
    assert product_reads(wc) == []


# -------------------------------------------------------------- products we cannot read


def test_a_deleted_product_is_goods_and_the_order_is_still_read(wc) -> None:
    order_id = sell(wc, 11, Item("Atelier", "40.00", product_id=PRODUCT))
    wc.delete_product(PRODUCT)
    fetched = connector(wc).fetch_order(order_id)
    assert fetched.order is not None and not fetched.unreadable
    assert [ln.nature for ln in fetched.order.lines if ln.kind is LineKind.product] == [
        Nature.goods
    ]


def test_a_deleted_product_is_logged_with_the_shop_and_the_product(wc) -> None:
    order_id = sell(wc, 12, Item("Atelier", "40.00", product_id=PRODUCT))
    wc.delete_product(PRODUCT)
    with structlog.testing.capture_logs() as events:
        connector(wc).fetch_order(order_id)
    (event,) = [e for e in events if e["event"].startswith("product not readable")]
    assert (event["shop"], event["product"]) == (SHOP, f"products/{PRODUCT}")
    assert "404" in event["err"]


def test_a_product_the_key_may_not_read_still_follows_the_line_s_rules(wc) -> None:
    wc.add_product(make_product(PRODUCT, "Atelier", virtual=True))
    wc.product_access = False
    order_id = sell(wc, 13, Item("Atelier", "40.00", sku="AT-1", product_id=PRODUCT))
    wc.orders[13]["line_items"][0]["tax_class"] = "ateliers"
    built = connector(wc, service_tax_classes=["ateliers"])
    assert natures(built, order_id) == [Nature.services]


def test_a_product_the_key_may_not_read_is_goods_without_a_rule(wc) -> None:
    wc.add_product(make_product(PRODUCT, "Atelier", virtual=True))
    wc.product_access = False
    order_id = sell(wc, 14, Item("Atelier", "40.00", product_id=PRODUCT))
    assert natures(connector(wc), order_id) == [Nature.goods]


def test_a_shop_that_does_not_answer_for_its_products_is_transient(wc) -> None:
    order_id = sell(wc, 15, Item("Atelier", "40.00", product_id=PRODUCT))
    built = connector(wc)
    built.client.sleep = lambda _: None
    wc.fail_next(20, 503, path="/products/")
    with pytest.raises(TransientConnectorError, match=f"shop {SHOP}"):
        built.fetch_order(order_id)


# --------------------------------------------------------------------------- read once


def test_a_product_is_read_once_for_many_orders(wc) -> None:
    first = sell(wc, 16, Item("Thé", "10.00", product_id=PRODUCT))
    second = sell(wc, 17, Item("Thé", "10.00", product_id=PRODUCT))
    built = connector(wc)
    natures(built, first)
    natures(built, second)
    assert product_reads(wc) == [f"/wp-json/wc/v3/products/{PRODUCT}"]


def test_a_product_turned_virtual_is_seen_once_its_reading_is_old(wc) -> None:
    order_id = sell(wc, 18, Item("Atelier", "40.00", product_id=PRODUCT))
    built = connector(wc)
    now = [0.0]
    built.products.clock = lambda: now[0]
    natures(built, order_id)
    wc.add_product(make_product(PRODUCT, "Atelier", virtual=True))
    now[0] += built.products.max_age + 1
    assert natures(built, order_id) == [Nature.services]


# ---------------------------------------------------------------------- [[shops]] keys


def _problems(tmp_path: Path, shop: dict[str, Any]) -> dict[str, Any]:
    path = write_config(tmp_path / "quittance.toml", shops=[shop])
    with pytest.raises(ConfigError) as refused:
        load_settings(path, environ={})
    return {p.key: p for p in refused.value.problems}


def test_a_mistyped_service_key_is_named_with_the_key_meant(tmp_path, wc) -> None:
    problems = _problems(tmp_path, woo_shop(SHOP, wc, service_sku=["FORM-*"]))
    assert "typo for 'service_skus'" in problems["shops[0].service_sku"].expected


def test_a_service_rule_written_as_text_is_named(tmp_path, wc) -> None:
    problems = _problems(tmp_path, woo_shop(SHOP, wc, service_categories="Formations"))
    assert problems["shops[0].service_categories"].value == "'Formations'"


def test_a_blank_service_rule_is_named_by_its_place(tmp_path, wc) -> None:
    problems = _problems(tmp_path, woo_shop(SHOP, wc, service_tax_classes=["ateliers", " "]))
    assert list(problems) == ["shops[0].service_tax_classes[1]"]


def test_service_rules_are_no_shopify_keys(tmp_path) -> None:
    with ShopifySandbox(seed=False) as shopify:
        problems = _problems(tmp_path, shopify_shop(SHOP, shopify, service_skus=["FORM-*"]))
    assert "a known key" in problems["shops[0].service_skus"].expected
