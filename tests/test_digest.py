"""The daily digest: what is pending (open outages, dead jobs by cause, quarantined orders,
retrying jobs, the oldest waiting job) in one message to a real alert endpoint; none when all
is well."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.failures import PdfIncompleteError
from bridge.outages import check_outages, daily_digest
from bridge.services import Services
from tests.support.clock import FrozenClock
from tests.support.failing_jobs import (  # clock, svc: fixtures
    Failing,
    clock,
    disk_full,
    fail,
    fails_again,
    mailbox_unknown,
    make_services,
    smtp_down,
    svc,
)
from tests.support.hook import Hook

__all__ = ["clock", "svc"]  # fixtures, used by name

pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


def test_the_digest_lists_open_outages_dead_jobs_and_quarantined_orders(
    svc: Services, clock: FrozenClock, hook: Hook
) -> None:
    fail(svc, [Failing("render", disk_full(), order=str(n)) for n in (1001, 1002, 1003)])
    fail(
        svc,
        [
            Failing("email", mailbox_unknown(d), order=f"200{n}")
            for n, d in ((1, "a.fr"), (2, "b.fr"))
        ],
    )
    fail(svc, [Failing("render", PdfIncompleteError("FA-1: lacks SIREN"), order="3001")])
    fail(svc, [Failing("email", smtp_down(), order="4001")])  # retrying
    svc.store.quarantine_order("demo", "5001", "totals do not add up: 12.00 ≠ 12.50")
    clock.advance(minutes=20)
    fails_again(svc)  # the retrying ones fail on: the disk is still full, SMTP still down
    check_outages(svc)
    hook.posts.clear()  # the openings; the digest is what this test reads

    clock.advance(hours=10)
    body = daily_digest(svc)
    (post,) = hook.posts
    assert body == post["message"]
    assert post["title"].startswith("Quittance daily digest: ")
    assert "quarantined order" in post["title"] and "failed for good" in post["title"]
    # open outages, with counts and since when
    assert "Open problems (4):" in body
    assert "rendering and archiving PDFs: the disk is full: since " in body
    assert "3 document(s) held up" in body
    # dead jobs by cause, each naming its documents
    assert "refuses the customer's address — 2 document(s) [email:recipient refused 550]" in body
    assert "order 2001" in body and "order 2002" in body and "order 3001" in body
    # quarantined orders with their reason
    assert "shop demo, order 5001: totals do not add up: 12.00 ≠ 12.50" in body
    # retrying jobs and the oldest waiting one
    assert "Retrying: 4 job(s)." in body
    assert "Oldest waiting job: " in body and "order 1001" in body
    assert "`quittance retry --all`" in body


def test_the_digest_sends_nothing_when_all_is_well(svc: Services, hook: Hook) -> None:
    assert daily_digest(svc) is None
    assert hook.posts == []


def test_the_digest_goes_once_a_day_whatever_the_schedulers(
    tmp_path: Path, db_url: str, hook: Hook, clock: FrozenClock
) -> None:
    first = make_services(tmp_path, db_url, hook, clock)
    second = make_services(tmp_path, db_url, hook, clock)
    try:
        first.store.quarantine_order("demo", "5001", "no billing address")
        daily_digest(first)
        daily_digest(second)
        assert len(hook.posts) == 1
        clock.advance(days=1)
        daily_digest(second)
        assert len(hook.posts) == 2
    finally:
        first.close()
        second.close()
