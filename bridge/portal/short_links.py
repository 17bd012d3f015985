"""Short links for text messages: `<public_url>/l/<code>` stands for a signed customer link.

A text has room for about 35 characters of link; a signed portal link takes ~130. The code is
10 random base62 characters (59 bits, behind the customer pages' rate limits), recorded with
the path it stands for and kept `KEPT_AFTER_EXPIRY` beyond that link's own expiry, so a
customer opening an old text lands on the page that sends a new link rather than on a 404.
The code carries nothing: revocation and expiry stay the signed link's business."""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime, timedelta

from fastapi.responses import RedirectResponse, Response

from bridge.store import Store

CODE_ALPHABET = string.ascii_letters + string.digits
CODE_LENGTH = 10
KEPT_AFTER_EXPIRY = timedelta(days=30)
PREFIX = "/l/"


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def shorten(store: Store, base: str, url: str, *, invoice_id: int, valid_days: int) -> str:
    """`<base>/l/<code>` standing for `url` (one of our customer links, valid `valid_days`);
    "" stays "" (no link to shorten). `base` is `[server] public_url`."""
    if not url:
        return ""
    keep_until = datetime.now(UTC) + timedelta(days=valid_days) + KEPT_AFTER_EXPIRY
    for _ in range(5):  # 59 bits: a clash is a curiosity, but never a wrong link
        code = new_code()
        if store.add_short_link(code, url, invoice_id, keep_until):
            return f"{base.rstrip('/')}{PREFIX}{code}"
    raise RuntimeError("could not draw a free short-link code")


def follow(store: Store, code: str) -> Response | None:
    """The redirect a short code stands for, None when it is not one of ours (any more)."""
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        return None
    target = store.short_link_target(code)
    if target is None:
        return None
    return RedirectResponse(target, status_code=303)
