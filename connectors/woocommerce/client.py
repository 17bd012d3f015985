"""A thin, owned wrapper around the `woocommerce` package (3.0.0, unmaintained since 2021).

The package builds URLs and authenticates; everything else is ours: timeouts, retries
(tenacity), pagination (`X-WP-TotalPages`), and errors that name the shop and what to fix.

What reading the package's source showed (woocommerce/api.py, oauth.py, 3.0.0):

- Over `https://` it sends HTTP Basic auth (`consumer_key:consumer_secret`): this is what real
  shops use and what we recommend.
- Over plain `http://` it signs one-legged OAuth 1.0a (HMAC-SHA256) in the query string, and
  is flawed in three ways:
  1. the query parameters are put in the signed URL AND passed again as `params=` to
     `requests`, so every parameter is sent twice (`?page=2&…&oauth_signature=…&page=2`).
     PHP keeps the last value so real WooCommerce still accepts it, but any array parameter
     (`include[]=…`) is doubled. Our sandbox verifies the signature and ignores the copies.
  2. values are normalised with `urllib.parse.quote(value)` whose default keeps "/" unescaped,
     while WooCommerce signs with PHP `rawurlencode` (which escapes "/"): any query value that
     contains "/" gets a signature the shop rejects with 401. We never send such a value
     (ISO dates, numbers, fixed words) — keep it that way, or use HTTPS.
  3. extra keyword arguments are forwarded to `requests.request` (e.g. `oauth_timestamp=`
     raises TypeError): we never pass any.
  So: HTTPS + Basic auth for real shops; plain-HTTP OAuth 1.0a only for the sandbox and local
  test shops, with the constraints above. `WooClient.auth_mode` says which one is in use.
- Each call is a fresh `requests.request` (no connection reuse, no retries) with `timeout`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import structlog
from woocommerce import API

from connectors.base import PermanentConnectorError
from connectors.http import HttpRules, read_json, unreachable, with_quick_retries

log = structlog.get_logger()

PER_PAGE = 100


@dataclass
class Response:
    status: int
    data: Any
    headers: Mapping[str, str]

    @property
    def total_pages(self) -> int:
        try:
            return int(self.headers.get("X-WP-TotalPages", "1") or 1)
        except ValueError:
            return 1

    @property
    def total(self) -> int | None:
        try:
            return int(self.headers["X-WP-Total"])
        except (KeyError, ValueError):
            return None


class WooClient:
    """`get/post/put` returning parsed JSON; errors are Transient/PermanentConnectorError."""

    def __init__(
        self,
        shop: str,
        url: str,
        consumer_key: str,
        consumer_secret: str,
        *,
        timeout: float = 20.0,
        attempts: int = 4,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.shop = shop
        self.url = url.rstrip("/")
        self.api = API(
            url=self.url,
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            version="wc/v3",
            timeout=timeout,
            user_agent="Quittance (WooCommerce connector)",
        )
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep
        self.rules = self._http_rules()  # built once: every request reads it

    @property
    def auth_mode(self) -> str:
        return "basic" if self.url.startswith("https://") else "oauth1-query"

    # -- one request, retried ---------------------------------------------------------------

    def request(
        self, method: str, endpoint: str, *, params: dict[str, Any] | None = None, data: Any = None
    ) -> Response:
        if method.upper() != "GET" and _is_refunds(endpoint):
            # Creating a refund moves money on the payment gateway, deleting one rewrites the
            # shop's books: refunds are only ever read, whatever the caller.
            raise PermanentConnectorError(
                f"shop {self.shop}: refusing to {method.upper()} {endpoint} (refunds are read only)"
            )
        return with_quick_retries(
            self.rules, f"{method} {endpoint}",
            lambda: self._once(method, endpoint, params, data),
            attempts=self.attempts, backoff=self.backoff, sleep=self.sleep,
            on_retry=self._log_retry,
        )  # fmt: skip

    def _once(
        self, method: str, endpoint: str, params: dict[str, Any] | None, data: Any
    ) -> Response:
        params = {k: _param(v) for k, v in (params or {}).items()}
        try:
            if method == "GET":
                resp = self.api.get(endpoint, params=params)
            elif method == "POST":
                resp = self.api.post(endpoint, data, params=params)
            elif method == "PUT":
                resp = self.api.put(endpoint, data, params=params)
            else:  # pragma: no cover - we use no other verb
                raise ValueError(method)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise unreachable(exc, self.url) from exc
        payload = read_json(resp, f"{method} {endpoint}", self.rules)
        return Response(resp.status_code, payload, resp.headers)

    def _log_retry(self, error: BaseException | None, wait: float, attempt: int) -> None:
        log.info("woocommerce retry", shop=self.shop, reason=str(error), wait_seconds=wait)

    def _http_rules(self) -> HttpRules:
        return HttpRules(
            shop=self.shop,
            refused=lambda status, resp: (
                f"WooCommerce refused the REST API key (HTTP {status}, {_wc_message(resp)}): "
                f"check consumer_key/consumer_secret of [[shops]] '{self.shop}' and that the "
                "key has Read/Write permission (WooCommerce › Settings › Advanced › REST API)"
            ),
            not_found=lambda what, resp: (
                f"{what} → 404 ({_wc_message(resp)}): check the shop url {self.url!r} (the "
                "REST API lives at /wp-json/wc/v3; permalinks must not be 'Plain') and that "
                "the object still exists"
            ),
            detail=_wc_message,
        )

    def get(self, endpoint: str, **params: Any) -> Any:
        return self.request("GET", endpoint, params=params).data

    def post(self, endpoint: str, data: Any) -> Any:
        return self.request("POST", endpoint, data=data).data

    def put(self, endpoint: str, data: Any) -> Any:
        return self.request("PUT", endpoint, data=data).data

    def pages(
        self, endpoint: str, *, per_page: int = PER_PAGE, **params: Any
    ) -> Iterator[Response]:
        """Every page of a collection (`per_page` ≤ 100, until `X-WP-TotalPages`)."""
        page = 1
        while True:
            resp = self.request(
                "GET", endpoint, params={**params, "per_page": per_page, "page": page}
            )
            yield resp
            if page >= resp.total_pages or not resp.data:
                return
            page += 1


def _is_refunds(endpoint: str) -> bool:
    """`orders/<id>/refunds` and everything under it, however the path is spelt."""
    return "refunds" in endpoint.strip("/").lower().split("?")[0].split("/")


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _wc_message(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return (resp.text or "")[:200].strip() or resp.reason or ""
    if isinstance(body, Mapping):
        return f"{body.get('code', '')}: {body.get('message', '')}".strip(": ")
    return str(body)[:200]
