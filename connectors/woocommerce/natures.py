"""Goods or services, per WooCommerce line: what the catalogue says, then the shop's rules.

The nature of the operation is a mandatory mention, and it also decides which exemption a
cross-border sale prints. An order line does not say it; its product does:

- A line is a service when its product is **virtual** (for a variation: the variation's own
  flag, which WooCommerce keeps apart from its parent's). `virtual` is WooCommerce's "not
  shipped" switch (`shipping_required` is its negation): the same test as Shopify's
  `requiresShipping`, so both platforms answer one question. A virtual product that is also
  downloadable (an e-book, a licence) is an electronically supplied service for VAT, so a
  service here too.
- **Downloadable alone is not a service**: a product that is downloadable but not virtual is
  shipped (a printed book with its PDF, a CD with a download code); what is delivered is goods.
- The shop's `[[shops]]` rules name services the catalogue cannot tell apart (a training sold
  as a physical "product" to keep a shipping address): `service_skus` (`*` matches any run of
  characters), `service_categories` (name or slug), `service_tax_classes` (slug; the standard
  class is "standard"). A rule can only make a line a service, never goods.
- A product that cannot be read (deleted, no permission) leaves the rules to decide, else
  goods: what every line was before, and never a reason to hold an order.

Pure: the connector reads the products (`connectors.woocommerce.products`) and passes them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from bridge.model import Nature
from connectors.woocommerce.values import text

STANDARD_TAX_CLASS = "standard"  # what WooCommerce's /taxes calls the class line items leave ""


@dataclass(frozen=True)
class ProductFacts:
    """What the catalogue says of a product or a variation."""

    virtual: bool = False
    categories: tuple[str, ...] = ()  # names and slugs (a variation has none: its parent's)


def product_facts(raw: Mapping[str, Any]) -> ProductFacts:
    """A `GET products/<id>` or `GET products/<id>/variations/<vid>` answer."""
    categories = [
        text(category.get(part))
        for category in raw.get("categories") or []
        if isinstance(category, Mapping)
        for part in ("name", "slug")
        if text(category.get(part))
    ]
    return ProductFacts(virtual=raw.get("virtual") is True, categories=tuple(categories))


def _fold(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(v.strip().casefold() for v in values if v.strip())


@dataclass(frozen=True)
class ServiceRules:
    """The shop's own list of what it sells as services (`[[shops]]` service_*)."""

    skus: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    tax_classes: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        skus: Iterable[str] = (),
        categories: Iterable[str] = (),
        tax_classes: Iterable[str] = (),
    ) -> ServiceRules:
        return cls(_fold(skus), _fold(categories), _fold(tax_classes))

    def by_line(self, item: Mapping[str, Any]) -> bool:
        """The line alone says service (its SKU or tax class): no product to read."""
        sku = text(item.get("sku")).casefold()
        tax_class = (text(item.get("tax_class")) or STANDARD_TAX_CLASS).casefold()
        return any(sku and fnmatchcase(sku, rule) for rule in self.skus) or (
            tax_class in self.tax_classes
        )

    def by_categories(self, categories: Iterable[str]) -> bool:
        return bool(self.categories) and any(c.casefold() in self.categories for c in categories)


def _id(value: Any) -> int:
    """A line's `product_id` / `variation_id`: 0 when absent or not a number."""
    if isinstance(value, bool):
        return 0
    try:
        return max(int(str(value).strip() or 0), 0)
    except ValueError:
        return 0


def product_ids(item: Mapping[str, Any]) -> tuple[int, int]:
    """(product id, variation id or 0)."""
    return _id(item.get("product_id")), _id(item.get("variation_id"))


def products_to_read(raw: Mapping[str, Any], rules: ServiceRules) -> list[tuple[int, int]]:
    """What the order's lines need from the catalogue: (product id, 0) for a product,
    (product id, variation id) for a variation; in line order, without repeats. A line the
    rules already make a service needs nothing; a variation's parent is read only for its
    categories, when the shop has category rules."""
    wanted: list[tuple[int, int]] = []
    for item in raw.get("line_items") or []:
        if not isinstance(item, Mapping) or rules.by_line(item):
            continue
        product, variation = product_ids(item)
        if not product:  # a line the owner typed in, with no product behind it
            continue
        refs = [(product, variation)] if variation else [(product, 0)]
        if variation and rules.categories:
            refs.append((product, 0))
        wanted += [ref for ref in refs if ref not in wanted]
    return wanted


def line_nature(
    item: Mapping[str, Any], products: Mapping[int, ProductFacts], rules: ServiceRules
) -> Nature:
    """`products` by post id (products and variations share WordPress's post ids)."""
    if rules.by_line(item):
        return Nature.services
    product, variation = product_ids(item)
    own = products.get(variation or product) if product else None
    if own is not None and own.virtual:
        return Nature.services
    parent = products.get(product) if product else None
    if parent is not None and rules.by_categories(parent.categories):
        return Nature.services
    return Nature.goods
