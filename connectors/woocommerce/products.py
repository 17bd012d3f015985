"""The catalogue entries an order's lines name, read through the REST API and kept a while.

`GET products/<id>` for a product, `GET products/<id>/variations/<vid>` for a variation (its
own `virtual` flag). Each is read once per connector for `max_age` seconds: a poll or a
backfill of a thousand orders of the same twenty products asks twenty times, and a product
the owner turns virtual is seen within minutes by a service that runs for months.

A product that cannot be read is not a failed order: deleted (404), or hidden from the key
(401/403), it is logged and left out, and `natures.line_nature` falls back on the shop's
rules, else goods. Only a shop that does not answer (network, 5xx, 429: transient) stops the
read, so that the order is read again later rather than issued on a guess.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

import structlog

from connectors.base import PermanentConnectorError
from connectors.woocommerce.client import WooClient
from connectors.woocommerce.natures import ProductFacts, product_facts

log = structlog.get_logger()

MAX_AGE_SECONDS = 600.0


class ProductCatalog:
    def __init__(
        self,
        client: WooClient,
        shop: str,
        *,
        max_age: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.shop = shop
        self.max_age = max_age
        self.clock = clock
        # post id → (when read, facts or None = not readable, which is remembered too)
        self._known: dict[int, tuple[float, ProductFacts | None]] = {}

    def facts(self, refs: Iterable[tuple[int, int]]) -> dict[int, ProductFacts]:
        """Facts by post id for (product id, variation id or 0) refs; unreadable ones absent.
        Raises `TransientConnectorError` when the shop does not answer."""
        found: dict[int, ProductFacts] = {}
        now = self.clock()
        for product, variation in refs:
            key = variation or product
            cached = self._known.get(key)
            if cached is None or now - cached[0] > self.max_age:
                cached = (now, self._read(product, variation))
                self._known[key] = cached
            if cached[1] is not None:
                found[key] = cached[1]
        return found

    def _read(self, product: int, variation: int) -> ProductFacts | None:
        endpoint = (
            f"products/{product}/variations/{variation}" if variation else f"products/{product}"
        )
        try:
            data = self.client.get(endpoint)
        except PermanentConnectorError as exc:
            log.warning(
                "product not readable: the shop's service rules decide its lines, else goods",
                shop=self.shop,
                product=endpoint,
                err=str(exc),
            )
            return None
        if not isinstance(data, Mapping):
            log.warning(
                "product answer is not an object: the shop's service rules decide, else goods",
                shop=self.shop,
                product=endpoint,
            )
            return None
        return product_facts(data)
