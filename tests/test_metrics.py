"""/metrics tells the truth across processes: what workers did is read from the database.

One `Services` plays the worker side (the real webhook route, polling and the job queue on a
sandbox shop and a capturing SMTP server); a second `Services`, built separately on the same
database with its own clock, serves the /metrics that is scraped: another process's view.
Expected numbers come from the store's own readers (and the SMTP server), not from the
queries under test.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event

from bridge.config import Settings, load_settings
from bridge.devsmtp import CaptureSMTPServer
from bridge.service import poll_tick
from bridge.services import Services
from bridge.store import JOB_STATES, Store
from bridge.web.app import create_app, create_ops_app
from bridge.web.metrics import OTHER, UNCONFIGURED
from bridge.worker import work
from connectors.woocommerce.sandbox import WooSandbox
from tests.support import postgres
from tests.support.app import AppServer
from tests.support.bridges import WOO_HOOK_SECRET, WOO_KEY, WOO_SECRET
from tests.support.clock import FrozenClock
from tests.support.config import SERVER, write_config
from tests.support.shops import woo_shop

SHOP = "theiere"
LATE = timedelta(seconds=90)  # how long the test's late job has been due at scrape time

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Worked:
    """What the worker side did, and how to build the scraping side."""

    worker: Services
    config: Path
    emails_sent: int
    webhooks_stored: int  # deliveries our app answered as new (not duplicate)
    scrape_at: datetime  # the scraping process's clock

    def scraper(self, config: Path | None = None) -> Services:
        settings = load_settings(config or self.config, environ={})
        return Services.from_settings(settings, clock=FrozenClock(self.scrape_at))


def samples_of(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(svc: Services) -> Samples:
    answer = TestClient(create_ops_app(svc)).get("/metrics")
    assert answer.status_code == 200
    return samples_of(answer.text)


def series(samples: Samples, name: str) -> dict[tuple[str, ...], float]:
    """name's samples keyed by their label values, in label-name order."""
    return {tuple(v for _k, v in labels): value for (n, labels), value in samples.items()
            if n == name}  # fmt: skip


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def worked(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worked]:
    """Paid orders invoiced, refunds credited, emails sent and documents attached back, by the
    worker side; a webhook stored (and its duplicate refused), an order quarantined, a job
    late and one due later."""
    tmp = tmp_path_factory.mktemp(f"metrics-{request.param}")
    if request.param == "sqlite":
        url, schema = f"sqlite:///{tmp / 'q.db'}", None
    else:
        url, schema = postgres.new_schema_url("metrics")
    sandbox = WooSandbox(
        consumer_key=WOO_KEY, consumer_secret=WOO_SECRET, webhook_secret=WOO_HOOK_SECRET, seed=True
    )
    try:
        with sandbox, CaptureSMTPServer() as smtp:
            config = write_config(
                tmp / "quittance.toml", database_url=url, smtp_port=smtp.port, server=SERVER,
                shops=[woo_shop(SHOP, sandbox)],
            )  # fmt: skip
            worker = Services.from_settings(load_settings(config, environ={}))
            try:
                with AppServer(create_app(worker)) as app:
                    hook = f"{app.url}/webhooks/woocommerce/{SHOP}"
                    delivered = sandbox.deliver_webhook(hook, 1001, duplicate=2)
                    assert [r.status for r in delivered] == [200, 200]
                # (the sandbox's delivery id changes with the second: the second POST may be
                # a new event, not a duplicate; the app's answer says which)
                stored = sum(json.loads(r.body)["duplicate"] is False for r in delivered)
                work(worker, once=True, worker_id="test")
                assert poll_tick(worker, SHOP, "test-owner") is not None
                work(worker, once=True, worker_id="test")
                worker.store.quarantine_order(SHOP, "9001", "totals do not add up")
                scrape_at = worker.store.clock() + timedelta(minutes=10)
                worker.store.enqueue(
                    "render", {}, dedupe_key="late-render", run_at=scrape_at - LATE
                )
                worker.store.enqueue(
                    "email", {}, dedupe_key="later-email", run_at=scrape_at + timedelta(hours=1)
                )
                yield Worked(worker, config, len(smtp.received), stored, scrape_at)
            finally:
                worker.close()
    finally:
        if schema is not None:
            postgres.drop_schema(schema)


@pytest.fixture(scope="module")
def scraped(worked: Worked) -> Samples:
    """/metrics as the other process serves it."""
    scraper = worked.scraper()
    try:
        return scrape(scraper)
    finally:
        scraper.close()


def all_jobs(store: Store) -> list[Any]:
    return store.list_jobs(states=JOB_STATES)


# -- what the workers did, seen from another process --------------------------------------


def test_documents_issued_by_the_worker_show_in_another_process(
    worked: Worked, scraped: Samples
) -> None:
    issued = Counter((doc.shop, doc.kind) for doc in worked.worker.store.iter_invoices())
    assert issued[(SHOP, "invoice")] > 0 and issued[(SHOP, "credit_note")] > 0
    assert series(scraped, "quittance_documents_issued_total") == {
        ("credit_note", SHOP): issued[(SHOP, "credit_note")],
        ("invoice", SHOP): issued[(SHOP, "invoice")],
    }


def test_emails_sent_by_the_worker_show_as_sent_deliveries(
    worked: Worked, scraped: Samples
) -> None:
    assert worked.emails_sent > 0
    sent = series(scraped, "quittance_deliveries")[("email", "sent")]
    assert sent == worked.emails_sent


def test_deliveries_by_channel_and_status_match_the_delivery_log(
    worked: Worked, scraped: Samples
) -> None:
    log = Counter((d.channel, d.status) for d in worked.worker.store.recent_deliveries(10_000))
    reported = {k: v for k, v in series(scraped, "quittance_deliveries").items() if v}
    assert reported == dict(log)


def test_jobs_by_kind_and_state_match_the_queue(worked: Worked, scraped: Samples) -> None:
    queue = Counter((job.kind, job.state) for job in all_jobs(worked.worker.store))
    reported = {k: v for k, v in series(scraped, "quittance_jobs").items() if v}
    assert reported == dict(queue)


def test_every_declared_kind_and_state_is_a_series_even_at_zero(scraped: Samples) -> None:
    kinds = {
        "ingest",
        "issue",
        "credit",
        "render",
        "email",
        "sms",
        "zendesk",
        "intercom",
        "attach",
        "portal_link",
        "survey_alert",
    }
    assert set(series(scraped, "quittance_jobs")) == {(k, s) for k in kinds for s in JOB_STATES}


def test_the_oldest_due_job_counts_from_its_due_time_at_the_scraper_clock(
    scraped: Samples,
) -> None:
    assert series(scraped, "quittance_job_oldest_waiting_seconds")[("render",)] == (
        LATE.total_seconds()
    )


def test_a_job_due_later_is_not_waiting(scraped: Samples) -> None:
    assert series(scraped, "quittance_job_oldest_waiting_seconds")[("email",)] == 0


def test_poll_lag_is_the_scraper_clock_minus_the_last_successful_poll(
    worked: Worked, scraped: Samples
) -> None:
    state = worked.worker.store.poll_state(SHOP)
    assert state is not None and state.last_success_at is not None
    expected = (worked.scrape_at - state.last_success_at).total_seconds()
    assert series(scraped, "quittance_poll_lag_seconds") == {(SHOP,): expected}


def test_quarantined_orders_are_counted_per_shop(worked: Worked, scraped: Samples) -> None:
    held = [o for o in worked.worker.store.list_quarantined() if o.shop == SHOP]
    assert "9001" in {o.order_id for o in held}
    assert series(scraped, "quittance_orders_quarantined") == {(SHOP,): len(held)}


def test_stored_webhooks_count_and_their_duplicates_do_not(
    worked: Worked, scraped: Samples
) -> None:
    assert worked.webhooks_stored >= 1
    assert series(scraped, "quittance_webhook_events_total") == {
        ("woocommerce", SHOP): worked.webhooks_stored
    }


def test_the_database_is_reported_up(scraped: Samples) -> None:
    assert series(scraped, "quittance_database_up") == {(): 1}


# -- labels never come from outside --------------------------------------------------------


def _without_the_shop(worked: Worked, tmp_path: Path) -> Path:
    """The same database and archive, the shop removed from the configuration."""
    settings: Settings = load_settings(worked.config, environ={})
    return write_config(
        tmp_path / "quittance.toml",
        database_url=settings.storage.database_url,
        archive_dir=settings.storage.archive_dir,
    )


def test_documents_of_a_shop_no_longer_configured_count_as_unconfigured(
    worked: Worked, tmp_path: Path
) -> None:
    scraper = worked.scraper(_without_the_shop(worked, tmp_path))
    try:
        issued = series(scrape(scraper), "quittance_documents_issued_total")
    finally:
        scraper.close()
    total = Counter(doc.kind for doc in worked.worker.store.iter_invoices())
    assert issued == {
        ("credit_note", UNCONFIGURED): total["credit_note"],
        ("invoice", UNCONFIGURED): total["invoice"],
    }


def test_a_shop_no_longer_configured_leaves_no_series_behind(
    worked: Worked, tmp_path: Path
) -> None:
    scraper = worked.scraper(_without_the_shop(worked, tmp_path))
    try:
        samples = scrape(scraper)
    finally:
        scraper.close()
    assert not [key for key in samples if ("shop", SHOP) in key[1]]


def test_a_platform_named_by_an_unknown_url_is_no_label_value(worked: Worked) -> None:
    scraper = worked.scraper()
    try:
        client = TestClient(create_app(scraper))
        assert client.post("/webhooks/made-up-platform/x", content=b"{}").status_code == 401
        text = TestClient(create_ops_app(scraper)).get("/metrics").text
    finally:
        scraper.close()
    assert "made-up-platform" not in text
    assert series(samples_of(text), "quittance_webhooks_total")[("unknown_shop", OTHER)] >= 1


def test_a_refused_signature_is_counted_by_the_process_that_refused_it(worked: Worked) -> None:
    scraper = worked.scraper()
    try:
        client = TestClient(create_app(scraper))
        ops = TestClient(create_ops_app(scraper))

        def refused() -> float:
            counts = series(samples_of(ops.get("/metrics").text), "quittance_webhooks_total")
            return counts.get(("rejected_401", "woocommerce"), 0)

        before = refused()
        answer = client.post(
            f"/webhooks/woocommerce/{SHOP}", content=b"{}",
            headers={"x-wc-webhook-signature": "bm90IGEgc2lnbmF0dXJl"},
        )  # fmt: skip
        assert answer.status_code == 401
        assert refused() == before + 1
    finally:
        scraper.close()


# -- the cost of a scrape, and a database that does not answer -----------------------------


def test_a_scrape_costs_seven_queries_whatever_the_number_of_shops(
    worked: Worked, tmp_path: Path
) -> None:
    settings = load_settings(worked.config, environ={})
    many = [
        {"name": f"shop{n}", "platform": "woocommerce", "url": "http://127.0.0.1:9",
         "consumer_key": "ck", "consumer_secret": "cs", "webhook_secret": "wh"}
        for n in range(20)
    ]  # fmt: skip
    config = write_config(
        tmp_path / "quittance.toml", database_url=settings.storage.database_url,
        archive_dir=settings.storage.archive_dir, shops=many,
    )  # fmt: skip
    scraper = worked.scraper(config)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(scraper.store.engine, "before_cursor_execute", count)
    try:
        samples = scrape(scraper)
    finally:
        event.remove(scraper.store.engine, "before_cursor_execute", count)
        scraper.close()
    reported = set(series(samples, "quittance_orders_quarantined"))
    assert {(f"shop{n}",) for n in range(20)} <= reported  # every shop is there
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 7


def test_a_database_that_does_not_answer_is_reported_down_not_zero(worked: Worked) -> None:
    scraper = worked.scraper()
    scraper.store.close()
    scraper.store = Store.open("postgresql+psycopg://postgres@127.0.0.1:9/test", migrate=False)
    try:
        samples = scrape(scraper)
    finally:
        scraper.close()
    assert series(samples, "quittance_database_up") == {(): 0}
    assert not series(samples, "quittance_documents_issued_total")


def test_the_webhook_counter_says_it_is_per_process(worked: Worked) -> None:
    scraper = worked.scraper()
    try:
        text = TestClient(create_ops_app(scraper)).get("/metrics").text
    finally:
        scraper.close()
    [family] = [f for f in text_string_to_metric_families(text) if f.name == "quittance_webhooks"]
    assert "THIS process" in family.documentation
    assert "reset at restart" in family.documentation
