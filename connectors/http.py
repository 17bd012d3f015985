"""What an HTTP answer means for a step: the one place every connector turns statuses and
headers into "retry in a moment" (`RetrySoon`), "retry in minutes" (the durable job queue) or
"a person must act".

    network error, timeout        → RetrySoon (our backoff)
    429, 5xx                      → RetrySoon, waiting what the platform's throttle hook or
                                    Retry-After asks; asked for more than MAX_RETRY_AFTER →
                                    TransientConnectorError (the durable queue waits instead)
    401, 403                      → PermanentConnectorError with the platform's credential help
    404                           → PermanentConnectorError with the platform's URL help
    other 4xx                     → PermanentConnectorError with the platform's error text
    2xx that is not JSON          → RetrySoon (a maintenance page, a caching proxy)
    2xx the throttle hook flags   → RetrySoon (Shopify answers THROTTLED with HTTP 200)

Platform knowledge comes in through `HttpRules`; nothing here knows a platform.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests

from bridge.quick_retry import OnRetry, RetrySoon, quick_retries, retry_after
from connectors.base import PermanentConnectorError, TransientConnectorError

MAX_RETRY_AFTER = 60.0  # longer than this: give the job back to the durable queue
T = TypeVar("T")


def _no_throttle(status: int, body: Any) -> float | None:
    return None


def _body_text(response: requests.Response) -> str:
    return (response.text or "")[:200].strip() or response.reason or ""


@dataclass(frozen=True)
class HttpRules:
    """How one platform phrases its refusals and signals throttling.

    `refused(status, response)` / `not_found(what, response)`: what the owner should check;
    `detail(response)`: the platform's error text; `throttle(status, body)`: seconds the
    platform asks us to wait when the answer (even a 200) is a rate limit, else None."""

    shop: str
    refused: Callable[[int, requests.Response], str]
    not_found: Callable[[str, requests.Response], str]
    detail: Callable[[requests.Response], str] = _body_text
    throttle: Callable[[int, Any], float | None] = _no_throttle


def unreachable(exc: requests.RequestException, where: str) -> RetrySoon:
    # Not str(exc): requests puts the whole URL in it, and a WooCommerce URL over plain HTTP
    # carries the OAuth key and signature in its query string.
    return RetrySoon(f"{type(exc).__name__}: cannot reach {where}")


def read_json(response: requests.Response, what: str, rules: HttpRules) -> Any:
    """The parsed JSON of a successful answer; otherwise the error that says what next."""
    status = response.status_code
    body = _json_or_none(response)
    if status == 429 or status >= 500:
        wait = rules.throttle(status, body)
        if wait is None:
            wait = retry_after(response.headers.get("Retry-After"))
        if wait is not None and wait > MAX_RETRY_AFTER:
            raise TransientConnectorError(
                f"shop {rules.shop}: HTTP {status} with Retry-After {wait:.0f}s on {what}: "
                "retrying later"
            )
        raise RetrySoon(f"HTTP {status} on {what}", wait, throttled=status == 429)
    if status in (401, 403):
        raise PermanentConnectorError(f"shop {rules.shop}: {rules.refused(status, response)}")
    if status == 404:
        raise PermanentConnectorError(f"shop {rules.shop}: {rules.not_found(what, response)}")
    if status >= 400:
        raise PermanentConnectorError(
            f"shop {rules.shop}: {what} → HTTP {status}: {rules.detail(response)}"
        )
    if body is None:
        content_type = response.headers.get("Content-Type")
        raise RetrySoon(f"{what} answered non-JSON ({content_type})")
    wait = rules.throttle(status, body)
    if wait is not None:
        raise RetrySoon(f"throttled on {what}", wait, throttled=True)
    return body


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def with_quick_retries(
    rules: HttpRules,
    what: str,
    attempt: Callable[[], T],
    *,
    attempts: int,
    backoff: float,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: OnRetry | None = None,
) -> T:
    """`attempt()` with quick retries; still failing → TransientConnectorError (the queue's)."""
    retrying = quick_retries(attempts=attempts, initial=backoff, sleep=sleep, on_retry=on_retry)
    try:
        return retrying(attempt)
    except RetrySoon as exc:
        how = "still throttled" if exc.throttled else "still failing"
        raise TransientConnectorError(
            f"shop {rules.shop}: {what} {how} after {attempts} attempts: {exc}"
        ) from exc
