"""A shop's poll lease dies with its holder: short, renewed by a heartbeat, taken over at once
when its holder stops renewing it; on SQLite and PostgreSQL, two replicas on one database.

Time is the store's clock (a `FrozenClock` the tests move): no test sleeps to make a lease
lapse. A replica "killed" mid-poll is one that claimed the lease and never renewed nor
finished it, exactly what a SIGKILL leaves in the database.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bridge.config import load_settings
from bridge.polling import poll_lease_for
from bridge.service import build_scheduler, poll_tick
from bridge.services import Services
from bridge.store import Store
from connectors.woocommerce.sandbox import WooSandbox
from tests.contract.harness import WooHarness
from tests.support.bridges import SHOP, WOO_HOOK_SECRET, WOO_KEY, WOO_SECRET
from tests.support.clock import FrozenClock
from tests.support.config import write_config
from tests.support.shops import woo_shop
from tests.support.waiting import HANG, eventually

HEARTBEAT = 5  # seconds between renewals, and between two scheduler ticks of a shop
LEASE = poll_lease_for(timedelta(seconds=HEARTBEAT))  # three heartbeats
# The lease must outlive one email send at the default timeout (a rule of [jobs]).
JOBS = {"lease_seconds": 160, "heartbeat_seconds": HEARTBEAT}
ORDERS = 3


@dataclass
class Replicas:
    """Two services on one database, one clock, one shop with `ORDERS` paid orders."""

    wc: WooSandbox
    clock: FrozenClock
    a: Services
    b: Services
    orders: list[str]


@contextmanager
def replicas(tmp_path: Path, db_url: str, *, interval: int) -> Iterator[Replicas]:
    clock = FrozenClock(datetime.now(UTC))
    sandbox = WooSandbox(
        consumer_key=WOO_KEY, consumer_secret=WOO_SECRET, webhook_secret=WOO_HOOK_SECRET,
        seed=False,
    )  # fmt: skip
    with sandbox as wc:
        start = wc.now() - timedelta(minutes=10)
        orders = [
            WooHarness().add_order(wc, 4000 + n, paid=True, modified=start + timedelta(minutes=n))
            for n in range(ORDERS)
        ]
        shop = woo_shop(SHOP, wc, poll_interval_seconds=interval)
        cfg = write_config(tmp_path / "quittance.toml", database_url=db_url, jobs=JOBS,
                           shops=[shop])  # fmt: skip
        settings = load_settings(cfg, environ={})
        a = Services.from_settings(settings, clock=clock)
        b = Services.from_settings(settings, clock=clock)
        try:
            yield Replicas(wc, clock, a, b, orders)
        finally:
            a.close()
            b.close()


def die_holding_the_lease(svc: Services, owner: str) -> datetime:
    """A replica claims the shop's poll and is killed at once: never renewed, never finished."""
    claimed = svc.store.claim_poll(SHOP, owner, lease=LEASE, interval=timedelta(seconds=1))
    assert claimed is not None
    return claimed


def pause_before_polling(svc: Services, inside: threading.Event, go: threading.Event) -> None:
    """`svc`'s poll of the shop, once its lease is won, waits for `go` before reading."""
    connector = svc.connector(SHOP)
    real = connector.iter_paid_pages

    def paused(since: datetime | None, **kwargs: Any) -> Iterator[Any]:
        inside.set()
        assert go.wait(HANG), "the test never let the poll go on"
        yield from real(since, **kwargs)

    connector.iter_paid_pages = paused  # type: ignore[method-assign]


def pause_after_reading_a_page(svc: Services, inside: threading.Event, go: threading.Event) -> None:
    """`svc`'s poll reads its first page from the shop, then waits for `go` before handing it
    over to be recorded."""
    connector = svc.connector(SHOP)
    real = connector.iter_paid_pages

    def paused(since: datetime | None, **kwargs: Any) -> Iterator[Any]:
        pages = real(since, **kwargs)
        first = next(pages)
        inside.set()
        assert go.wait(HANG), "the test never let the poll go on"
        yield first
        yield from pages

    connector.iter_paid_pages = paused  # type: ignore[method-assign]


def spy_renewals(store: Store) -> list[bool]:
    """What each renewal of a poll lease through `store` answered, in order."""
    answers: list[bool] = []
    real = store.renew_poll

    def renew(shop: str, owner: str, lease: timedelta) -> bool:
        held = real(shop, owner, lease)
        answers.append(held)
        return held

    store.renew_poll = renew  # type: ignore[method-assign]
    return answers


def cut_off(store: Store) -> Callable[[], None]:
    """`store`'s poll renewals cannot reach the database (a replica on the wrong side of a
    network split) until the returned function is called."""

    def unreachable(shop: str, owner: str, lease: timedelta) -> bool:
        raise ConnectionError("the database does not answer")

    store.renew_poll = unreachable  # type: ignore[method-assign]
    return lambda: delattr(store, "renew_poll")


def listing_pages_asked(wc: WooSandbox) -> list[str]:
    return [q.get("page", "1") for _m, path, q in wc.requests if path.endswith("/orders")]


# ------------------------------------------------------------------------------ the store


def test_a_takeover_is_recorded_with_the_previous_owner_and_how_stale_its_lease_was(
    db_url: str,
) -> None:
    clock = FrozenClock(datetime.now(UTC))
    with Store.open(db_url, clock=clock) as store:
        interval = timedelta(minutes=5)
        assert store.claim_poll(SHOP, "a", lease=LEASE, interval=interval)
        clock.advance(seconds=LEASE.total_seconds() + 2)
        assert store.claim_poll(SHOP, "b", lease=LEASE, interval=interval)
        (event,) = store.events(kind="poll.taken_over")
    assert (event.shop, event.detail["owner"], event.detail["previous_owner"]) == (SHOP, "b", "a")
    assert event.detail["stale_seconds"] == 2


def test_a_finished_poll_claimed_again_is_no_takeover(db_url: str) -> None:
    clock = FrozenClock(datetime.now(UTC))
    with Store.open(db_url, clock=clock) as store:
        interval = timedelta(minutes=5)
        assert store.claim_poll(SHOP, "a", lease=LEASE, interval=interval)
        store.finish_poll(SHOP, "a")
        clock.advance(minutes=5)
        assert store.claim_poll(SHOP, "b", lease=LEASE, interval=interval)
        assert store.events(kind="poll.taken_over") == []


def test_a_renewal_holds_the_lease_until_another_owner_takes_it_over(db_url: str) -> None:
    clock = FrozenClock(datetime.now(UTC))
    with Store.open(db_url, clock=clock) as store:
        interval = timedelta(minutes=5)
        assert store.claim_poll(SHOP, "a", lease=LEASE, interval=interval)
        answers = []
        for _ in range(4):  # four heartbeats: past the lease's three
            clock.advance(seconds=HEARTBEAT)
            answers.append(store.renew_poll(SHOP, "a", LEASE))
            answers.append(store.claim_poll(SHOP, "b", lease=LEASE, interval=interval) is None)
        clock.advance(seconds=LEASE.total_seconds() + 1)  # a stops renewing
        assert store.claim_poll(SHOP, "b", lease=LEASE, interval=interval)
        answers.append(not store.renew_poll(SHOP, "a", LEASE))
    assert answers == [True] * 9


# --------------------------------------------------------------------------- two replicas


def test_a_live_lease_is_not_taken_over_before_it_lapses(tmp_path: Path, db_url: str) -> None:
    with replicas(tmp_path, db_url, interval=300) as r:
        die_holding_the_lease(r.a, "a")
        r.clock.advance(seconds=LEASE.total_seconds() - 1)
        assert poll_tick(r.b, SHOP, "b") is None


def test_a_dead_holders_poll_is_run_by_another_replica_within_a_heartbeat_of_its_lease_lapsing(
    tmp_path: Path, db_url: str
) -> None:
    with replicas(tmp_path, db_url, interval=300) as r:
        claimed = die_holding_the_lease(r.a, "a")
        # B's first tick after the lapse: at most one heartbeat later, far from an interval
        r.clock.advance(seconds=LEASE.total_seconds() + HEARTBEAT)
        report = poll_tick(r.b, SHOP, "b")
        recorded = [r.b.store.get_order(SHOP, o) is not None for o in r.orders]
        state = r.b.store.poll_state(SHOP)
    assert report is not None and report.new_orders == ORDERS and recorded == [True] * ORDERS
    assert state is not None and state.polls == 1 and state.last_poll_at == r.clock.now
    assert state.last_poll_at - claimed < timedelta(seconds=300)


def test_a_live_holders_heartbeat_keeps_the_lease_past_three_heartbeats(
    tmp_path: Path, db_url: str
) -> None:
    # an interval of two heartbeats: B is due by the interval, only the lease keeps it out
    with replicas(tmp_path, db_url, interval=2 * HEARTBEAT) as r:
        inside, go = threading.Event(), threading.Event()
        pause_before_polling(r.a, inside, go)
        renewals = spy_renewals(r.a.store)
        refused = []
        with ThreadPoolExecutor(1) as pool:
            polling = pool.submit(poll_tick, r.a, SHOP, "a")
            assert inside.wait(HANG)
            for beat in range(1, 5):  # four heartbeats: past the three a lease lasts
                r.clock.advance(seconds=HEARTBEAT)
                eventually(f"renewal {beat}", lambda beat=beat: len(renewals) >= beat)
                refused.append(poll_tick(r.b, SHOP, "b") is None)
            go.set()
            report = polling.result(timeout=HANG)
        takeovers = r.a.store.events(kind="poll.taken_over")
        state = r.a.store.poll_state(SHOP)
    assert refused == [True] * 4 and all(renewals)
    assert report is not None and not report.stopped and report.new_orders == ORDERS
    assert takeovers == [] and state is not None and state.polls == 1


def test_a_holder_that_finds_its_lease_taken_over_stops_at_the_next_page(
    tmp_path: Path, db_url: str
) -> None:
    with replicas(tmp_path, db_url, interval=300) as r:
        r.a.connector(SHOP).page_size = 1  # one order per page: three pages
        inside, go = threading.Event(), threading.Event()
        pause_after_reading_a_page(r.a, inside, go)
        with ThreadPoolExecutor(1) as pool:
            polling = pool.submit(poll_tick, r.a, SHOP, "a")
            assert inside.wait(HANG)
            reconnect = cut_off(r.a.store)  # A's heartbeat cannot renew…
            r.clock.advance(seconds=LEASE.total_seconds() + 1)
            taken = r.b.store.claim_poll(SHOP, "b", lease=LEASE, interval=timedelta(minutes=5))
            reconnect()  # …then it can, and finds the lease B's
            go.set()
            report = polling.result(timeout=HANG)
        recorded = [r.a.store.get_order(SHOP, o) is not None for o in r.orders]
        state = r.a.store.poll_state(SHOP)
        stopped = r.a.store.events(kind="poll.stopped")
        done = r.a.store.events(kind="poll.done")
    assert taken is not None
    assert report is not None and report.stopped and report.pages == 1
    assert recorded == [True, False, False] and listing_pages_asked(r.wc) == ["1"]
    assert state is not None and state.cursor is None and state.polls == 0
    assert len(stopped) == 1 and done == []


def test_two_replicas_ticking_every_heartbeat_poll_once_per_interval(
    tmp_path: Path, db_url: str
) -> None:
    interval = 2 * HEARTBEAT
    with replicas(tmp_path, db_url, interval=interval) as r:
        for _ in range(6 * 2):  # six intervals of two heartbeats; B ticks half a beat after A
            poll_tick(r.a, SHOP, "a")
            r.clock.advance(seconds=HEARTBEAT / 2)
            poll_tick(r.b, SHOP, "b")
            r.clock.advance(seconds=HEARTBEAT / 2)
        done = r.a.store.events(kind="poll.done")
        claims = sorted(datetime.fromisoformat(e.detail["claimed_at"]) for e in done)
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(claims)]
    assert len(claims) == 6 and gaps == [interval] * 5


def test_a_tick_while_this_process_still_polls_the_shop_returns_at_once(
    tmp_path: Path, db_url: str
) -> None:
    with replicas(tmp_path, db_url, interval=300) as r:
        running = threading.Lock()
        with running:  # this process's previous tick is still polling
            report = poll_tick(r.a, SHOP, "a", running=running)
        state = r.a.store.poll_state(SHOP)
    assert report is None and (state is None or state.last_poll_at is None)


def test_the_scheduler_ticks_each_shops_poll_every_heartbeat(tmp_path: Path, db_url: str) -> None:
    with replicas(tmp_path, db_url, interval=300) as r:
        scheduler = build_scheduler(r.a, "a")
        trigger = scheduler.get_job(f"poll:{SHOP}").trigger
    assert trigger.interval == timedelta(seconds=HEARTBEAT)
