"""Webhook inbox and polling state, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from bridge.model import Order
from bridge.store import Store
from tests.support.clock import FrozenClock
from tests.support.paths import SAMPLES
from tests.support.snapshots import T0

SAMPLE = SAMPLES / "01_fr_b2c_card_coupon.json"


def order(order_id: str) -> Order:
    base = Order.model_validate_json(SAMPLE.read_bytes())
    return base.model_copy(update={"order_id": order_id, "shop": "woo"})


def test_duplicate_webhook_is_stored_and_queued_once(db_url: str) -> None:
    with Store.open(db_url) as store:
        args = dict(
            shop="woo",
            platform="WooCommerce",
            event_key="e1",
            topic="order.updated",
            order_ref="727",
            headers={"x-wc-webhook-topic": "order.updated"},
            body="{}",
        )
        first = store.record_webhook(**args)
        again = store.record_webhook(**args)
        assert first is not None and again is None
        event = store.get_webhook(first)
        assert event is not None and event.platform == "woocommerce" and event.body == "{}"
        ingest = store.claim_jobs("w", limit=10)
        assert [(j.kind, j.payload["event_id"]) for j in ingest] == [("ingest", first)]
        hour = timedelta(hours=1)
        assert store.webhook_counts_since(store.clock() - hour) == {"woo": 1}
        assert store.webhook_counts_since(store.clock() + hour) == {}


def test_polled_page_records_orders_and_cursor_together_and_never_rewinds(db_url: str) -> None:
    with Store.open(db_url) as store:
        t1 = (store.clock() - timedelta(hours=2)).replace(microsecond=0)
        assert store.record_polled_page("woo", [order("1"), order("2")], cursor=t1) == 2
        assert store.record_polled_page("woo", [order("2")], cursor=t1 - timedelta(hours=1)) == 0
        state = store.poll_state("woo")
        assert state is not None and state.cursor == t1
        assert {j.order_id for j in store.claim_jobs("w", limit=10)} == {"1", "2"}


def test_one_poller_per_shop_per_interval(db_url: str) -> None:
    clock = FrozenClock(T0)
    with Store.open(db_url, clock=clock) as store:
        lease, interval = timedelta(seconds=60), timedelta(seconds=30)
        assert store.claim_poll("woo", "a", lease=lease, interval=interval)
        assert not store.claim_poll("woo", "b", lease=lease, interval=interval)
        store.finish_poll("woo", "a")
        assert not store.claim_poll("woo", "b", lease=lease, interval=interval)  # too soon
        clock.now += timedelta(seconds=31)
        assert store.claim_poll("woo", "b", lease=lease, interval=interval)
        # b dies holding the lease: a takes over once it expires
        clock.now += timedelta(seconds=61)
        assert store.claim_poll("woo", "a", lease=lease, interval=interval)
        store.finish_poll("woo", "a", error="boom")
        state = store.poll_state("woo")
        assert state is not None and state.last_error == "boom" and state.polls == 2


def test_quarantined_order_stays_quarantined_until_its_content_changes(db_url: str) -> None:
    with Store.open(db_url) as store:
        bad = order("9")
        store.record_order(bad, enqueue=("issue", {}, "issue:woo:9"))
        [job] = store.claim_jobs("w")
        store.quarantine_order("woo", "9", "totals do not add up")
        store.skip_job(job.id, "w", reason="quarantined")
        # the next poll re-lists it unchanged: still quarantined, reason kept, nothing queued
        store.record_polled_page("woo", [bad], cursor=None)
        record = store.get_order("woo", "9")
        assert record is not None and record.status == "quarantined"
        assert record.reason == "totals do not add up"
        assert store.claim_jobs("w") == []
        # the owner fixes it on the shop: the new content releases it and replays its job
        fixed = bad.model_copy(update={"reference": "#9-fixed"})
        store.record_polled_page("woo", [fixed], cursor=None)
        record = store.get_order("woo", "9")
        assert record is not None and record.status == "received"
        [again] = store.claim_jobs("w")
        assert again.id == job.id and again.kind == "issue"


def test_a_won_poll_claim_returns_the_claim_time_and_a_lost_one_none(db_url: str) -> None:
    clock = FrozenClock(T0)
    with Store.open(db_url, clock=clock) as store:
        lease, interval = timedelta(seconds=60), timedelta(seconds=30)
        assert store.claim_poll("woo", "a", lease=lease, interval=interval) == clock.now
        assert store.claim_poll("woo", "b", lease=lease, interval=interval) is None
        state = store.poll_state("woo")
        assert state is not None and state.last_poll_at == clock.now
