"""Shopify webhook deliveries: the HMAC check (current or previous client secret) and which
order a topic's body is about."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any

from connectors.shopify.mapping import GID_ORDER, MappingError, order_gid


def webhook_hmac(secret: str, body: bytes) -> str:
    """Base64 HMAC-SHA256 of the raw body: the X-Shopify-Hmac-Sha256 header value."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def hmac_matches(secrets: Iterable[str], body: bytes, header: str) -> bool:
    """Constant-time comparison against every accepted secret (current, then previous)."""
    given = header.strip().encode("utf-8", "replace")
    ok = False
    for secret in secrets:
        # No short-circuit: the time taken does not reveal which secret matched.
        ok |= hmac.compare_digest(webhook_hmac(secret, body).encode("ascii"), given)
    return ok


def webhook_order_ref(topic: str, payload: Mapping[str, Any]) -> str | None:
    """The order a webhook is about, as a GraphQL id (None: not about an order)."""
    if topic.startswith("orders/"):
        gid = payload.get("admin_graphql_api_id")
        if isinstance(gid, str) and gid.startswith(GID_ORDER):
            return gid
        if payload.get("id") is not None:
            return order_gid(payload["id"])
        raise MappingError("the body has neither admin_graphql_api_id nor id")
    if topic.startswith("refunds/"):
        # A refund is read with its order (all its refunds): the body only says which order.
        # Shopify posts the refund bare; REST answers (fixture 02) wrap it in "refund".
        refund = payload.get("refund", payload)
        order_id = refund.get("order_id") if isinstance(refund, Mapping) else None
        if order_id is None:
            raise MappingError("the refund body has no order_id")
        return order_gid(order_id)
    return None


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: "[[[[…" a few KB deep
        raise MappingError(f"body is not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise MappingError("body is not a JSON object")
    return payload
