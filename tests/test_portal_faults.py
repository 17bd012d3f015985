"""The customer's side when things go wrong: the database away, a receipt that could not be
sent; and what the database keeps of a visitor (no address, no typed email)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from bridge.devsmtp import CaptureSMTPServer, free_port
from bridge.logs import configure_logging
from bridge.pipeline import submit_order
from bridge.worker import work
from connectors.woocommerce.sandbox import WooSandbox
from tests.support.portal import (
    Bridge,
    assert_private,
    new_email,
    order_for,
    path_of,
    portal_link,
)

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


@pytest.fixture(autouse=True)
def _json_logs() -> Iterator[None]:
    configure_logging("WARNING", "json")
    yield


def test_a_page_answers_503_with_its_private_headers_when_the_database_is_away(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tmp_path_factory.mktemp("db-away")
    with CaptureSMTPServer() as smtp:
        bridge = Bridge.start(folder, smtp)
        try:
            invoice = bridge.issue_for(new_email())
            link = portal_link(bridge.receipt(invoice.number))
            client = bridge.visitor()
            bridge.store.engine.dispose()
            (folder / "q.db").rename(folder / "q.db.away")  # the next connection finds no table
            answer = client.get(path_of(link))
        finally:
            (folder / "q.db.away").rename(folder / "q.db")
            bridge.close()
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "60"
    assert_private(answer)


def test_the_rate_limits_keep_neither_the_client_address_nor_the_typed_email(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tmp_path_factory.mktemp("keys")
    with CaptureSMTPServer() as smtp, WooSandbox(seed=False) as woo:
        bridge = Bridge.start(folder, smtp, woo=woo)
        try:
            client = bridge.visitor()
            form = client.get(f"/portal/request/{bridge.shop}")
            csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            typed = "someone.typed@example.org"
            client.post(f"/portal/request/{bridge.shop}", data={"email": typed, "csrf": csrf})
        finally:
            bridge.close()
    with sqlite3.connect(folder / "q.db") as db:
        keys = [key for (key,) in db.execute("SELECT key FROM rate_limits")]
    assert len(keys) >= 2  # the pages' and the address's
    assert not any("testclient" in key or "example.org" in key for key in keys)


def test_a_receipt_that_could_not_be_sent_counts_as_nobody_asked(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tmp_path_factory.mktemp("unsent")
    with CaptureSMTPServer() as smtp, WooSandbox(seed=False) as woo:
        bridge = Bridge.start(
            folder, smtp, woo=woo, surveys=[{"shop": "boutique"}],
            email={"port": free_port()}, jobs={"quick_retries": 0},
        )  # fmt: skip
        try:
            order = order_for(new_email(), shop=bridge.shop)
            woo.add_order({"id": int(order.order_id), "status": "processing",
                           "line_items": [], "meta_data": []}, notify=False)  # fmt: skip
            submit_order(bridge.svc, order)
            work(bridge.svc, once=True)
            invoice = bridge.store.get_invoice_for_order(order.shop, order.order_id)
            assert invoice is not None
            survey = bridge.store.survey(invoice.id)
        finally:
            bridge.close()
    assert survey is None


def test_ipv4_clients_of_a_dual_stack_listener_each_have_their_own_budget(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tmp_path_factory.mktemp("mapped")
    with CaptureSMTPServer() as smtp:
        bridge = Bridge.start(folder, smtp, portal={"requests_per_minute": 2})
        try:
            app = bridge.app
            answers = [
                TestClient(app, client=(f"::ffff:192.0.2.{n}", 5000)).get("/portal/x").status_code
                for n in range(1, 5)
            ]
        finally:
            bridge.close()
    assert 429 not in answers  # four clients, one request each, a budget of two
