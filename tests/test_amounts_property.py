"""Amounts the way platforms really send them, checked on random orders (hypothesis).

Platforms send prices incl. VAT (most French shops) or excl. VAT, with the tax amount of each
line already rounded: those per-line amounts are the truth. The connector derives the line's
excl. VAT amount (gross - tax); we derive the unit price excl. VAT (ROUND_HALF_UP to the cent,
per line) and every total is a sum of rounded line amounts, so the invoice's total is what the
customer paid, to the cent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.invoicing import cases
from bridge.invoicing.amounts import cents, check_order, unit_price_excl
from bridge.invoicing.build import IssueFacts, Numbering, build_invoice
from bridge.invoicing.legal import check_invoice
from bridge.invoicing.mentions import LegalTerms
from bridge.model import Address, Coupon, Line, LineKind, Order, Party, Payment, Refund, TaxLine

D = Decimal
ISSUED = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
NUMBERING = Numbering(series="FA", number="FA-2026-000001", sequence=1)
SELLER = cases.company_seller()
RATES = [D("20"), D("10"), D("5.5"), D("2.1"), D("0")]
MONEY = st.decimals(min_value=D("0"), max_value=D("2000"), places=2)

# The random orders draw 0 % lines among the rest: a French 0 % line needs the owner's stated
# exemption (tested on its own in test_fiscal_rules.py); here the figures are under test.
EXEMPT_TERMS = LegalTerms(vat_exemption="Exonération de TVA, art. 261-4-4° a du CGI")


def platform_line(
    gross_unit: Decimal,
    qty: int,
    rate: Decimal,
    gross_discount: Decimal,
    *,
    incl: bool,
    kind: LineKind = LineKind.product,
) -> Line:
    """A line as a connector maps it: platform-rounded tax, amounts excl. VAT."""
    if incl:
        gross_sub = gross_unit * qty
        gross = gross_sub - gross_discount
        tax = cents(gross * rate / (100 + rate))
        total_excl = gross - tax
        subtotal = max(cents(gross_sub * 100 / (100 + rate)), total_excl)
    else:
        subtotal = gross_unit * qty
        total_excl = subtotal - gross_discount
        tax = cents(total_excl * rate / 100)
    return Line(
        kind=kind,
        name=f"{kind.value} {gross_unit}",
        quantity=D(qty),
        subtotal=subtotal,
        discount=subtotal - total_excl,
        taxes=[TaxLine(rate=rate, amount=tax)] if rate else [],
    )


@st.composite
def platform_orders(draw) -> Order:
    incl = draw(st.booleans())
    lines = []
    coupon_total = D(0)
    coupon_share = draw(st.sampled_from([D(0), D("0.1"), D("0.25"), D(1)]))  # 1 = free order
    for _ in range(draw(st.integers(min_value=1, max_value=10))):
        unit = draw(MONEY)
        qty = draw(st.integers(min_value=1, max_value=12))
        # a coupon spread over the lines, proportionally, rounded per line
        discount = (unit * qty * coupon_share).quantize(D("0.01"), rounding=ROUND_HALF_UP)
        coupon_total += discount
        lines.append(platform_line(unit, qty, draw(st.sampled_from(RATES)), discount, incl=incl))
    if draw(st.booleans()):  # shipping, taxed at the main rate
        lines.append(
            platform_line(draw(MONEY), 1, D("20"), D(0), incl=incl, kind=LineKind.shipping)
        )
    if draw(st.booleans()):  # a fee
        lines.append(platform_line(draw(MONEY), 1, D("20"), D(0), incl=incl, kind=LineKind.fee))
    total = sum((cents(ln.total) + cents(ln.tax) for ln in lines), D(0))
    refund = draw(st.decimals(min_value=D(0), max_value=total, places=2)) if total else D(0)
    return Order(
        shop="t",
        order_id="1",
        created_at=ISSUED,
        currency=draw(st.sampled_from(["EUR", "USD", "GBP", "CHF"])),
        prices_include_tax=incl,
        customer=Party(first_name="Ana", last_name="Silva", billing=Address(city="Paris")),
        lines=lines,
        coupons=[Coupon(code="PROMO", amount=coupon_total)] if coupon_total else [],
        total=total,
        total_tax=sum((cents(ln.tax) for ln in lines), D(0)),
        refunds=[Refund(amount=refund)] if refund else [],
        payment=Payment(method="stripe", paid_at=ISSUED),
    )


def eur_facts(order: Order) -> IssueFacts:
    """The sample ECB rate the issue step would hand in for an order in another currency."""
    if order.currency == "EUR":
        return IssueFacts()
    return IssueFacts(eur_rate=cases.sample_eur_rate(order.payment.paid_at.date(), order.currency))


@settings(max_examples=300, deadline=None)
@given(order=platform_orders())
def test_random_platform_orders_add_up_to_what_the_customer_paid(order: Order) -> None:
    assert check_order(order) == []
    snap = build_invoice(
        order, SELLER, NUMBERING, issued_at=ISSUED, terms=EXEMPT_TERMS, facts=eur_facts(order)
    )
    t = snap.totals
    assert t.total_excl + t.total_vat == t.total_incl == order.total == t.amount_paid
    assert sum(b.amount for b in snap.vat_breakdown) == t.total_vat
    assert sum(b.base for b in snap.vat_breakdown) == t.total_excl
    assert sum(ln.total_incl for ln in snap.lines) == t.total_incl
    assert t.amount_due == 0 and t.refunded == sum(r.amount for r in order.refunds)
    assert all(ln.vat_amount == cents(ln.vat_amount) for ln in snap.lines)  # never re-rounded
    for line, src in zip(snap.lines, order.lines, strict=True):
        assert line.vat_amount == src.tax  # the platform's per-line tax is the truth
        assert line.unit_price_excl == (src.subtotal / src.quantity).quantize(
            D("0.0001"), rounding=ROUND_HALF_UP
        )
    assert check_invoice(snap) == []


@settings(max_examples=100, deadline=None)
@given(order=platform_orders(), siren=st.just("552100554"))
def test_random_b2b_orders_are_legally_complete(order: Order, siren: str) -> None:
    b2b = order.model_copy(
        update={
            "customer": order.customer.model_copy(
                update={"company": "Bistrot SARL", "siren": siren, "vat_number": "FR96552100554"}
            )
        }
    )
    snap = build_invoice(
        b2b, SELLER, NUMBERING, issued_at=ISSUED, terms=EXEMPT_TERMS, facts=eur_facts(b2b)
    )
    assert check_invoice(snap) == []
    assert "Indemnité forfaitaire pour frais de recouvrement : 40 €" in snap.mentions


def test_unit_price_derived_from_a_price_incl_vat_rounds_half_up() -> None:
    # 3 × 8,44 € TTC at 5,5 %: tax 1,32 → 24,00 € HT → 8,00 € per unit
    line = platform_line(D("8.44"), 3, D("5.5"), D(0), incl=True)
    assert (line.total, line.tax, unit_price_excl(line)) == (D("24.00"), D("1.32"), D("8.00"))
    # 0,03125 per unit → 0,0313 (half up at the fourth decimal), never the banker's 0,0312
    odd = Line(name="x", quantity=D(32), subtotal=D("1.00"))
    assert unit_price_excl(odd) == D("0.0313")


def test_a_free_order_gets_a_receipted_invoice_of_zero() -> None:
    line = platform_line(D("25.00"), 1, D("20"), D("25.00"), incl=True)
    order = Order(
        shop="t",
        order_id="1",
        created_at=ISSUED,
        customer=Party(first_name="A", billing=Address(city="Paris")),
        lines=[line],
        total=D(0),
        total_tax=D(0),
        payment=Payment(method="gift_card", paid_at=ISSUED),
    )
    snap = build_invoice(order, SELLER, NUMBERING, issued_at=ISSUED, terms=EXEMPT_TERMS)
    assert snap.totals.total_incl == 0 and snap.totals.amount_due == 0
    assert snap.lines[0].discount_excl == D("20.83")
    assert check_invoice(snap) == []


def test_shop_currency_vat_total_is_carried_in_eur() -> None:
    snap = cases.case_snapshot("foreign_currency")
    assert snap.currency == "USD" and snap.totals.total_incl == D("108.00")
    assert snap.totals.shop_currency == "EUR"
    assert snap.totals.shop_currency_total_incl == D("101.12")
    assert snap.totals.shop_currency_total_vat == D("16.85")
