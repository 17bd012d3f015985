"""The Shopify GraphQL Admin API client of one shop: its own `requests.Session` and timeout,
the API version registered with ShopifyAPI, cost-based throttling and quick retries.

Throttling: Shopify's cost-based limit answers THROTTLED as HTTP 200 with
`errors[].extensions.code == "THROTTLED"` and sometimes as HTTP 429. We read
`extensions.cost` and wait exactly `(requestedQueryCost − currentlyAvailable) / restoreRate`
seconds (429 without a cost: `Retry-After`); after a call that left the bucket too low for
the same query again, the next call first waits for the bucket to refill. A Retry-After
longer than a minute is not waited for here: the job goes back to the durable queue."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import requests
import shopify
import structlog
from shopify.api_version import ApiVersion, Release, Unstable

from bridge.quick_retry import RetrySoon
from connectors.base import (
    PermanentConnectorError,
)
from connectors.http import (
    MAX_RETRY_AFTER,
    HttpRules,
    read_json,
    unreachable,
    with_quick_retries,
)
from connectors.shopify.mapping import (
    scopes_in,
)
from connectors.shopify.settings import ShopifyShop

log = structlog.get_logger()

REQUIRED_SCOPES = ("read_orders", "write_orders")


SCOPE_HELP = (
    "the app needs the Admin API scopes read_orders and write_orders (write_orders for the "
    "invoice metafields); customer names and emails need protected customer data access, and "
    "orders older than 60 days need read_all_orders"
)


_VERSION_LOCK = threading.Lock()


def api_version(name: str) -> ApiVersion:
    """Register (once) and return the ShopifyAPI version object for `name` (2025-10…)."""
    with _VERSION_LOCK:
        if name not in ApiVersion.versions:
            ApiVersion.define_version(Unstable() if name == "unstable" else Release(name))
        return ApiVersion.versions[name]


def error_codes(body: Mapping[str, Any]) -> set[str]:
    """The `extensions.code` of each GraphQL error; Shopify's 4xx/5xx pages answer
    `{"errors": "Internal Server Error"}`, a plain string, instead of a list."""
    errors = body.get("errors")
    if not isinstance(errors, list):
        return set()
    return {
        str((e.get("extensions") or {}).get("code") or "") for e in errors if isinstance(e, Mapping)
    }


def shopify_throttle(status: int, body: Any) -> float | None:
    """Shopify's own throttle signal: THROTTLED in `errors` (HTTP 200), or a 429 carrying the
    bucket's cost; the wait is what the bucket needs to pay for the query again."""
    if not isinstance(body, Mapping):
        return None
    codes = error_codes(body)
    has_cost = bool((body.get("extensions") or {}).get("cost"))
    if status == 429:
        return throttle_wait(body) if has_cost else None  # else Retry-After, else our backoff
    return throttle_wait(body) if "THROTTLED" in codes else None


def bucket(cost: Mapping[str, Any]) -> tuple[float, float, float] | None:
    """(requested query cost, points available, restore rate per second) of an answer's
    `extensions.cost`, or None when it says nothing usable."""
    status = cost.get("throttleStatus") or {}
    try:
        requested = float(cost.get("requestedQueryCost") or 0)
        available = float(status.get("currentlyAvailable") or 0)
        rate = float(status.get("restoreRate") or 0)
    except (TypeError, ValueError):
        return None
    return requested, available, rate


def throttle_wait(body: Mapping[str, Any] | None, fallback: float = 1.0) -> float:
    """Seconds until the bucket holds enough points for the throttled query."""
    found = bucket(((body or {}).get("extensions") or {}).get("cost") or {})
    if found is None or found[2] <= 0 or found[0] <= 0:
        return fallback
    requested, available, rate = found
    return min(max(requested - available, 1.0) / rate, MAX_RETRY_AFTER)


class ShopifyGraphQL:
    """POSTs GraphQL documents for ONE shop, with timeouts, throttling and retries."""

    def __init__(
        self,
        config: ShopifyShop,
        *,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = 6,
        backoff: float = 0.5,
    ) -> None:
        self.shop = config.name
        self.timeout = config.timeout_seconds
        self.version = api_version(config.api_version)
        token = config.access_token.get_secret_value()
        session = shopify.Session(config.domain, config.api_version, token)
        if config.api_base_url:
            base = self.version.api_path(config.api_base_url.rstrip("/"))
        else:
            base = session.site  # https://<name>.myshopify.com/admin/api/<version>
        self.endpoint = base + "/graphql.json"
        self.http = requests.Session()
        self.http.headers.update(
            {
                "X-Shopify-Access-Token": token,
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": "Quittance (facture acquittée)",
            }
        )
        self.sleep = sleep
        self.attempts = attempts
        self.backoff = backoff
        self.waits: deque[float] = deque(maxlen=100)  # recent throttle/backoff waits
        self.last_cost: dict[str, Any] = {}
        self._refill_wait = 0.0
        self.rules = self._http_rules()  # built once: every request reads it

    def close(self) -> None:
        self.http.close()

    def execute(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a successful response. Raises Transient/PermanentConnectorError."""
        if self._refill_wait > 0:
            self._pause(self._refill_wait)
            self._refill_wait = 0.0
        self.rules = self._http_rules()  # built once: every request reads it
        return with_quick_retries(
            self.rules, "Shopify GraphQL", lambda: self._attempt(query, dict(variables or {})),
            attempts=self.attempts, backoff=self.backoff, sleep=self.sleep,
            on_retry=self._log_retry,
        )  # fmt: skip

    def _log_retry(self, error: BaseException | None, wait: float, attempt: int) -> None:
        self.waits.append(wait)
        log.info("shopify retry", shop=self.shop, reason=str(error), wait_seconds=wait)

    def _pause(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.sleep(seconds)

    def _attempt(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.http.post(
                self.endpoint,
                json={"query": query, "variables": variables},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise unreachable(exc, self.endpoint) from None
        body = read_json(response, "Shopify GraphQL", self.rules)
        cost = (body.get("extensions") or {}).get("cost") or {}
        self.last_cost = cost
        errors = [e for e in body.get("errors") or [] if isinstance(e, Mapping)]
        codes = error_codes(body)
        if "ACCESS_DENIED" in codes:
            message = "; ".join(str(e.get("message")) for e in errors)
            scopes = sorted({s for e in errors for s in scopes_in(str(e.get("message", "")))})
            missing = ", ".join(scopes) or "read_orders / write_orders"
            raise PermanentConnectorError(
                f"shop {self.shop}: access denied, grant the scope {missing} to the app "
                f"({message}); {SCOPE_HELP}."
            )
        if "INTERNAL_SERVER_ERROR" in codes:
            raise RetrySoon("INTERNAL_SERVER_ERROR")
        if errors:
            raise PermanentConnectorError(
                f"shop {self.shop}: GraphQL errors: "
                + "; ".join(str(e.get("message")) for e in errors)
            )
        self._plan_refill(cost)
        return body.get("data") or {}

    def _http_rules(self) -> HttpRules:
        return HttpRules(
            shop=self.shop,
            refused=lambda status, _resp: (
                f"Shopify refused the access token (HTTP {status}). "
                f"Check [[shops]] access_token for {self.shop}; {SCOPE_HELP}."
            ),
            not_found=lambda _what, _resp: (
                f"{self.endpoint} not found (HTTP 404): check the shop domain "
                f"and api_version {self.version.name}"
            ),
            throttle=shopify_throttle,
        )

    def _plan_refill(self, cost: Mapping[str, Any]) -> None:
        """If the bucket cannot pay for this query again, wait for it before the next one."""
        found = bucket(cost)
        if found is None:
            return
        requested, available, rate = found
        if rate > 0 and requested > available:
            self._refill_wait = min((requested - available) / rate, MAX_RETRY_AFTER)
