"""The WooCommerce connector: webhook signatures, order reading, polling, attach-back.

- Webhooks are triggers only: WooCommerce builds the payload when its action queue runs, so it
  can be stale, duplicated or arrive out of order. We verify the signature on the raw bytes,
  keep the event, and `fetch_order` re-reads the order before anything is issued.
- Polling is the safety net WooCommerce requires (it never retries a delivery and disables an
  endpoint after 5 failures): `modified_after` + `dates_are_gmt=true`, ordered by modification
  date, 100 per page; the pipeline stores each page with its cursor in one transaction.
- Attach-back is idempotent: we look for our meta, then for our note, before writing. A
  credit note gets a note of its own beside the invoice's (the meta stays the invoice's).
- Refunds are only ever read: `GET /orders/<id>/refunds`, and only when the order's summary
  lists one. Polling hands `is_known` the summary's refund ids, so an invoiced order is read
  again exactly when a refund was added or deleted (deleting one fires no webhook).

Mapping lives in `connectors.woocommerce.mapping`, HTTP in `connectors.woocommerce.client`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog

from connectors.base import (
    TRANSPORT_ERRORS,
    AttachResult,
    CheckLine,
    ConnectorError,
    FetchedOrder,
    IsKnown,
    OrderPage,
    PermanentConnectorError,
    TransientConnectorError,
    UnreadableOrder,
    WebhookEvent,
    WebhookRejected,
)
from connectors.unreadable import fetched_unreadable
from connectors.woocommerce.client import WooClient
from connectors.woocommerce.mapping import (
    MappingOptions,
    map_note,
    map_order,
    map_webhook,
    paid_verdict,
    wcpdf_invoice_number,
)
from connectors.woocommerce.natures import ProductFacts, ServiceRules, products_to_read
from connectors.woocommerce.products import ProductCatalog
from connectors.woocommerce.refunds import refund_ids
from connectors.woocommerce.settings import WooCommerceShop
from connectors.woocommerce.tax_rates import missing_rate_ids
from connectors.woocommerce.values import MappingError, order_date

log = structlog.get_logger()

ORDER_TOPICS = ("order.created", "order.updated")
META_NUMBER = "_quittance_invoice_number"
META_URL = "_quittance_invoice_url"
INVOICE, CREDIT_NOTE = "invoice", "credit_note"
# First poll of a shop (no cursor yet): look back this far, not over the whole history
# (historical orders are `quittance backfill`'s job, archive-only by default).
_PING = re.compile(rb"^webhook_id=(\d+)$")


def sign(secret: str, body: bytes) -> str:
    """`X-WC-Webhook-Signature`: base64 of the HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook_path(shop: str) -> str:
    return f"/webhooks/woocommerce/{shop}"


def _iso_gmt(when: datetime) -> str:
    """`modified_after` wants a plain ISO date; with dates_are_gmt=true it is read as UTC."""
    return when.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


class WooCommerceConnector:
    platform = "woocommerce"
    page_size = 100  # orders per REST page while polling (WooCommerce allows up to 100)

    def __init__(self, config: WooCommerceShop, *, client: WooClient | None = None) -> None:
        self.config = config
        self.shop = config.name
        self.client = client or WooClient(
            config.name,
            config.url,
            config.consumer_key.get_secret_value(),
            config.consumer_secret.get_secret_value(),
            timeout=config.timeout_seconds,
        )
        self._rates: dict[int, Decimal] = {}  # /taxes/<id> answers, per process
        self._wcpdf_warned = False
        self.products = ProductCatalog(self.client, config.name)
        self._service_rules = ServiceRules.of(
            config.service_skus, config.service_categories, config.service_tax_classes
        )

    # -- webhooks ----------------------------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        signature = (headers.get("x-wc-webhook-signature") or "").strip()
        if not signature:
            ping = _PING.match(body.strip())
            if ping:  # the creation ping: form-encoded, unsigned, must get 200
                return WebhookEvent(f"ping:{ping.group(1).decode()}", "ping", "", ping=True)
            raise WebhookRejected(401, "missing X-WC-Webhook-Signature")
        expected = sign(self.config.webhook_secret.get_secret_value(), body)
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise WebhookRejected(401, "invalid X-WC-Webhook-Signature")
        ping = _PING.match(body.strip())
        if ping:
            return WebhookEvent(f"ping:{ping.group(1).decode()}", "ping", "", ping=True)
        topic = (headers.get("x-wc-webhook-topic") or "").strip()
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: "[[[[…" a few KB deep
            raise WebhookRejected(400, f"malformed JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise WebhookRejected(400, "malformed body: expected a JSON object")
        if topic and not topic.startswith(("order.", "action.")):
            # Another resource's webhook pointed here: nothing to do, but never a failure
            # (5 failures and WooCommerce disables the endpoint). Acknowledged, not stored.
            return WebhookEvent(f"ignored:{topic}", topic, "", ping=True)
        order_id = _order_id_of(topic, payload)
        if order_id is None:
            raise WebhookRejected(400, "malformed body: no numeric order `id`")
        if topic == "order.deleted":
            return WebhookEvent(f"ignored:{topic}:{order_id}", topic, "", ping=True)
        digest = hashlib.sha256(body).hexdigest()
        delivery = (headers.get("x-wc-webhook-delivery-id") or "").strip()
        # WooCommerce's delivery id is a hash of (webhook id, current second): two different
        # events in one second share it, so the body hash is part of the key.
        key = f"{delivery}:{digest[:32]}" if delivery else digest
        return WebhookEvent(key, topic or "order.updated", order_id)

    # -- orders ------------------------------------------------------------------------------

    def _options(self, products: Mapping[int, ProductFacts] | None = None) -> MappingOptions:
        c = self.config
        return MappingOptions(
            shop=c.name,
            vat_meta_keys=tuple(c.vat_meta_keys),
            siren_meta_keys=tuple(c.siren_meta_keys),
            locale_meta_keys=tuple(c.locale_meta_keys),
            default_locale=c.default_locale,
            paid_statuses=tuple(c.paid_statuses),
            known_rates=dict(self._rates),
            products=dict(products or {}),
            service_rules=self._service_rules,
            operation_date_property=c.operation_date_property,
        )

    def _learn_rates(self, raw: Mapping[str, Any]) -> None:
        """Old payloads carry no `rate_percent`: ask `/taxes/<id>` once per rate; when the key
        may not read taxes (or the rate was deleted) the mapping derives it from the amounts."""
        for rid in missing_rate_ids(raw) - set(self._rates):
            try:
                data = self.client.get(f"taxes/{rid}")
                self._rates[rid] = Decimal(str(data["rate"]))
            except (ConnectorError, KeyError, TypeError, ArithmeticError) as exc:
                log.info(
                    "tax rate not readable, deriving it", shop=self.shop, rate=rid, err=str(exc)
                )

    def map(self, raw: Mapping[str, Any]) -> FetchedOrder:
        """Map one raw order (already fetched) and apply the paid rule. Only the shop's API
        failing raises (`TRANSPORT_ERRORS`); whatever else goes wrong reading this order makes
        it unreadable, for quarantine."""
        self._warn_wcpdf(raw)
        order_id = str(raw.get("id") or "")
        try:
            verdict = paid_verdict(raw, self.config.paid_statuses)
        except Exception as exc:  # cannot tell: a person looks, rather than a silent skip
            return fetched_unreadable(self.shop, raw, order_id, exc)
        if not verdict.paid:  # never mapped in full: its data may be half-typed
            return FetchedOrder(None, False, f"not paid, skipped: {verdict.reason}", raw, order_id)
        try:
            if missing_rate_ids(raw):
                self._learn_rates(raw)
            refunds = self._refund_details(raw)
            # Goods or services is the product's to say: read once paid, as nothing else is.
            products = self.products.facts(products_to_read(raw, self._service_rules))
            order = map_order(raw, self._options(products), refunds)
        except TRANSPORT_ERRORS:
            raise
        except Exception as exc:  # any mapping failure quarantines the order, never the job
            return fetched_unreadable(self.shop, raw, order_id, exc)
        return FetchedOrder(order, True, verdict.reason, raw, order.order_id)

    def _refund_details(self, raw: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """The order's refunds in detail; no call when its summary lists none (most orders)."""
        if not refund_ids(raw):
            return []
        found: list[Mapping[str, Any]] = []
        for resp in self.client.pages(f"orders/{raw.get('id')}/refunds"):
            found.extend(r for r in resp.data or [] if isinstance(r, Mapping))
        return found

    def fetch_order(self, order_ref: str) -> FetchedOrder:
        if not str(order_ref).isdigit():
            raise PermanentConnectorError(
                f"shop {self.shop}: {order_ref!r} is not a WooCommerce order id"
            )
        raw = self.client.get(f"orders/{order_ref}")
        if not isinstance(raw, Mapping):
            raise TransientConnectorError(f"shop {self.shop}: orders/{order_ref} is not an object")
        return self.map(raw)

    def iter_paid_pages(
        self, since: datetime | None, *, is_known: IsKnown | None = None
    ) -> Iterator[OrderPage]:
        """`since=None` lists every order; how far back a first poll looks is the pipeline's
        decision (bridge.polling), the same for every platform.

        No `status` filter: WooCommerce's default, "any", includes `refunded` orders, which
        were paid. An order `is_known` says is invoiced with exactly the refunds its summary
        lists is left out: nothing new to read (its refunds would cost a call)."""
        params = {"dates_are_gmt": "true", "orderby": "modified", "order": "asc"}
        if since is not None:
            params["modified_after"] = _iso_gmt(since)
        for resp in self.client.pages("orders", per_page=self.page_size, **params):
            orders, errors, skipped = [], [], 0
            unreadable: list[UnreadableOrder] = []
            cursor: datetime | None = None
            for raw in resp.data or []:
                if not isinstance(raw, Mapping):
                    continue
                try:
                    modified = order_date(raw, "date_modified")
                except MappingError as exc:  # one bad date must not stall the shop's polling
                    errors.append(f"order {raw.get('id')}: {exc}")
                    modified = None
                if modified is not None and (cursor is None or modified > cursor):
                    cursor = modified
                if is_known is not None and self._known(raw, is_known):
                    continue
                try:
                    fetched = self.map(raw)
                except PermanentConnectorError as exc:  # e.g. deleted while we listed it
                    errors.append(str(exc))
                    skipped += 1
                    continue
                except TRANSPORT_ERRORS:
                    raise  # the shop failed, not this order: the poll fails, retried later
                except Exception as exc:  # one order must never stall the shop's polling
                    fetched = fetched_unreadable(self.shop, raw, str(raw.get("id") or ""), exc)
                if fetched.order is not None:
                    orders.append(fetched.order)
                elif fetched.unreadable and fetched.order_id:
                    unreadable.append(
                        UnreadableOrder(fetched.order_id, fetched.not_paid_reason, raw)
                    )
                elif fetched.unreadable:  # nothing to quarantine it under: the owner is told
                    errors.append(f"an order without an id: {fetched.not_paid_reason}")
                else:
                    skipped += 1
            yield OrderPage(
                orders=orders, cursor=cursor, skipped=skipped, errors=errors, unreadable=unreadable
            )

    def _known(self, raw: Mapping[str, Any], is_known: IsKnown) -> bool:
        """Invoiced, and its refunds are the ones we have: nothing new on this order. Only a
        paid order can be invoiced, so an unpaid one is not even looked up."""
        order_id = str(raw.get("id") or "")
        try:
            paid = paid_verdict(raw, self.config.paid_statuses).paid
            refunds = refund_ids(raw)
        except Exception:  # cannot tell: read in full, which says what is wrong with it
            return False
        return bool(order_id) and paid and is_known(order_id, refunds)

    # -- attach back ------------------------------------------------------------------------

    def note_text(self, number: str, url: str, *, kind: str = INVOICE, replaces: str = "") -> str:
        if kind == CREDIT_NOTE:
            text = f"Avoir {number} émis par Quittance."
        else:
            text = f"Facture acquittée {number} émise par Quittance."
            if replaces:
                text += f" Elle remplace la facture {replaces}."
        if url:
            text += f" Télécharger : {url}"
        return text

    def attach_invoice(
        self, order_ref: str, number: str, url: str, *, kind: str = INVOICE, replaces: str = ""
    ) -> AttachResult:
        """An invoice: a note and our meta (the order's current invoice, `replaces` included).
        A credit note: a note of its own beside the invoice's, the meta left to the invoice
        (an order has one invoice and may have many credit notes)."""
        if kind not in (INVOICE, CREDIT_NOTE):
            raise ValueError(f"attach_invoice: kind must be {INVOICE!r} or {CREDIT_NOTE!r}")
        if kind == CREDIT_NOTE:
            if not self._add_note_once(order_ref, number, self.note_text(number, url, kind=kind)):
                return AttachResult(
                    False, f"order {order_ref} already carries credit note {number}"
                )
            return AttachResult(True, f"credit note {number} noted on order {order_ref}")
        raw = self.client.get(f"orders/{order_ref}")
        meta = {
            m.get("key"): m.get("value")
            for m in (raw.get("meta_data") or [])
            if isinstance(m, Mapping)
        }
        if meta.get(META_NUMBER) == number:
            return AttachResult(False, f"order {order_ref} already carries invoice {number}")
        # A crash between the note and the meta must not add a second note on retry.
        self._add_note_once(order_ref, number, self.note_text(number, url, replaces=replaces))
        self.client.put(
            f"orders/{order_ref}",
            {"meta_data": [{"key": META_NUMBER, "value": number}, {"key": META_URL, "value": url}]},
        )
        return AttachResult(True, f"note and meta added to order {order_ref}")

    def _add_note_once(self, order_ref: str, number: str, text: str) -> bool:
        """Post `text` unless one of our notes already names `number` (a retry): True if
        posted."""
        notes = [map_note(n) for n in self.client.get(f"orders/{order_ref}/notes", type="any")]
        if any(_names(n.note, number) for n in notes):
            return False
        self.client.post(
            f"orders/{order_ref}/notes", {"note": text, "customer_note": self.config.customer_note}
        )
        return True

    # -- webhooks install / doctor ---------------------------------------------------------

    def _delivery_url(self, target_url: str) -> str:
        target = target_url.rstrip("/")
        if target.endswith(webhook_path(self.shop)):
            return target
        return target + webhook_path(self.shop)

    def _webhooks(self) -> list[Any]:
        found = []
        for resp in self.client.pages("webhooks"):
            found.extend(map_webhook(w) for w in resp.data or [] if isinstance(w, Mapping))
        return found

    def install_webhooks(self, target_url: str) -> list[str]:
        """Create (or update: secret, URL, reactivate) one webhook per order topic."""
        url = self._delivery_url(target_url)
        if not url.startswith("https://"):
            log.warning("webhook URL is not https", shop=self.shop, url=url)
        existing = self._webhooks()
        secret = self.config.webhook_secret.get_secret_value()
        done = []
        for topic in ORDER_TOPICS:
            body = {
                "name": f"Quittance {topic} ({self.shop})",
                "topic": topic,
                "delivery_url": url,
                "secret": secret,
                "status": "active",
            }
            mine = [w for w in existing if w.topic == topic and w.delivery_url == url]
            if mine:
                hook = map_webhook(self.client.put(f"webhooks/{mine[0].id}", body))
                was = mine[0].status
                done.append(
                    f"updated {topic} webhook #{hook.id} → {url} (was {was}, now {hook.status})"
                )
            else:
                hook = map_webhook(self.client.post("webhooks", body))
                done.append(f"created {topic} webhook #{hook.id} → {url}")
        return done

    def startup_warnings(self, sample: int = 20) -> list[str]:
        """Problems worth a log line at start-up (today: a second invoice numbering series)."""
        resp = self.client.request(
            "GET", "orders", params={"per_page": sample, "orderby": "date", "order": "desc"}
        )
        for raw in resp.data or []:
            number = wcpdf_invoice_number(raw) if isinstance(raw, Mapping) else ""
            if number:
                return [self._wcpdf_message(raw.get("id"), number)]
        return []

    def _wcpdf_message(self, order_id: Any, number: str) -> str:
        return (
            f"shop {self.shop}: the 'PDF Invoices & Packing Slips' plugin already numbers "
            f"invoices (order {order_id} has invoice number {number}): two numbering series "
            "for the same sales is a legal problem. Disable its invoice document (or its "
            "automatic attachment) and keep Quittance's, or the reverse."
        )

    def _warn_wcpdf(self, raw: Mapping[str, Any]) -> None:
        if self._wcpdf_warned:
            return
        try:
            number = wcpdf_invoice_number(raw)
        except Exception:  # garbage meta_data: the mapping tells, if the order is paid
            return
        if number:
            self._wcpdf_warned = True
            log.warning(
                "two invoice numbering series", detail=self._wcpdf_message(raw.get("id"), number)
            )

    def check(self) -> list[CheckLine]:
        lines: list[CheckLine] = []
        auth = self.client.auth_mode
        try:
            resp = self.client.request("GET", "orders", params={"per_page": 1})
            total = resp.total
            lines.append(
                CheckLine(
                    "credentials",
                    True,
                    f"REST API key accepted by {self.config.url} ({auth}); "
                    f"{total if total is not None else '?'} orders",
                )
            )
        except ConnectorError as exc:
            lines.append(CheckLine("credentials", False, str(exc)))
        if auth != "basic":
            lines.append(
                CheckLine(
                    "https",
                    False,
                    f"{self.config.url} is plain http: credentials go as OAuth 1.0a in the query "
                    "string. Use the https:// URL of the shop (Basic auth over TLS).",
                )
            )
        if not lines[0].ok:
            return lines
        try:
            hooks = self._webhooks()
        except ConnectorError as exc:
            lines.append(CheckLine("webhooks", False, f"cannot list webhooks: {exc}"))
            hooks = None
        if hooks is not None:
            lines.extend(self._check_webhooks(hooks))
        try:
            for warning in self.startup_warnings():
                lines.append(CheckLine("numbering", False, warning))
        except ConnectorError as exc:  # pragma: no cover - same endpoint as credentials
            lines.append(CheckLine("numbering", False, str(exc)))
        return lines

    def _check_webhooks(self, hooks: list[Any]) -> list[CheckLine]:
        ours = [w for w in hooks if w.delivery_url.rstrip("/").endswith(webhook_path(self.shop))]
        fix = f"`quittance webhooks install --shop {self.shop}`"
        out = []
        for topic in ORDER_TOPICS:
            mine = [w for w in ours if w.topic == topic]
            if not mine:
                out.append(
                    CheckLine(
                        f"webhook {topic}", False, f"no {topic} webhook points at us: run {fix}"
                    )
                )
                continue
            for w in mine:
                if w.status == "active":
                    out.append(
                        CheckLine(f"webhook {topic}", True, f"#{w.id} active → {w.delivery_url}")
                    )
                elif w.status == "disabled":
                    out.append(
                        CheckLine(
                            f"webhook {topic}",
                            False,
                            f"#{w.id} is DISABLED: WooCommerce turns a webhook off after 5 failed "
                            f"deliveries. Check that {w.delivery_url} is reachable from the shop "
                            f"and answers 200, then run {fix} (it reactivates it) or set it "
                            "Active in WooCommerce › Settings › Advanced › Webhooks. Polling "
                            "kept invoicing meanwhile.",
                        )
                    )
                else:
                    out.append(
                        CheckLine(f"webhook {topic}", False, f"#{w.id} is {w.status}: run {fix}")
                    )
        return out


def _names(note: str, number: str) -> bool:
    """One of our notes naming exactly `number` ("AV-2026-1" is not in "AV-2026-10")."""
    return (
        "Quittance" in note
        and re.search(rf"(?<![\w-]){re.escape(number)}(?![\w-])", note) is not None
    )


def _order_id_of(topic: str, payload: Mapping[str, Any]) -> str | None:
    if topic.startswith("action."):
        arg = payload.get("arg")
        if isinstance(arg, Mapping):
            arg = arg.get("id")
        return str(arg) if isinstance(arg, int | str) and _ascii_digits(str(arg)) else None
    value = payload.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int | str) and _ascii_digits(str(value)):
        return str(value)
    return None


def _ascii_digits(text: str) -> bool:
    """str.isdigit() alone accepts "²" or "١٢٣", which no order id can be."""
    return text.isascii() and text.isdigit()
