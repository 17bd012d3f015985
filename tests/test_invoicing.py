"""Issuing is pure: order + seller + number → snapshot. These tests read like the rules."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config import load_settings
from bridge.demo import DEMO_CONFIG, SAMPLES_DIR
from bridge.invoicing.amounts import cents, check_order
from bridge.invoicing.build import IssueFacts, Numbering, OrderNotInvoiceable, build_invoice
from bridge.invoicing.cases import sample_eur_rate
from bridge.invoicing.mentions import LegalTerms
from bridge.model import Address, Line, Order, Party, Payment, TaxLine

D = Decimal
ISSUED = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
NUMBERING = Numbering(series="FA", number="FA-2026-000001", sequence=1)


@pytest.fixture(scope="module")
def seller():
    return load_settings(DEMO_CONFIG, environ={}).seller


def sample(name: str) -> Order:
    return Order.model_validate_json((SAMPLES_DIR / name).read_bytes())


def make_order(lines: list[Line], *, total: Decimal | None = None, **extra) -> Order:
    incl = sum((cents(ln.total) + cents(ln.tax) for ln in lines), D(0))
    tax = sum((cents(ln.tax) for ln in lines), D(0))
    fields = dict(
        shop="t",
        order_id="1",
        created_at=ISSUED,
        customer=Party(first_name="Ana", last_name="Silva", billing=Address(city="Paris")),
        lines=lines,
        total=incl if total is None else total,
        total_tax=tax,
        payment=Payment(method="stripe", paid_at=ISSUED, transaction_ref="ch_1"),
    )
    fields.update(extra)
    return Order(**fields)


def vat_line(name: str, excl: str, rate: str, qty: str = "1", discount: str = "0") -> Line:
    base = D(excl) - D(discount)
    return Line(
        name=name,
        quantity=D(qty),
        subtotal=D(excl),
        discount=D(discount),
        taxes=[TaxLine(rate=D(rate), amount=cents(base * D(rate) / 100))],
    )


def test_two_rates_coupon_and_shipping_add_up_to_what_the_customer_paid(seller) -> None:
    snap = build_invoice(sample("01_fr_b2c_card_coupon.json"), seller, NUMBERING, issued_at=ISSUED)
    by_rate = {b.rate: (b.base, b.amount) for b in snap.vat_breakdown}
    assert by_rate == {D("20"): (D("41.00"), D("8.20")), D("5.5"): (D("21.60"), D("1.19"))}
    assert snap.totals.total_excl == D("62.60")
    assert snap.totals.total_vat == D("9.39")
    assert snap.totals.total_incl == D("71.99") == snap.totals.amount_paid
    assert snap.totals.amount_due == D("0")
    assert snap.totals.discount_excl == D("6.40")
    assert [ln.kind for ln in snap.lines] == ["product", "product", "shipping"]
    assert snap.lines[0].unit_price_excl == D("8.00")
    assert snap.lines[0].description == "Tisane verveine bio — Format : 100 g"


def test_unit_price_excl_is_rounded_half_up_at_the_fourth_decimal(seller) -> None:
    line = Line(
        name="x", quantity=D(32), subtotal=D("1.00"), taxes=[TaxLine(rate=D(20), amount=D("0.20"))]
    )
    snap = build_invoice(make_order([line]), seller, NUMBERING, issued_at=ISSUED)
    assert snap.lines[0].unit_price_excl == D("0.0313")  # 0.03125 → 0.0313, not banker's 0.0312


def test_totals_that_do_not_add_up_are_refused_with_the_figures(seller) -> None:
    with pytest.raises(OrderNotInvoiceable) as err:
        build_invoice(sample("06_bad_totals.json"), seller, NUMBERING, issued_at=ISSUED)
    message = str(err.value)
    assert "90.00" in message and "100.00" in message


def test_a_line_whose_vat_does_not_match_its_rate_is_refused() -> None:
    wrong = Line(name="Vase", subtotal=D("50.00"), taxes=[TaxLine(rate=D(20), amount=D("5.00"))])
    problems = check_order(make_order([wrong]))
    assert any("Vase" in str(p) and "expected 10.00" in str(p) for p in problems)


def test_one_cent_per_line_is_tolerated_and_shown_as_a_rounding_line(seller) -> None:
    lines = [vat_line("a", "10.00", "20"), vat_line("b", "10.00", "20")]
    order = make_order(lines, total=D("24.01"))
    snap = build_invoice(order, seller, NUMBERING, issued_at=ISSUED)
    assert snap.totals.total_incl == D("24.01") == snap.totals.amount_paid
    assert snap.lines[-1].description == "Arrondi" and snap.lines[-1].total_incl == D("0.01")
    assert sum(b.base for b in snap.vat_breakdown) == snap.totals.total_excl


def test_zero_total_order_gets_an_invoice(seller) -> None:
    snap = build_invoice(sample("05_fr_free_order.json"), seller, NUMBERING, issued_at=ISSUED)
    assert snap.totals.total_incl == D("0.00") and snap.totals.amount_due == 0


def test_franchise_seller_cannot_invoice_vat_and_carries_293b(seller) -> None:
    franchise = seller.model_copy(update={"vat_regime": "franchise"})
    with pytest.raises(OrderNotInvoiceable, match="293 B"):
        build_invoice(
            make_order([vat_line("a", "10", "20")]), franchise, NUMBERING, issued_at=ISSUED
        )
    untaxed = make_order([Line(name="Cours", subtotal=D("30.00"))])
    snap = build_invoice(untaxed, franchise, NUMBERING, issued_at=ISSUED)
    assert "TVA non applicable, art. 293 B du CGI" in snap.mentions
    assert snap.totals.total_vat == 0


def test_b2b_buyer_gets_identity_and_payment_terms(seller) -> None:
    snap = build_invoice(
        sample("02_fr_b2b_bank_transfer.json"), seller, NUMBERING, issued_at=ISSUED
    )
    assert snap.buyer.is_business and snap.buyer.siren == "552100554"
    assert "Indemnité forfaitaire pour frais de recouvrement : 40 €" in snap.mentions
    assert snap.nature == "both"
    assert snap.payment.method_label == "virement bancaire"


def test_delivery_address_only_when_it_differs(seller) -> None:
    gift = build_invoice(sample("01_fr_b2c_card_coupon.json"), seller, NUMBERING, issued_at=ISSUED)
    assert "38000 Grenoble" in gift.buyer.shipping_lines
    same = make_order(
        [vat_line("a", "10", "20")],
        customer=Party(
            first_name="A", billing=Address(city="Paris"), shipping=Address(city="Paris")
        ),
    )
    assert build_invoice(same, seller, NUMBERING, issued_at=ISSUED).buyer.shipping_lines == []


def test_language_follows_the_customer_then_the_shop(seller) -> None:
    order = sample("03_ie_b2c_usd_paypal.json")
    rate = sample_eur_rate(order.payment.paid_at.date())
    usd = build_invoice(order, seller, NUMBERING, issued_at=ISSUED, facts=IssueFacts(eur_rate=rate))
    assert usd.locale == "en" and usd.currency == "USD"
    assert usd.totals.shop_currency_total_incl == D("77.42")
    assert (
        build_invoice(
            make_order([vat_line("a", "1", "20")]), seller, NUMBERING, issued_at=ISSUED
        ).locale
        == "fr"
    )


def test_issue_and_payment_dates_are_local_to_the_seller(seller) -> None:
    new_year_utc = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # already 2027 in Paris
    order = make_order([vat_line("a", "1", "20")], payment=Payment(paid_at=new_year_utc))
    snap = build_invoice(order, seller, NUMBERING, issued_at=new_year_utc)
    assert str(snap.issue_date) == "2027-01-01" and str(snap.payment.paid_on) == "2027-01-01"
    assert snap.issued_at == new_year_utc


def test_snapshot_is_frozen_and_round_trips_through_canonical_json(seller) -> None:
    snap = build_invoice(sample("01_fr_b2c_card_coupon.json"), seller, NUMBERING, issued_at=ISSUED)
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError on frozen
        snap.number = "other"  # type: ignore[misc]
    again = type(snap).from_json(snap.canonical_json())
    assert again == snap and again.canonical_json() == snap.canonical_json()


RATES = st.sampled_from(["0", "2.1", "5.5", "10", "20"])
AMOUNTS = st.decimals(min_value=D("0"), max_value=D("5000"), places=2)


@st.composite
def random_lines(draw) -> list[Line]:
    lines = []
    for i in range(draw(st.integers(min_value=1, max_value=12))):
        excl = draw(AMOUNTS)
        discount = draw(st.decimals(min_value=D("0"), max_value=excl, places=2))
        qty = draw(st.integers(min_value=1, max_value=20))
        lines.append(vat_line(f"item {i}", str(excl), draw(RATES), str(qty), str(discount)))
    return lines


@settings(max_examples=200, deadline=None)
@given(lines=random_lines())
def test_property_totals_add_up_to_the_cent(lines: list[Line]) -> None:
    seller = load_settings(DEMO_CONFIG, environ={}).seller
    order = make_order(lines)
    exempt = LegalTerms(vat_exemption="Exonération de TVA, art. 261-4-4° a du CGI")  # 0 % drawn
    snap = build_invoice(order, seller, NUMBERING, issued_at=ISSUED, terms=exempt)
    totals = snap.totals
    assert totals.total_excl + totals.total_vat == totals.total_incl == order.total
    assert sum(b.amount for b in snap.vat_breakdown) == totals.total_vat
    assert sum(ln.total_incl for ln in snap.lines) == totals.total_incl


def test_every_bundled_sample_is_a_valid_order() -> None:
    names = sorted(p.name for p in Path(SAMPLES_DIR).glob("*.json"))
    assert len(names) >= 6
    for name in names:
        sample(name)
