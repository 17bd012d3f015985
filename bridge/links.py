"""The bare-signature PDF links of before links expired: `?t=` the first 32 hex digits of an
HMAC of the number. They never expire by themselves, so they are only checked now, never made
(bridge/portal/links.py makes the signed, expiring links); `[portal] legacy_links_until`
ends them and a customer's revocation stops theirs."""

from __future__ import annotations

import hashlib
import hmac


def invoice_token(secret: str, number: str) -> str:
    digest = hmac.new(secret.encode(), f"invoice:{number}".encode(), hashlib.sha256).hexdigest()
    return digest[:32]


def token_is_valid(secret: str, number: str, token: str) -> bool:
    # bytes: compare_digest raises TypeError on a str with non-ASCII characters (a 500)
    return hmac.compare_digest(
        invoice_token(secret, number).encode(), token.encode("utf-8", "replace")
    )
