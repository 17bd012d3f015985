"""The declared pipeline: steps run in their declared order, by their own rules, and jobs
queued by the version before the declaration (`"then"` payloads) drain as they were meant to."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bridge.config import load_settings
from bridge.devsmtp import CaptureSMTPServer
from bridge.pipeline import submit_order
from bridge.services import Services
from bridge.steps import STEPS, Flow, Pipeline, Step, StepRun
from bridge.worker import work
from connectors.woocommerce.sandbox import WooSandbox
from tests.support.bridges import SHOP, WOO_HOOK_SECRET, WOO_KEY, WOO_SECRET
from tests.support.config import settings_for, write_config
from tests.support.orders import orders_by_id
from tests.support.paths import FIXTURES
from tests.support.shops import woo_shop

QUEUED_BY_B85858E = FIXTURES / "databases" / "queued_by_b85858e.sqlite"


@contextmanager
def _old_database_with_its_shop(tmp_path: Path) -> Iterator[tuple[Services, WooSandbox, list]]:
    database = tmp_path / "quittance.sqlite3"
    shutil.copyfile(QUEUED_BY_B85858E, database)
    sandbox = WooSandbox(
        consumer_key=WOO_KEY, consumer_secret=WOO_SECRET, webhook_secret=WOO_HOOK_SECRET
    )
    with sandbox, CaptureSMTPServer() as smtp:
        config = write_config(
            tmp_path / "quittance.toml",
            database_url=f"sqlite:///{database}",
            smtp_port=smtp.port,
            shops=[woo_shop(SHOP, sandbox)],
        )
        svc = Services.from_settings(load_settings(config, environ={}))
        try:
            yield svc, sandbox, smtp.received
        finally:
            svc.close()


def test_jobs_queued_with_then_lists_by_the_previous_version_drain(tmp_path: Path) -> None:
    with _old_database_with_its_shop(tmp_path) as (svc, sandbox, received):
        work(svc, once=True, worker_id="test")
        jobs = svc.store.list_jobs(("pending", "retry", "running", "dead", "skipped"))
        invoices = {inv.order_id: inv for inv in svc.store.iter_invoices()}
        buyers = {order: inv.snapshot.buyer.email for order, inv in invoices.items()}
        notes = {order: len(sandbox.our_notes(int(order))) for order in invoices}
    assert jobs == []
    assert sorted(invoices) == ["1001", "1002", "1003", "1004"]
    # 1003 and 1004 came from `backfill --no-email`: 1003's queued "then" said attach only,
    # 1004's queued issue job said send_email = false.
    assert sorted(r for m in received for r in m.rcpt_tos) == sorted(
        [buyers["1001"], buyers["1002"]]
    )
    assert notes == {"1001": 1, "1002": 1, "1003": 1, "1004": 1}


def test_invoices_queued_by_the_previous_version_are_rendered_and_archived(
    tmp_path: Path,
) -> None:
    with _old_database_with_its_shop(tmp_path) as (svc, _, _):
        work(svc, once=True, worker_id="test")
        invoices = list(svc.store.iter_invoices())
        # `read` re-hashes the file against the hash recorded on the invoice
        archived = [svc.archive.read(inv.pdf_sha256 or "") for inv in invoices]
    assert len(archived) == 4 and all(pdf.startswith(b"%PDF") for pdf in archived)


# ---------------------------------------------------------------- a step added by one entry

STAMPED: list[tuple[str, str]] = []


def _stamp(run: StepRun) -> dict[str, object]:
    invoice = run.svc.store.get_invoice_by_id(run.job.invoice_id or 0)
    assert invoice is not None
    STAMPED.append((invoice.order_id, "rendered" if invoice.pdf_sha256 else "not rendered"))
    return {"stamped": invoice.number}


def _not_for_order_1002(run: StepRun) -> str | None:
    return "order 1002 is never stamped" if run.job.order_id == "1002" else None


WITH_STAMP = Pipeline([*STEPS, Step("stamp", _stamp, after="render", skip=_not_for_order_1002)])


@pytest.fixture
def stamped_run(tmp_path: Path) -> Iterator[Services]:
    STAMPED.clear()
    svc = Services.from_settings(settings_for(tmp_path))
    orders = orders_by_id()
    try:
        submit_order(svc, orders["1001"])
        submit_order(svc, orders["1002"])
        work(svc, once=True, worker_id="test", steps=WITH_STAMP)
        yield svc
    finally:
        svc.close()


def test_a_step_added_by_one_entry_runs_after_the_step_it_follows(stamped_run: Services) -> None:
    assert STAMPED == [("1001", "rendered")]
    (done,) = [j for j in stamped_run.store.list_jobs(("done",)) if j.kind == "stamp"]
    assert done.order_id == "1001"


def test_a_step_added_by_one_entry_is_skipped_by_its_own_rule(stamped_run: Services) -> None:
    (skipped,) = [j for j in stamped_run.store.list_jobs(("skipped",)) if j.kind == "stamp"]
    assert (skipped.order_id, skipped.last_error) == ("1002", "order 1002 is never stamped")


def test_a_step_that_does_not_apply_is_not_enqueued(tmp_path: Path) -> None:
    svc = Services.from_settings(settings_for(tmp_path))
    try:
        no_email = Flow("demo", {"send_email": False})
        assert STEPS.declared_follow_ups(svc, "render", no_email) == []
        followers = STEPS.declared_follow_ups(svc, "render", Flow("demo", {}))
        assert [kind for kind, _ in followers] == ["email"]
    finally:
        svc.close()


def test_a_pipeline_refuses_a_step_following_one_not_declared_before() -> None:
    with pytest.raises(ValueError, match="'stamp' follows 'print'"):
        Pipeline([*STEPS, Step("stamp", _stamp, after="print")])


def test_a_pipeline_refuses_a_step_following_one_without_a_document() -> None:
    with pytest.raises(ValueError, match="'stamp' follows 'ingest', which has no document"):
        Pipeline([*STEPS, Step("stamp", _stamp, after="ingest")])


def _broken_rule(*_: object) -> Any:
    raise KeyError("stamp_policy")


@pytest.mark.parametrize(
    ("broken", "failing_job"),
    # `skip` is read when the stamp job runs; `applies` when render, before it, finishes
    [("skip", "stamp"), ("applies", "render")],
)
def test_a_rule_that_raises_is_a_failed_step_not_a_failed_worker(
    tmp_path: Path, broken: str, failing_job: str
) -> None:
    stamp = Step("stamp", _stamp, after="render", **{broken: _broken_rule})
    pipeline = Pipeline([*STEPS, stamp])
    svc = Services.from_settings(settings_for(tmp_path))
    try:
        submit_order(svc, orders_by_id()["1001"])
        work(svc, once=True, worker_id="test", steps=pipeline)
        retrying = svc.store.list_jobs(("retry",))
    finally:
        svc.close()
    (job,) = retrying
    assert (job.kind, job.last_error) == (failing_job, "KeyError: 'stamp_policy'")
