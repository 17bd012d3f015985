"""`bridge.corrections` as the dashboard calls it: on a running shop (real SQLite, a real
WooCommerce sandbox and channel services), documents issued by the pipeline itself."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from bridge import corrections
from bridge.corrections import (
    CorrectionRefused,
    credit_document,
    find_document,
    parse_amount,
    parse_lines,
    remaining_to_credit,
    resend_channels,
    resend_document,
)
from bridge.store import InvoiceRecord, JobRecord
from tests.contract.channels import Shop, running_shop

# The email harness's server asks for a password over plain TCP, as a local relay may.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    with running_shop(tmp_path, on=("email",)) as running:
        yield running


def queued(shop: Shop, invoice: InvoiceRecord, kind: str = "email") -> list[JobRecord]:
    jobs = shop.svc.store.list_jobs(("pending",))
    return [j for j in jobs if j.kind == kind and j.invoice_id == invoice.id]


def without_address(shop: Shop) -> InvoiceRecord:
    order = shop.order()
    buyer = order.customer.model_copy(update={"email": ""})
    return shop.issue(order.model_copy(update={"customer": buyer}))


def test_resend_queues_one_email_delivery_to_the_buyer(shop: Shop) -> None:
    invoice = shop.issue()
    buyer = invoice.snapshot.buyer.email
    assert resend_document(shop.svc, invoice) == buyer
    [job] = queued(shop, invoice)
    assert job.payload == {"to": buyer}
    pending = [r for r in shop.svc.store.deliveries_for([invoice.id]) if r.status == "pending"]
    assert [(r.channel, r.target) for r in pending] == [("email", buyer)]


def test_resend_to_a_given_address_goes_there(shop: Shop) -> None:
    invoice = shop.issue()
    assert resend_document(shop.svc, invoice, to=" compta@example.fr ") == "compta@example.fr"
    [job] = queued(shop, invoice)
    assert job.payload == {"to": "compta@example.fr"}


def test_resend_of_a_document_without_an_address_is_refused_asking_for_one(shop: Shop) -> None:
    invoice = without_address(shop)
    with pytest.raises(CorrectionRefused) as refused:
        resend_document(shop.svc, invoice)
    assert refused.value.usage
    assert "no email address" in str(refused.value) and "(to)" in str(refused.value)
    assert queued(shop, invoice) == []


def test_resend_on_an_unconfigured_channel_is_refused_naming_its_table(shop: Shop) -> None:
    invoice = shop.issue()
    with pytest.raises(CorrectionRefused, match=r"\[\[sms\]\]") as refused:
        resend_document(shop.svc, invoice, "sms")
    assert refused.value.usage
    with pytest.raises(CorrectionRefused, match=r"zendesk \[\[helpdesks\]\]"):
        resend_document(shop.svc, invoice, "zendesk")
    assert queued(shop, invoice, "sms") == queued(shop, invoice, "zendesk") == []


def test_resend_channels_lists_only_the_configured_channels(tmp_path: Path) -> None:
    with running_shop(tmp_path, on=("email", "sms", "intercom")) as shop:
        invoice = shop.issue()
        assert resend_channels(shop.svc, invoice) == ["email", "sms", "intercom"]


def test_an_unknown_number_is_refused_naming_it(shop: Shop) -> None:
    with pytest.raises(CorrectionRefused, match="FA-1999-000001") as refused:
        find_document(shop.svc, "FA-1999-000001")
    assert refused.value.usage


def test_credit_in_full_issues_a_credit_note_for_what_is_left(shop: Shop) -> None:
    invoice = shop.issue()
    credit_document(shop.svc, invoice, reason="Geste", amount="1,50")
    left = remaining_to_credit(shop.svc, invoice)
    assert left == invoice.snapshot.totals.total_incl - Decimal("1.50")
    done = credit_document(shop.svc, invoice, reason="Retour complet")
    [note] = done.documents
    assert note.kind == "credit_note" and note.snapshot.credited_number == invoice.number
    assert note.snapshot.totals.total_incl == left and done.warnings == []
    assert remaining_to_credit(shop.svc, invoice) == 0


def test_credit_of_an_amount_over_what_is_left_is_refused(shop: Shop) -> None:
    invoice = shop.issue()
    beyond = remaining_to_credit(shop.svc, invoice) + Decimal("0.01")
    with pytest.raises(CorrectionRefused, match="would exceed it") as refused:
        credit_document(shop.svc, invoice, reason="Geste", amount=beyond)
    assert not refused.value.usage and refused.value.documents == []
    assert shop.svc.store.credit_notes_of(invoice.id) == []


def test_an_amount_that_is_not_a_number_is_refused_naming_the_field(shop: Shop) -> None:
    invoice = shop.issue()
    with pytest.raises(CorrectionRefused, match="amount '12,5x' is not a number") as refused:
        credit_document(shop.svc, invoice, reason="Geste", amount="12,5x")
    assert refused.value.usage


def test_credit_of_a_credit_note_is_refused_naming_its_invoice(shop: Shop) -> None:
    invoice = shop.issue()
    [note] = credit_document(shop.svc, invoice, reason="Geste", amount="2").documents
    with pytest.raises(CorrectionRefused) as refused:
        credit_document(shop.svc, note, reason="Encore")
    assert "not an invoice" in str(refused.value) and invoice.number in str(refused.value)
    assert remaining_to_credit(shop.svc, note) == 0
    assert len(shop.svc.store.credit_notes_of(invoice.id)) == 1


# --------------------------------------------------------------------------- request ids

REQUEST_ID = "Zx3_kQ9-vT2mLp8sWb4nYa"  # as the dashboard's secrets.token_urlsafe(16)


def test_a_credit_with_a_request_id_takes_it_as_its_source(shop: Shop) -> None:
    invoice = shop.issue()
    [note] = credit_document(
        shop.svc, invoice, reason="Geste", amount="2", request_id=REQUEST_ID
    ).documents
    assert note.source == f"manual:{REQUEST_ID}"


def test_a_credit_asked_again_with_its_request_id_answers_with_the_first_note(
    shop: Shop,
) -> None:
    invoice = shop.issue()
    first = credit_document(shop.svc, invoice, reason="Geste", amount="2", request_id=REQUEST_ID)
    again = credit_document(shop.svc, invoice, reason="Geste", amount="2", request_id=REQUEST_ID)
    assert [d.number for d in again.documents] == [d.number for d in first.documents]
    assert again.repeated and not first.repeated
    assert len(shop.svc.store.credit_notes_of(invoice.id)) == 1


def test_a_request_sent_twice_at_once_answers_with_the_note_the_first_issued(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoice = shop.issue()
    [first] = credit_document(
        shop.svc, invoice, reason="Geste", amount="2", request_id=REQUEST_ID
    ).documents
    # The second, at once: it looked before the first was committed, and found nothing.
    monkeypatch.setattr(corrections, "_issued_by", lambda *_: None)
    again = credit_document(shop.svc, invoice, reason="Geste", amount="2", request_id=REQUEST_ID)
    assert [d.number for d in again.documents] == [first.number] and again.repeated
    assert len(shop.svc.store.credit_notes_of(invoice.id)) == 1


def test_credits_without_a_request_id_are_each_a_credit_of_their_own(shop: Shop) -> None:
    invoice = shop.issue()
    for _ in range(2):
        credit_document(shop.svc, invoice, reason="Geste", amount="1")
    notes = shop.svc.store.credit_notes_of(invoice.id)
    assert sorted(n.source for n in notes) == ["manual:1", "manual:2"]


@pytest.mark.parametrize("request_id", ["3", "1" * 22, "short", "a b" * 8], ids=repr)
def test_a_request_id_the_dashboard_does_not_make_is_refused(shop: Shop, request_id: str) -> None:
    invoice = shop.issue()
    with pytest.raises(CorrectionRefused, match="form has expired") as refused:
        credit_document(shop.svc, invoice, reason="Geste", amount="1", request_id=request_id)
    assert refused.value.usage
    assert shop.svc.store.credit_notes_of(invoice.id) == []


def test_a_resend_asked_again_with_its_request_id_queues_nothing_more(shop: Shop) -> None:
    invoice = shop.issue()
    for _ in range(2):
        assert resend_document(shop.svc, invoice, request_id=REQUEST_ID) == (
            invoice.snapshot.buyer.email
        )
    assert len(queued(shop, invoice)) == 1
    pending = [r for r in shop.svc.store.deliveries_for([invoice.id]) if r.status == "pending"]
    assert len(pending) == 1


def test_resends_without_a_request_id_each_queue_one(shop: Shop) -> None:
    invoice = shop.issue()
    for _ in range(2):
        resend_document(shop.svc, invoice)
    assert len(queued(shop, invoice)) == 2


# --------------------------------------------------------------------------- what is typed


@pytest.mark.parametrize(
    "typed", ["9" * 400, "12345678901", "１２", "٣", "+5", "-5", "1.000,50", "1e3", "NaN"],
    ids=repr,
)  # fmt: skip
def test_an_amount_that_is_not_one_a_person_types_is_refused_as_not_a_number(typed: str) -> None:
    with pytest.raises(CorrectionRefused, match=r"is not a number such as 12\.50") as refused:
        parse_amount(typed)
    assert refused.value.usage


def test_an_amount_of_ten_digits_before_the_point_is_still_one() -> None:
    assert parse_amount("9999999999,99") == Decimal("9999999999.99")


def test_a_line_quantity_of_400_digits_is_refused_as_not_a_number() -> None:
    with pytest.raises(CorrectionRefused, match=r"lines quantity .* is not a number"):
        parse_lines("1:" + "9" * 400)


@pytest.mark.parametrize("typed", ["²", "9" * 5000], ids=["superscript", "5000-digits"])
def test_a_line_number_that_is_not_one_is_refused_naming_the_field(typed: str) -> None:
    with pytest.raises(CorrectionRefused, match="each entry is a line number"):
        parse_lines(typed)


def test_a_reason_over_200_characters_is_refused_naming_the_field(shop: Shop) -> None:
    invoice = shop.issue()
    with pytest.raises(CorrectionRefused, match="reason is 201 characters long") as refused:
        credit_document(shop.svc, invoice, reason="x" * 201)
    assert refused.value.usage
    assert shop.svc.store.credit_notes_of(invoice.id) == []


def test_a_resend_address_over_254_characters_is_refused_naming_the_field(shop: Shop) -> None:
    invoice = shop.issue()
    to = "a" * 245 + "@example.fr"
    with pytest.raises(CorrectionRefused, match="to is 256 characters long") as refused:
        resend_document(shop.svc, invoice, to=to)
    assert refused.value.usage
    assert queued(shop, invoice) == []
