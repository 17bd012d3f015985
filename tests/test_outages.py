"""Outage alerts from the jobs table: one per cause, with the documents it holds up, once when it
opens and once when it clears; shared by several schedulers through the `outages` table.

Failing jobs go through the real queue (enqueue, claim, retry/kill) with the messages
`classify_failure` makes of real exceptions, or through the real pipeline and a mail server
that is not there; alerts reach a real HTTP endpoint on loopback. Time moves by the clock."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.devsmtp import free_port
from bridge.failures import (
    PdfIncompleteError,
    PermanentStepError,
    WaitingForInvoice,
    classify_failure,
)
from bridge.outages import OutageReport, cause_of, check_outages, group_causes, human_duration
from bridge.pipeline import submit_order
from bridge.services import Services
from bridge.store.outages import FailingJob
from bridge.worker import work
from connectors.base import TransientConnectorError
from tests.support.clock import FrozenClock

# apprise imports the stdlib's deprecated `imghdr` (its problem, not ours)
from tests.support.failing_jobs import (  # clock, svc: fixtures
    Failing,
    clock,
    disk_full,
    fail,
    fails_again,
    mailbox_unknown,
    make_services,
    smtp_down,
    succeed_all,
    svc,
)
from tests.support.hook import Hook
from tests.support.orders import distinct_orders
from tests.support.smtp import SMTPServer

__all__ = ["clock", "svc"]  # fixtures, used by name

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


def opened(hook: Hook) -> list[dict]:
    return [p for p in hook.posts if not p["title"].startswith("Quittance: resolved")]


def cleared(hook: Hook) -> list[dict]:
    return [p for p in hook.posts if p["title"].startswith("Quittance: resolved")]


# -- the cause key (pure) -------------------------------------------------------------------


# Pure tests: any moment will do, as long as it is not pinned to the calendar.
AT = datetime.now(UTC).replace(microsecond=0)


def job(kind: str, error: BaseException | str, **fields: object) -> FailingJob:
    message = error if isinstance(error, str) else classify_failure(error).message
    at = AT
    values: dict[str, object] = {
        "id": 1, "kind": kind, "state": "retry", "shop": "demo", "order_id": "1001",
        "invoice_id": None, "number": None, "attempts": 1, "last_error": message,
        "first_attempt_at": at, "created_at": at, "updated_at": at,
    }  # fmt: skip
    values.update(fields)
    return FailingJob(**values)  # type: ignore[arg-type]


def test_the_cause_key_names_the_step_and_the_error_class() -> None:
    assert cause_of(job("email", smtp_down())) == "email:ConnectionRefusedError[ECONNREFUSED]"
    assert cause_of(job("render", disk_full())) == "render:OSError[ENOSPC]"
    read_only = OSError(errno.EROFS, os.strerror(errno.EROFS), "/srv/quittance/archive/x.pdf")
    assert cause_of(job("render", read_only)) == "render:OSError[EROFS]"
    incomplete = PdfIncompleteError("FA-2026-000007: the rendered PDF lacks: SIREN")
    assert cause_of(job("render", incomplete)) == "render:PdfIncompleteError"


def test_the_cause_key_is_stable_across_the_jobs_one_outage_hits() -> None:
    # other files, other recipients, other orders, given up or still retrying: one cause each
    assert cause_of(job("render", disk_full("/a/1.pdf"))) == cause_of(
        job("render", disk_full("/b/2.pdf"), order_id="1002")
    )
    domains = {cause_of(job("email", mailbox_unknown(d))) for d in ("a.fr", "b.com", "c.ie")}
    assert domains == {"email:recipient refused 550"}
    gave_up = f"gave up after 3 days, 0:00:00: {classify_failure(smtp_down()).message}"
    assert cause_of(job("email", gave_up)) == cause_of(job("email", smtp_down()))


def test_the_cause_key_tells_causes_and_shops_apart() -> None:
    def unreachable(shop: str, order: str) -> TransientConnectorError:
        return TransientConnectorError(
            f"shop {shop}: order {order} still failing after 3 attempts: "
            f"ConnectionError: cannot reach https://{shop}.example.fr"
        )

    keys = {
        cause_of(job("email", smtp_down())),
        cause_of(job("email", mailbox_unknown("a.fr"))),
        cause_of(job("render", disk_full())),
        cause_of(job("ingest", unreachable("the", "1"), shop="the")),
        cause_of(job("ingest", unreachable("cafe", "2"), shop="cafe")),
    }
    assert len(keys) == 5
    # a base class raised for unrelated reasons: its words tell them apart, not its ids
    missing = PermanentStepError("invoice FA-2026-000007 not found")
    assert cause_of(job("render", missing)) == "render:PermanentStepError(invoice FA-#-# not found)"
    unknown_shop = PermanentStepError("shop 'old' is not configured (or disabled)")
    assert cause_of(job("render", unknown_shop)) != cause_of(job("render", missing))
    assert cause_of(job("ingest", unreachable("the", "3"))) == "ingest:the:ConnectionError"


def test_a_cause_counts_documents_not_jobs() -> None:
    now = AT + timedelta(hours=1)
    same_invoice = [
        job("email", smtp_down(), id=1, invoice_id=7, number="FA-2026-000007"),
        job("email", smtp_down(), id=2, invoice_id=7, number="FA-2026-000007", state="dead"),
        job("email", smtp_down(), id=3, invoice_id=8, number="FA-2026-000008"),
    ]
    (cause,) = group_causes(same_invoice, now, timedelta(minutes=15))
    assert [d.number for d in cause.documents] == ["FA-2026-000007", "FA-2026-000008"]
    assert cause.dead == 1


def test_human_durations() -> None:
    assert human_duration(timedelta(seconds=45)) == "45 s"
    assert human_duration(timedelta(minutes=20)) == "20 min"
    assert human_duration(timedelta(hours=3, minutes=5)) == "3 h 05 min"
    assert human_duration(timedelta(days=3, hours=2)) == "3 d 2 h"


# -- SMTP down, for real ---------------------------------------------------------------------


@dataclass
class SmtpOutage:
    svc: Services
    clock: FrozenClock
    port: int
    numbers: list[str]


@pytest.fixture
def smtp_outage(
    tmp_path: Path, db_url: str, hook: Hook, clock: FrozenClock
) -> Iterator[SmtpOutage]:
    """Twelve paid orders issued and rendered; their emails fail: nothing listens on the port."""
    port = free_port()
    svc = make_services(tmp_path, db_url, hook, clock, smtp_port=port)
    try:
        for order in distinct_orders(12):
            submit_order(svc, order)
        work(svc, once=True)
        emails = [j for j in svc.store.list_jobs(states=("retry",)) if j.kind == "email"]
        assert len(emails) == 12, svc.store.job_counts()
        invoices = [svc.store.get_invoice_by_id(j.invoice_id or 0) for j in emails]
        yield SmtpOutage(svc, clock, port, [i.number for i in invoices if i is not None])
    finally:
        svc.close()


def test_smtp_down_longer_than_after_minutes_alerts_once_naming_the_count_and_first_documents(
    smtp_outage: SmtpOutage, hook: Hook
) -> None:
    svc, clock = smtp_outage.svc, smtp_outage.clock
    clock.advance(minutes=16)
    work(svc, once=True)  # the emails are tried again: still refused
    report = check_outages(svc)
    assert report.opened == ("email:ConnectionRefusedError[ECONNREFUSED]",)
    (post,) = hook.posts
    assert "12 documents held up, still retrying" in post["title"]
    assert "the server refuses connections" in post["title"]
    body = post["message"]
    assert "Connection refused" in body and "16 min" in body
    for number in smtp_outage.numbers[:10]:
        assert number in body  # the first ten documents, by number
    assert smtp_outage.numbers[10] not in body and "… and 2 more" in body
    assert "`quittance failures`" in body and "`quittance retry --all`" in body

    clock.advance(minutes=1)
    assert check_outages(svc).opened == ()  # it is open: no second alert
    assert len(hook.posts) == 1


def test_smtp_down_clears_once_the_emails_go_through_with_how_long_it_lasted(
    smtp_outage: SmtpOutage, hook: Hook
) -> None:
    svc, clock = smtp_outage.svc, smtp_outage.clock
    clock.advance(minutes=16)
    work(svc, once=True)  # still refused
    check_outages(svc)
    clock.advance(minutes=4)
    with SMTPServer(port=smtp_outage.port) as smtp:
        work(svc, once=True)
        assert len(smtp.received) == 12
    report = check_outages(svc)
    assert report.cleared == ("email:ConnectionRefusedError[ECONNREFUSED]",)
    (post,) = cleared(hook)
    assert "the server refuses connections" in post["title"]
    assert "It lasted 20 min" in post["message"]
    assert svc.store.outages() == []
    assert check_outages(svc) == OutageReport((), (), ())
    assert len(hook.posts) == 2


# -- the rules ---------------------------------------------------------------------------


def test_no_alert_before_after_minutes(svc: Services, clock: FrozenClock, hook: Hook) -> None:
    fail(svc, [Failing("email", smtp_down(), order=str(n)) for n in range(3)])
    clock.advance(minutes=14)
    fails_again(svc)
    assert check_outages(svc) == OutageReport((), (), ())
    assert hook.posts == [] and svc.store.outages() == []
    clock.advance(minutes=1)
    fails_again(svc)
    assert check_outages(svc).opened == ("email:ConnectionRefusedError[ECONNREFUSED]",)


def test_a_permanent_failure_alerts_at_once(svc: Services, hook: Hook) -> None:
    incomplete = PdfIncompleteError("FA-2026-000007: the rendered PDF lacks: SIREN")
    fail(svc, [Failing("render", incomplete, order="1001")])
    assert check_outages(svc).opened == ("render:PdfIncompleteError",)
    (post,) = hook.posts
    assert "1 document failed for good" in post["title"]
    assert "lacks a mandatory mention" in post["title"]
    assert "shop demo, order 1001" in post["message"]
    assert "Fix the template override" in post["message"]


def test_five_dead_emails_of_one_cause_make_one_alert_naming_the_five(
    svc: Services, hook: Hook
) -> None:
    domains = ["a.fr", "b.fr", "c.com", "d.ie", "e.be"]
    fail(svc, [Failing("email", mailbox_unknown(d), order=f"20{n}") for n, d in enumerate(domains)])
    assert check_outages(svc).opened == ("email:recipient refused 550",)
    (post,) = hook.posts
    assert "5 documents failed for good" in post["title"]
    assert "refuses the customer's address" in post["title"]
    for n in range(5):
        assert f"order 20{n} (job" in post["message"]


def test_two_causes_make_two_alerts(svc: Services, clock: FrozenClock, hook: Hook) -> None:
    fail(
        svc,
        [
            Failing("email", smtp_down(), order="1001"),
            Failing("email", smtp_down(), order="1002"),
            Failing("render", disk_full(), order="1003"),
        ],
    )
    clock.advance(minutes=20)
    fails_again(svc)
    report = check_outages(svc)
    assert set(report.opened) == {
        "email:ConnectionRefusedError[ECONNREFUSED]",
        "render:OSError[ENOSPC]",
    }
    titles = sorted(post["title"] for post in hook.posts)
    assert len(titles) == 2
    assert "the disk is full — 1 document held up" in titles[1]
    assert "2 documents held up" in titles[0]


def test_a_job_still_failing_keeps_its_outage_open_and_growth_does_not_alert_again(
    svc: Services, clock: FrozenClock, hook: Hook
) -> None:
    fail(svc, [Failing("render", disk_full(), order="1001")])
    clock.advance(minutes=16)
    fails_again(svc)
    check_outages(svc)
    fail(svc, [Failing("render", disk_full(), order=str(n)) for n in range(1002, 1006)])
    clock.advance(minutes=1)
    report = check_outages(svc)
    assert report.opened == () and report.open == ("render:OSError[ENOSPC]",)
    assert len(hook.posts) == 1
    (row,) = svc.store.outages()
    assert row.affected == 5  # what the digest tells


def test_waits_a_step_foresaw_do_not_alert_while_they_retry(
    svc: Services, clock: FrozenClock, hook: Hook
) -> None:
    waiting = WaitingForInvoice("waiting for the invoice of order 1001: refund 9 is credited once…")
    fail(svc, [Failing("credit", waiting, order="1001")])
    clock.advance(hours=2)
    assert check_outages(svc) == OutageReport((), (), ())
    assert hook.posts == []


def test_a_new_outage_after_a_clear_alerts_again(
    svc: Services, clock: FrozenClock, hook: Hook
) -> None:
    incomplete = PdfIncompleteError("FA-2026-000007: the rendered PDF lacks: SIREN")
    fail(svc, [Failing("render", incomplete, order="1001")])
    check_outages(svc)
    succeed_all(svc, clock)
    assert check_outages(svc).cleared == ("render:PdfIncompleteError",)
    clock.advance(hours=1)
    fail(svc, [Failing("render", incomplete, order="1002")])
    assert check_outages(svc).opened == ("render:PdfIncompleteError",)
    assert [p["title"].startswith("Quittance: resolved") for p in hook.posts] == [
        False, True, False,
    ]  # fmt: skip
    assert "order 1002" in hook.posts[2]["message"]


def test_a_given_up_job_and_a_retrying_one_are_one_outage(
    svc: Services, clock: FrozenClock, hook: Hook
) -> None:
    fail(svc, [Failing("email", smtp_down(), order="1001", give_up=True)])
    fail(svc, [Failing("email", smtp_down(), order="1002")])
    check_outages(svc)
    (post,) = hook.posts
    assert "2 documents held up (1 failed for good, 1 still retrying)" in post["title"]


def test_an_opening_alert_not_sent_yet_is_sent_by_the_next_check(
    svc: Services, clock: FrozenClock, hook: Hook
) -> None:
    # opened by a process that could not send its alert (it gave its claim back)
    incomplete = PdfIncompleteError("FA-2026-000007: the rendered PDF lacks: SIREN")
    fail(svc, [Failing("render", incomplete, order="1001")])
    svc.store.open_outage(
        "render:PdfIncompleteError", title="t", opened_at=clock(), affected=1, sample=[]
    )
    assert check_outages(svc).opened == ("render:PdfIncompleteError",)  # sent now
    assert len(hook.posts) == 1


# -- several schedulers -----------------------------------------------------------------


def both_at_once(first: Services, second: Services) -> list[OutageReport]:
    barrier = threading.Barrier(2)
    reports: list[OutageReport] = []
    errors: list[BaseException] = []

    def run(svc: Services) -> None:
        try:
            barrier.wait(5)
            reports.append(check_outages(svc))
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    return reports


def test_two_concurrent_checks_send_one_alert_each_way(
    tmp_path: Path, db_url: str, hook: Hook, clock: FrozenClock
) -> None:
    first = make_services(tmp_path, db_url, hook, clock)
    second = make_services(tmp_path, db_url, hook, clock)
    try:
        incomplete = PdfIncompleteError("FA-2026-000007: the rendered PDF lacks: SIREN")
        for round_ in range(3):
            fail(first, [Failing("render", incomplete, order=f"10{round_}")])
            reports = both_at_once(first, second)
            assert sorted(c for r in reports for c in r.opened) == ["render:PdfIncompleteError"]
            succeed_all(first, clock)
            reports = both_at_once(first, second)
            assert sorted(c for r in reports for c in r.cleared) == ["render:PdfIncompleteError"]
        assert len(opened(hook)) == 3 and len(cleared(hook)) == 3
    finally:
        first.close()
        second.close()


def test_a_cause_mended_between_two_retries_never_alerts(
    svc: Services, clock: FrozenClock, hook: Hook
) -> None:
    # SMTP refused at 0 and 7 min, back at 8: the next try (at 15) is not made yet
    fail(svc, [Failing("email", smtp_down(), order="1001")])
    clock.advance(minutes=7)
    fails_again(svc)
    clock.advance(minutes=9)
    assert check_outages(svc).opened == ()
    assert hook.posts == []


# -- a queue nobody drains ------------------------------------------------------------------


def queue_orders(svc: Services, n: int) -> None:
    for order in distinct_orders(n):
        submit_order(svc, order)


def test_jobs_due_with_no_worker_for_after_minutes_alert_once(
    svc: Services, clock: FrozenClock, hook: Hook
) -> None:
    queue_orders(svc, 3)  # and no worker comes
    clock.advance(minutes=16)
    assert check_outages(svc).opened == ()  # once: a worker may be backing off still
    clock.advance(minutes=1)
    assert check_outages(svc).opened == ("queue:stalled",)
    (post,) = hook.posts
    assert "no worker runs them — 3 documents held up, waiting" in post["title"]
    assert "`quittance status`" in post["message"]


def test_a_queue_drained_again_clears_the_stall(
    svc: Services, clock: FrozenClock, hook: Hook
) -> None:
    queue_orders(svc, 2)
    clock.advance(minutes=16)
    check_outages(svc)
    clock.advance(minutes=1)
    check_outages(svc)
    work(svc, once=True)  # a worker is back
    assert check_outages(svc).cleared == ("queue:stalled",)
    assert "resolved" in hook.posts[-1]["title"].lower()


def test_a_long_backlog_that_drains_is_no_stall(
    svc: Services, clock: FrozenClock, hook: Hook
) -> None:
    queue_orders(svc, 3)
    clock.advance(minutes=16)
    check_outages(svc)
    (job,) = svc.store.claim_jobs("w", limit=1)  # a worker is at it: the rest just waits
    svc.store.complete_job(job.id, "w")
    clock.advance(minutes=1)
    assert check_outages(svc).opened == ()
    assert hook.posts == []


def test_more_documents_failing_for_good_later_are_told_once_more(
    svc: Services, hook: Hook
) -> None:
    fail(svc, [Failing("email", mailbox_unknown("a.fr"), order="2001")])
    check_outages(svc)
    fail(
        svc,
        [
            Failing("email", mailbox_unknown(d), order=o)
            for o, d in (("2002", "b.fr"), ("2003", "c.fr"))
        ],
    )
    check_outages(svc)
    assert len(hook.posts) == 2
    assert hook.posts[1]["title"].endswith("— 2 more")
    assert "order 2003" in hook.posts[1]["message"] and "order 2002" in hook.posts[1]["message"]


def test_more_failures_within_the_dedupe_window_wait_for_the_digest(
    svc: Services, hook: Hook
) -> None:
    fail(svc, [Failing("email", mailbox_unknown("a.fr"), order="2001")])
    check_outages(svc)
    for order in ("2002", "2003"):
        fail(svc, [Failing("email", mailbox_unknown("b.fr"), order=order)])
        check_outages(svc)
    assert len(hook.posts) == 2  # the opening, then one "more": the window holds the next


def test_more_retrying_documents_do_not_alert_again(
    svc: Services, clock: FrozenClock, hook: Hook
) -> None:
    fail(svc, [Failing("email", smtp_down(), order="1001")])
    clock.advance(minutes=16)
    fails_again(svc)
    check_outages(svc)
    fail(svc, [Failing("email", smtp_down(), order="1002")])
    check_outages(svc)
    assert len(hook.posts) == 1


def test_a_retrying_document_joining_a_cause_with_a_dead_one_is_no_more(
    svc: Services, hook: Hook
) -> None:
    fail(svc, [Failing("email", smtp_down(), order="1001", give_up=True)])  # dead
    check_outages(svc)
    fail(svc, [Failing("email", smtp_down(), order="1002")])  # retrying, same cause
    check_outages(svc)
    assert len(hook.posts) == 1


def test_a_stall_that_comes_back_after_some_progress_is_told_again(
    svc: Services, clock: FrozenClock, hook: Hook
) -> None:
    queue_orders(svc, 3)
    clock.advance(minutes=16)
    check_outages(svc)
    clock.advance(minutes=1)
    check_outages(svc)  # told
    (job,) = svc.store.claim_jobs("w", limit=1)
    svc.store.complete_job(job.id, "w")
    check_outages(svc)  # resolved: work moved
    clock.advance(minutes=16)
    check_outages(svc)
    clock.advance(minutes=1)
    assert check_outages(svc).opened == ("queue:stalled",)
    assert [p["title"].startswith("Quittance: resolved") for p in hook.posts] == [
        False,
        True,
        False,
    ]
