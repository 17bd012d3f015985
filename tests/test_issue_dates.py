"""The issue date is taken under the numbering lock: numbers and dates both chronological."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.config import load_settings
from bridge.demo import sample_orders
from bridge.failures import TransientStepError
from bridge.issue_facts import gather_issue_facts
from bridge.pipeline import accept_order
from bridge.services import Services
from tests.support.clock import SteppingClock
from tests.support.config import write_config


def services(tmp_path: Path, clock: SteppingClock) -> Services:
    config = write_config(tmp_path / "quittance.toml", smtp_port=1)
    return Services.from_settings(load_settings(config, environ={}), clock=clock)


def test_dates_follow_numbers(tmp_path: Path) -> None:
    clock = SteppingClock(datetime(2026, 11, 27, 10, 0, tzinfo=UTC), timedelta(minutes=7))
    svc = services(tmp_path, clock)
    try:
        for _path, order in sample_orders()[:5]:  # one in USD: the ECB rate is read first
            accept_order(svc, order, then=(), facts=gather_issue_facts(svc, order))
        issued = [(inv.sequence, inv.issued_at) for inv in svc.store.iter_invoices()]
        assert [seq for seq, _ in issued] == [1, 2, 3, 4, 5]
        assert [at for _, at in issued] == sorted(at for _, at in issued)
    finally:
        svc.close()


def test_waiting_across_new_year_burns_nothing_and_retries(tmp_path: Path) -> None:
    # 22:59:59 UTC is 23:59:59 in Paris on 31 December.
    clock = SteppingClock(datetime(2026, 12, 31, 22, 59, 59, tzinfo=UTC), timedelta(0))
    svc = services(tmp_path, clock)
    orders = [order for _path, order in sample_orders()]
    real_issue = svc.store.issue_invoice

    def issue_after_waiting_for_the_lock(**kwargs):  # type: ignore[no-untyped-def]
        clock.now = datetime(2026, 12, 31, 23, 0, 1, tzinfo=UTC)  # 2027 in Paris
        return real_issue(**kwargs)

    svc.store.issue_invoice = issue_after_waiting_for_the_lock  # type: ignore[method-assign]
    try:
        with pytest.raises(TransientStepError):
            accept_order(svc, orders[0], then=())
        assert list(svc.store.iter_invoices()) == []  # nothing written, no number burnt
        result = accept_order(svc, orders[0], then=())  # the job's retry, now in the new year
        assert result.invoice is not None
        assert result.invoice.number == "FA-2027-000001"
        assert result.invoice.snapshot.issue_date.year == 2027
    finally:
        svc.close()
