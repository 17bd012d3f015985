"""The durable job queue (invariant 4): dedupe, leases, guarded transitions, concurrency."""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.store import JOB_STATES, Store
from tests.support.clock import FrozenClock
from tests.support.orders import make_order
from tests.support.snapshots import T0

LEASE = timedelta(minutes=5)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def store(db_url: str, clock: FrozenClock) -> Iterator[Store]:
    with Store.open(db_url, clock=clock) as s:
        yield s


def test_enqueue_dedupes_on_key_whatever_the_state(store: Store) -> None:
    job_id = store.enqueue("ingest", {"event": 1}, dedupe_key="wc:evt-1", shop="shop-a")
    assert isinstance(job_id, int)
    assert store.enqueue("ingest", {"event": 1}, dedupe_key="wc:evt-1") is None
    [job] = store.claim_jobs("w1", lease=LEASE)
    assert store.complete_job(job.id, "w1", {"ok": True})
    assert store.enqueue("ingest", {"event": 1}, dedupe_key="wc:evt-1") is None  # done too
    done = store.get_job(job_id)
    assert done is not None and done.state == "done" and done.result == {"ok": True}
    assert store.job_counts() == {**dict.fromkeys(JOB_STATES, 0), "done": 1}


def test_claim_sets_lease_and_respects_run_at_and_kinds(store: Store, clock: FrozenClock) -> None:
    a = store.enqueue("render", {"n": 1}, dedupe_key="a", invoice_id=7, order_id="1001")
    b = store.enqueue("email", {"n": 2}, dedupe_key="b")
    later = store.enqueue("render", {}, dedupe_key="c", run_at=T0 + timedelta(hours=1))
    [email] = store.claim_jobs("w1", limit=10, lease=LEASE, kinds=["email"])
    assert email.id == b and store.complete_job(b, "w1")
    [job] = store.claim_jobs("w1", limit=10, lease=LEASE)
    assert job.id == a
    assert (job.state, job.attempts, job.lease_owner) == ("running", 1, "w1")
    assert job.lease_until == T0 + LEASE and job.first_attempt_at == T0
    assert (job.payload, job.invoice_id, job.order_id, job.kind) == ({"n": 1}, 7, "1001", "render")
    assert store.claim_jobs("w2", limit=10, lease=LEASE) == []  # `later` is not due yet
    assert store.complete_job(a, "w1")
    clock.advance(hours=1)
    assert [j.id for j in store.claim_jobs("w2", limit=10, lease=LEASE)] == [later]


def test_expired_lease_is_reclaimed_and_stale_worker_cannot_finish(
    store: Store, clock: FrozenClock
) -> None:
    job_id = store.enqueue("render", {}, dedupe_key="r1")
    [first] = store.claim_jobs("w-old", lease=LEASE)
    clock.advance(minutes=4)
    assert store.claim_jobs("w-new", lease=LEASE) == []  # lease still held
    clock.advance(minutes=2)
    [again] = store.claim_jobs("w-new", lease=LEASE)
    assert again.id == job_id and again.attempts == 2 and again.lease_owner == "w-new"
    assert again.first_attempt_at == first.first_attempt_at == T0  # give-up clock keeps running
    # The worker that lost its lease wakes up: every outcome it reports is refused.
    assert not store.complete_job(job_id, "w-old")
    assert not store.retry_job(job_id, "w-old", error="x", run_at=clock.now)
    assert not store.kill_job(job_id, "w-old", error="x")
    assert not store.skip_job(job_id, "w-old", reason="x")
    assert not store.release_job(job_id, "w-old")
    assert store.complete_job(job_id, "w-new", {"pdf": "abc"})
    assert not store.complete_job(job_id, "w-new")  # and only once
    assert store.get_job(job_id).state == "done"  # type: ignore[union-attr]


def test_retry_waits_for_run_at(store: Store, clock: FrozenClock) -> None:
    job_id = store.enqueue("email", {}, dedupe_key="e1")
    store.claim_jobs("w1", lease=LEASE)
    assert store.retry_job(job_id, "w1", error="SMTP 451", run_at=T0 + timedelta(minutes=10))
    job = store.get_job(job_id)
    assert job is not None and (job.state, job.last_error, job.lease_until) == (
        "retry",
        "SMTP 451",
        None,
    )
    clock.advance(minutes=9)
    assert store.claim_jobs("w1", lease=LEASE) == []
    clock.advance(minutes=1)
    [job] = store.claim_jobs("w2", lease=LEASE)
    assert (job.id, job.attempts, job.state) == (job_id, 2, "running")


def test_kill_skip_requeue_and_release(store: Store, clock: FrozenClock) -> None:
    dead = store.enqueue("email", {}, dedupe_key="d")
    skipped = store.enqueue("sms", {}, dedupe_key="s")
    released = store.enqueue("render", {}, dedupe_key="r")
    claimed = {j.kind: j for j in store.claim_jobs("w1", limit=3, lease=LEASE)}
    assert set(claimed) == {"email", "sms", "render"}
    assert store.kill_job(dead, "w1", error="550 mailbox unknown")
    assert store.skip_job(skipped, "w1", reason="no phone number")
    assert store.release_job(released, "w1")  # shutting down: not a failed attempt
    rel = store.get_job(released)
    assert rel is not None and (rel.state, rel.attempts, rel.lease_owner) == ("pending", 0, None)

    assert [(j.id, j.state) for j in store.list_jobs()] == [(dead, "dead"), (skipped, "skipped")]
    assert [j.last_error for j in store.list_jobs(("dead",))] == ["550 mailbox unknown"]
    counts = store.job_counts()
    assert (counts["dead"], counts["skipped"], counts["pending"]) == (1, 1, 1)

    clock.advance(hours=1)
    assert store.requeue_job(dead)  # quittance retry
    assert not store.requeue_job(dead)  # already pending
    assert not store.requeue_job(released)  # only dead/skipped
    job = store.get_job(dead)
    assert job is not None and (job.state, job.attempts, job.first_attempt_at) == (
        "pending",
        0,
        None,
    )
    assert job.run_at == clock.now and job.last_error == "550 mailbox unknown"
    again = {j.id: j for j in store.claim_jobs("w2", limit=5, lease=LEASE)}
    assert set(again) == {dead, released}
    assert again[dead].attempts == 1 and again[dead].first_attempt_at == clock.now
    with pytest.raises(ValueError):
        store.list_jobs(("bogus",))


def test_record_order_with_job_and_requeue_quarantined_order(store: Store) -> None:
    intent = ("issue", {}, "issue:shop-a:7")
    job_id = store.record_order(make_order("7"), enqueue=intent)
    assert isinstance(job_id, int)
    assert store.record_order(make_order("7"), enqueue=intent) is None  # duplicate webhook
    job = store.get_job(job_id)
    assert job is not None and (job.shop, job.order_id, job.kind) == ("shop-a", "7", "issue")
    [claimed] = store.claim_jobs("w1", lease=LEASE)
    store.quarantine_order("shop-a", "7", "totals off")
    assert store.complete_job(claimed.id, "w1")

    assert store.requeue_order("shop-a", "7")
    order = store.get_order("shop-a", "7")
    assert order is not None and (order.status, order.reason) == ("received", None)
    job = store.get_job(job_id)
    assert job is not None and (job.state, job.attempts) == ("pending", 0)
    assert not store.requeue_order("shop-a", "7")  # not quarantined any more
    assert not store.requeue_order("shop-a", "unknown")


# -- concurrency --------------------------------------------------------------------------


def _claim_worker(url: str, worker: str, barrier: Any, results: Any) -> None:
    store = Store.open(url)
    barrier.wait()
    seen: list[int] = []
    idle = 0
    while idle < 3:  # a few empty polls in a row: the queue is drained
        batch = store.claim_jobs(worker, limit=3, lease=timedelta(minutes=5))
        if not batch:
            idle += 1
            time.sleep(0.02)
            continue
        idle = 0
        for job in batch:
            seen.append(job.id)
            time.sleep(0.002)  # "handling" it, outside any transaction
            if not store.complete_job(job.id, worker):
                seen.append(-job.id)  # flagged: completing our own lease failed
    store.close()
    results.put((worker, seen))


def _run_claimers(url: str, workers: int, jobs: int) -> list[tuple[str, list[int]]]:
    with Store.open(url) as store:
        ids = [store.enqueue("render", {"i": i}, dedupe_key=f"k{i}") for i in range(jobs)]
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_claim_worker, args=(url, f"w{n}", barrier, results))
        for n in range(workers)
    ]
    for p in procs:
        p.start()
    got: list[tuple[str, list[int]]] = []
    deadline = time.monotonic() + 90
    while len(got) < workers and time.monotonic() < deadline:
        try:
            got.append(results.get(timeout=1))
        except queue.Empty:
            if not any(p.is_alive() for p in procs):
                break
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
    assert [p.exitcode for p in procs] == [0] * workers
    claimed = Counter(job_id for _, seen in got for job_id in seen)
    assert sorted(claimed) == sorted(ids)  # all claimed, none failed to complete (no negatives)
    assert set(claimed.values()) == {1}  # each exactly once
    with Store.open(url) as store:
        assert store.job_counts()["done"] == jobs
        assert all(j.attempts == 1 for j in store.list_jobs(("done",)))
    return got


@pytest.mark.slow
def test_concurrent_claims_postgresql_4_workers_200_jobs(pg_url: str) -> None:
    got = _run_claimers(pg_url, workers=4, jobs=200)
    assert sum(1 for _, seen in got if seen) >= 2  # SKIP LOCKED really shared the work


@pytest.mark.slow
def test_concurrent_claims_sqlite_3_workers_90_jobs(tmp_path: Path) -> None:
    _run_claimers(f"sqlite:///{tmp_path / 'q.db'}", workers=3, jobs=90)


def test_a_released_first_attempt_does_not_start_the_give_up_clock(store: Store) -> None:
    job_id = store.enqueue("render", {}, dedupe_key="r")
    store.claim_jobs("w1", lease=LEASE)
    assert store.release_job(job_id, "w1")
    released = store.get_job(job_id)
    assert released is not None and released.first_attempt_at is None


def _document_job(store: Store) -> int:
    job_id = store.enqueue(
        "render", {}, dedupe_key="render:7", shop="s", order_id="o", invoice_id=7
    )
    assert job_id is not None
    return job_id


def test_completing_a_job_enqueues_its_followers_on_the_same_document(store: Store) -> None:
    job_id = _document_job(store)
    store.claim_jobs("w1", lease=LEASE)
    assert store.complete_job(job_id, "w1", {}, then=[("email", {"send_email": True})])
    (email,) = [j for j in store.list_jobs(("pending",)) if j.kind == "email"]
    assert (email.dedupe_key, email.shop, email.order_id, email.invoice_id, email.payload) == (
        "email:7", "s", "o", 7, {"send_email": True},
    )  # fmt: skip


def test_a_worker_that_lost_its_lease_enqueues_no_followers(
    store: Store, clock: FrozenClock
) -> None:
    job_id = _document_job(store)
    store.claim_jobs("w-old", lease=LEASE)
    clock.advance(minutes=6)
    store.claim_jobs("w-new", lease=LEASE)
    assert not store.complete_job(job_id, "w-old", {}, then=[("email", {})])
    assert [j.kind for j in store.list_jobs(("pending",))] == []


def test_followers_enqueued_twice_are_one_job(store: Store) -> None:
    store.enqueue("email", {}, dedupe_key="email:7", invoice_id=7)  # a replay's, already there
    job_id = _document_job(store)
    store.claim_jobs("w1", kinds=["render"], lease=LEASE)
    assert store.complete_job(job_id, "w1", {}, then=[("email", {})])
    assert [j.kind for j in store.list_jobs(("pending",))] == ["email"]
