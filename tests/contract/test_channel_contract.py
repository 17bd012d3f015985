"""The channel contract: what every customer channel (email, SMS, Zendesk, Intercom) must do,
with the same test names for each, through the real pipeline and worker against each
service's local stand-in. A channel is done when it passes this suite; its own files test
what is its own (GSM-7 septets, Zendesk's upload tokens, Intercom's rate windows…).

Each channel plugs in through a small harness (`channels.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
import structlog

from bridge.crediting import issue_credit
from bridge.failures import LeaseLost
from bridge.handover import handover_check
from bridge.invoicing.credit import Credit
from bridge.steps import STEPS, Flow, StepRun
from bridge.store import InvoiceRecord, JobRecord
from bridge.store.jobs import JOB_STATES
from bridge.store.records import DeliveryRecord
from bridge.store.schema import jobs
from tests.contract.channels import CHANNELS, SHOP, Channel, Shop, alongside, running_shop

# The email harness's server asks for a password over plain TCP, as a local relay may.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture(params=sorted(CHANNELS))
def name(request: pytest.FixtureRequest) -> str:
    """The channel harness under test (`sms-apprise`: the SMS step through apprise)."""
    return str(request.param)


@pytest.fixture
def shop(name: str, tmp_path: Path) -> Iterator[Shop]:
    """Every channel's service running; this channel turned on, with the email (the email
    test has it alone)."""
    with running_shop(tmp_path, on=tuple(dict.fromkeys(("email", name)))) as running:
        yield running


@pytest.fixture
def channel(shop: Shop, name: str) -> Channel:
    return shop.channels[name]


LOOKS_FIRST = sorted(n for n, c in CHANNELS.items() if c.finds_earlier_sends)


def jobs_of(shop: Shop, kind: str, invoice: InvoiceRecord) -> list[JobRecord]:
    return [
        job for job in shop.svc.store.list_jobs(JOB_STATES)
        if job.kind == kind and job.invoice_id == invoice.id
    ]  # fmt: skip


def rows_of(shop: Shop, kind: str, invoice: InvoiceRecord) -> list[DeliveryRecord]:
    return [r for r in shop.svc.store.deliveries_for([invoice.id]) if r.channel == kind]


def run_again(shop: Shop, job: JobRecord) -> object:
    """The step of `job` run once more, as the worker runs it after an earlier attempt whose
    outcome was never recorded (the worker died after the service answered)."""
    step = STEPS.step(job.kind)
    assert step is not None
    return step.run(StepRun(shop.svc, replace(job, attempts=job.attempts + 1), then=()))


# -- handed over once --------------------------------------------------------------------


def test_a_document_is_handed_over_once_and_logged_with_the_services_id(
    shop: Shop, channel: Channel
) -> None:
    invoice = shop.issue()
    assert channel.handed(invoice.number) == 1
    [row] = rows_of(shop, channel.kind, invoice)
    assert row.status == "sent" and row.target
    assert bool(row.external_id) is channel.gives_ids  # apprise has no id to give


def test_a_duplicate_job_hands_nothing_over_again(shop: Shop, channel: Channel) -> None:
    invoice = shop.issue()
    # The document's render replayed (a second render job): its followers are queued again
    # under the same keys.
    with shop.svc.store.engine.begin() as conn:
        conn.execute(
            jobs.insert().values(
                kind="render", payload="{}", state="pending", attempts=0,
                dedupe_key=f"render-replayed:{invoice.id}", run_at=shop.svc.store.clock(),
                created_at=shop.svc.store.clock(), updated_at=shop.svc.store.clock(),
                shop=invoice.shop, order_id=invoice.order_id, invoice_id=invoice.id,
            )
        )  # fmt: skip
    shop.work()
    assert channel.handed(invoice.number) == 1
    assert len(jobs_of(shop, channel.kind, invoice)) == 1


def test_a_lost_lease_stops_the_hand_over_before_anything_reaches_the_service(
    shop: Shop, channel: Channel
) -> None:
    channel.fail_for_a_while()
    invoice = shop.issue()
    [job] = jobs_of(shop, channel.kind, invoice)  # waiting for its retry, nothing handed over

    def lease_gone() -> None:
        raise LeaseLost("another worker holds the job")

    with handover_check(lease_gone), pytest.raises(LeaseLost):
        run_again(shop, job)
    assert channel.handed(invoice.number) == 0
    shop.retry_now()
    assert channel.handed(invoice.number) == 1


# SMTP and apprise cannot be asked whether a message arrived: at least once, by design.
CANNOT_ASK = pytest.mark.xfail(
    strict=True,
    reason="the service cannot be asked what arrived: a worker killed between its yes and "
    "our commit hands the document over again (at least once, docs/CHANNELS.md)",
)


@pytest.mark.parametrize(
    "name", [n if n in LOOKS_FIRST else pytest.param(n, marks=CANNOT_ASK) for n in CHANNELS]
)
def test_a_run_after_a_crash_past_the_hand_over_does_not_hand_it_over_again(
    shop: Shop, channel: Channel
) -> None:
    invoice = shop.issue()
    [job] = jobs_of(shop, channel.kind, invoice)
    run_again(shop, job)
    assert channel.handed(invoice.number) == 1


@pytest.mark.parametrize("name", LOOKS_FIRST)
def test_a_dead_job_the_owner_retries_after_its_hand_over_does_not_hand_it_over_again(
    shop: Shop, channel: Channel
) -> None:
    # The service took it, but its answer never came and the job died; `quittance retry`.
    invoice = shop.issue()
    [job] = jobs_of(shop, channel.kind, invoice)
    with shop.svc.store.engine.begin() as conn:
        conn.execute(jobs.update().where(jobs.c.id == job.id).values(state="dead"))
    assert shop.svc.store.requeue_job(job.id)
    shop.work()
    assert channel.handed(invoice.number) == 1


def test_the_owners_resend_hands_it_over_once_more(shop: Shop, channel: Channel) -> None:
    invoice = shop.issue()
    [row] = rows_of(shop, channel.kind, invoice)
    payload = {"to": row.target} if channel.kind == "email" else {"resend": True}
    # at once: the original's id, recorded on its delivery, is not taken for the resend's
    shop.svc.store.enqueue_delivery(channel.kind, invoice, payload, target=row.target)
    shop.work()
    assert channel.handed(invoice.number) == 2


# -- failures ----------------------------------------------------------------------------


def test_a_failure_a_later_attempt_gets_through_is_retried_and_logged_retrying(
    shop: Shop, channel: Channel
) -> None:
    channel.fail_for_a_while()
    invoice = shop.issue()
    [job] = jobs_of(shop, channel.kind, invoice)
    [row] = rows_of(shop, channel.kind, invoice)
    assert (job.state, row.status, channel.handed(invoice.number)) == ("retry", "retrying", 0)
    shop.retry_now()
    [row] = rows_of(shop, channel.kind, invoice)
    assert (row.status, channel.handed(invoice.number)) == ("sent", 1)


def test_refused_credentials_fail_the_delivery_for_good_saying_what_to_check(
    shop: Shop, channel: Channel
) -> None:
    channel.refuse_credentials()
    invoice = shop.issue()
    [job] = jobs_of(shop, channel.kind, invoice)
    [row] = rows_of(shop, channel.kind, invoice)
    if not channel.tells_refusals:  # apprise's False: retried until the give-up delay
        assert (job.state, row.status) == ("retry", "retrying")
        return
    assert (job.state, row.status) == ("dead", "failed")
    assert channel.refusal_hint in row.detail


def test_credentials_never_appear_in_the_log_the_rows_or_the_errors(
    shop: Shop, channel: Channel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the libraries' own loggers too (apprise, urllib3)
    with structlog.testing.capture_logs() as logged:
        channel.fail_for_a_while()
        first = shop.issue()
        channel.refuse_credentials()
        shop.retry_now()
        second = shop.issue()
    documents = (first, second)
    rows = [r for doc in documents for r in rows_of(shop, channel.kind, doc)]
    errors = [j.last_error or "" for doc in documents for j in jobs_of(shop, channel.kind, doc)]
    written = [f"{r.target} {r.detail} {r.external_id}" for r in rows]
    seen = " ".join([repr(logged), caplog.text, *written, *errors])
    assert [r.status for r in rows] == ["failed" if channel.tells_refusals else "retrying"] * 2
    assert channel.secret not in seen


def test_one_channels_outage_holds_back_and_repeats_no_other(name: str, tmp_path: Path) -> None:
    on = alongside(name)
    with running_shop(tmp_path, on=on) as shop:
        shop.channels[name].fail_for_a_while()
        invoice = shop.issue()
        shop.retry_now()
        handed = {n: shop.channels[n].handed(invoice.number) for n in on}
        assert handed == dict.fromkeys(on, 1)


def test_one_channels_failure_holds_back_no_other(name: str, tmp_path: Path) -> None:
    on = alongside(name)
    with running_shop(tmp_path, on=on) as shop:
        shop.channels[name].refuse_credentials()
        invoice = shop.issue()
        others = {n: shop.channels[n].handed(invoice.number) for n in on if n != name}
        assert others == dict.fromkeys(others, 1)
        assert shop.channels[name].handed(invoice.number) == 0


# -- on and off ------------------------------------------------------------------------


def test_nothing_is_handed_over_when_the_channel_is_off(name: str, tmp_path: Path) -> None:
    on = tuple(n for n in alongside(name) if n != name)
    with running_shop(tmp_path, on=on) as shop:
        invoice = shop.issue()
        channel = shop.channels[name]
        assert channel.handed(invoice.number) == 0
        assert all(r.status != "sent" for r in rows_of(shop, channel.kind, invoice))


def test_nothing_is_handed_over_when_the_channels_table_says_enabled_false(
    name: str, tmp_path: Path
) -> None:
    off = {"email": {"host": ""}} if name == "email" else {}
    with running_shop(tmp_path, on=alongside(name), changes={name: {"enabled": False}},
                      tables=off) as shop:  # fmt: skip
        invoice = shop.issue()
        assert shop.channels[name].handed(invoice.number) == 0


def test_a_credit_note_goes_the_same_way(shop: Shop, channel: Channel) -> None:
    invoice = shop.issue()
    then = STEPS.declared_follow_ups(shop.svc, "credit", Flow(SHOP, {}))
    half = (invoice.snapshot.totals.total_incl / 2).quantize(Decimal("0.01"))
    credit = Credit(source="manual:1", amount=half,
                    at=shop.svc.store.clock(), reason="Geste commercial")  # fmt: skip
    note = issue_credit(shop.svc, invoice, credit, then=then).invoice
    shop.work()
    assert channel.handed(note.number) == 1
    [row] = rows_of(shop, channel.kind, note)
    assert row.status == "sent"
