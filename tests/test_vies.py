"""The intra-EU exemption rests on a VAT number VIES confirmed, in the running pipeline.

A local VIES (bridge/vies_sandbox.py) answers real SOAP over HTTP, read by the client the
application uses; orders go through the real job queue on SQLite. Time is the store's clock,
moved by the tests: nothing waits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.config import load_settings
from bridge.invoicing import cases
from bridge.invoicing.legal import check_invoice, check_invoice_text
from bridge.invoicing.mentions import VIES_CHECK
from bridge.invoicing.snapshot import InvoiceSnapshot
from bridge.model import Order
from bridge.pipeline import submit_order
from bridge.render.pdf_check import pdf_text
from bridge.services import Services
from bridge.store import JobRecord
from bridge.vies_sandbox import Check, ViesSandbox
from bridge.worker import work
from tests.support.clock import Clock
from tests.support.config import write_config

SELLER_VAT = "FR44732829320"  # the demo seller's, the requester of every check
CONFIRMED = "DE136695976"
NOT_REGISTERED = "DE811907980"  # checksum-valid, unknown to VIES
MADE_UP = "DE136695977"  # fails its checksum
MAX_WAIT_HOURS = 24


@pytest.fixture
def vies() -> Iterator[ViesSandbox]:
    with ViesSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(tmp_path: Path, vies: ViesSandbox, clock: Clock) -> Iterator[Services]:
    config = write_config(
        tmp_path / "quittance.toml",
        # the job must outlive VIES's patience, so that quarantine (not "dead") ends the wait
        jobs={"give_up_after_hours": 2 * MAX_WAIT_HOURS},
        vies={"wsdl_url": vies.wsdl_url, "timeout_seconds": 5, "max_wait_hours": MAX_WAIT_HOURS},
    )
    services = Services.from_settings(load_settings(config, environ={}), clock=clock)
    try:
        yield services
    finally:
        services.close()


def intra_eu(vat_number: str, order_id: str = "4001") -> Order:
    """The German company's order of the preview case, without VAT, under `vat_number`."""
    order = cases.intra_eu_order()
    customer = order.customer.model_copy(update={"vat_number": vat_number})
    return order.model_copy(
        update={"order_id": order_id, "reference": f"#{order_id}", "customer": customer}
    )


def issue_job(svc: Services) -> JobRecord:
    states = ("pending", "retry", "done", "skipped", "dead")
    [job] = [j for j in svc.store.list_jobs(states) if j.kind == "issue"]
    return job


def quarantine_reason(svc: Services) -> str:
    [held] = svc.store.list_quarantined()
    return held.reason or ""


def test_a_number_vies_confirms_gets_the_exemption_and_its_proof_in_the_snapshot(
    svc: Services, vies: ViesSandbox, clock: Clock
) -> None:
    vies.valid(CONFIRMED, name="Teehaus Schmidt GmbH", address="Hauptstraße 12, 10115 Berlin")
    submit_order(svc, intra_eu(CONFIRMED))
    before = clock()
    work(svc, once=True)
    after = clock()
    [invoice] = svc.store.iter_invoices()
    check = invoice.snapshot.vat_check
    assert check is not None and check.valid and check.number == CONFIRMED
    assert check.consultation_number.startswith("WAPI")
    assert before <= check.checked_at <= after
    assert check.name == "Teehaus Schmidt GmbH"
    assert "vat_reverse_charge" in invoice.snapshot.legal
    assert vies.checks == [Check("checkVatApprox", CONFIRMED, SELLER_VAT)]  # one answer


def test_the_consultation_number_and_date_are_printed_beside_the_reverse_charge(
    svc: Services, vies: ViesSandbox
) -> None:
    vies.valid(CONFIRMED)
    submit_order(svc, intra_eu(CONFIRMED))
    work(svc, once=True)
    [invoice] = svc.store.iter_invoices()
    check = invoice.snapshot.vat_check
    assert check is not None and invoice.pdf_sha256
    proof = invoice.snapshot.legal[VIES_CHECK]
    assert check.consultation_number in proof and "VIES" in proof
    mentions = invoice.snapshot.mentions
    assert mentions.index(proof) == mentions.index(invoice.snapshot.legal["vat_reverse_charge"]) + 2
    printed = " ".join(pdf_text(svc.archive.read(invoice.pdf_sha256)).split())
    assert check.consultation_number in printed


def test_a_checksum_valid_number_vies_says_invalid_is_quarantined_as_vat_due(
    svc: Services, vies: ViesSandbox
) -> None:
    vies.invalid(NOT_REGISTERED)
    submit_order(svc, intra_eu(NOT_REGISTERED))
    work(svc, once=True)
    assert list(svc.store.iter_invoices()) == []
    reason = quarantine_reason(svc)
    assert "vat_exemption" in reason and "VAT is due" in reason
    assert f"VIES does not confirm the buyer's VAT number {NOT_REGISTERED}" in reason
    assert vies.asked() == [NOT_REGISTERED]


def test_a_number_vies_refuses_as_input_is_quarantined_as_vat_due(
    svc: Services, vies: ViesSandbox
) -> None:
    vies.fault(NOT_REGISTERED, "INVALID_INPUT")
    submit_order(svc, intra_eu(NOT_REGISTERED))
    work(svc, once=True)
    assert list(svc.store.iter_invoices()) == []
    assert "VAT is due" in quarantine_reason(svc)


def test_vies_unavailable_is_transient_the_job_retries_and_no_number_is_taken(
    svc: Services, vies: ViesSandbox, clock: Clock
) -> None:
    vies.unavailable(CONFIRMED)
    submit_order(svc, intra_eu(CONFIRMED))
    work(svc, once=True)
    job = issue_job(svc)
    assert job.state == "retry" and "MS_UNAVAILABLE" in (job.last_error or "")
    assert CONFIRMED in (job.last_error or "")
    assert list(svc.store.iter_invoices()) == [] and svc.store.list_quarantined() == []

    vies.valid(CONFIRMED)  # the member state answers again
    clock.advance(seconds=(job.run_at - clock()).total_seconds() + 1)
    work(svc, once=True)
    [invoice] = svc.store.iter_invoices()
    assert invoice.sequence == 1 and invoice.snapshot.vat_check is not None
    assert vies.asked() == [CONFIRMED, CONFIRMED]


def test_an_http_error_from_vies_is_transient(svc: Services, vies: ViesSandbox) -> None:
    vies.broken(CONFIRMED)
    submit_order(svc, intra_eu(CONFIRMED))
    work(svc, once=True)
    job = issue_job(svc)
    assert job.state == "retry" and "HTTP 500" in (job.last_error or "")
    assert list(svc.store.iter_invoices()) == []


def test_vies_still_unavailable_after_max_wait_quarantines_the_order_with_the_reason(
    svc: Services, vies: ViesSandbox, clock: Clock
) -> None:
    vies.unavailable(CONFIRMED)
    submit_order(svc, intra_eu(CONFIRMED))
    work(svc, once=True)
    clock.advance(hours=MAX_WAIT_HOURS + 1)
    work(svc, once=True)
    assert list(svc.store.iter_invoices()) == []
    assert issue_job(svc).state == "skipped"
    reason = quarantine_reason(svc)
    assert f"VIES cannot confirm the buyer's VAT number {CONFIRMED}" in reason
    assert "MS_UNAVAILABLE" in reason and "still so after" in reason


def test_a_checksum_invalid_number_is_refused_without_calling_vies(
    svc: Services, vies: ViesSandbox
) -> None:
    submit_order(svc, intra_eu(MADE_UP))
    work(svc, once=True)
    assert "VAT is due" in quarantine_reason(svc)
    assert vies.requests == []  # not even the WSDL


def _french_untaxed() -> Order:
    order = cases.b2b_order()  # a French company, FR VAT number
    lines = [cases._line("Cours", "40.00", "0")]
    return cases._order("4002", order.customer, lines)


def _german_business_charged_vat() -> Order:
    lines = [cases._line("Théière en fonte « Kyoto »", "48.00", "20", sku="THE-KYO-08")]
    return cases._order("4003", intra_eu(CONFIRMED).customer, lines)


@pytest.mark.parametrize(
    ("make", "outcome"),
    [(_french_untaxed, "skipped"), (_german_business_charged_vat, "done")],
    ids=["french-buyer-untaxed", "eu-business-charged-vat"],
)
def test_a_french_or_vat_charged_order_never_calls_vies(
    svc: Services, vies: ViesSandbox, make, outcome: str
) -> None:
    submit_order(svc, make())
    work(svc, once=True)
    assert issue_job(svc).state == outcome  # quarantined (0 % in France) or issued, no VIES
    assert vies.requests == []


def _issued_before_vies_checks() -> InvoiceSnapshot:
    snap = cases.case_snapshot("intra_eu")
    proof = snap.legal[VIES_CHECK]
    legal = {rule: text for rule, text in snap.legal.items() if rule != VIES_CHECK}
    mentions = [text for text in snap.mentions if text != proof]
    return snap.model_copy(update={"vat_check": None, "legal": legal, "mentions": mentions})


def test_an_intra_eu_invoice_issued_before_vies_checks_is_reported_as_lacking_the_proof() -> None:
    old = _issued_before_vies_checks()
    assert '"vat_check"' not in old.canonical_json()  # as such invoices were hashed
    assert [m.rule for m in check_invoice(old)] == ["vat_exemption"]
    report = check_invoice_text(old)
    assert "issued before VIES checks" in report and "nothing to re-issue" in report
