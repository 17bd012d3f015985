"""A signed webhook body replayed under a new delivery id or topic creates no new work.

The platforms sign the body only: the delivery id (X-WC-Webhook-Delivery-ID, X-Shopify-
Webhook-Id / X-Shopify-Event-Id) and the topic header can be changed by whoever captured a
delivery. A body already stored for the shop is therefore answered as a duplicate (200, no
event, no job), while a new body for a known order (an update, a refund) is always ingested.
Through the real app (uvicorn) with real signatures, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from alembic import command
from sqlalchemy import select

from bridge.config import load_settings
from bridge.services import Services
from bridge.store import JOB_STATES, Store, WebhookIn
from bridge.store import platform as inbox
from bridge.store.engine import create_store_engine, writer
from bridge.store.migrate import alembic_config
from bridge.store.schema import webhook_events
from bridge.web.app import create_app
from connectors.shopify.sandbox import ShopifySandbox
from connectors.woocommerce.sandbox import WooSandbox
from tests.support.app import AppServer
from tests.support.bridges import SHOP, WOO_HOOK_SECRET, WOO_KEY, WOO_SECRET
from tests.support.clock import Clock
from tests.support.config import SERVER, write_config
from tests.support.shops import shopify_shop, woo_shop

Headers = dict[str, str]


@dataclass(frozen=True)
class Shape:
    """Where a platform puts what its signature does not cover."""

    platform: str
    order_id: int
    delivery_headers: tuple[str, ...]  # the ids a replay makes up afresh
    topic_header: str
    other_topic: str  # a topic the same body could be passed off under


WOO = Shape(
    "woocommerce", 1001, ("X-WC-Webhook-Delivery-ID",), "X-WC-Webhook-Topic", "order.created"
)
SHOPIFY = Shape(
    "shopify",
    5001,
    ("X-Shopify-Webhook-Id", "X-Shopify-Event-Id"),
    "X-Shopify-Topic",
    "orders/updated",
)


@dataclass
class Intake:
    """One shop's sandbox, a clock it reads, and our app storing its webhooks in `store`."""

    shape: Shape
    sandbox: Any  # WooSandbox | ShopifySandbox
    clock: Clock
    store: Store
    url: str

    def signed(self, delivery: str, **request: Any) -> tuple[Headers, bytes]:
        """The order's delivery as the platform signs it now, under the id `delivery`."""
        order_id = self.shape.order_id
        if self.shape is WOO:
            return self.sandbox.webhook_request(order_id, delivery=delivery, **request)
        return self.sandbox.webhook_request(
            order_id, event_id=delivery, webhook_id=delivery, **request
        )

    def refunded(self, delivery: str) -> tuple[Headers, bytes]:
        """The delivery that tells of a refund on the order, made now."""
        order_id = self.shape.order_id
        refund_id = self.sandbox.add_refund(order_id, lines=[(0, 1)], notify=False)
        if self.shape is WOO:  # WooCommerce: the order, updated, with its refunds
            return self.signed(delivery)
        return self.signed(delivery, topic="refunds/create", refund_id=refund_id)

    def post(self, headers: Headers, body: bytes) -> dict[str, Any]:
        resp = requests.post(self.url, data=body, headers=headers, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def events(self) -> list[tuple[str, str]]:
        """(topic, event key) of every stored event, in arrival order."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(webhook_events.c.topic, webhook_events.c.event_key).order_by(
                    webhook_events.c.id
                )
            )
            return [(topic, key) for topic, key in rows]

    def ingest_jobs(self) -> list[int]:
        """The event id of every ingest job."""
        jobs = self.store.list_jobs(JOB_STATES)
        return sorted(j.payload["event_id"] for j in jobs if j.kind == "ingest")


def replayed(headers: Headers, shape: Shape, *, delivery: str, topic: str | None = None) -> Headers:
    """`headers` with what a replayer may change: new delivery ids, perhaps another topic."""
    out = dict(headers) | dict.fromkeys(shape.delivery_headers, delivery)
    if topic is not None:
        out[shape.topic_header] = topic
    return out


@contextmanager
def serving(shape: Shape, db_url: str, tmp_path: Path) -> Iterator[Intake]:
    clock = Clock()
    if shape is WOO:
        sandbox: Any = WooSandbox(
            consumer_key=WOO_KEY,
            consumer_secret=WOO_SECRET,
            webhook_secret=WOO_HOOK_SECRET,
            clock=clock,
        )
        shop = woo_shop(SHOP, sandbox)
    else:
        sandbox = ShopifySandbox(clock=clock)
        shop = shopify_shop(SHOP, sandbox)
    with sandbox:
        cfg = write_config(
            tmp_path / "quittance.toml", database_url=db_url, server=SERVER, shops=[shop]
        )
        svc = Services.from_settings(load_settings(cfg, environ={}))
        try:
            with AppServer(create_app(svc)) as app:
                url = f"{app.url}/webhooks/{shape.platform}/{SHOP}"
                yield Intake(shape, sandbox, clock, svc.store, url)
        finally:
            svc.close()


@pytest.fixture(params=[WOO, SHOPIFY], ids=lambda s: s.platform)
def intake(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[Intake]:
    with serving(request.param, db_url, tmp_path) as it:
        yield it


# -- over HTTP ---------------------------------------------------------------------------


def test_the_same_body_under_a_new_delivery_id_creates_no_new_event_nor_job(
    intake: Intake,
) -> None:
    headers, body = intake.signed("delivery-1")
    assert intake.post(headers, body) == {"ok": True, "duplicate": False}
    again = replayed(headers, intake.shape, delivery="delivery-2")
    assert intake.post(again, body) == {"ok": True, "duplicate": True}
    assert len(intake.events()) == 1
    assert len(intake.ingest_jobs()) == 1


def test_the_same_body_under_another_topic_creates_no_new_work(intake: Intake) -> None:
    headers, body = intake.signed("delivery-1")
    intake.post(headers, body)
    shape = intake.shape
    again = replayed(headers, shape, delivery="delivery-2", topic=shape.other_topic)
    assert intake.post(again, body) == {"ok": True, "duplicate": True}
    [(topic, _key)] = intake.events()
    assert topic != shape.other_topic  # the first topic stays the one stored
    assert len(intake.ingest_jobs()) == 1


def test_a_later_update_of_a_known_order_is_ingested_with_its_own_job(intake: Intake) -> None:
    first = intake.signed("delivery-1")
    intake.post(*first)
    intake.clock.advance(minutes=5)  # a later modification date: another body
    intake.sandbox.touch(intake.shape.order_id)
    later = intake.signed("delivery-2")
    assert later[1] != first[1]
    assert intake.post(*later) == {"ok": True, "duplicate": False}
    assert len(intake.events()) == 2
    assert len(intake.ingest_jobs()) == 2


def test_a_refund_of_a_known_order_is_ingested_with_its_own_job(intake: Intake) -> None:
    intake.post(*intake.signed("delivery-1"))
    intake.clock.advance(minutes=5)
    assert intake.post(*intake.refunded("delivery-2")) == {"ok": True, "duplicate": False}
    assert len(intake.events()) == 2
    assert len(intake.ingest_jobs()) == 2


# -- the store ---------------------------------------------------------------------------


def _event(key: str, body: str, *, shop: str = "woo", topic: str = "order.updated") -> WebhookIn:
    return WebhookIn(shop, "woocommerce", key, topic, "727", {}, body)


def test_two_copies_of_a_body_in_one_batch_make_one_event_and_one_job(db_url: str) -> None:
    """The InboxWriter commits a burst in one transaction: a copy in it is a duplicate too."""
    with Store.open(db_url) as store:
        first, copy = store.record_webhooks(
            [_event("d1", '{"id":727}'), _event("d2", '{"id":727}')]
        )
        assert first is not None and copy is None
        assert [j.payload["event_id"] for j in store.claim_jobs("w", limit=10)] == [first]


def test_the_same_body_for_another_shop_is_its_own_event(db_url: str) -> None:
    with Store.open(db_url) as store:
        first, other = store.record_webhooks(
            [_event("d1", '{"id":727}'), _event("d1", '{"id":727}', shop="other")]
        )
        assert first is not None and other is not None


def test_a_body_stored_by_a_concurrent_writer_is_a_duplicate_once_it_commits(
    pg_url: str,
) -> None:
    """The unique index is the guard: the second writer waits for the first, then does
    nothing (no prior read could see the first's uncommitted row)."""
    Store.open(pg_url).close()  # migrate
    engine = create_store_engine(pg_url)
    args: dict[str, Any] = dict(
        shop="woo", platform="woocommerce", topic="order.updated", order_ref="727",
        headers={}, body='{"id":727}', body_digest=inbox.body_sha256('{"id":727}'),
    )  # fmt: skip
    second: list[int | None] = []
    try:
        with writer(engine).begin() as first:
            now = first.exec_driver_sql("SELECT now()").scalar_one()
            assert inbox.record_webhook(first, event_key="d1", now=now, **args) is not None

            def insert_again() -> None:
                with writer(engine).begin() as conn:
                    second.append(inbox.record_webhook(conn, event_key="d2", now=now, **args))

            racer = threading.Thread(target=insert_again)
            racer.start()
            racer.join(0.5)
            assert racer.is_alive()  # waiting on our uncommitted row
        racer.join(10)
        assert second == [None]
    finally:
        engine.dispose()


# -- the migration -----------------------------------------------------------------------


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _database_at_0004(url: str, rows: list[tuple[str, str]]) -> None:
    """A database migrated to 0004 holding (shop, body) events, in that order."""
    engine = create_store_engine(url)
    try:
        cfg = alembic_config()
        with writer(engine).begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0004")
            now = Clock()()
            conn.execute(
                webhook_events.insert(),
                [
                    dict(shop=shop, platform="woocommerce", event_key=f"d{n}",
                         topic="order.updated", order_ref="727", headers="{}", body=body,
                         received_at=now - timedelta(minutes=1))
                    for n, (shop, body) in enumerate(rows)
                ],
            )  # fmt: skip
    finally:
        engine.dispose()


def _digests(store: Store) -> list[tuple[str, str | None]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(webhook_events.c.shop, webhook_events.c.body_sha256).order_by(
                webhook_events.c.id
            )
        )
        return [(shop, digest) for shop, digest in rows]


def test_the_upgrade_keeps_old_replays_and_digests_only_the_first_copy(
    db_url: str,
) -> None:
    """Replays stored before 0005 stay (NULL digest): the unique index cannot fail on them.
    More rows than one backfill batch, so that a body first seen early is known late."""
    a, b = '{"id":727}', '{"id":727,"status":"refunded"}'
    rows = [("woo", a)] * 600 + [("woo", b), ("woo", a), ("other", a)]
    _database_at_0004(db_url, rows)
    with Store.open(db_url) as store:
        digests = _digests(store)
    assert len(digests) == len(rows)
    assert digests[0] == ("woo", _digest(a))
    assert digests[600:] == [("woo", _digest(b)), ("woo", None), ("other", _digest(a))]
    assert {d for _shop, d in digests[1:600]} == {None}


def test_a_body_stored_before_the_upgrade_is_a_duplicate_after_it(db_url: str) -> None:
    _database_at_0004(db_url, [("woo", '{"id":727}')])
    with Store.open(db_url) as store:
        assert store.record_webhooks([_event("new-delivery", '{"id":727}')]) == [None]
        assert store.claim_jobs("w", limit=10) == []
