"""Gapless numbering (invariant 2) and the hash chain, including under concurrency.

The multi-process tests are the ones that matter: several workers (spawned processes, like
`quittance run --workers N`) issue the same orders at once, with failures injected before and
after the number is taken and one worker killed mid-transaction, and the result must still be
exactly 1..n, no gap, no duplicate, one invoice per order, an intact chain.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.store import GENESIS_HASH, Store, chain_problems
from bridge.store.schema import series_counters
from tests.support.snapshots import issue, make_snapshot

PARIS = ZoneInfo("Europe/Paris")


def test_numbers_are_one_to_n(store_url: str) -> None:
    with Store.open(store_url) as store:
        numbers = [issue(store, str(i)).invoice.number for i in range(1, 21)]
        assert numbers == [f"FA-2026-{i:06d}" for i in range(1, 21)]
        # a second series counts on its own
        assert issue(store, "x", series="AV").invoice.sequence == 1
        assert issue(store, "21").invoice.sequence == 21


@pytest.fixture
def store_url(db_url: str) -> str:
    return db_url


def test_yearly_reset_at_local_new_year_keeps_the_chain(store_url: str) -> None:
    """Period comes from the Paris date: 2027-01-01 00:00:30 Paris is still 2026 in UTC."""
    moments = [
        datetime(2026, 12, 31, 23, 58, tzinfo=PARIS),
        datetime(2026, 12, 31, 23, 59, tzinfo=PARIS),
        datetime(2027, 1, 1, 0, 0, 30, tzinfo=PARIS),
        datetime(2027, 1, 1, 9, 0, tzinfo=PARIS),
    ]
    with Store.open(store_url) as store:
        issued = []
        for i, local in enumerate(moments):
            at = local.astimezone(UTC)
            year = str(local.year)
            res = store.issue_invoice(
                shop="shop-a",
                order_id=str(i),
                kind="invoice",
                series="FA",
                period=year,
                build=lambda seq, at=at, year=year, i=i: make_snapshot(
                    seq,
                    f"FA-{year}-{seq:06d}",
                    order_id=str(i),
                    issued_at=at,
                    issue_date=at.astimezone(PARIS).date(),
                ),
            )
            issued.append(res.invoice)
        assert moments[2].astimezone(UTC).year == 2026  # the trap the period avoids
        assert [(r.period, r.sequence, r.number) for r in issued] == [
            ("2026", 1, "FA-2026-000001"),
            ("2026", 2, "FA-2026-000002"),
            ("2027", 1, "FA-2027-000001"),
            ("2027", 2, "FA-2027-000002"),
        ]
        # the chain runs straight through the reset
        assert issued[0].prev_hash == GENESIS_HASH
        assert [r.prev_hash for r in issued[1:]] == [r.hash for r in issued[:-1]]
        assert chain_problems(store.iter_invoices()) == []
        with store.engine.connect() as conn:
            row = conn.execute(select(series_counters)).one()
        assert (row.period, row.last_sequence, row.last_hash) == ("2027", 2, issued[-1].hash)


# -- concurrency --------------------------------------------------------------------------

CRASH_EXIT = 3


def _issue_worker(
    url: str,
    worker: int,
    order_ids: list[str],
    barrier: Any,
    results: Any,
    crash_after: int | None,
) -> None:
    """Issue every order of `order_ids`, in that order, failing on purpose now and then."""
    rng = random.Random(worker)
    store = Store.open(url)  # all workers migrate a fresh database at once, on purpose
    barrier.wait()
    started = time.monotonic()
    stats = {"created": 0, "duplicate": 0, "build_failed": 0, "after_insert_failed": 0}
    builds = 0
    for order_id in order_ids:
        while True:
            fault = rng.random()

            def build(seq: int, order_id: str = order_id, fault: float = fault) -> InvoiceSnapshot:
                nonlocal builds
                builds += 1
                if crash_after is not None and builds >= crash_after:
                    os._exit(CRASH_EXIT)  # dies holding the counter lock, mid-transaction
                if fault < 0.08:
                    raise RuntimeError("injected: render failed before insert")
                if fault < 0.12:
                    time.sleep(0.005)  # hold the lock a little: widens the race windows
                return make_snapshot(seq, order_id=order_id)

            # An unserialisable follow-up payload fails AFTER the invoice row is inserted and
            # the counter advanced: the whole transaction must roll back.
            follow_up = [("render", {"bad": object()} if 0.12 <= fault < 0.17 else {})]
            try:
                res = store.issue_invoice(
                    shop="shop-a",
                    order_id=order_id,
                    kind="invoice",
                    series="FA",
                    period="2026",
                    build=build,
                    follow_up_jobs=follow_up,
                )
            except RuntimeError:
                stats["build_failed"] += 1
                continue
            except TypeError:
                stats["after_insert_failed"] += 1
                continue
            stats["created" if res.created else "duplicate"] += 1
            break
    store.close()
    stats["seconds"] = round(time.monotonic() - started, 2)
    results.put(stats)


def _run_issuers(
    url: str, workers: int, orders: int, *, crash_worker: int | None = None, crash_after: int = 0
) -> list[dict[str, float]]:
    """Workers go in pairs; both of a pair walk the same orders in the same order, so they
    race for the very same order all the time, while all pairs contend for the counter."""
    assert workers % 2 == 0
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers)
    results = ctx.Queue()
    ids = [str(i) for i in range(1, orders + 1)]
    random.Random(0).shuffle(ids)
    pairs = workers // 2
    procs = [
        ctx.Process(
            target=_issue_worker,
            args=(
                url,
                w,
                ids[w // 2 :: pairs],
                barrier,
                results,
                crash_after if w == crash_worker else None,
            ),
        )
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    stats = []
    expected = workers - (crash_worker is not None)
    deadline = time.monotonic() + 120
    while len(stats) < expected and time.monotonic() < deadline:
        try:
            stats.append(results.get(timeout=1))
        except queue.Empty:
            if not any(p.is_alive() for p in procs):
                break
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
    codes = [p.exitcode for p in procs]
    assert codes == [CRASH_EXIT if w == crash_worker else 0 for w in range(workers)], codes
    assert len(stats) == expected
    return stats


def _assert_gapless(url: str, orders: int) -> None:
    with Store.open(url) as store:
        records = list(store.iter_invoices())
        assert [r.sequence for r in records] == list(range(1, orders + 1))
        assert sorted(int(r.order_id) for r in records) == list(range(1, orders + 1))
        assert len({r.number for r in records}) == orders
        assert chain_problems(records) == []
        assert store.job_counts()["pending"] == orders  # one render job per invoice
        assert len(store.events(limit=orders + 10, kind="invoice.issued")) == orders
        with store.engine.connect() as conn:
            assert conn.execute(select(series_counters.c.last_sequence)).scalar_one() == orders


@pytest.mark.slow
def test_concurrent_issue_postgresql_8_workers_500_invoices(pg_url: str) -> None:
    stats = _run_issuers(pg_url, workers=8, orders=500, crash_worker=0, crash_after=20)
    _assert_gapless(pg_url, 500)
    assert sum(s["build_failed"] for s in stats) > 0
    assert sum(s["after_insert_failed"] for s in stats) > 0
    assert sum(s["duplicate"] for s in stats) > 0


@pytest.mark.slow
def test_concurrent_issue_sqlite_4_workers_100_invoices(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    stats = _run_issuers(url, workers=4, orders=100)
    _assert_gapless(url, 100)
    assert sum(s["build_failed"] + s["after_insert_failed"] for s in stats) > 0


def _crash_while_issuing(url: str, order_id: str) -> None:
    store = Store.open(url)

    def build(seq: int) -> InvoiceSnapshot:
        os._exit(CRASH_EXIT)

    store.issue_invoice(
        shop="shop-a", order_id=order_id, kind="invoice", series="FA", period="2026", build=build
    )


def test_process_killed_mid_transaction_burns_no_number(db_url: str) -> None:
    """The worker dies while holding the counter lock: the database rolls back and unlocks."""
    with Store.open(db_url) as store:
        issue(store, "1")
        proc = mp.get_context("spawn").Process(target=_crash_while_issuing, args=(db_url, "2"))
        proc.start()
        proc.join(timeout=60)
        assert proc.exitcode == CRASH_EXIT
        assert store.get_invoice_for_order("shop-a", "2") is None
        assert issue(store, "2").invoice.sequence == 2
        assert chain_problems(store.iter_invoices()) == []


def test_race_lost_on_unique_order_returns_winner_and_burns_nothing(pg_url: str) -> None:
    """Two issuers of one order that the counter lock does not serialise (two series): the
    loser hits the UNIQUE(shop, order_id, kind) violation on insert and must come back with
    the winner's invoice, its own counter advance rolled back."""
    with Store.open(pg_url) as loser_store, Store.open(pg_url) as winner_store:
        winner: list[Any] = []

        def build(seq: int) -> InvoiceSnapshot:
            # While the loser is inside its transaction (FB counter locked), the winner issues
            # the same order in series FA and commits.
            winner.append(issue(winner_store, "42", series="FA"))
            return make_snapshot(seq, order_id="42", series="FB")

        res = loser_store.issue_invoice(
            shop="shop-a", order_id="42", kind="invoice", series="FB", period="2026", build=build
        )
        assert not res.created and winner[0].created
        assert res.invoice == winner[0].invoice and res.invoice.series == "FA"
        # FB burnt nothing: its first real invoice is still number 1
        assert issue(loser_store, "43", series="FB").invoice.sequence == 1
