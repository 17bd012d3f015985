"""Shopify connector: `orders/paid` and `refunds/create` webhooks, GraphQL Admin API polling
(paid, partially refunded and refunded orders, with their refunds), metafield attach-back of
invoices and credit notes. Read-only where money is concerned: no query here moves money
(no refundCreate, capture, void or cancel), only metafieldsSet and the order note are written.

Client choice: `ShopifyAPI` is used for
what it is good at — `shopify.Session` validates the shop domain and the API version and builds
the Admin API base URL — but the request itself is POSTed by us through one `requests.Session`
per connector, with the shop's timeout. We do NOT call `ShopifyResource.activate_session` /
`shopify.GraphQL().execute`: the first stores credentials in process-global class attributes
(two shops in two threads would swap tokens), the second is a bare `urllib` call with no timeout
that prints HTTP errors to stdout. Nothing here touches ShopifyAPI's global state except the
API version registry (below), which is append-only and idempotent.

API version: ShopifyAPI 12.7 only knows versions up to 2024-10. `ApiVersion.coerce_to_version`
would build a `Release` on the fly, but we register the configured version explicitly with
`ApiVersion.define_version(Release(...))` (or `Unstable()`), so `Session` accepts it and the
registry reflects what we use (`client.api_version`). Default: `ShopifyShop.api_version` =
2025-10.

Throttling and quick retries live in `client.py` (`ShopifyGraphQL`).

Errors: network, 5xx and throttling that outlasts the retries → `TransientConnectorError`
(the job queue retries later); 401/403/ACCESS_DENIED → `PermanentConnectorError` naming the shop
and the scope to grant.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.base import (
    TRANSPORT_ERRORS,
    AttachResult,
    CheckLine,
    FetchedOrder,
    IsKnown,
    OrderPage,
    PermanentConnectorError,
    TransientConnectorError,
    UnreadableOrder,
    WebhookEvent,
    WebhookRejected,
)
from connectors.shopify.attach import Attacher
from connectors.shopify.client import (
    REQUIRED_SCOPES,
    SCOPE_HELP,
    ShopifyGraphQL,
)
from connectors.shopify.mapping import (
    MappingError,
    map_order,
    numeric_id,
    order_gid,
    paid_status,
    parse_time,
)
from connectors.shopify.queries import (
    CHECK_QUERY,
    LINE_ITEMS_QUERY,
    ORDER_QUERY,
    ORDERS_QUERY,
    WEBHOOK_CREATE_LEGACY,
    WEBHOOK_CREATE_URI,
    WEBHOOKS_QUERY_LEGACY,
    WEBHOOKS_QUERY_URI,
    refund_query,
)
from connectors.shopify.settings import ShopifyShop
from connectors.shopify.webhooks import hmac_matches, parse_json_object, webhook_order_ref
from connectors.unreadable import fetched_unreadable

WEBHOOK_TOPICS = ("ORDERS_PAID", "REFUNDS_CREATE")
# Financial statuses polled: a refunded order was paid, and a full refund whose webhook was
# lost must still be seen (its credit note is due).
POLLED_STATUSES = ("paid", "partially_refunded", "refunded")
ADJUSTMENTS_SINCE = 202410  # Refund.orderAdjustments exists from API version 2024-10 on


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _order_id(node: Mapping[str, Any]) -> str:
    """The order's numeric id, read from anything (a malformed node included)."""
    return str(node.get("legacyResourceId") or numeric_id(str(node.get("id") or "")))


class ShopifyConnector:
    """The `Connector` for one `[[shops]]` entry with `platform = "shopify"`."""

    platform = "shopify"
    page_size = 100  # orders per GraphQL page (Shopify allows up to 250)

    def __init__(self, config: ShopifyShop, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.shop = config.name
        self._client: ShopifyGraphQL | None = None
        self._sleep = sleep
        self._secrets = [config.client_secret.get_secret_value()]
        if config.previous_client_secret is not None:
            self._secrets.append(config.previous_client_secret.get_secret_value())

    @property
    def client(self) -> ShopifyGraphQL:
        """Built on first use, so verifying a webhook never needs the network or the token."""
        if self._client is None:
            self._client = ShopifyGraphQL(self.config, sleep=self._sleep)
        return self._client

    # -- webhooks --------------------------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """HMAC first (raw bytes, current or previous secret), then shop domain, then body."""
        given = headers.get("x-shopify-hmac-sha256", "")
        if not given:
            raise WebhookRejected(401, "missing X-Shopify-Hmac-Sha256 header")
        if not hmac_matches(self._secrets, body, given):
            raise WebhookRejected(401, "bad X-Shopify-Hmac-Sha256 signature")
        domain = headers.get("x-shopify-shop-domain", "").strip().lower()
        if domain != self.config.domain.strip().lower():
            raise WebhookRejected(
                401,
                f"X-Shopify-Shop-Domain {domain or '(missing)'} is not this shop's domain "
                f"{self.config.domain}",
            )
        topic = headers.get("x-shopify-topic", "").strip()
        key = headers.get("x-shopify-event-id") or headers.get("x-shopify-webhook-id") or ""
        if not key.strip():
            raise WebhookRejected(400, "missing X-Shopify-Event-Id and X-Shopify-Webhook-Id")
        try:
            payload = parse_json_object(body)
            ref = webhook_order_ref(topic, payload)
        except MappingError as exc:
            raise WebhookRejected(400, f"malformed {topic or 'webhook'} body: {exc}") from None
        if ref is None:  # a topic we do not act on: 200, nothing stored
            return WebhookEvent(event_key=key.strip(), topic=topic, order_ref="", ping=True)
        return WebhookEvent(event_key=key.strip(), topic=topic, order_ref=ref, ping=False)

    # -- reading orders --------------------------------------------------------------------

    def _map(self, node: Mapping[str, Any]) -> FetchedOrder:
        """The paid rule, then the mapping; never raises: whatever goes wrong reading this
        order makes it unreadable, for quarantine."""
        order_id = _order_id(node)
        try:
            paid, reason = paid_status(node)
        except Exception as exc:  # cannot tell: a person looks, rather than a silent skip
            return fetched_unreadable(self.shop, dict(node), order_id, exc)
        if not paid:  # never mapped in full: its data may be half-typed
            return FetchedOrder(None, False, f"not paid, skipped: {reason}", dict(node), order_id)
        try:
            order = map_order(
                node,
                shop=self.shop,
                default_locale=self.config.default_locale,
                operation_date_property=self.config.operation_date_property,
            )
        except Exception as exc:  # any mapping failure quarantines the order, never the job
            return fetched_unreadable(self.shop, dict(node), order_id, exc)
        return FetchedOrder(order, True, reason, dict(node), order.order_id)

    def fetch_order(self, order_ref: str) -> FetchedOrder:
        """The order with its transactions, read through GraphQL (webhook bodies have none)."""
        try:
            gid = order_gid(order_ref)
        except MappingError as exc:
            raise PermanentConnectorError(f"shop {self.shop}: {exc}") from None
        return self._map(self.read_order(gid))

    def read_order(self, gid: str) -> dict[str, Any]:
        """The raw GraphQL order node, every line item included (paged when > 30), and every
        refund read whole (`refunds` lists only their ids)."""
        node = self.client.execute(ORDER_QUERY, {"id": gid}).get("order")
        if not node:
            raise PermanentConnectorError(
                f"shop {self.shop}: order {gid} not found (deleted, or older than 60 days "
                "without the read_all_orders scope)"
            )
        node["lineItems"] = self._all_pages(
            node.get("lineItems") or {}, functools.partial(self._more_lines, gid)
        )
        node["refunds"] = [self.read_refund(str(r.get("id"))) for r in node.get("refunds") or []]
        return node

    def read_refund(self, gid: str) -> dict[str, Any]:
        """One refund with its line items (paged when > 30), shipping, adjustments and
        transactions. Versions before 2024-10 have no `orderAdjustments` to ask for."""
        since_2024_10 = self.client.version.numeric_version >= ADJUSTMENTS_SINCE
        query = refund_query(with_adjustments=since_2024_10)
        node = self.client.execute(query, {"id": gid}).get("refund")
        if not node:
            raise PermanentConnectorError(f"shop {self.shop}: refund {gid} not found")
        node["refundLineItems"] = self._all_pages(
            node.get("refundLineItems") or {},
            functools.partial(self._more_refund_lines, query, gid),
        )
        return node

    def _more_lines(self, gid: str, after: str) -> dict[str, Any] | None:
        order = self.client.execute(LINE_ITEMS_QUERY, {"id": gid, "after": after}).get("order")
        return (order or {}).get("lineItems")

    def _more_refund_lines(self, query: str, gid: str, after: str) -> dict[str, Any] | None:
        refund = self.client.execute(query, {"id": gid, "after": after}).get("refund")
        return (refund or {}).get("refundLineItems")

    @staticmethod
    def _all_pages(
        first: dict[str, Any], more: Callable[[str], dict[str, Any] | None]
    ) -> dict[str, Any]:
        """A connection with the edges of all its pages (`more(after)` reads the next one)."""
        page = first
        info = page.get("pageInfo") or {}
        while info.get("hasNextPage") and info.get("endCursor"):
            nxt = more(info["endCursor"]) or {}
            page = {
                "edges": [*(page.get("edges") or []), *(nxt.get("edges") or [])],
                "pageInfo": nxt.get("pageInfo") or {},
            }
            info = page["pageInfo"]
        return page

    def iter_paid_pages(
        self, since: datetime | None, *, is_known: IsKnown | None = None
    ) -> Iterator[OrderPage]:
        """Paid orders updated at/after `since`, oldest first, one `OrderPage` per GraphQL page.
        Partially and fully refunded orders are paid orders too (their refunds are read).

        The list query is light; each paid order is then read in full (transactions, all
        lines, all refunds) — unless `is_known(order_id, refund_ids)` says it is invoiced with
        exactly those refunds: the overlap window re-lists those on every poll, and reading
        them again would cost several calls each. A new (or deleted) refund changes the ids,
        so the order is read again.

        The date is QUOTED in the search query: unquoted, Shopify drops the time part.
        The durable cursor is the newest `updatedAt` of a page (the pipeline stores it with
        the page, in one transaction); the GraphQL cursor only chains the pages of this run.
        """
        search = "(" + " OR ".join(f"financial_status:{s}" for s in POLLED_STATUSES) + ")"
        if since is not None:
            search += f" updated_at:>='{_iso(since)}'"
        after: str | None = None
        while True:
            data = self.client.execute(
                ORDERS_QUERY, {"first": self.page_size, "after": after, "query": search}
            )
            connection = data.get("orders") or {}
            summaries = [edge.get("node") or {} for edge in connection.get("edges") or []]
            yield self._page(summaries, is_known)
            info = connection.get("pageInfo") or {}
            after = info.get("endCursor")
            if not info.get("hasNextPage") or not after:
                return

    def _page(self, summaries: list[dict[str, Any]], is_known: IsKnown | None) -> OrderPage:
        """One listed page, read order by order. Only the shop's API failing raises
        (`TRANSPORT_ERRORS`: the poll fails and is retried); anything else raised while reading
        one order makes that order unreadable (quarantined, its payload kept), so that it
        never stalls the shop's polling."""
        orders, errors, skipped = [], [], 0
        unreadable: list[UnreadableOrder] = []
        newest: datetime | None = None
        for summary in summaries:
            try:
                updated = parse_time(summary.get("updatedAt"), "updatedAt")
                newest = updated if newest is None else max(newest, updated)
            except MappingError:
                pass
            try:
                paid = paid_status(summary)[0]
                order_id = numeric_id(str(summary.get("id") or ""))
                refund_ids = frozenset(
                    numeric_id(str(r.get("id"))) for r in summary.get("refunds") or []
                )
            except Exception as exc:  # listed as paid, but its listing cannot even be read
                fetched = fetched_unreadable(self.shop, dict(summary), _order_id(summary), exc)
            else:
                if not paid:
                    skipped += 1
                    continue
                # Outside the order's guard: a failure of ours (the store) is not the order's.
                if is_known is not None and is_known(order_id, refund_ids):
                    continue
                try:
                    fetched = self._map(self.read_order(str(summary.get("id") or "")))
                except PermanentConnectorError as exc:
                    skipped += 1
                    errors.append(str(exc))
                    continue
                except TRANSPORT_ERRORS:
                    raise  # the shop failed, not this order: the poll fails, retried later
                except Exception as exc:  # e.g. reading its lines or refunds choked on them
                    fetched = fetched_unreadable(self.shop, dict(summary), order_id, exc)
            if fetched.order is not None:
                orders.append(fetched.order)
            elif fetched.unreadable and fetched.order_id:
                unreadable.append(
                    UnreadableOrder(fetched.order_id, fetched.not_paid_reason, fetched.raw)
                )
            elif fetched.unreadable:  # nothing to quarantine it under: the owner is told
                errors.append(f"an order without an id: {fetched.not_paid_reason}")
            else:
                skipped += 1
        return OrderPage(
            orders=orders, cursor=newest, skipped=skipped, errors=errors, unreadable=unreadable
        )

    # -- attach-back -----------------------------------------------------------------------

    def attach_invoice(
        self, order_ref: str, number: str, url: str, *, kind: str = "invoice", replaces: str = ""
    ) -> AttachResult:
        """Metafields naming the invoice (quittance.invoice_number / invoice_url, never
        overwritten but by the invoice that `replaces` the one shown) or appending a credit
        note to quittance.credit_notes; plus a line of the order note when configured. A retry
        finds its own number and writes nothing (see `connectors.shopify.attach`)."""
        attacher = Attacher(self.client, self.shop, order_note=self.config.order_note)
        return attacher.attach(order_gid(order_ref), number, url, kind=kind, replaces=replaces)

    # -- setup and doctor ------------------------------------------------------------------

    def _uses_uri(self) -> bool:
        return self.client.version.numeric_version >= 202510

    def _subscriptions(self) -> list[dict[str, Any]]:
        query = WEBHOOKS_QUERY_URI if self._uses_uri() else WEBHOOKS_QUERY_LEGACY
        data = self.client.execute(query)
        subs = []
        for edge in (data.get("webhookSubscriptions") or {}).get("edges") or []:
            node = edge.get("node") or {}
            uri = node.get("uri") or (node.get("endpoint") or {}).get("callbackUrl") or ""
            subs.append({"id": node.get("id"), "topic": node.get("topic"), "uri": uri})
        return subs

    def webhook_url(self, target_url: str) -> str:
        """`target_url` is our public base URL or the full delivery URL."""
        if "/webhooks/" in target_url:
            return target_url
        return f"{target_url.rstrip('/')}/webhooks/shopify/{self.shop}"

    def install_webhooks(self, target_url: str) -> list[str]:
        """Subscribe ORDERS_PAID and REFUNDS_CREATE to our endpoint (idempotent: an existing
        subscription is kept)."""
        url = self.webhook_url(target_url)
        existing = self._subscriptions()
        done = []
        for topic in WEBHOOK_TOPICS:
            if any(s["topic"] == topic and s["uri"] == url for s in existing):
                done.append(f"{topic} → {url} (already subscribed)")
                continue
            mutation = WEBHOOK_CREATE_URI if self._uses_uri() else WEBHOOK_CREATE_LEGACY
            result = self.client.execute(mutation, {"topic": topic, "uri": url})
            payload = result.get("webhookSubscriptionCreate") or {}
            errors = payload.get("userErrors") or []
            if errors:
                raise PermanentConnectorError(
                    f"shop {self.shop}: webhookSubscriptionCreate {topic} failed: "
                    + "; ".join(str(e.get("message")) for e in errors)
                )
            sub_id = (payload.get("webhookSubscription") or {}).get("id", "")
            done.append(f"{topic} → {url} (created {sub_id})")
        return done

    def check(self) -> list[CheckLine]:
        """Doctor: token works, scopes granted, ORDERS_PAID and REFUNDS_CREATE subscribed."""
        try:
            data = self.client.execute(CHECK_QUERY)
        except (PermanentConnectorError, TransientConnectorError) as exc:
            return [CheckLine("credentials", False, str(exc))]
        shop = data.get("shop") or {}
        lines = [
            CheckLine(
                "credentials",
                True,
                f"{shop.get('name')} ({shop.get('myshopifyDomain')}, "
                f"currency {shop.get('currencyCode')}), API {self.client.version.name}",
            )
        ]
        scopes = {
            s.get("handle")
            for s in ((data.get("currentAppInstallation") or {}).get("accessScopes") or [])
        }
        # write_X implies read_X on Shopify.
        granted = scopes | {s.replace("write_", "read_") for s in scopes if s.startswith("write_")}
        missing = [s for s in REQUIRED_SCOPES if s not in granted]
        lines.append(
            CheckLine(
                "scopes",
                not missing,
                f"missing {', '.join(missing)}: {SCOPE_HELP}"
                if missing
                else "read_orders, write_orders granted"
                + ("" if "read_all_orders" in granted else
                   " (no read_all_orders: backfill cannot see orders older than 60 days)"),
            )
        )  # fmt: skip
        try:
            subs = self._subscriptions()
        except (PermanentConnectorError, TransientConnectorError) as exc:
            lines.append(CheckLine("webhooks", False, str(exc)))
            return lines
        for topic in WEBHOOK_TOPICS:
            uris = [s["uri"] for s in subs if s["topic"] == topic]
            lines.append(
                CheckLine(
                    f"webhook {topic}",
                    bool(uris),
                    ", ".join(uris)
                    if uris
                    else f"not subscribed: run `quittance webhooks install --shop {self.shop}` "
                    "(polling still catches every paid order and refund)",
                )
            )
        return lines
