"""Shopify connector against the sandbox: GraphQL client, throttling, errors, polling, attach."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connectors.base import Connector, PermanentConnectorError, TransientConnectorError
from connectors.shopify.client import api_version
from connectors.shopify.connector import ShopifyConnector
from connectors.shopify.sandbox import DOMAIN, SECRET, TOKEN, ShopifySandbox
from connectors.shopify.sandbox_orders import Item, build_order
from connectors.shopify.settings import ShopifyShop
from connectors.woocommerce.sandbox import WooSandbox


@pytest.fixture
def sandbox() -> Iterator[ShopifySandbox]:
    with ShopifySandbox() as sb:
        yield sb


SEEDS = [f"#{n}" for n in range(1001, 1010)]  # oldest update first: paid, then refunded


def updated_at(sb: ShopifySandbox, reference: str) -> datetime:
    """When a seeded order was last updated (its payment or its latest refund): seeds follow
    the sandbox's clock."""
    (node,) = [n for n in sb.orders.values() if n["name"] == reference]
    return datetime.fromisoformat(node["updatedAt"])


def newest_update(sb: ShopifySandbox) -> datetime:
    return max(datetime.fromisoformat(n["updatedAt"]) for n in sb.orders.values())


def make(sb: ShopifySandbox, **extra: object) -> tuple[ShopifyConnector, list[float]]:
    slept: list[float] = []
    data = {
        "name": "theiere",
        "platform": "shopify",
        "domain": DOMAIN,
        "access_token": TOKEN,
        "client_secret": SECRET,
        "api_base_url": sb.base_url,
        "timeout_seconds": 5,
        **extra,
    }
    return ShopifyConnector(ShopifyShop.model_validate(data), sleep=slept.append), slept


def test_is_a_connector_and_uses_its_own_http_session(sandbox: ShopifySandbox) -> None:
    conn, _ = make(sandbox)
    assert isinstance(conn, Connector)
    assert conn.client.endpoint == f"{sandbox.base_url}/admin/api/2025-10/graphql.json"
    real, _ = make(sandbox, api_base_url="")
    assert real.client.endpoint == "https://la-theiere.myshopify.com/admin/api/2025-10/graphql.json"
    import shopify

    assert shopify.ShopifyResource.get_site() is None  # no process-global session activated
    assert api_version("2025-10").name == "2025-10"


def test_fetch_order_reads_transactions_through_graphql(sandbox: ShopifySandbox) -> None:
    conn, _ = make(sandbox)
    fetched = conn.fetch_order("gid://shopify/Order/5001")
    assert fetched.paid and fetched.order is not None
    assert fetched.order.order_id == "5001" and fetched.order.reference == "#1001"
    assert fetched.order.payment.method == "shopify_payments"
    assert sandbox.calls == ["QuittanceOrder"]
    sandbox.add_order(build_order(6000, "#6000", [Item("Tea", "10.00")], paid=False))
    pending = conn.fetch_order("6000")
    assert not pending.paid and "PENDING" in pending.not_paid_reason
    with pytest.raises(PermanentConnectorError, match="not found"):
        conn.fetch_order("gid://shopify/Order/404")


def test_big_order_line_items_are_paged(sandbox: ShopifySandbox) -> None:
    items = [Item(f"Tea {n}", "1.00", sku=f"T{n}") for n in range(7)]
    sandbox.add_order(build_order(6100, "#6100", items))
    sandbox.line_page = 3
    fetched = make(sandbox)[0].fetch_order("6100")
    assert sandbox.calls == ["QuittanceOrder", "QuittanceOrderLines", "QuittanceOrderLines"]
    assert fetched.order is not None and fetched.paid
    assert [ln.sku for ln in fetched.order.lines] == [f"T{n}" for n in range(7)]


@pytest.mark.parametrize("mode", ["200", "429"])
def test_throttled_then_success(sandbox: ShopifySandbox, mode: str) -> None:
    conn, slept = make(sandbox)
    sandbox.throttle_next(2, mode=mode)
    fetched = conn.fetch_order("5002")
    assert fetched.paid
    assert sandbox.calls == ["QuittanceOrder"] * 3
    # 200: (requested − available) / restoreRate; 429: Retry-After. Both = 0.02 s here.
    assert slept == [pytest.approx(0.02), pytest.approx(0.02)]


def test_throttled_for_too_long_is_transient(sandbox: ShopifySandbox) -> None:
    conn, slept = make(sandbox)
    sandbox.throttle_next(10)
    with pytest.raises(TransientConnectorError, match=r"theiere.*still throttled"):
        conn.fetch_order("5002")
    assert len(slept) == conn.client.attempts - 1


def test_low_bucket_waits_before_the_next_call(sandbox: ShopifySandbox) -> None:
    conn, slept = make(sandbox)
    conn.client._plan_refill(
        {
            "requestedQueryCost": 500,
            "throttleStatus": {"currentlyAvailable": 300, "restoreRate": 100},
        }
    )
    conn.fetch_order("5002")
    assert slept == [pytest.approx(2.0)]


def test_401_names_the_shop_and_the_scopes(sandbox: ShopifySandbox) -> None:
    conn, _ = make(sandbox, access_token="shpat_wrong")
    with pytest.raises(PermanentConnectorError) as exc:
        conn.fetch_order("5001")
    message = str(exc.value)
    assert "theiere" in message and "401" in message
    assert "read_orders" in message and "write_orders" in message
    assert "protected customer data" in message and "read_all_orders" in message


def test_missing_scope_is_permanent_and_named() -> None:
    with ShopifySandbox(scopes=()) as sb:
        conn, _ = make(sb)
        with pytest.raises(PermanentConnectorError, match=r"theiere.*read_orders"):
            conn.fetch_order("5001")


def test_network_down_is_transient() -> None:
    sb = ShopifySandbox()
    url = sb.base_url
    sb._server.server_close()
    conn, slept = make(sb, api_base_url=url, timeout_seconds=1)
    with pytest.raises(TransientConnectorError, match="theiere"):
        conn.fetch_order("5001")
    assert len(slept) == conn.client.attempts - 1


def test_polling_three_pages_with_cursors(sandbox: ShopifySandbox) -> None:
    conn, _ = make(sandbox)
    conn.page_size = 2
    base = newest_update(sandbox) + timedelta(hours=1)
    for n in range(6):  # the 9 seeds are older; these 6 take updatedAt after `since`
        node = build_order(7000 + n, f"#70{n}", [Item("Tea", "10.00")], created_at=base)
        node["updatedAt"] = (base + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        sandbox.add_order(node)
    sandbox.add_order(build_order(7100, "#7100", [Item("Tea", "1")], paid=False, created_at=base))
    pages = list(conn.iter_paid_pages(base))
    assert [len(p.orders) for p in pages] == [2, 2, 2]
    assert [p.cursor for p in pages] == [base + timedelta(minutes=m) for m in (1, 3, 5)]
    assert [o.order_id for p in pages for o in p.orders] == [str(7000 + n) for n in range(6)]
    assert sandbox.calls.count("QuittancePaidOrders") == 3
    # Everything since the beginning: the seeds too, oldest first.
    everything = [o.reference for p in conn.iter_paid_pages(None) for o in p.orders]
    assert everything[:9] == SEEDS and len(everything) == 15


def test_poll_query_quotes_the_date(sandbox: ShopifySandbox) -> None:
    conn, _ = make(sandbox)
    late = updated_at(sandbox, "#1003") + timedelta(minutes=4)  # before #1004 was paid
    refs = [o.reference for p in conn.iter_paid_pages(late) for o in p.orders]
    assert refs == SEEDS[3:]  # unquoted, the sandbox (like Shopify) would return all 9


def test_attach_is_idempotent_and_never_overwrites(sandbox: ShopifySandbox) -> None:
    conn, _ = make(sandbox)
    first = conn.attach_invoice("5001", "FA-2026-000001", "https://q.example/i/FA.pdf?t=x")
    assert first.attached
    assert sandbox.metafield(5001, "invoice_number") == "FA-2026-000001"
    assert sandbox.metafield(5001, "invoice_url") == "https://q.example/i/FA.pdf?t=x"
    again = conn.attach_invoice("5001", "FA-2026-000001", "https://q.example/i/FA.pdf?t=x")
    assert not again.attached and sandbox.metafield_writes == 2
    with pytest.raises(PermanentConnectorError, match="already carries invoice FA-2026-000001"):
        conn.attach_invoice("5001", "FA-2026-000099", "")
    assert sandbox.note(5001) is None  # note is off by default


def test_attach_race_compare_digest_null(sandbox: ShopifySandbox) -> None:
    """Another worker wrote between our check and our write: compareDigest null refuses."""
    conn, _ = make(sandbox)
    original = sandbox._op_QuittanceInvoiceMetafields
    calls = {"n": 0}

    def stale_first_read(variables: dict, query: str) -> dict:
        calls["n"] += 1
        data = original(variables, query)
        if calls["n"] == 1:
            data["order"]["number"] = None
        return data

    sandbox.metafields["5002"] = {("quittance", "invoice_number"): "FA-2026-000002"}
    sandbox._op_QuittanceInvoiceMetafields = stale_first_read  # type: ignore[method-assign]
    result = conn.attach_invoice("5002", "FA-2026-000002", "")
    assert not result.attached and sandbox.metafield_writes == 0


def test_order_note_appended_once(sandbox: ShopifySandbox) -> None:
    conn, _ = make(sandbox, order_note=True)
    sandbox.orders["5003"]["note"] = "Gift wrap please"
    conn.attach_invoice("5003", "FA-2026-000003", "https://q.example/x.pdf")
    conn.attach_invoice("5003", "FA-2026-000003", "https://q.example/x.pdf")
    assert (
        sandbox.note(5003) == "Gift wrap please\nFacture FA-2026-000003 : https://q.example/x.pdf"
    )


def test_install_webhooks_and_doctor(sandbox: ShopifySandbox) -> None:
    conn, _ = make(sandbox)
    lines = {line.name: line for line in conn.check()}
    assert lines["credentials"].ok and "la-theiere.myshopify.com" in lines["credentials"].detail
    assert lines["scopes"].ok
    for topic in ("ORDERS_PAID", "REFUNDS_CREATE"):
        assert not lines[f"webhook {topic}"].ok
        assert "quittance webhooks install --shop theiere" in lines[f"webhook {topic}"].detail
    done = conn.install_webhooks("https://q.example.fr")
    assert [line.split(" (")[0] for line in done] == [
        "ORDERS_PAID → https://q.example.fr/webhooks/shopify/theiere",
        "REFUNDS_CREATE → https://q.example.fr/webhooks/shopify/theiere",
    ]
    assert all("(created gid://shopify/WebhookSubscription/" in line for line in done)
    again = conn.install_webhooks("https://q.example.fr/webhooks/shopify/theiere")
    assert again == [
        "ORDERS_PAID → https://q.example.fr/webhooks/shopify/theiere (already subscribed)",
        "REFUNDS_CREATE → https://q.example.fr/webhooks/shopify/theiere (already subscribed)",
    ]
    assert [s["topic"] for s in sandbox.subscriptions] == ["ORDERS_PAID", "REFUNDS_CREATE"]
    assert all(line.ok for line in conn.check())
    legacy, _ = make(sandbox, api_version="2024-07")  # before `uri`: callbackUrl / endpoint
    assert legacy.install_webhooks("https://q.example.fr")[0].endswith("(already subscribed)")


def test_doctor_reports_bad_token_and_missing_scopes() -> None:
    with ShopifySandbox(scopes=("read_orders",)) as sb:
        conn, _ = make(sb)
        scopes = {line.name: line for line in conn.check()}["scopes"]
        assert not scopes.ok and "write_orders" in scopes.detail
        bad, _ = make(sb, access_token="nope")
        (token,) = bad.check()
        assert not token.ok and "401" in token.detail


def invoiced(conn: ShopifyConnector) -> dict[str, frozenset[str]]:
    """What the pipeline knows after a first poll: order id → its refund ids."""
    orders = [o for page in conn.iter_paid_pages(None) for o in page.orders]
    return {o.order_id: frozenset(r.refund_id for r in o.refunds) for o in orders}


def test_poll_does_not_reread_orders_already_invoiced(sandbox: ShopifySandbox) -> None:
    conn, _ = make(sandbox)
    known = invoiced(conn)
    assert len(known) == 9 and known["5007"] == {"5007901", "5007902"}
    reads_before = len(sandbox.calls)
    again = [
        o.order_id
        for page in conn.iter_paid_pages(None, is_known=lambda oid, ids: known.get(oid) == ids)
        for o in page.orders
    ]
    assert again == []
    # only the light list query ran: no per-order read for known orders
    assert sandbox.calls[reads_before:] == ["QuittancePaidOrders"]


def test_seeded_orders_follow_the_sandbox_clock() -> None:
    moment = datetime.now(UTC) - timedelta(days=400)
    with ShopifySandbox(clock=lambda: moment) as sb:
        paid = [datetime.fromisoformat(node["updatedAt"]) for node in sb.orders.values()]
    assert len(paid) == 9
    assert all(moment - timedelta(hours=2) <= at <= moment for at in paid)


def test_a_sandbox_never_started_stops_at_once() -> None:
    ShopifySandbox(seed=False).stop()  # used to wait forever in socketserver.shutdown()
    WooSandbox(seed=False).stop()
