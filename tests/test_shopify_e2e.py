"""Shopify end to end: sandbox shop → signed webhooks to the real app (uvicorn) → worker →
invoice, metafields on the order, one email. Polling catches what webhooks miss."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn

from bridge.config import load_settings
from bridge.devsmtp import CaptureSMTPServer, free_port
from bridge.pipeline import Services
from bridge.polling import poll_shop
from bridge.web.app import create_app
from bridge.worker import work
from connectors.sandbox.shopify import DOMAIN, SECRET, TOKEN, ShopifySandbox, seed_orders
from tests.helpers_pipeline import write_config

SHOP = "theiere"


class AppServer:
    def __init__(self, app: object) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off", access_log=False)  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> AppServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)


@dataclass
class Bridge:
    svc: Services
    shopify: ShopifySandbox
    smtp: CaptureSMTPServer
    url: str  # our webhook endpoint for the shop

    def work(self) -> int:
        return work(self.svc, once=True, worker_id="test")

    def invoices(self) -> list:
        return list(self.svc.store.iter_invoices())

    def deliver(self, order_id: int | str, **kwargs: object) -> list[int]:
        return self.shopify.deliver_webhook(self.url, order_id, **kwargs)  # type: ignore[arg-type]


@contextmanager
def running_bridge(tmp_path: Path, *, seed: bool = True, shop_extra: str = "") -> Iterator[Bridge]:
    with ShopifySandbox(seed=seed) as sb, CaptureSMTPServer() as smtp:
        extra = f"""
[server]
public_url = "https://factures.latheiere.example.fr"
link_secret = "a-long-link-secret-for-tests-0123456789"

[[shops]]
name = "{SHOP}"
platform = "shopify"
domain = "{DOMAIN}"
access_token = "{TOKEN}"
client_secret = "{SECRET}"
previous_client_secret = "the-old-secret"
api_base_url = "{sb.base_url}"
timeout_seconds = 5
{shop_extra}
"""
        config = write_config(
            tmp_path / "quittance.toml",
            database_url=f"sqlite:///{tmp_path / 'q.db'}",
            archive_dir=tmp_path / "archive",
            smtp_port=smtp.port,
            extra=extra,
        )
        svc = Services.from_settings(load_settings(config, environ={}))
        try:
            with AppServer(create_app(svc)) as app:
                url = f"http://127.0.0.1:{app.port}/webhooks/shopify/{SHOP}"
                yield Bridge(svc, sb, smtp, url)
        finally:
            svc.close()


def test_duplicate_webhooks_and_poll_make_one_invoice_one_metafield_set_one_email(
    tmp_path: Path,
) -> None:
    with running_bridge(tmp_path, seed=False) as b:
        (first,) = [n for n in seed_orders() if n["name"] == "#1001"]
        b.shopify.add_order(first)
        started = time.monotonic()
        assert b.deliver(5001, event_id="evt-1", duplicate=3) == [200, 200, 200]
        assert time.monotonic() - started < 5  # answered at once, processed later
        assert b.deliver(5001, event_id="", webhook_id="wh-9", duplicate=2) == [200, 200]
        b.work()
        b.work()
        report = poll_shop(b.svc, SHOP)
        # already invoiced: listed, but neither re-read nor queued again
        assert report.seen_paid == 0 and report.new_orders == 0
        b.work()
        (invoice,) = b.invoices()
        assert invoice.order_id == "5001" and invoice.snapshot.buyer.email == "camille@example.fr"
        assert b.shopify.calls.count("QuittanceMetafieldsSet") == 1
        assert b.shopify.metafield(5001, "invoice_number") == invoice.number
        assert b.shopify.metafield(5001, "invoice_url").startswith(
            "https://factures.latheiere.example.fr/invoices/"
        )
        assert len(b.smtp.received) == 1
        assert b.smtp.received[0].rcpt_tos == ["camille@example.fr"]
        assert b.svc.store.job_counts()["dead"] == 0


def test_missed_webhooks_are_caught_by_polling(tmp_path: Path) -> None:
    with running_bridge(tmp_path) as b:
        report = poll_shop(b.svc, SHOP)
        assert (report.pages, report.seen_paid, report.new_orders) == (1, 5, 5)
        assert report.errors == []
        state = b.svc.store.poll_state(SHOP)
        assert state is not None and state.cursor == datetime(2026, 11, 27, 9, 41, tzinfo=UTC)
        b.work()
        invoices = {i.order_id: i for i in b.invoices()}
        assert sorted(invoices) == ["5001", "5002", "5003", "5004", "5005"]
        counts = b.svc.store.job_counts()
        assert counts["dead"] == 0 and counts["skipped"] == 0, counts
        usd = invoices["5003"].snapshot
        assert usd.currency == "USD" and usd.totals.total_incl == 90
        assert usd.totals.shop_currency_total_incl is not None
        assert len(b.smtp.received) == 5
        assert all(b.shopify.metafield(oid, "invoice_number") for oid in invoices)
        # A late webhook and a second poll change nothing.
        assert b.deliver(5002) == [200]
        b.work()
        assert poll_shop(b.svc, SHOP).new_orders == 0
        b.work()
        assert len(b.invoices()) == 5 and len(b.smtp.received) == 5
        assert b.shopify.calls.count("QuittanceMetafieldsSet") == 5


def test_webhook_then_payment_order_paid_later_via_poll(tmp_path: Path) -> None:
    """orders/paid arrives but the order reads as unpaid (replica lag): the poll catches it."""
    with running_bridge(tmp_path, seed=False) as b:
        from connectors.sandbox.shopify import Item, build_order

        b.shopify.add_order(build_order(8001, "#8001", [Item("Thé noir", "9.90", 2, rate="5.5")],
                                        paid=False))  # fmt: skip
        assert b.deliver(8001) == [200]
        b.work()
        assert b.invoices() == []
        b.shopify.mark_paid(8001)
        poll_shop(b.svc, SHOP, since=datetime.now(UTC) - timedelta(hours=1))
        b.work()
        (invoice,) = b.invoices()
        assert invoice.order_id == "8001"


def test_bad_signature_wrong_domain_and_rotation_over_http(tmp_path: Path) -> None:
    with running_bridge(tmp_path, seed=False) as b:
        (first,) = [n for n in seed_orders() if n["name"] == "#1001"]
        b.shopify.add_order(first)
        assert b.deliver(5001, secret="not-the-secret") == [401]
        assert b.deliver(5001, tamper=True) == [401]
        assert b.deliver(5001, shop_domain="other-shop.myshopify.com") == [401]
        assert sum(b.svc.store.job_counts().values()) == 0  # nothing stored, nothing queued
        assert b.deliver(5001, secret="the-old-secret") == [200]  # previous secret, rotation
        b.work()
        assert len(b.invoices()) == 1


def test_throttling_and_order_note_through_the_worker(tmp_path: Path) -> None:
    with running_bridge(tmp_path, seed=False, shop_extra="order_note = true") as b:
        (first,) = [n for n in seed_orders() if n["name"] == "#1001"]
        b.shopify.add_order(first)
        b.shopify.throttle_next(1, mode="200")
        b.shopify.throttle_next(1, mode="429")
        assert b.deliver(5001) == [200]
        b.work()
        (invoice,) = b.invoices()
        assert b.shopify.note(5001).startswith(f"Facture {invoice.number} : https://")
