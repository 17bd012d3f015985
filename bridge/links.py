"""Signed invoice download links: unguessable without the secret, verifiable without state."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import quote


def invoice_token(secret: str, number: str) -> str:
    digest = hmac.new(secret.encode(), f"invoice:{number}".encode(), hashlib.sha256).hexdigest()
    return digest[:32]


def signed_invoice_url(server: Any, number: str) -> str:
    if not server.public_url or server.link_secret is None:
        return ""
    token = invoice_token(server.link_secret.get_secret_value(), number)
    return f"{server.public_url.rstrip('/')}/invoices/{quote(number, safe='')}.pdf?t={token}"


def token_is_valid(secret: str, number: str, token: str) -> bool:
    # bytes: compare_digest raises TypeError on a str with non-ASCII characters (a 500)
    return hmac.compare_digest(
        invoice_token(secret, number).encode(), token.encode("utf-8", "replace")
    )
