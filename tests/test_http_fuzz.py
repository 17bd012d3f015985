"""Fuzzing the HTTP face: whatever arrives (unsigned, malformed, huge, misrouted), the answer is
a 4xx, never a 5xx, and nothing is stored. In-process (Starlette's TestClient), one WooCommerce
and one Shopify shop configured; no sandbox: nothing valid gets through, so nothing calls out.

Routes come from `app.openapi()`: a route added later is fuzzed without touching this file."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.config import load_settings
from bridge.links import invoice_token
from bridge.services import Services
from bridge.web.app import create_app
from tests.support.config import write_config

WOO, SHOPIFY = "boutique-woo", "boutique-shopify"
WOO_SECRET, SHOPIFY_SECRET = "whsec-fuzz-woo", "fuzz-shopify-client-secret"
DOMAIN = "la-theiere.myshopify.com"
LINK_SECRET = "fuzz-link-secret-0123456789abcdef"
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

SERVER = {"public_url": "https://factures.example.fr", "link_secret": LINK_SECRET}
# Shops whose APIs cannot answer (port 9, discard): nothing valid gets through, so none is called.
SHOPS = [
    {
        "name": WOO,
        "platform": "woocommerce",
        "url": "http://127.0.0.1:9",
        "consumer_key": "ck_fuzz",
        "consumer_secret": "cs_fuzz",
        "webhook_secret": WOO_SECRET,
        "timeout_seconds": 1,
    },
    {
        "name": SHOPIFY,
        "platform": "shopify",
        "domain": DOMAIN,
        "access_token": "shpat_fuzz",
        "client_secret": SHOPIFY_SECRET,
        "api_base_url": "http://127.0.0.1:9",
        "timeout_seconds": 1,
    },
]


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@pytest.fixture(scope="module")
def app_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Services]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    # hundreds of requests from one client: the portal's rate limit has its own tests
    portal = {"requests_per_minute": 100_000}
    cfg = write_config(tmp / "quittance.toml", server=SERVER, shops=SHOPS, portal=portal)
    svc = Services.from_settings(load_settings(cfg, environ={}))
    app = create_app(svc)
    # raise_server_exceptions=False: a crash must show up as the 500 a client would get
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, svc
    app.state.inbox.close()
    svc.close()


def assert_nothing_stored(svc: Services) -> None:
    assert svc.store.webhook_counts_since(EPOCH) == {}
    assert svc.store.job_counts().get("pending", 0) == 0
    assert list(svc.store.iter_invoices()) == []


# -- strategies --------------------------------------------------------------------------------

# Header values a client can actually send (latin-1, no CR/LF), names of header characters.
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=80)
header_names = st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,30}\Z")
platform_headers = st.sampled_from(
    [
        "X-WC-Webhook-Signature", "X-WC-Webhook-Topic", "X-WC-Webhook-ID",
        "X-WC-Webhook-Delivery-ID", "X-WC-Webhook-Source", "X-Shopify-Hmac-Sha256",
        "X-Shopify-Shop-Domain", "X-Shopify-Topic", "X-Shopify-Event-Id",
        "X-Shopify-Webhook-Id", "Content-Type", "Content-Length", "Transfer-Encoding",
    ]
)  # fmt: skip
headers = st.dictionaries(st.one_of(platform_headers, header_names), header_values, max_size=6)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# JSON without a usable order id: with a valid signature these must still be refused (400) or
# acknowledged as not-about-an-order (200), never stored.
no_id_objects = st.dictionaries(
    st.text(max_size=10).filter(
        lambda k: k not in ("id", "admin_graphql_api_id", "arg", "order_id")
    ),
    json_values,
    max_size=5,
)
bad_ids = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(),
    st.text(max_size=12).filter(lambda s: not (s.isascii() and s.strip().isdigit())),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(["-1", "1e3", "0x10", "12abc", "١٢٣", "²", "½", "", "gid://shopify/Product/1"]),
)
bad_id_objects = st.builds(lambda v, rest: {**rest, "id": v}, bad_ids, no_id_objects)
deep = st.integers(min_value=1, max_value=200_000).map(lambda n: b"[" * n + b"]" * n)
bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    no_id_objects.map(lambda v: json.dumps(v).encode()),
    bad_id_objects.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(
        [
            b"webhook_id=",
            b"webhook_id=abc",
            b"webhook_id=1&x=2",
            b"null",
            b"[]",
            b'{"id": 1',
            b"\xff\xfe{}",
            b'{"id": 1}' * 2,
        ]
    ),
    deep,
)
segments = st.one_of(
    st.sampled_from([WOO, SHOPIFY, "woocommerce", "shopify", "", ".", "..", "nope", "x" * 300]),
    st.text(max_size=30),
)


def path_for(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: quote(values.get(m.group(1), "x"), safe=""), template)


def raw_headers(headers: dict[str, str]) -> dict[str, bytes]:
    """Header values as bytes: httpx would refuse non-ASCII str values client-side."""
    return {k: v.encode("latin-1", "replace") for k, v in headers.items()}


def check(resp, what: object) -> None:  # type: ignore[no-untyped-def]
    assert resp.status_code < 500, (resp.status_code, resp.text[:300], what)


# -- every route of the OpenAPI spec, random everything ---------------------------------------


def test_openapi_lists_the_routes_we_fuzz(app_env: tuple[TestClient, Services]) -> None:
    client, _ = app_env
    paths = set(client.app.openapi()["paths"])  # type: ignore[attr-defined]
    assert {"/webhooks/{platform}/{shop}", "/invoices/{filename}", "/healthz",
            "/readyz"} <= paths  # fmt: skip


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_requests_on_every_route_never_5xx(
    app_env: tuple[TestClient, Services], data: st.DataObject
) -> None:
    client, svc = app_env
    spec = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    template = data.draw(st.sampled_from(sorted(spec)), label="route")
    names = re.findall(r"\{(\w+)\}", template)
    values = {n: data.draw(segments, label=n) for n in names}
    documented = [m.upper() for m in spec[template]]
    method = data.draw(st.sampled_from(documented) | st.sampled_from(METHODS), label="method")
    path = path_for(template, values)
    query = data.draw(st.dictionaries(st.sampled_from(["t", "x", "page"]), st.text(max_size=40),
                                      max_size=2), label="query")  # fmt: skip
    body = data.draw(bodies, label="body") if method not in ("GET", "HEAD") else b""
    hdrs = data.draw(headers, label="headers")
    hdrs.pop("Content-Length", None)  # let the client compute it (a lie would hang the test)
    hdrs.pop("Transfer-Encoding", None)
    resp = client.request(method, path, params=query, content=body, headers=raw_headers(hdrs))
    check(resp, (method, path, query, hdrs, body[:100]))
    assert_nothing_stored(svc)


# -- signed with the right secret, but still wrong ----------------------------------------------


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=bodies,
    topic=st.one_of(
        st.sampled_from(
            [
                "order.updated",
                "order.created",
                "action.woocommerce_x",
                "order.deleted",
                "product.updated",
                "",
            ]
        ),
        st.text(max_size=20),
    ),
)
def test_woocommerce_signed_but_malformed_is_refused(
    app_env: tuple[TestClient, Services], body: bytes, topic: str
) -> None:
    client, svc = app_env
    headers = {"X-WC-Webhook-Signature": sign(WOO_SECRET, body), "Content-Type": "application/json",
               "X-WC-Webhook-Topic": re.sub(r"[\x00-\x1f\x7f]", "", topic)}  # fmt: skip
    resp = client.post(f"/webhooks/woocommerce/{WOO}", content=body, headers=raw_headers(headers))
    check(resp, (topic, body[:100]))
    assert resp.status_code in (200, 400), resp.text
    assert_nothing_stored(svc)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=bodies,
    topic=st.sampled_from(["orders/paid", "orders/updated", "refunds/create", "app/uninstalled"]),
    event_id=st.one_of(st.just("evt-1"), st.just(""), st.just("  ")),
)
def test_shopify_signed_but_malformed_is_refused(
    app_env: tuple[TestClient, Services], body: bytes, topic: str, event_id: str
) -> None:
    client, svc = app_env
    headers = {"X-Shopify-Hmac-Sha256": sign(SHOPIFY_SECRET, body), "X-Shopify-Topic": topic,
               "X-Shopify-Shop-Domain": DOMAIN, "X-Shopify-Event-Id": event_id,
               "Content-Type": "application/json"}  # fmt: skip
    resp = client.post(f"/webhooks/shopify/{SHOPIFY}", content=body, headers=headers)
    check(resp, (topic, event_id, body[:100]))
    assert resp.status_code in (200, 400), resp.text
    assert_nothing_stored(svc)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(number=st.text(max_size=40), token=st.text(max_size=64), with_token=st.booleans())
def test_invoice_links_with_bad_tokens(
    app_env: tuple[TestClient, Services], number: str, token: str, with_token: bool
) -> None:
    client, _ = app_env
    params = {"t": token} if with_token else {}
    resp = client.get(f"/invoices/{quote(number, safe='')}.pdf", params=params)
    check(resp, (number, token))
    assert resp.status_code in (403, 404, 405), resp.text


# -- the named cases ---------------------------------------------------------------------------

VALID_WOO = json.dumps({"id": 1001, "status": "processing"}).encode()
VALID_SHOPIFY = json.dumps(
    {"id": 5001, "admin_graphql_api_id": "gid://shopify/Order/5001"}
).encode()


def woo_headers(body: bytes, **extra: str) -> dict[str, str]:
    return {"X-WC-Webhook-Signature": sign(WOO_SECRET, body), "X-WC-Webhook-Topic":
            "order.updated", "Content-Type": "application/json", **extra}  # fmt: skip


def shopify_headers(body: bytes, **extra: str) -> dict[str, str]:
    return {"X-Shopify-Hmac-Sha256": sign(SHOPIFY_SECRET, body), "X-Shopify-Topic": "orders/paid",
            "X-Shopify-Shop-Domain": DOMAIN, "X-Shopify-Event-Id": "evt-1",
            "Content-Type": "application/json", **extra}  # fmt: skip


HUGE = b'{"id": 1, "pad": "' + b"x" * (1 << 20) + b'"}'
DEEP = b"[" * 100_000 + b"]" * 100_000
ARABIC_ID, SUPERSCRIPT_ID = '{"id": "١٢٣"}'.encode(), '{"id": "²"}'.encode()
WOO_URL, SHOPIFY_URL = f"/webhooks/woocommerce/{WOO}", f"/webhooks/shopify/{SHOPIFY}"

NAMED_CASES = [
    # (name, method, url, body, headers, expected status)
    ("woo empty unsigned", "POST", WOO_URL, b"", {}, 401),
    ("woo empty signed", "POST", WOO_URL, b"", woo_headers(b""), 400),
    ("woo non-JSON signed", "POST", WOO_URL, b"hello", woo_headers(b"hello"), 400),
    ("woo JSON without id", "POST", WOO_URL, b'{"a":1}', woo_headers(b'{"a":1}'), 400),
    ("woo JSON array", "POST", WOO_URL, b"[1]", woo_headers(b"[1]"), 400),
    ("woo unicode digits id", "POST", WOO_URL, ARABIC_ID, woo_headers(ARABIC_ID), 400),
    ("woo superscript id", "POST", WOO_URL, SUPERSCRIPT_ID, woo_headers(SUPERSCRIPT_ID), 400),
    ("woo deeply nested JSON signed", "POST", WOO_URL, DEEP, woo_headers(DEEP), 400),
    ("woo huge unsigned", "POST", WOO_URL, HUGE, {"Content-Type": "application/json"}, 401),
    ("woo huge, signature of another body", "POST", WOO_URL, HUGE, woo_headers(VALID_WOO), 401),
    ("woo signature of another body", "POST", WOO_URL, VALID_WOO, woo_headers(b"{}"), 401),
    ("woo shopify's headers", "POST", WOO_URL, VALID_WOO, shopify_headers(VALID_WOO), 401),
    ("woo wrong content-type", "POST", WOO_URL, VALID_WOO,
     {**woo_headers(b"x"), "Content-Type": "text/plain"}, 401),
    ("woo non-ascii signature", "POST", WOO_URL, VALID_WOO,
     {"X-WC-Webhook-Signature": "é" * 44}, 401),
    ("woo form ping with junk", "POST", WOO_URL, b"webhook_id=1&x=2",
     {"Content-Type": "application/x-www-form-urlencoded"}, 401),
    ("shopify empty unsigned", "POST", SHOPIFY_URL, b"", {}, 401),
    ("shopify non-JSON signed", "POST", SHOPIFY_URL, b"<xml/>", shopify_headers(b"<xml/>"), 400),
    ("shopify JSON without id", "POST", SHOPIFY_URL, b"{}", shopify_headers(b"{}"), 400),
    ("shopify unicode digits id", "POST", SHOPIFY_URL, ARABIC_ID, shopify_headers(ARABIC_ID), 400),
    ("shopify deeply nested JSON signed", "POST", SHOPIFY_URL, DEEP, shopify_headers(DEEP), 400),
    ("shopify huge, signature of another body", "POST", SHOPIFY_URL, HUGE,
     shopify_headers(VALID_SHOPIFY), 401),
    ("shopify superscript id", "POST", SHOPIFY_URL, SUPERSCRIPT_ID,
     shopify_headers(SUPERSCRIPT_ID), 400),
    ("shopify signature of another body", "POST", SHOPIFY_URL, VALID_SHOPIFY,
     shopify_headers(b"{}"), 401),
    ("shopify wrong shop domain", "POST", SHOPIFY_URL, VALID_SHOPIFY,
     shopify_headers(VALID_SHOPIFY, **{"X-Shopify-Shop-Domain": "evil.myshopify.com"}), 401),
    ("shopify missing shop domain", "POST", SHOPIFY_URL, VALID_SHOPIFY,
     {k: v for k, v in shopify_headers(VALID_SHOPIFY).items() if "Domain" not in k}, 401),
    ("shopify no event id", "POST", SHOPIFY_URL, VALID_SHOPIFY,
     {**shopify_headers(VALID_SHOPIFY), "X-Shopify-Event-Id": ""}, 400),
    ("shopify woo's headers", "POST", SHOPIFY_URL, VALID_SHOPIFY, woo_headers(VALID_SHOPIFY),
     401),
    ("shopify signed with the woo secret", "POST", SHOPIFY_URL, VALID_SHOPIFY,
     {**shopify_headers(VALID_SHOPIFY), "X-Shopify-Hmac-Sha256": sign(WOO_SECRET, VALID_SHOPIFY)},
     401),
    ("unknown platform", "POST", f"/webhooks/magento/{WOO}", VALID_WOO, woo_headers(VALID_WOO),
     401),
    ("unknown shop", "POST", "/webhooks/woocommerce/nope", VALID_WOO, woo_headers(VALID_WOO), 401),
    ("shop of the other platform", "POST", f"/webhooks/woocommerce/{SHOPIFY}", VALID_WOO,
     woo_headers(VALID_WOO), 401),
    ("webhook GET", "GET", WOO_URL, b"", {}, 405),
    ("invoice without token", "GET", "/invoices/FA-2026-000001.pdf", b"", {}, 403),
    ("invoice bad token", "GET", "/invoices/FA-2026-000001.pdf?t=abc", b"", {}, 403),
    ("invoice non-ascii token", "GET", "/invoices/FA-2026-000001.pdf?t=%C3%A9t%C3%A9", b"", {},
     403),
    ("invoice valid token, no such invoice", "GET",
     f"/invoices/FA-2026-000001.pdf?t={invoice_token(LINK_SECRET, 'FA-2026-000001')}", b"", {},
     404),
    ("invoice POST", "POST", "/invoices/FA-2026-000001.pdf", b"", {}, 405),
    ("unknown path", "GET", "/admin", b"", {}, 404),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "method", "url", "body", "headers", "expected"),
    NAMED_CASES,
    ids=[c[0] for c in NAMED_CASES],
)
def test_named_bad_requests(
    app_env: tuple[TestClient, Services],
    name: str,
    method: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    expected: int,
) -> None:
    client, svc = app_env
    resp = client.request(method, url, content=body, headers=raw_headers(headers))
    assert resp.status_code == expected, (name, resp.status_code, resp.text[:300])
    assert_nothing_stored(svc)


def test_the_health_routes_answer(app_env: tuple[TestClient, Services]) -> None:
    client, svc = app_env
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    assert_nothing_stored(svc)
