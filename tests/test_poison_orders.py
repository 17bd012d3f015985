"""A poison order (one the connector chokes on) never stalls its shop's polling: the scheduled
poll succeeds, the order waits in quarantine with its payload, and once the owner repairs it on
the shop a retry invoices it. Both platforms, through their sandboxes (the per-connector
behaviour itself is in the contract suite)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bridge.service import poll_tick
from tests.contract.harness import HARNESSES, Harness
from tests.support.bridges import SHOP


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest) -> Harness:
    return HARNESSES[request.param]


def test_a_scheduled_poll_with_a_poisoned_order_succeeds(harness: Harness, tmp_path: Path) -> None:
    with harness.bridge(tmp_path) as b:
        modified = b.sandbox.now() - timedelta(minutes=5)
        good = harness.add_order(b.sandbox, 5001, paid=True, modified=modified)
        bad = harness.add_order(b.sandbox, 5002, paid=True, modified=modified)
        harness.garble(b.sandbox, bad)
        report = poll_tick(b.svc, SHOP, "test-owner")
        state = b.svc.store.poll_state(SHOP)
        quarantined = [o.order_id for o in b.svc.store.list_quarantined()]
        recorded = b.svc.store.get_order(SHOP, good)
    assert report is not None and report.new_orders == 1 and quarantined == [bad]
    assert state is not None and state.last_error is None and state.polls == 1
    assert recorded is not None


def test_a_poisoned_order_repaired_on_the_shop_is_invoiced_by_a_retry(
    harness: Harness, tmp_path: Path
) -> None:
    with harness.bridge(tmp_path) as b:
        modified = b.sandbox.now() - timedelta(minutes=5)
        order_id = harness.add_order(b.sandbox, 5003, paid=True, modified=modified)
        kept = harness.garble(b.sandbox, order_id)
        poll_tick(b.svc, SHOP, "test-owner")
        b.work()
        before = [i.order_id for i in b.invoices()]
        harness.ungarble(b.sandbox, order_id, kept)
        assert b.svc.store.requeue_order(SHOP, order_id)
        b.work()
        after = [i.order_id for i in b.invoices()]
    assert (before, after) == ([], [order_id])
