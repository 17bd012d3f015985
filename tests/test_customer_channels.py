"""The channels beyond email as the pipeline runs them: the text's short link to the
customer's documents, when a text is not sent (no mobile, the daily cap), a helpdesk with
nowhere to put the document, a service's Retry-After, and what the owner sees of it all."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
import time_machine
from typer.testing import CliRunner

from bridge.cli import app
from bridge.ops import doctor_checks, status_tables
from bridge.steps import STEPS, Flow
from bridge.store import InvoiceRecord
from bridge.store.schema import jobs
from bridge.web.app import create_app
from tests.contract.channels import SHOP, Shop, SmsChannel, ZendeskChannel, running_shop
from tests.support.portal import assert_private, path_of, visitor

CHANNEL_WORDS = ("sms", "zendesk", "intercom")
_SHORT = re.compile(r"https://\S+/l/\w+")
# The email harness's server asks for a password over plain TCP, as a local relay may.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    with running_shop(tmp_path, on=("email", "sms", "zendesk")) as running:
        yield running


def sms(shop: Shop) -> SmsChannel:
    channel = shop.channels["sms"]
    assert isinstance(channel, SmsChannel)
    return channel


def texted_link(shop: Shop, invoice: InvoiceRecord) -> str:
    [message] = [m for m in sms(shop).twilio.messages if invoice.number in m.body]
    found = _SHORT.search(message.body)
    assert found, message.body
    return path_of(found.group(0))


def sms_job_reason(shop: Shop, invoice: InvoiceRecord) -> tuple[str, str]:
    [job] = [j for j in shop.svc.store.list_jobs(("skipped", "done", "dead", "retry"))
             if j.kind == "sms" and j.invoice_id == invoice.id]  # fmt: skip
    return job.state, job.last_error or ""


# -- the text and its link ----------------------------------------------------------------


def test_a_text_names_the_document_and_its_amount_in_one_segment(shop: Shop) -> None:
    invoice = shop.issue()
    [message] = sms(shop).twilio.messages
    assert message.to == "+33612345678" and invoice.number in message.body
    assert message.num_segments == 1


def test_the_texted_link_opens_the_customers_documents(shop: Shop) -> None:
    invoice = shop.issue()
    browser = visitor(create_app(shop.svc))
    hop = browser.get(texted_link(shop, invoice))
    assert hop.status_code == 303 and "/portal/" in hop.headers["location"]
    assert_private(hop)
    page = browser.get(path_of(hop.headers["location"]))
    assert page.status_code == 200 and invoice.number in page.text


def test_a_short_code_that_is_not_ours_is_not_found(shop: Shop) -> None:
    answer = visitor(create_app(shop.svc)).get("/l/AAAAAAAAAA")
    assert answer.status_code == 404
    assert_private(answer)


def test_an_old_text_still_leads_to_the_page_that_sends_a_new_link(shop: Shop) -> None:
    invoice = shop.issue()
    link = texted_link(shop, invoice)
    past_expiry = timedelta(days=shop.svc.settings.portal.link_days + 1)
    with time_machine.travel(past_expiry, tick=True):
        browser = visitor(create_app(shop.svc))
        hop = browser.get(link)
        assert hop.status_code == 303
        assert browser.get(path_of(hop.headers["location"])).status_code == 410


def test_a_texted_link_is_forgotten_a_month_after_its_portal_link_expires(shop: Shop) -> None:
    invoice = shop.issue()
    link = texted_link(shop, invoice)
    long_after = timedelta(days=shop.svc.settings.portal.link_days + 31)
    with time_machine.travel(long_after, tick=True):
        shop.svc.store.erase_expired_customer_data()
        assert visitor(create_app(shop.svc)).get(link).status_code == 404


def test_revoking_the_customer_closes_the_texted_link_too(shop: Shop) -> None:
    invoice = shop.issue()
    shop.svc.store.revoke_customer_links(SHOP, invoice.snapshot.buyer.email)
    browser = visitor(create_app(shop.svc))
    hop = browser.get(texted_link(shop, invoice))
    assert browser.get(path_of(hop.headers["location"])).status_code == 410


# -- when no text goes ------------------------------------------------------------------


def test_an_order_with_a_landline_is_not_texted_and_says_why(shop: Shop) -> None:
    order = shop.order()
    landline = order.customer.model_copy(update={"phone": "04 72 00 00 00"})
    invoice = shop.issue(order.model_copy(update={"customer": landline}))
    state, reason = sms_job_reason(shop, invoice)
    assert state == "skipped" and "landline" in reason
    assert sms(shop).twilio.messages == []


def test_an_order_without_a_phone_is_not_texted(shop: Shop) -> None:
    order = shop.order()
    none = order.customer.model_copy(update={"phone": ""})
    invoice = shop.issue(order.model_copy(update={"customer": none}))
    assert sms_job_reason(shop, invoice)[0] == "skipped"


def cap_alerts(shop: Shop) -> int:
    return len([e for e in shop.svc.store.events_of_kind("alert")
                if str(e.detail.get("key", "")).startswith("sms-cap:")])  # fmt: skip


def test_texts_past_the_daily_cap_are_skipped_and_the_owner_told_once_that_day(
    tmp_path: Path,
) -> None:
    morning = datetime.now(UTC).replace(hour=9, minute=0)  # today, whatever today is
    with running_shop(tmp_path, on=("email", "sms"), changes={"sms": {"daily_cap": 1}}) as shop:
        with time_machine.travel(morning, tick=True):
            first, second = shop.issue(), shop.issue()
        with time_machine.travel(morning + timedelta(hours=3), tick=True):
            third = shop.issue()  # past the alerts' 60-minute dedupe window
        assert [sms_job_reason(shop, doc)[0] for doc in (first, second, third)] == [
            "done", "skipped", "skipped",
        ]  # fmt: skip
        assert "daily SMS cap" in sms_job_reason(shop, second)[1]
        assert len(sms(shop).twilio.messages) == 1
        assert cap_alerts(shop) == 1


def test_a_text_retried_after_a_failure_is_counted_once_against_the_cap(
    tmp_path: Path,
) -> None:
    with running_shop(tmp_path, on=("email", "sms"), changes={"sms": {"daily_cap": 2}}) as shop:
        sms(shop).twilio.fail_next(1, 503)
        retried = shop.issue()
        shop.retry_now()
        second = shop.issue()
        assert [sms_job_reason(shop, doc)[0] for doc in (retried, second)] == ["done", "done"]


def test_a_dead_text_job_retried_finds_its_text_before_the_cap_can_refuse_it(
    tmp_path: Path,
) -> None:
    with running_shop(tmp_path, on=("email", "sms"), changes={"sms": {"daily_cap": 1}}) as shop:
        texted = shop.issue()  # the day's one text
        shop.issue()  # refused at the cap
        [job] = [j for j in shop.svc.store.list_jobs(("done",))
                 if j.kind == "sms" and j.invoice_id == texted.id]  # fmt: skip
        with shop.svc.store.engine.begin() as conn:  # its answer was lost: dead, then retried
            conn.execute(jobs.update().where(jobs.c.id == job.id).values(state="dead"))
        assert shop.svc.store.requeue_job(job.id)
        shop.work()
        assert sms_job_reason(shop, texted)[0] == "done"
        assert len(sms(shop).twilio.messages) == 1


def test_a_text_refused_at_the_cap_leaves_the_days_count_as_it_was(shop: Shop) -> None:
    store = shop.svc.store
    day = "sms-cap:boutique:test-day"
    window = timedelta(days=1)
    assert store.count_once(f"{day}:job:1", day, 1, window)
    assert not store.count_once(f"{day}:job:2", day, 1, window)
    # the owner raises the cap to 2: one more text goes, the refused one did not use it
    assert store.count_once(f"{day}:job:3", day, 2, window)
    assert not store.count_once(f"{day}:job:4", day, 2, window)


def test_a_resend_waits_for_the_delivery_still_under_way(shop: Shop) -> None:
    sms(shop).twilio.fail_next(1, 503)
    invoice = shop.issue()  # its text waits for a retry
    shop.svc.store.enqueue_delivery("sms", invoice, {"resend": True}, target="+33612345678")
    shop.work()
    [resend] = [j for j in shop.svc.store.list_jobs(("retry",))
                if j.kind == "sms" and j.payload.get("resend")]  # fmt: skip
    assert "still under way" in (resend.last_error or "")
    shop.retry_now()  # the original goes, then the resend
    shop.retry_now()
    assert sum(invoice.number in m.body for m in sms(shop).twilio.messages) == 2


def test_a_customer_with_no_open_ticket_gets_no_note_and_the_owner_reads_why(
    shop: Shop,
) -> None:
    zendesk = shop.channels["zendesk"]
    assert isinstance(zendesk, ZendeskChannel)
    order = shop.order()
    for ticket in zendesk.zendesk.tickets_of(order.customer.email):
        zendesk.zendesk.set_status(ticket, "solved")
    invoice = shop.issue(order)
    [row] = [r for r in shop.svc.store.deliveries_for([invoice.id]) if r.channel == "zendesk"]
    assert row.status == "skipped" and "no open Zendesk ticket" in row.detail


def sms_retry_in(shop: Shop, asked: float) -> timedelta:
    """How long the queue waits before texting again after Twilio asked for `asked` s."""
    sms(shop).twilio.fail_next(1, 429, retry_after=asked)
    invoice = shop.issue()
    [job] = [j for j in shop.svc.store.list_jobs(("retry",)) if j.kind == "sms"]
    assert job.invoice_id == invoice.id
    return job.run_at - shop.svc.store.clock()


def test_a_service_asking_to_wait_is_not_asked_again_sooner(shop: Shop) -> None:
    # the suite's backoff starts at 60 s: Twilio's 300 s is what the queue waits
    assert sms_retry_in(shop, 300) >= timedelta(seconds=290)


def test_a_service_asking_for_ages_waits_no_longer_than_the_longest_backoff(shop: Shop) -> None:
    longest = timedelta(seconds=shop.svc.settings.jobs.backoff_max_seconds)
    assert sms_retry_in(shop, 1e12) <= longest


def quittance(shop: Shop, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "-c", str(shop.config)])
    structlog.reset_defaults()
    return result.exit_code, " ".join((result.output or "").split())


def test_a_text_skipped_past_the_cap_goes_when_the_owner_resends_it(tmp_path: Path) -> None:
    with running_shop(tmp_path, on=("email", "sms"), changes={"sms": {"daily_cap": 1}}) as shop:
        shop.issue()
        skipped = shop.issue()
        code, _ = quittance(shop, "resend", skipped.number, "--channel", "sms")
        shop.work()
        assert code == 0
        assert sum(skipped.number in m.body for m in sms(shop).twilio.messages) == 1


def test_deliveries_shows_a_reason_naming_a_table_as_written(
    tmp_path: Path, wide_consoles: None
) -> None:
    with running_shop(tmp_path, on=("email", "sms"), changes={"sms": {"daily_cap": 1}}) as shop:
        shop.issue()
        skipped = shop.issue()
        code, output = quittance(shop, "deliveries", "--number", skipped.number)
        assert code == 0 and "raise [[sms]] daily_cap" in output


def test_resending_on_a_channel_the_shop_does_not_use_says_which_table_is_missing(
    tmp_path: Path,
) -> None:
    with running_shop(tmp_path, on=("email",)) as shop:
        invoice = shop.issue()
        code, output = quittance(shop, "resend", invoice.number, "--channel", "sms")
        assert code == 2 and "[[sms]]" in output


def test_an_address_is_for_email_resends_only(shop: Shop) -> None:
    invoice = shop.issue()
    code, output = quittance(
        shop, "resend", invoice.number, "--channel", "zendesk", "--to", "a@b.fr"
    )
    assert code == 2 and "--to is for email" in output


# -- what is switched on and what the owner sees ------------------------------------------


def test_doctor_asks_each_gateway_and_helpdesk_who_we_are_and_sends_nothing(
    tmp_path: Path,
) -> None:
    with running_shop(tmp_path, on=("email", "sms", "zendesk", "intercom")) as shop:
        lines = {c.name: c for c in doctor_checks(shop.svc)}
        asked = {name: lines[name].ok for name in lines if name.split()[0] in CHANNEL_WORDS}
        assert asked == {"sms boutique (twilio)": True, "zendesk boutique": True,
                         "intercom boutique": True}  # fmt: skip
        assert sms(shop).twilio.messages == []


def test_doctor_says_which_keys_to_check_when_a_helpdesk_refuses_us(tmp_path: Path) -> None:
    with running_shop(tmp_path, on=("email", "zendesk")) as shop:
        shop.channels["zendesk"].refuse_credentials()
        [line] = [c for c in doctor_checks(shop.svc) if c.name == "zendesk boutique"]
        assert not line.ok and "[[helpdesks]]" in line.detail


def test_orders_brought_in_without_email_reach_no_customer_channel(shop: Shop) -> None:
    quiet = STEPS.declared_follow_ups(shop.svc, "render", Flow(SHOP, {"send_email": False}))
    loud = STEPS.declared_follow_ups(shop.svc, "render", Flow(SHOP, {}))
    assert [kind for kind, _ in quiet] == ["attach"]
    assert [kind for kind, _ in loud] == ["email", "sms", "zendesk", "attach"]


def test_status_counts_todays_deliveries_per_shop_and_channel(shop: Shop) -> None:
    shop.issue()
    [_shops, deliveries, _failures] = status_tables(shop.svc)
    table = deliveries.table
    channels = dict(zip(table.columns[1]._cells, table.columns[2]._cells, strict=True))
    assert channels == {"attach": "1", "email": "1", "sms": "1", "zendesk": "1"}
