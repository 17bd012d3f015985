"""The shop's outgoing webhooks, for the WooCommerce sandbox: deliveries signed as WooCommerce
signs them (base64 HMAC-SHA256 of the raw body), the creation ping, and the queue a shop runs
(each delivery built when it runs, never retried; a hook failing 5 times in a row is
disabled).

`WebhookQueue` is a part of `WooSandbox`: it reads the sandbox's orders, webhooks, lock and
URL, and keeps `queue`, `deliveries` and `pings`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

MAX_FAILURES = 5  # WooCommerce: `woocommerce_max_webhook_delivery_failures`


def webhook_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Delivery:
    hook_id: int
    order_id: int
    topic: str


@dataclass
class DeliveryResult:
    status: int  # 0 = connection failed
    body: str = ""


class WebhookQueue:
    orders: dict[int, dict[str, Any]]
    webhooks: dict[int, dict[str, Any]]
    webhook_secret: str
    queue: list[Delivery]
    deliveries: list[tuple[str, int, int]]
    pings: list[tuple[str, int]]
    lock: Any
    url: str

    def _enqueue(self, order_id: int, topic: str) -> None:
        for hook in self.webhooks.values():
            if hook["status"] == "active" and hook["topic"] == topic:
                self.queue.append(Delivery(hook["id"], order_id, topic))

    def payload(self, order_id: int) -> bytes:
        with self.lock:
            body = copy.deepcopy(self.orders[int(order_id)])
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    def webhook_request(
        self,
        order_id: int,
        topic: str = "order.updated",
        *,
        secret: str | None = None,
        body: bytes | None = None,
        hook_id: int = 1,
        signed: bool = True,
        delivery: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body WooCommerce POSTs for `topic` on this order (its current
        payload, or `body`), signed with `secret` (default: the sandbox's). `delivery`: the
        id of a delivery sent again; a new one is WooCommerce's hash of the hook id and the
        second (`get_new_delivery_id`)."""
        body = self.payload(order_id) if body is None else body
        resource, _, event = topic.partition(".")
        delivery = delivery or new_delivery_id(hook_id)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "WooCommerce/8.0.2 Hookshot (WordPress/6.3)",
            "X-WC-Webhook-Source": self.url + "/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-ID": str(hook_id),
            "X-WC-Webhook-Delivery-ID": delivery,
        }
        if signed:
            headers["X-WC-Webhook-Signature"] = webhook_signature(
                secret or self.webhook_secret, body
            )
        return headers, body

    def deliver_webhook(
        self,
        target_url: str,
        order_id: int,
        topic: str = "order.updated",
        *,
        secret: str | None = None,
        duplicate: int = 1,
        tamper: bool = False,
        body: bytes | None = None,
        hook_id: int = 1,
        signed: bool = True,
    ) -> list[DeliveryResult]:
        """POST the order's current payload (or `body`, e.g. an older snapshot to play an
        out-of-order delivery) to `target_url`, signed like WooCommerce, `duplicate` times:
        the same delivery (one id) sent again, whichever second each copy leaves in."""
        results = []
        delivery = new_delivery_id(hook_id)
        for _ in range(duplicate):
            headers, raw = self.webhook_request(
                order_id, topic, secret=secret, body=body, hook_id=hook_id, signed=signed,
                delivery=delivery,
            )  # fmt: skip
            if tamper:
                raw = raw.replace(b'"total":"', b'"total":"1', 1)
            results.append(self._post(target_url, raw, headers))
            self.deliveries.append((topic, int(order_id), results[-1].status))
        return results

    def ping(self, target_url: str, webhook_id: int = 1) -> DeliveryResult:
        """The creation ping: form-encoded `webhook_id=N`, no signature."""
        result = self._post(
            target_url,
            f"webhook_id={webhook_id}".encode(),
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "WooCommerce/8.0.2 Hookshot (WordPress/6.3)",
            },
        )
        self.pings.append((target_url, result.status))
        return result

    @staticmethod
    def _post(url: str, body: bytes, headers: Mapping[str, str]) -> DeliveryResult:
        try:
            resp = requests.post(url, data=body, headers=dict(headers), timeout=10)
        except requests.RequestException as exc:
            return DeliveryResult(0, str(exc))
        return DeliveryResult(resp.status_code, resp.text[:500])

    def flush_webhooks(self, *, lose: bool = False) -> list[DeliveryResult]:
        """Run the shop's queue: each queued delivery is built NOW (current order state),
        signed with its hook's secret and posted once; never retried. A hook failing
        5 times in a row becomes `disabled`. `lose=True` drops the queue (lost webhooks)."""
        with self.lock:
            queue, self.queue = self.queue, []
        results = []
        for item in [] if lose else queue:
            hook = self.webhooks.get(item.hook_id)
            if hook is None or hook["status"] != "active":
                continue
            [result] = self.deliver_webhook(
                hook["delivery_url"],
                item.order_id,
                item.topic,
                secret=hook["secret"],
                hook_id=hook["id"],
                signed=bool(hook["secret"]),
            )
            with self.lock:
                if 200 <= result.status < 300:
                    hook["failure_count"] = 0
                else:
                    hook["failure_count"] += 1
                    if hook["failure_count"] >= MAX_FAILURES:
                        hook["status"] = "disabled"
            results.append(result)
        return results


def new_delivery_id(hook_id: int) -> str:
    """WooCommerce's `wp_hash(webhook id . now)`: two deliveries of one hook in the same
    second share an id."""
    return hashlib.sha1(f"{hook_id}{int(time.time())}".encode()).hexdigest()
