"""Claim order: handing a document over before making new work, and what a webhook brings
before what polling catches up and what a backfill brings, so one customer's email never
waits behind a backlog of issues. Real SQLite and PostgreSQL (`db_url`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from bridge.store import Store
from bridge.store.jobs import priority_of
from tests.support.clock import FrozenClock
from tests.support.orders import make_order
from tests.support.snapshots import T0


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def store(db_url: str, clock: FrozenClock) -> Iterator[Store]:
    with Store.open(db_url, clock=clock) as s:
        yield s


def claimed_kinds(store: Store, n: int) -> list[str]:
    return [job.kind for job in store.claim_jobs("w", limit=n)]


def test_an_email_is_claimed_before_older_issues(store: Store, clock: FrozenClock) -> None:
    for n in range(5):
        store.enqueue("issue", {}, dedupe_key=f"issue:{n}")
        clock.advance(seconds=1)
    store.enqueue("email", {}, dedupe_key="email:1")
    assert claimed_kinds(store, 1) == ["email"]


def test_a_render_comes_after_emails_and_before_issues(store: Store, clock: FrozenClock) -> None:
    store.enqueue("issue", {}, dedupe_key="issue:1")
    store.enqueue("render", {}, dedupe_key="render:1")
    store.enqueue("attach", {}, dedupe_key="attach:1")
    assert claimed_kinds(store, 3) == ["attach", "render", "issue"]


def test_a_webhook_order_is_issued_before_a_polled_backlog(
    store: Store, clock: FrozenClock
) -> None:
    backlog = [make_order(order_id=str(2000 + n)) for n in range(20)]
    store.record_polled_page("demo", backlog, cursor=None)
    clock.advance(seconds=5)
    live = make_order(order_id="3000")
    store.record_order(live, enqueue=("issue", {}, "issue:demo:3000"))
    (first,) = store.claim_jobs("w", limit=1)
    assert first.order_id == "3000"


def test_a_webhook_for_an_order_polling_queued_first_keeps_the_webhooks_place(
    store: Store, clock: FrozenClock
) -> None:
    backlog = [make_order(order_id=str(2000 + n)) for n in range(20)]
    store.record_polled_page("demo", [*backlog, make_order(order_id="3000")], cursor=None)
    clock.advance(seconds=5)
    assert (
        store.record_order(make_order(order_id="3000"), enqueue=("issue", {}, "issue:shop-a:3000"))
        is None
    )
    (first,) = store.claim_jobs("w", limit=1)
    assert first.order_id == "3000"


def test_a_job_asked_again_from_a_slower_lane_keeps_its_place(
    store: Store, clock: FrozenClock
) -> None:
    store.record_order(make_order(order_id="3000"), enqueue=("issue", {}, "issue:shop-a:3000"))
    store.record_polled_page("demo", [make_order(order_id="3000")], cursor=None, lane="bulk")
    store.record_polled_page("demo", [make_order(order_id="2000")], cursor=None)
    assert [j.order_id for j in store.claim_jobs("w", limit=2)] == ["3000", "2000"]


def test_a_backfill_waits_behind_what_polling_catches_up(store: Store, clock: FrozenClock) -> None:
    store.record_polled_page("demo", [make_order(order_id="1")], cursor=None, lane="bulk")
    clock.advance(seconds=5)
    store.record_polled_page("demo", [make_order(order_id="2")], cursor=None)
    assert [j.order_id for j in store.claim_jobs("w", limit=2)] == ["2", "1"]


def test_within_one_priority_the_oldest_job_comes_first(store: Store, clock: FrozenClock) -> None:
    for n in range(3):
        store.enqueue("issue", {}, dedupe_key=f"issue:{n}")
        clock.advance(seconds=1)
    assert [j.dedupe_key for j in store.claim_jobs("w", limit=3)] == [
        "issue:0", "issue:1", "issue:2",
    ]  # fmt: skip


def test_a_lapsed_lease_is_taken_in_priority_order_too(store: Store, clock: FrozenClock) -> None:
    store.enqueue("issue", {}, dedupe_key="issue:1")
    store.enqueue("email", {}, dedupe_key="email:1")
    store.claim_jobs("ghost", limit=2, lease=timedelta(seconds=30))
    clock.advance(seconds=31)
    assert claimed_kinds(store, 2) == ["email", "issue"]


def test_an_unknown_lane_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown lane 'fast'"):
        priority_of("issue", "fast")
